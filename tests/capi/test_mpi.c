/* test_mpi.c — the C API under `mpirun -np 2` with libxla_mpi: a data-parallel xla_trainer
 * (batch 2 on each rank) against a one-process trainer with batch 4 in the same program, step
 * by step and through the trained model's logits; with --corrupt-data-on-rank R, rank R's
 * dataset is corrupt, and it ends the job with its message (xla_mpi_abort) while the other
 * rank waits in the trainer's first collective. Then the Gemma 3 oracle as a pipeline over the
 * ranks (xla_model_load_pipeline) against the whole model: logits within 1e-5 relative, the
 * same greedy tokens. Usage: test_capi_mpi TMPDIR [--corrupt-data-on-rank R] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "xla/xla_mpi.h"

static const char* kConfig =
    "{\"model_type\": \"gemma3_text\", \"vocab_size\": 259, \"hidden_size\": 32, \"intermediate_size\": 64,"
    " \"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"head_dim\": 16,"
    " \"query_pre_attn_scalar\": 16, \"sliding_window\": 8,"
    " \"layer_types\": [\"sliding_attention\", \"full_attention\"]}";

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "../shared"
#endif

#define PAIRS 16
#define STEPS 4
#define V 259

static xla_dataset* make_data(void) {
  static char prompts[PAIRS][32], responses[PAIRS][32];
  const char* p[PAIRS];
  const char* r[PAIRS];
  xla_dataset* d = NULL;
  int i;
  for (i = 0; i < PAIRS; ++i) {
    sprintf(prompts[i], "%d plus %d is", i, i + 3);
    sprintf(responses[i], " %d", 2 * i + 3);
    p[i] = prompts[i];
    r[i] = responses[i];
  }
  if (xla_dataset_from_pairs(p, r, PAIRS, NULL, 24, &d) != XLA_OK) return NULL;
  return d;
}

static xla_trainer* make_trainer(xla_model* m, xla_optimizer** opt, const xla_dataset* d, int64_t batch,
                                 const xla_collective* c) {
  xla_optimizer_params op;
  xla_trainer_params tp;
  xla_trainer* t = NULL;
  /* SGD: its update is linear in the gradient, so the all-reduce's rounding stays rounding
     in the weights (Adam's division by sqrt(v) can blow it up to a step of lr) */
  xla_optimizer_params_init(&op);
  if (xla_optimizer_params_defaults(&op, XLA_OPT_SGD, 0.05) != XLA_OK) return NULL;
  op.momentum = 0.9;
  if (xla_optimizer_create(m, &op, opt) != XLA_OK) return NULL;
  xla_trainer_params_init(&tp);
  tp.batch_size = batch;
  tp.grad_accum = 2;
  tp.steps = STEPS;
  tp.seed = 7;
  tp.progress = 0;
  tp.collective = c;
  if (xla_trainer_create(m, *opt, d, NULL, &tp, &t) != XLA_OK) return NULL;
  return t;
}

