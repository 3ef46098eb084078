/* demo.c — the main job, through the C API: train a small Gemma from scratch to add numbers,
 * then align it with DPO.
 *
 * The task is generated here: "a+b=" → "c" for a, b in [0, 100), the answer written "42" or
 * "42." (half and half). A fifth of the sums are held out and never trained on; exact-match
 * accuracy on them is the measure of success. The model is a Gemma 3 (sliding-window and
 * global layers, q/k norms) over bytes, ~0.8M weights; loss only on the answer (a completion
 * mask). Then DPO makes the period the preferred style (see align()), and GRPO teaches from
 * the model's own samples, rewarding a right sum and the period (see reinforce()). Under a
 * minute on 2 cores (README.md has the figures).
 *
 *   xla_demo [--resume] [out_dir] [steps]      (defaults: demo_out, 1500 steps)
 * writes out_dir/metrics.jsonl, dpo_metrics.jsonl and grpo_metrics.jsonl (plot them: xla plot
 * out_dir/metrics.jsonl -o loss.svg) and checkpoints in out_dir/checkpoints. Each run starts afresh unless --resume is given:
 * then it continues from the latest checkpoint (kill it mid-run and try).
 * It ends by checking its results against floors (check_results) and exits with 1 when one
 * is missed: the demo is also a test (ctest demo.smoke runs it for 40 steps).
 *
 *   mpirun -np 2 ./xla_demo                    (built with libxla_mpi: XLA_MPI, the default)
 * trains and aligns data-parallel: each rank takes half of every batch of 64 (32 pairs for
 * DPO), gradients are all-reduced, rank 0 prints and writes; GRPO (one process) runs on rank 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "xla/xla.h"
#ifdef XLA_HAVE_MPI
#include "xla/xla_mpi.h"
#endif

/* Data parallel under mpirun: the ranks' collective, or NULL in one process. */
static const xla_collective* g_ranks = NULL;
static int g_rank = 0, g_world = 1;

