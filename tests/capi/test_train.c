/* test_train.c — training through the C API from C99: the loss against log-softmax of
 * xla_model_forward's logits, an optimizer loop that lowers the loss, the trainer with a
 * stopping callback and metrics, checkpoints round trip, and bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"

static const char* kConfig =
    "{\"model_type\": \"gemma3_text\", \"vocab_size\": 259, \"hidden_size\": 32, \"intermediate_size\": 64,"
    " \"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"head_dim\": 16,"
    " \"query_pre_attn_scalar\": 16, \"sliding_window\": 8,"
    " \"layer_types\": [\"sliding_attention\", \"full_attention\"]}";

#define B 2
#define T 6
#define V 259

static float loss_item(xla_tensor* t) {
  float v = NAN;
  xla_tensor_read(t, &v, sizeof v);
  return v;
}

/* mean over counted targets of -log softmax(logits)[target], in double */
static double reference_loss(xla_model* m, const int32_t* in, const int32_t* tg) {
  static float logits[B * T * V];
  double total = 0;
  int counted = 0, i, j;
  if (xla_model_forward(m, in, B, T, logits, B * T * V) != XLA_OK) return NAN;
  for (i = 0; i < B * T; ++i) {
    const float* row = logits + i * V;
    double mx = row[0], z = 0;
    if (tg[i] == -100) continue;
    for (j = 0; j < V; ++j) mx = row[j] > mx ? row[j] : mx;
    for (j = 0; j < V; ++j) z += exp(row[j] - mx);
    total += mx + log(z) - row[tg[i]];
    ++counted;
  }
  return total / counted;
}

static int stop_at_three(const xla_train_metrics* m, void* user) {
  int* calls = (int*)user;
  ++*calls;
  return m->step >= 3;
}