int main(int argc, char** argv) {
  xla_collective c;
  xla_model *dp_model = NULL, *one_model = NULL;
  xla_optimizer *dp_opt = NULL, *one_opt = NULL;
  xla_trainer *dp = NULL, *one = NULL;
  xla_dataset* data = NULL;
  xla_train_metrics a, b;
  static float la[2 * 8 * V], lb[2 * 8 * V];
  const int32_t probe[2 * 8] = {2, 70, 71, 72, 73, 74, 75, 76, 2, 80, 81, 82, 83, 84, 85, 86};
  double diff = 0, scale = 0;
  int corrupt_rank = -1, step, i;

  if (argc < 2) {
    fprintf(stderr, "usage: test_capi_mpi TMPDIR [--corrupt-data-on-rank R]\n");
    return 2;
  }
  if (argc >= 4 && strcmp(argv[2], "--corrupt-data-on-rank") == 0) corrupt_rank = atoi(argv[3]);
  EXPECT(xla_mpi_launched() == 1);
  EXPECT_OK(xla_mpi_init(&argc, &argv));
  EXPECT_OK(xla_mpi_collective(&c));
  EXPECT(c.world_size == 2 && c.rank >= 0 && c.rank < 2);
  EXPECT(xla_mpi_collective(NULL) == XLA_ERR_INVALID_ARG);

  if (c.rank == corrupt_rank) {
    char path[4096];
    FILE* f;
    xla_dataset* bad = NULL;
    snprintf(path, sizeof path, "%s/corrupt_rank%d.jsonl", argv[1], c.rank);
    f = fopen(path, "w");
    if (f) {
      fputs("{\"prompt\": \"1 plus 1\", \"response\": \n", f);
      fclose(f);
    }
    if (xla_dataset_from_jsonl(path, NULL, 16, 0, &bad) != XLA_OK) xla_mpi_abort(xla_last_error());
    fprintf(stderr, "rank %d: the corrupt file loaded\n", c.rank);
    return 1;
  }

  data = make_data();
  EXPECT(data != NULL);
  /* rank 1 starts from other weights: the trainer takes rank 0's */
  EXPECT_OK(xla_model_create(kConfig, c.rank == 0 ? 3 : 4, &dp_model));
  EXPECT_OK(xla_model_create(kConfig, 3, &one_model));
  dp = make_trainer(dp_model, &dp_opt, data, 2, &c);
  one = make_trainer(one_model, &one_opt, data, 4, NULL);
  EXPECT(dp != NULL && one != NULL);
  if (!dp || !one) xla_mpi_abort(xla_last_error());
  for (step = 0; step < STEPS; ++step) {
    a.struct_size = b.struct_size = sizeof a;
    EXPECT_OK(xla_trainer_step(dp, &a));
    EXPECT_OK(xla_trainer_step(one, &b));
    EXPECT(fabs(a.loss - b.loss) <= 1e-5 * fabs(b.loss));
    EXPECT(fabs(a.grad_norm - b.grad_norm) <= 1e-5 * b.grad_norm);
  }
  EXPECT_OK(xla_model_forward(dp_model, probe, 2, 8, la, 2 * 8 * V));
  EXPECT_OK(xla_model_forward(one_model, probe, 2, 8, lb, 2 * 8 * V));
  for (i = 0; i < 2 * 8 * V; ++i) {
    diff = fabs(la[i] - lb[i]) > diff ? fabs(la[i] - lb[i]) : diff;
    scale = fabs(lb[i]) > scale ? fabs(lb[i]) : scale;
  }
  EXPECT(diff <= 1e-5 * scale);

  /* pipeline inference through the C API */
  {
    const char* dir = XLA_SHARED_DIR "/oracle/gemma/gemma3";
    const int32_t prompt[10] = {2, 17, 301, 44, 5, 99, 260, 7, 450, 12};
    static float ls[10 * 512], lw[10 * 512];
    int32_t gs[8], gw[8];
    size_t ns = 0, nw = 0;
    xla_model *stage = NULL, *whole = NULL;
    xla_sampler_params sp;
    EXPECT_OK(xla_model_load_pipeline(dir, NULL, &c, &stage));
    EXPECT_OK(xla_model_load(dir, &whole));
    EXPECT_OK(xla_model_forward(stage, prompt, 1, 10, ls, 10 * 512));
    EXPECT_OK(xla_model_forward(whole, prompt, 1, 10, lw, 10 * 512));
    diff = scale = 0;
    for (i = 0; i < 10 * 512; ++i) {
      diff = fabs(ls[i] - lw[i]) > diff ? fabs(ls[i] - lw[i]) : diff;
      scale = fabs(lw[i]) > scale ? fabs(lw[i]) : scale;
    }
    EXPECT(scale > 0 && diff <= 1e-5 * scale);
    xla_sampler_params_init(&sp);
    sp.max_new_tokens = 8;
    EXPECT_OK(xla_generate(stage, prompt, 10, &sp, NULL, NULL, gs, 8, &ns));
    EXPECT_OK(xla_generate(whole, prompt, 10, &sp, NULL, NULL, gw, 8, &nw));
    EXPECT(ns == 8 && nw == 8 && memcmp(gs, gw, sizeof gs) == 0);
    xla_model_free(stage);
    xla_model_free(whole);
  }

  /* a collective that is not one */
  {
    xla_collective broken = c;
    xla_trainer* t = NULL;
    xla_trainer_params tp;
    broken.rank = 5;
    xla_trainer_params_init(&tp);
    tp.collective = &broken;
    BAD(xla_trainer_create(one_model, one_opt, data, NULL, &tp, &t), XLA_ERR_INVALID_ARG, "xla_trainer_create",
        "rank 5 is outside a world of 2");
    broken = c;
    broken.all_reduce_f32 = NULL;
    BAD(xla_trainer_create(one_model, one_opt, data, NULL, &tp, &t), XLA_ERR_INVALID_ARG, "xla_trainer_create",
        "all_reduce_f32");
  }

  xla_trainer_free(dp);
  xla_trainer_free(one);
  xla_optimizer_free(dp_opt);
  xla_optimizer_free(one_opt);
  xla_model_free(dp_model);
  xla_model_free(one_model);
  xla_dataset_free(data);
  EXPECT_OK(xla_mpi_finalize());
  return finish(c.rank == 0 ? "capi.mpi rank 0" : "capi.mpi rank 1");
}