/* A failed call ends the program, and under mpirun every rank: the others would wait. */
static void fail(const char* call) {
  char message[1024];
  snprintf(message, sizeof message, "%s failed: %s", call, xla_last_error());
#ifdef XLA_HAVE_MPI
  if (g_world > 1) xla_mpi_abort(message);
#endif
  fprintf(stderr, "%s\n", message);
  exit(1);
}
#define CHECK(call)                    \
  do {                                 \
    if ((call) != XLA_OK) fail(#call); \
  } while (0)

static const char* kConfig =
    "{\"model_type\": \"gemma3_text\", \"vocab_size\": 259, \"hidden_size\": 128, \"intermediate_size\": 384,"
    " \"num_hidden_layers\": 4, \"num_attention_heads\": 4, \"num_key_value_heads\": 1, \"head_dim\": 32,"
    " \"query_pre_attn_scalar\": 32, \"sliding_window\": 8, \"rope_local_base_freq\": 10000.0,"
    " \"rope_theta\": 1000000.0,"
    " \"layer_types\": [\"sliding_attention\", \"full_attention\", \"sliding_attention\", \"full_attention\"]}";

#define N 100     /* operands in [0, N) */
#define SEQ 12    /* <bos> "99+99=" "198" <eos> = 11 tokens: rows of 12 */
#define EOS 1
#define BYTE(c) ((int32_t)(unsigned char)(c) + 3) /* the byte-level ids (tokenizer NULL) */

/* Held out: a fixed pseudo-random fifth of the (a, b) pairs. */
static int held_out(int a, int b) { return ((a * 7919 + b * 104729) % 1000) < 200; }

/* The model's answer to "a+b=" (greedy, up to 4 bytes, stops at <eos>). */
static void answer(xla_model* m, int a, int b, char* out, size_t cap) {
  char prompt[16];
  int32_t ids[16], gen[8];
  size_t n = 0, i, got = 0;
  xla_sampler_params sp;
  int32_t stop = EOS;
  snprintf(prompt, sizeof prompt, "%d+%d=", a, b);
  ids[n++] = 2; /* <bos> */
  for (i = 0; prompt[i]; ++i) ids[n++] = BYTE(prompt[i]);
  xla_sampler_params_init(&sp);
  sp.max_new_tokens = 5;
  sp.n_stop_ids = 1;
  sp.stop_ids = &stop;
  CHECK(xla_generate(m, ids, n, &sp, NULL, NULL, gen, 8, &got));
  for (i = 0; i < got && i + 1 < cap && gen[i] >= 3; ++i) {
    const int c = gen[i] - 3;
    out[i] = c >= 32 && c < 127 ? (char)c : '?'; /* an untrained model emits any byte */
  }
  out[i] = 0;
}

/* The answer is the right sum, in either style the data uses: "42" or "42.". */
static int is_right(const char* got, int sum) {
  char plain[8], period[12];
  snprintf(plain, sizeof plain, "%d", sum);
  snprintf(period, sizeof period, "%d.", sum);
  return strcmp(got, plain) == 0 || strcmp(got, period) == 0;
}

/* Exact-match accuracy (greedy) on up to `limit` held-out problems. */
static double accuracy(xla_model* m, int limit) {
  int a, b, right = 0, total = 0;
  char got[8];
  for (a = 0; a < N && total < limit; a += 3)
    for (b = 1; b < N && total < limit; b += 7) {
      if (!held_out(a, b)) continue;
      answer(m, a, b, got, sizeof got);
      right += is_right(got, a + b);
      ++total;
    }
  return total ? (double)right / total : 0;
}

/* Five held-out problems, answered by the model. */
static void samples(xla_model* m, const char* when) {
  int a, b, shown = 0;
  char got[8];
  printf("samples %s training (held-out sums):\n", when);
  for (a = 17; a < N && shown < 5; a += 13)
    for (b = 88; b >= 0 && shown < 5; b -= 23) {
      if (!held_out(a, b)) continue;
      answer(m, a, b, got, sizeof got);
      printf("  %2d+%2d = %-5s %s\n", a, b, got, is_right(got, a + b) ? "right" : "wrong");
      ++shown;
      break;
    }
  fflush(stdout);
}

/* What the run measured, for check_results. */
struct results {
  double accuracy_before, accuracy_after, val_loss;             /* greedy, held-out sums */
  double dpo_margin, dpo_accuracy;                              /* mean of the last DPO steps */
  double period_before, period_after, right_before, right_after; /* sampled, held-out sums */
  double grpo_reward_first, grpo_reward_last;                   /* mean of the first / last 10 GRPO steps */
  double grpo_right_after, grpo_period_after;                   /* sampled, held-out sums, after GRPO */
};

/* The floors, from measured runs with a wide margin (the figures are not bit-identical
   across CPUs: AVX2 and AVX-512 GEMMs round differently).
   - Any run of at least 40 steps: the validation loss on answer tokens ends below 2.0
     (chance is ln 259 = 5.56; 40 steps measured 1.37), and DPO moves the preference the
     right way on its training pairs: a mean reward margin of at least 1.0 and a reward
     accuracy of at least 0.9 over the last 10 steps (40 steps measured 3.75 and 1.00);
     GRPO's mean reward over its last 10 steps is not below that of its first 10 by more
     than 0.05, and at least 95% of the sampled held-out answers end with a period after it
     (40 steps measured 0.187 -> 0.201 and a period 90.1% -> 98.1%, the sums still wrong;
     1500 steps 1.155 -> 1.182 and 87.4% -> 100%).
   - The full run (1500 steps) also answers held-out sums: at least 80% right (greedy), and
     DPO makes sampled held-out answers end with a period at least 10 points more often
     while the fraction right drops by at most 20 points (sampling at temperature 1 moves
     this one most between builds). Measured in two runs (2 threads, AVX2): 97.2% / 95.3%
     right; a period 52.2% -> 79.9% / 52.5% -> 88.7% of the time; right 95.6% -> 92.9% /
     90.4% -> 83.2% (with weight decay 0.01; with 0.1, on 3 December 2026: 100% right, a
     period 51.1% -> 87.4%, right 98.4% -> 96.2%). After GRPO the fraction right drops by
     at most 5 points (measured: 96.2% -> 97.3%). */
static int check(int ok, const char* what) {
  printf("  %s %s\n", ok ? "ok  " : "MISS", what);
  return ok;
}

static int check_results(const struct results* r, int64_t steps) {
  char line[200];
  int ok = 1;
  if (steps < 40) {
    printf("checks: none for a run of fewer than 40 steps\n");
    return 1;
  }
  printf("checks:\n");
  snprintf(line, sizeof line, "validation loss %.3f < 2.0", r->val_loss);
  ok &= check(r->val_loss < 2.0, line);
  snprintf(line, sizeof line, "DPO reward margin %.2f >= 1.0 (mean of the last 10 steps)", r->dpo_margin);
  ok &= check(r->dpo_margin >= 1.0, line);
  snprintf(line, sizeof line, "DPO reward accuracy %.2f >= 0.9 (mean of the last 10 steps)", r->dpo_accuracy);
  ok &= check(r->dpo_accuracy >= 0.9, line);
  snprintf(line, sizeof line, "GRPO mean reward %.3f -> %.3f (first -> last 10 steps), not down by more than 0.05",
           r->grpo_reward_first, r->grpo_reward_last);
  ok &= check(r->grpo_reward_last >= r->grpo_reward_first - 0.05, line);
  snprintf(line, sizeof line, "after GRPO, held-out answers ending with a period: %.1f%% -> %.1f%%, at least 95%%",
           100 * r->period_after, 100 * r->grpo_period_after);
  ok &= check(r->grpo_period_after >= 0.95, line);
  if (steps >= 1500) {
    snprintf(line, sizeof line, "held-out accuracy %.1f%% >= 80%%", 100 * r->accuracy_after);
    ok &= check(r->accuracy_after >= 0.8, line);
    snprintf(line, sizeof line, "held-out answers ending with a period: %.1f%% -> %.1f%%, up by >= 10 points",
             100 * r->period_before, 100 * r->period_after);
    ok &= check(r->period_after >= r->period_before + 0.1, line);
    snprintf(line, sizeof line, "held-out answers right: %.1f%% -> %.1f%%, down by <= 20 points",
             100 * r->right_before, 100 * r->right_after);
    ok &= check(r->right_after >= r->right_before - 0.2, line);
    snprintf(line, sizeof line, "after GRPO, held-out answers right: %.1f%% -> %.1f%%, down by <= 5 points",
             100 * r->right_after, 100 * r->grpo_right_after);
    ok &= check(r->grpo_right_after >= r->right_after - 0.05, line);
  }
  fflush(stdout);
  return ok;
}

/* Stage 2, alignment. The training data wrote half the answers as "42" and half as "42.";
   DPO is asked to prefer the period ("42." chosen over "42", on training sums). LoRA
   adapters are added and trained alone; the reference is the same model with its adapters
   switched off, so no second model is held. Measured on held-out sums, sampling at
   temperature 1: how often an answer ends with a period, and how often it is right. */
/* The DPO run's last 10 steps, summed by log_dpo for check_results. */
struct dpo_tail {
  int64_t last_step; /* the run's final step */
  double margin, accuracy; /* summed over the last 10 steps */
};

static int log_dpo(int64_t step, const xla_dpo_metrics* m, void* user) {
  struct dpo_tail* tail = (struct dpo_tail*)user;
  if (step > tail->last_step - 10) {
    tail->margin += m->reward_margin;
    tail->accuracy += m->reward_accuracy;
  }
  if (step % 20 == 0)
    printf("  dpo step %3lld  loss %.4f  reward margin %+.3f  reward accuracy %.2f\n", (long long)step, m->loss,
           m->reward_margin, m->reward_accuracy);
  fflush(stdout);
  return 0;
}

/* Over held-out sums, 4 samples each at temperature 1: the fractions right and with a period. */
static void sampled(xla_model* m, int limit, double* right_out, double* period_out) {
  int a, b, s, right = 0, dots = 0, total = 0;
  xla_sampler_params sp;
  int32_t stop = EOS;
  xla_sampler_params_init(&sp);
  sp.temperature = 1.f;
  sp.max_new_tokens = 5;
  sp.n_stop_ids = 1;
  sp.stop_ids = &stop;
  for (a = 1; a < N && total < limit; a += 3)
    for (b = 2; b < N && total < limit; b += 7) {
      char prompt[16], got[8];
      int32_t ids[16], gen[8];
      size_t n = 0, i, k;
      if (!held_out(a, b)) continue;
      snprintf(prompt, sizeof prompt, "%d+%d=", a, b);
      ids[n++] = 2;
      for (i = 0; prompt[i]; ++i) ids[n++] = BYTE(prompt[i]);
      for (s = 0; s < 4; ++s) {
        sp.seed = (uint64_t)(a * 1000 + b * 10 + s);
        CHECK(xla_generate(m, ids, n, &sp, NULL, NULL, gen, 8, &k));
        for (i = 0; i < k && i < 7 && gen[i] >= 3; ++i) got[i] = (char)(gen[i] - 3);
        got[i] = 0;
        right += is_right(got, a + b);
        dots += i > 1 && got[i - 1] == '.';
        ++total;
      }
    }
  *right_out = total ? (double)right / total : 0;
  *period_out = total ? (double)dots / total : 0;
}

static void align(xla_model* m, const char** prompts, const char** answers, size_t n, const char* out_dir,
                  struct results* res) {
  static char plain[N * N][12], period[N * N][12];
  static const char *pp[N * N], *cp[N * N], *rp[N * N];
  size_t i, pairs = 0;
  char metrics[512];
  double right0, right1, dots0, dots1;
  xla_preference_dataset* prefs = NULL;
  xla_optimizer* opt = NULL;
  xla_optimizer_params op;
  xla_dpo_trainer* t = NULL;
  xla_dpo_trainer_params dp;
  xla_dpo_metrics first;
  struct dpo_tail tail = {0, 0, 0};

  for (i = 0; i < n; i += 4) { /* every fourth training sum: ~2,000 pairs */
    const int sum = atoi(answers[i]);
    snprintf(plain[pairs], sizeof plain[pairs], "%d", sum);
    snprintf(period[pairs], sizeof period[pairs], "%d.", sum);
    pp[pairs] = prompts[i];
    cp[pairs] = period[pairs];
    rp[pairs] = plain[pairs];
    ++pairs;
  }
  printf("DPO: %zu preference pairs, e.g. \"%s%s\" chosen over \"%s%s\"\n", pairs, pp[1], cp[1], pp[1], rp[1]);
  sampled(m, 400, &right0, &dots0);
  CHECK(xla_preference_dataset_from_text(pp, cp, rp, pairs, NULL, SEQ, &prefs));
  CHECK(xla_model_add_lora(m, 8, 16.f, 5));
  CHECK(xla_optimizer_params_defaults(&op, XLA_OPT_ADAMW, 2e-4));
  CHECK(xla_optimizer_create(m, &op, &opt)); /* the adapters only: the model has LoRA now */
  snprintf(metrics, sizeof metrics, "%s/dpo_metrics.jsonl", out_dir);
  remove(metrics);
  xla_dpo_trainer_params_init(&dp);
  dp.dpo.beta = 1.f; /* a strong pull to the reference: the sums must stay right */
  dp.reference = XLA_DPO_REF_LORA_DISABLED;
  dp.batch_size = 32 / g_world; /* per rank: 32 pairs a step in all */
  dp.collective = g_ranks;
  dp.steps = 60;
  dp.seed = 3;
  dp.metrics_path = metrics;
  dp.progress = 0;
  CHECK(xla_dpo_trainer_create(m, opt, prefs, NULL, &dp, &t));
  first.struct_size = sizeof first;
  CHECK(xla_dpo_trainer_step(t, &first));
  printf("  dpo step   1  loss %.4f  reward margin %+.3f  reward accuracy %.2f\n", first.loss, first.reward_margin,
         first.reward_accuracy);
  tail.last_step = dp.steps;
  CHECK(xla_dpo_trainer_run(t, log_dpo, &tail, NULL));
  sampled(m, 400, &right1, &dots1);
  samples(m, "after DPO");
  printf("held-out answers sampled at temperature 1: ending with a period %.1f%% → %.1f%%, right %.1f%% → %.1f%%\n",
         100 * dots0, 100 * dots1, 100 * right0, 100 * right1);
  printf("DPO metrics: %s\n\n", metrics);
  res->dpo_margin = tail.margin / 10;
  res->dpo_accuracy = tail.accuracy / 10;
  res->period_before = dots0;
  res->period_after = dots1;
  res->right_before = right0;
  res->right_after = right1;
  xla_dpo_trainer_free(t);
  xla_optimizer_free(opt);
  xla_preference_dataset_free(prefs);
}

/* Stage 3, reinforcement. GRPO samples 8 answers to each training sum at temperature 1 (the
   serving engine draws a whole round in one batched run), rewards each with 1 for the right
   sum (a C callback) plus 0.2 for ending with a period (a built-in format regex), and moves the
   adapters towards the better answers of each group, held near where they started by a KL
   penalty (beta 0.04, the reference a frozen copy). Measured as stage 2, on held-out sums. */
#define GRPO_STEPS 60

/* The reward callback: 1 when the answer is the right sum, in either style. */
static int32_t sum_reward(const int32_t* prompt, size_t n_prompt, const int32_t* completion, size_t n_completion,
                          const char* prompt_text, const char* completion_text, const char* answer,
                          double* reward_out, void* user) {
  (void)prompt, (void)n_prompt, (void)completion, (void)n_completion, (void)prompt_text, (void)user;
  *reward_out = is_right(completion_text, atoi(answer));
  return 0;
}

/* The mean reward of the first and of the last 10 steps, for check_results. */
struct grpo_tail {
  double first, last;
};

static int log_grpo(int64_t step, const xla_grpo_step_metrics* m, void* user) {
  struct grpo_tail* tail = (struct grpo_tail*)user;
  if (step <= 10) tail->first += m->reward / 10;
  if (step > GRPO_STEPS - 10) tail->last += m->reward / 10;
  if (step % 10 == 0)
    printf("  grpo step %3lld  reward %.3f  kl %.4f  answer length %.2f  %.0f samples/s\n", (long long)step, m->reward,
           m->kl, m->completion_mean_length, m->samples_per_s);
  fflush(stdout);
  return 0;
}

static void reinforce(xla_model* m, const char** prompts, const char** answers, size_t n, const char* out_dir,
                      struct results* res) {
  static const char *pp[N * N], *ap[N * N];
  size_t i, count = 0;
  char metrics[512];
  double right0, right1, dots0, dots1;
  xla_prompt_dataset* data = NULL;
  xla_optimizer* opt = NULL;
  xla_optimizer_params op;
  xla_grpo_trainer* t = NULL;
  xla_grpo_trainer_params gp;
  struct grpo_tail tail = {0, 0};
  int32_t stop = EOS;

  for (i = 2; i < n; i += 4) { /* every fourth training sum, not DPO's: ~2,000 prompts */
    pp[count] = prompts[i];
    ap[count] = answers[i];
    ++count;
  }
  printf("GRPO: %zu prompts, 8 sampled answers each per step; reward 1 for the right sum + 0.2 for a period\n", count);
  sampled(m, 400, &right0, &dots0);
  CHECK(xla_prompt_dataset_from_text(pp, ap, count, NULL, 0, &data));
  CHECK(xla_optimizer_params_defaults(&op, XLA_OPT_ADAMW, 1e-3));
  CHECK(xla_optimizer_create(m, &op, &opt)); /* the adapters DPO trained, trained on */
  snprintf(metrics, sizeof metrics, "%s/grpo_metrics.jsonl", out_dir);
  remove(metrics);
  xla_grpo_trainer_params_init(&gp);
  gp.grpo.group_size = 8;
  gp.grpo.beta = 0.04f;
  gp.batch_size = 64; /* 8 prompts × 8 answers a step */
  gp.steps = GRPO_STEPS;
  gp.max_completion_length = 5;
  gp.sampling.temperature = 1.f;
  gp.sampling.n_stop_ids = 1;
  gp.sampling.stop_ids = &stop;
  gp.engine_max_seqs = 64;
  gp.seed = 5;
  gp.metrics_path = metrics;
  gp.progress = 0;
  CHECK(xla_grpo_trainer_create(m, opt, data, NULL, &gp, &t));
  CHECK(xla_grpo_trainer_add_reward(t, "sum", sum_reward, NULL, 1.0));
  CHECK(xla_grpo_trainer_add_format_reward(t, "[0-9]+\\.", 0.2));
  CHECK(xla_grpo_trainer_run(t, log_grpo, &tail, NULL));
  sampled(m, 400, &right1, &dots1);
  samples(m, "after GRPO");
  printf("held-out answers sampled at temperature 1: right %.1f%% → %.1f%%, ending with a period %.1f%% → %.1f%%\n",
         100 * right0, 100 * right1, 100 * dots0, 100 * dots1);
  printf("GRPO metrics: %s\n\n", metrics);
  res->grpo_reward_first = tail.first;
  res->grpo_reward_last = tail.last;
  res->grpo_right_after = right1;
  res->grpo_period_after = dots1;
  xla_grpo_trainer_free(t);
  xla_optimizer_free(opt);
  xla_prompt_dataset_free(data);
}

/* Under an MPI launcher: join the ranks; rank 0 alone prints. */
static void start_ranks(int* argc, char*** argv) {
#ifdef XLA_HAVE_MPI
  static xla_collective world;
  if (!xla_mpi_launched()) return;
  CHECK(xla_mpi_init(argc, argv));
  CHECK(xla_mpi_collective(&world));
  if (world.world_size < 2) return;
  if (64 % world.world_size != 0) {
    fprintf(stderr, "xla_demo: %d ranks cannot share a batch of 64 evenly (use 2, 4, 8, ... ranks)\n", world.world_size);
    xla_mpi_abort("xla_demo: unsupported number of ranks");
  }
  g_ranks = &world;
  g_rank = world.rank;
  g_world = world.world_size;
  if (g_rank != 0 && !freopen("/dev/null", "w", stdout)) fail("freopen(/dev/null)");
#else
  (void)argc;
  (void)argv;
#endif
}

static const char usage[] =
    "usage: xla_demo [--resume] [out_dir] [steps]   (defaults: demo_out, 1500 steps)\n"
    "  --resume   continue from the latest checkpoint in out_dir/checkpoints\n";

/* [--resume] [out_dir] [steps]. False, having said why, on anything else; --help prints the
 * usage and leaves *out_dir NULL. */
static int parse_arguments(int argc, char** argv, int* resume, const char** out_dir, int64_t* steps) {
  int i = 1;
  char* end;
  *resume = 0;
  *out_dir = "demo_out";
  *steps = 1500;
  if (i < argc && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)) {
    fputs(usage, stdout);
    *out_dir = NULL;
    return 1;
  }
  if (i < argc && strcmp(argv[i], "--resume") == 0) {
    *resume = 1;
    ++i;
  }
  for (int k = i; k < argc; ++k)
    if (argv[k][0] == '-') {
      fprintf(stderr, "xla_demo: unknown option '%s'\n%s", argv[k], usage);
      return 0;
    }
  if (argc - i > 2) {
    fprintf(stderr, "xla_demo: too many arguments (from '%s' on)\n%s", argv[i + 2], usage);
    return 0;
  }
  if (i < argc) *out_dir = argv[i++];
  if (i < argc) {
    *steps = strtoll(argv[i], &end, 10);
    if (*end != '\0' || *steps <= 0) {
      fprintf(stderr, "xla_demo: steps must be a positive whole number, got '%s'\n%s", argv[i], usage);
      return 0;
    }
  }
  return 1;
}