int main(void) {
  xla_model* m = NULL;
  xla_optimizer* opt = NULL;
  xla_optimizer_params op;
  xla_tensor* loss = NULL;
  const int32_t in[B * T] = {2, 70, 71, 72, 73, 74, 2, 80, 81, 82, 83, 84};
  const int32_t tg[B * T] = {70, 71, 72, 73, 74, 1, -100, -100, 82, 83, 84, 1};
  float first, last = 0;
  double norm = 0, lr = 0;
  int step;

  EXPECT_OK(xla_model_create(kConfig, 3, &m));
  xla_optimizer_params_init(&op);
  EXPECT(op.kind == XLA_OPT_ADAMW && op.lr == 1e-3 && op.weight_decay == 0.01 && op.beta2 == 0.999);
  EXPECT_OK(xla_optimizer_params_defaults(&op, XLA_OPT_ADAM, 1e-2));
  EXPECT(op.kind == XLA_OPT_ADAM && op.lr == 1e-2 && op.weight_decay == 0.0);
  EXPECT_OK(xla_optimizer_create(m, &op, &opt));

  /* the fused loss equals the log-softmax of the model's logits */
  EXPECT_OK(xla_model_loss(m, in, tg, B, T, NULL, &loss));
  first = loss_item(loss);
  EXPECT(fabs(first - reference_loss(m, in, tg)) < 1e-4);
  xla_tensor_free(loss);

  /* a plain loop: loss, backward, clip, step */
  for (step = 0; step < 30; ++step) {
    EXPECT_OK(xla_optimizer_zero_grad(opt));
    EXPECT_OK(xla_model_loss(m, in, tg, B, T, NULL, &loss));
    last = loss_item(loss);
    EXPECT_OK(xla_backward(loss));
    EXPECT_OK(xla_optimizer_clip_grad_norm(opt, 1.0, &norm));
    EXPECT(norm > 0 && isfinite(norm));
    EXPECT_OK(xla_optimizer_step(opt));
    xla_tensor_free(loss);
  }
  EXPECT(last < first - 1.0); /* memorising two short rows */
  EXPECT_OK(xla_optimizer_set_lr(opt, 5e-4));
  EXPECT_OK(xla_optimizer_get_lr(opt, &lr));
  EXPECT(lr == 5e-4);

  /* checkpoint round trip: save, move the weights, load, same loss */
  {
    int64_t got_step = -1;
    float before, moved, after;
    EXPECT_OK(xla_model_loss(m, in, tg, B, T, NULL, &loss));
    before = loss_item(loss);
    xla_tensor_free(loss);
    EXPECT_OK(xla_checkpoint_save("capi_train_ckpt", m, opt, 30));
    EXPECT_OK(xla_model_loss(m, in, tg, B, T, NULL, &loss));
    EXPECT_OK(xla_backward(loss));
    xla_tensor_free(loss);
    EXPECT_OK(xla_optimizer_step(opt));
    EXPECT_OK(xla_optimizer_zero_grad(opt));
    EXPECT_OK(xla_model_loss(m, in, tg, B, T, NULL, &loss));
    moved = loss_item(loss);
    xla_tensor_free(loss);
    EXPECT(moved != before);
    EXPECT_OK(xla_checkpoint_load("capi_train_ckpt", m, opt, &got_step));
    EXPECT(got_step == 30);
    EXPECT_OK(xla_model_loss(m, in, tg, B, T, NULL, &loss));
    after = loss_item(loss);
    xla_tensor_free(loss);
    EXPECT(after == before);
    EXPECT(xla_checkpoint_load("no_such_checkpoint", m, opt, &got_step) == XLA_ERR_IO);
  }

  /* the trainer, stopped by its callback after step 3 */
  {
    const char* text = "one two three four five six seven eight nine ten\n\n"
                       "eleven twelve thirteen fourteen fifteen sixteen\n\n"
                       "the quick brown fox jumps over the lazy dog again and again";
    xla_dataset *all = NULL, *tr = NULL, *va = NULL;
    xla_trainer* t = NULL;
    xla_trainer_params tp;
    xla_train_metrics met;
    int calls = 0;
    int64_t ran = -1;
    double val = 0;
    EXPECT_OK(xla_dataset_from_text(text, strlen(text), NULL, 8, &all));
    EXPECT(xla_dataset_size(all) == 19); /* (48 + 47 + 59 bytes) + 3 × <bos>,<eos> = 160 tokens: 19 rows of 8 + 1 */
    EXPECT_OK(xla_dataset_split(all, 0.25, 1, &tr, &va));
    EXPECT(xla_dataset_size(tr) + xla_dataset_size(va) == xla_dataset_size(all));
    xla_trainer_params_init(&tp);
    tp.batch_size = 4;
    tp.steps = 10;
    tp.progress = 0;
    tp.eval_every = 2;
    tp.schedule = XLA_SCHEDULE_COSINE;
    tp.warmup_steps = 2;
    EXPECT_OK(xla_trainer_create(m, opt, tr, va, &tp, &t));
    EXPECT(xla_trainer_run(t, stop_at_three, &calls, &ran) == XLA_ERR_ABORTED);
    EXPECT(calls == 3);
    EXPECT(strstr(xla_last_error(), "stopped by the callback after step 3") != NULL);
    met.struct_size = sizeof met;
    EXPECT_OK(xla_trainer_step(t, &met));
    EXPECT(met.step == 4 && isfinite(met.loss) && met.loss > 0 && met.tokens == 4 * 4 * 8);
    EXPECT(isfinite(met.val_loss) && fabs(met.val_ppl - exp(met.val_loss)) < 1e-9 * met.val_ppl);
    EXPECT_OK(xla_trainer_evaluate(t, &val));
    EXPECT(val == met.val_loss); /* no step between */
    met.struct_size = 2;
    EXPECT(xla_trainer_step(t, &met) == XLA_ERR_INVALID_ARG);
    xla_trainer_free(t);
    /* without a validation set, evaluate is an error naming it (as xla_dpo_trainer_evaluate) */
    tp.eval_every = 0;
    EXPECT_OK(xla_trainer_create(m, opt, tr, NULL, &tp, &t));
    val = 42;
    EXPECT(xla_trainer_evaluate(t, &val) == XLA_ERR_INVALID_ARG && val == 42);
    EXPECT(strstr(xla_last_error(), "no validation set") != NULL);
    xla_trainer_free(t);
    /* compile = 1 replays each micro-batch from a captured graph: the same losses and norms */
    {
      xla_model *ma = NULL, *mb = NULL;
      xla_optimizer *oa = NULL, *ob = NULL;
      xla_trainer *ta = NULL, *tb = NULL;
      xla_train_metrics ma_met, mb_met;
      int s;
      EXPECT_OK(xla_model_create(kConfig, 9, &ma));
      EXPECT_OK(xla_model_create(kConfig, 9, &mb));
      EXPECT_OK(xla_optimizer_create(ma, &op, &oa));
      EXPECT_OK(xla_optimizer_create(mb, &op, &ob));
      tp.compile = 2;
      EXPECT(xla_trainer_create(mb, ob, tr, NULL, &tp, &tb) == XLA_ERR_INVALID_ARG && tb == NULL);
      EXPECT(strstr(xla_last_error(), "compile is 2") != NULL);
      tp.compile = 0;
      EXPECT_OK(xla_trainer_create(ma, oa, tr, NULL, &tp, &ta));
      tp.compile = 1;
      EXPECT_OK(xla_trainer_create(mb, ob, tr, NULL, &tp, &tb));
      ma_met.struct_size = mb_met.struct_size = sizeof ma_met;
      for (s = 0; s < 3; ++s) {
        EXPECT_OK(xla_trainer_step(ta, &ma_met));
        EXPECT_OK(xla_trainer_step(tb, &mb_met));
        EXPECT(ma_met.loss == mb_met.loss && ma_met.grad_norm == mb_met.grad_norm);
      }
      xla_trainer_free(ta);
      xla_trainer_free(tb);
      xla_optimizer_free(oa);
      xla_optimizer_free(ob);
      xla_model_free(ma);
      xla_model_free(mb);
    }
    xla_dataset_free(all);
    xla_dataset_free(tr);
    xla_dataset_free(va);
  }

  /* bad input: out pointers untouched, messages name the problem */
  {
    xla_optimizer* bad_opt = (xla_optimizer*)&g_passed;
    xla_tensor* bad_t = (xla_tensor*)&g_passed;
    xla_dataset* bad_d = (xla_dataset*)&g_passed;
    const int32_t oob[B * T] = {2, 70, 71, 72, 73, 74, 2, 80, 81, 82, 83, 999};
    op.kind = 7;
    EXPECT(xla_optimizer_create(m, &op, &bad_opt) == XLA_ERR_INVALID_ARG && bad_opt == (xla_optimizer*)&g_passed);
    EXPECT(strstr(xla_last_error(), "kind 7") != NULL);
    op.kind = XLA_OPT_ADAM;
    op.struct_size = 3;
    EXPECT(xla_optimizer_create(m, &op, &bad_opt) == XLA_ERR_INVALID_ARG);
    EXPECT(strstr(xla_last_error(), "struct_size") != NULL);
    EXPECT(xla_optimizer_create(NULL, NULL, &bad_opt) == XLA_ERR_INVALID_ARG);
    EXPECT(xla_model_loss(m, in, oob, B, T, NULL, &bad_t) == XLA_ERR_INVALID_ARG && bad_t == (xla_tensor*)&g_passed);
    EXPECT(strstr(xla_last_error(), "999") != NULL);
    EXPECT(xla_model_loss(m, in, tg, B, 0, NULL, &bad_t) == XLA_ERR_INVALID_ARG);
    EXPECT(xla_model_loss(m, NULL, tg, B, T, NULL, &bad_t) == XLA_ERR_INVALID_ARG);
    EXPECT(xla_dataset_from_text("ab", 2, NULL, 8, &bad_d) == XLA_ERR_INVALID_ARG && bad_d == (xla_dataset*)&g_passed);
    EXPECT(xla_dataset_from_jsonl("/nonexistent.jsonl", NULL, 8, 0, &bad_d) == XLA_ERR_IO);
    EXPECT(xla_optimizer_step(NULL) == XLA_ERR_INVALID_ARG);
    EXPECT(xla_optimizer_set_lr(opt, -1) == XLA_ERR_INVALID_ARG);
    EXPECT(xla_trainer_create(m, opt, NULL, NULL, NULL, (xla_trainer**)&bad_d) == XLA_ERR_INVALID_ARG);
    EXPECT(xla_dataset_size(NULL) == -1);
    { /* an optimizer made for another model is refused, not run with a gradient of 0 */
      xla_model* other = NULL;
      xla_optimizer* theirs = NULL;
      xla_trainer* t_bad = (xla_trainer*)&g_passed;
      xla_dataset* d1 = NULL;
      static char text[26 * 12 + 1];
      int c;
      EXPECT_OK(xla_model_create(kConfig, 4, &other));
      EXPECT_OK(xla_optimizer_params_defaults(&op, XLA_OPT_ADAMW, 1e-3));
      EXPECT_OK(xla_optimizer_create(other, &op, &theirs));
      for (c = 0; c < 26 * 12; ++c) text[c] = (char)('a' + c % 26);
      EXPECT_OK(xla_dataset_from_text(text, 26 * 12, NULL, 8, &d1)); /* 38 rows: batches of 8 fill */
      EXPECT(xla_trainer_create(m, theirs, d1, NULL, NULL, &t_bad) == XLA_ERR_INVALID_ARG &&
             t_bad == (xla_trainer*)&g_passed);
      EXPECT(strstr(xla_last_error(), "is not a tensor of this model") != NULL);
      EXPECT(xla_checkpoint_save("capi_train_ckpt_other", m, theirs, 2) == XLA_ERR_INVALID_ARG);
      EXPECT(strstr(xla_last_error(), "is not a tensor of this model") != NULL);
      xla_dataset_free(d1);
      xla_optimizer_free(theirs);
      xla_model_free(other);
    }
    xla_optimizer_free(NULL);
    xla_trainer_free(NULL);
    xla_dataset_free(NULL);
  }

  xla_optimizer_free(opt);
  xla_model_free(m);
  return finish("capi.train");
}
