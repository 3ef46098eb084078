/* test_dpo_trainer.c — the DPO trainer from C99: LoRA adapters (off = the base model exactly),
 * preference data, a first step against xla_dpo_loss computed from xla_model_logprob by hand,
 * the reward margin rising, a stopping callback, and bad input. */
#include <math.h>
#include <string.h>

#include "expect.h"

static const char* kConfig =
    "{\"model_type\": \"gemma3_text\", \"vocab_size\": 259, \"hidden_size\": 32, \"intermediate_size\": 64,"
    " \"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"head_dim\": 16,"
    " \"query_pre_attn_scalar\": 16, \"sliding_window\": 8,"
    " \"layer_types\": [\"sliding_attention\", \"full_attention\"]}";

/* ids of <bos> prompt completion <eos> (bytes + 3) and where the completion starts */
static size_t row(const char* prompt, const char* completion, int32_t* ids, int64_t* start) {
  size_t n = 0, i;
  ids[n++] = 2;
  for (i = 0; prompt[i]; ++i) ids[n++] = (int32_t)(unsigned char)prompt[i] + 3;
  *start = (int64_t)n;
  for (i = 0; completion[i]; ++i) ids[n++] = (int32_t)(unsigned char)completion[i] + 3;
  ids[n++] = 1;
  return n;
}

static int stop_at_4(int64_t step, const xla_dpo_metrics* m, void* user) {
  (void)m;
  ++*(int*)user;
  return step >= 4;
}

int main(void) {
  const char* prompts[4] = {"2+2=", "3+4=", "1+5=", "6+2="};
  const char* chosen[4] = {"4.", "7.", "6.", "8."};
  const char* rejected[4] = {"4", "7", "6", "8"};
  xla_model* m = NULL;
  xla_optimizer* opt = NULL;
  xla_optimizer_params op;
  xla_preference_dataset* prefs = NULL;
  xla_dpo_trainer* t = NULL;
  xla_dpo_trainer_params tp;
  xla_dpo_metrics first, want, later;
  double pc[4], pr[4];
  int32_t ids[32];
  int64_t start, ran = 0;
  float logits_on[259 * 6], logits_off[259 * 6];
  int i, calls = 0;

  EXPECT_OK(xla_model_create(kConfig, 7, &m));
  /* the reference log-probs, before any adapter exists: the base model */
  for (i = 0; i < 4; ++i) {
    size_t n = row(prompts[i], chosen[i], ids, &start);
    EXPECT_OK(xla_model_logprob(m, ids, (int64_t)n, start, &pc[i]));
    n = row(prompts[i], rejected[i], ids, &start);
    EXPECT_OK(xla_model_logprob(m, ids, (int64_t)n, start, &pr[i]));
  }
  EXPECT_OK(xla_model_add_lora(m, 4, 8.f, 1));
  /* fresh adapters (B = 0) leave the model as it was; off is the base model exactly */
  row(prompts[0], chosen[0], ids, &start);
  EXPECT_OK(xla_model_forward(m, ids, 1, 6, logits_on, 259 * 6));
  EXPECT_OK(xla_model_set_lora_enabled(m, 0));
  EXPECT_OK(xla_model_forward(m, ids, 1, 6, logits_off, 259 * 6));
  EXPECT_OK(xla_model_set_lora_enabled(m, 1));
  EXPECT(memcmp(logits_on, logits_off, sizeof logits_on) == 0);

  EXPECT_OK(xla_optimizer_params_defaults(&op, XLA_OPT_ADAMW, 1e-2));
  EXPECT_OK(xla_optimizer_create(m, &op, &opt)); /* the adapters only */
  EXPECT_OK(xla_preference_dataset_from_text(prompts, chosen, rejected, 4, NULL, 16, &prefs));
  EXPECT(xla_preference_dataset_size(prefs) == 4);
  xla_dpo_trainer_params_init(&tp);
  EXPECT(tp.dpo.beta == 0.1f && tp.reference == XLA_DPO_REF_FROZEN_COPY && tp.batch_size == 8);
  tp.reference = XLA_DPO_REF_LORA_DISABLED;
  tp.batch_size = 4;
  tp.steps = 10;
  tp.progress = 0;
  EXPECT_OK(xla_dpo_trainer_create(m, opt, prefs, NULL, &tp, &t));

  /* step 1: policy = reference (B = 0), so the loss is the functional loss at those log-probs */
  first.struct_size = sizeof first;
  EXPECT_OK(xla_dpo_trainer_step(t, &first));
  want.struct_size = sizeof want;
  EXPECT_OK(xla_dpo_loss(NULL, pc, pr, pc, pr, 4, &want));
  EXPECT(fabs(first.loss - log(2.0)) < 1e-6 && fabs(first.loss - want.loss) < 1e-6);
  EXPECT(fabs(first.logp_chosen - want.logp_chosen) < 1e-3 && fabs(first.logp_rejected - want.logp_rejected) < 1e-3);
  EXPECT(first.reward_margin == 0.0);
  EXPECT(first.reward_accuracy == 0.0); /* a tie is not a win (TRL's `>`) */

  /* the run stops when the callback says so, and the margin has grown */
  EXPECT(xla_dpo_trainer_run(t, stop_at_4, &calls, &ran) == XLA_ERR_ABORTED);
  EXPECT(calls == 3); /* steps 2, 3, 4 */
  EXPECT(strstr(xla_last_error(), "after step 4") != NULL);
  later.struct_size = sizeof later;
  EXPECT_OK(xla_dpo_trainer_step(t, &later));
  EXPECT(later.reward_margin > 0.05 && later.loss < first.loss);
  EXPECT(xla_dpo_trainer_evaluate(t, &later) == XLA_ERR_INVALID_ARG); /* no eval set */
  EXPECT(strstr(xla_last_error(), "no eval set") != NULL);
  later.struct_size = 3;
  EXPECT(xla_dpo_trainer_step(t, &later) == XLA_ERR_INVALID_ARG);

  /* bad input */
  {
    xla_dpo_trainer* bad = (xla_dpo_trainer*)&g_passed;
    xla_model* plain = NULL;
    xla_optimizer* plain_opt = NULL;
    EXPECT_OK(xla_model_create(kConfig, 8, &plain));
    EXPECT_OK(xla_optimizer_create(plain, NULL, &plain_opt));
    EXPECT(xla_dpo_trainer_create(plain, plain_opt, prefs, NULL, &tp, &bad) == XLA_ERR_INVALID_ARG);
    EXPECT(strstr(xla_last_error(), "LoRA") != NULL && bad == (xla_dpo_trainer*)&g_passed);
    tp.reference = XLA_DPO_REF_MODEL; /* without reference_model */
    EXPECT(xla_dpo_trainer_create(plain, plain_opt, prefs, NULL, &tp, &bad) == XLA_ERR_INVALID_ARG);
    tp.reference = XLA_DPO_REF_FROZEN_COPY;
    tp.dpo.loss_type = 5;
    EXPECT(xla_dpo_trainer_create(plain, plain_opt, prefs, NULL, &tp, &bad) == XLA_ERR_INVALID_ARG);
    EXPECT(strstr(xla_last_error(), "loss_type 5") != NULL);
    xla_optimizer_free(plain_opt);
    xla_model_free(plain);
  }

  xla_dpo_trainer_free(t);
  xla_preference_dataset_free(prefs);
  xla_optimizer_free(opt);
  xla_model_free(m);
  return finish("capi.dpo_trainer");
}