int main(int argc, char** argv) {
  int resume;
  const char* out_dir;
  int64_t steps;
  static char prompts[N * N][8], responses[N * N][8];
  static const char* pp[N * N];
  static const char* rp[N * N];
  char metrics[512], ckpt[512];
  size_t n = 0;
  int a, b;
  xla_model* m = NULL;
  xla_optimizer* opt = NULL;
  xla_optimizer_params op;
  xla_dataset *all = NULL, *train = NULL, *val = NULL;
  xla_trainer* t = NULL;
  xla_trainer_params tp;
  int32_t resumed = 0;
  double before, after, val_loss;
  struct results res;
  int passed, parsed;

  start_ranks(&argc, &argv);
  parsed = parse_arguments(argc, argv, &resume, &out_dir, &steps);
  if (!parsed || !out_dir) { /* a usage error, or --help */
#ifdef XLA_HAVE_MPI
    if (xla_mpi_launched()) CHECK(xla_mpi_finalize());
#endif
    return parsed ? 0 : 2;
  }
  for (a = 0; a < N; ++a)
    for (b = 0; b < N; ++b) {
      if (held_out(a, b)) continue;
      snprintf(prompts[n], sizeof prompts[n], "%d+%d=", a, b);
      /* two styles in the data, half and half: "42" and "42." — DPO will pick one below */
      snprintf(responses[n], sizeof responses[n], (a * 31 + b * 17) % 2 ? "%d." : "%d", a + b);
      pp[n] = prompts[n];
      rp[n] = responses[n];
      ++n;
    }
  printf("libxla %s — training a Gemma 3 from scratch to add two numbers below %d\n", xla_version_string(), N);
  printf("%zu training sums; the held-out ones are never seen\n", n);
  if (g_world > 1) printf("data parallel: %d ranks, each a share of every batch\n", g_world);

  mkdir(out_dir, 0755);
  snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", out_dir);
  snprintf(ckpt, sizeof ckpt, "%s/checkpoints", out_dir);
  if (!resume && g_rank == 0) { /* rank 0 writes; another rank must not remove its files */
    char latest[600];
    remove(metrics);
    snprintf(latest, sizeof latest, "%s/latest", ckpt);
    remove(latest); /* without `latest` the old checkpoints are not resumed (and get replaced) */
  }

  CHECK(xla_model_create(kConfig, 1234, &m));
  CHECK(xla_optimizer_params_defaults(&op, XLA_OPT_ADAMW, 3e-3));
  op.weight_decay = 0.1; /* at 0.01 the held-out sums came out between 66% and 98% right
                            from one seed or split to another; 0.1 generalises reliably */
  CHECK(xla_optimizer_create(m, &op, &opt));
  CHECK(xla_dataset_from_pairs(pp, rp, n, NULL, SEQ, &all));
  CHECK(xla_dataset_split(all, 0.05, 7, &train, &val));

  before = accuracy(m, 300);
  samples(m, "before");
  printf("held-out accuracy before training: %.1f%%\n\n", 100 * before);
  fflush(stdout); /* the progress bar goes to stderr */

  xla_trainer_params_init(&tp);
  tp.batch_size = 64 / g_world; /* per rank: 64 rows a step in all */
  tp.collective = g_ranks;
  tp.steps = steps;
  tp.schedule = XLA_SCHEDULE_COSINE;
  tp.warmup_steps = 30;
  tp.min_lr_ratio = 0.05;
  tp.max_grad_norm = 1.0;
  tp.eval_every = 100;
  tp.eval_batches = 4;
  tp.seed = 1;
  tp.metrics_path = metrics;
  tp.checkpoint_dir = ckpt;
  tp.checkpoint_every = 300;
  CHECK(xla_trainer_create(m, opt, train, val, &tp, &t));
  if (resume) {
    CHECK(xla_trainer_resume(t, &resumed));
    printf(resumed ? "resumed from %s\n" : "no checkpoint in %s: starting afresh\n", ckpt);
    fflush(stdout);
  }
  CHECK(xla_trainer_run(t, NULL, NULL, NULL));
  CHECK(xla_trainer_evaluate(t, &val_loss));

  printf("\n");
  samples(m, "after");
  after = accuracy(m, 300);
  printf("validation loss %.4f (answer tokens only)\n", val_loss);
  printf("held-out accuracy: %.1f%% before → %.1f%% after %lld steps\n", 100 * before, 100 * after, (long long)steps);
  printf("metrics: %s   checkpoint: %s\n\n", metrics, ckpt);
  fflush(stdout);
  res.accuracy_before = before;
  res.accuracy_after = after;
  res.val_loss = val_loss;
  align(m, pp, rp, n, out_dir, &res);
  if (g_rank == 0) { /* GRPO trains in one process: rank 0's; the others are done */
    reinforce(m, pp, rp, n, out_dir, &res);
    passed = check_results(&res, steps);
  } else {
    passed = 1;
  }
  xla_trainer_free(t);
  xla_dataset_free(all);
  xla_dataset_free(train);
  xla_dataset_free(val);
  xla_optimizer_free(opt);
  xla_model_free(m);
#ifdef XLA_HAVE_MPI
  CHECK(xla_mpi_finalize());
#endif
  return passed ? 0 : 1;
}
