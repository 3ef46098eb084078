/* test_grpo_trainer.c — the GRPO trainer from C99: prompt data, a C reward callback that sees
 * each completion as it was sampled (its ids, its text, the prompt's ids, text and answer), a
 * tiny byte-level Gemma 3 learning to write capital letters because the reward pays for them
 * (the mean reward of the last steps well above the first ones'), the step metrics, a
 * stopping callback, round reuse (num_iterations 2), an exact resume mid-round, stop ids,
 * KL against the frozen copy, and bad input refused with a message. */
#include <math.h>
#include <string.h>

#include "expect.h"

static const char* kConfig =
    "{\"model_type\": \"gemma3_text\", \"vocab_size\": 259, \"hidden_size\": 32, \"intermediate_size\": 64,"
    " \"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"head_dim\": 16,"
    " \"query_pre_attn_scalar\": 16, \"sliding_window\": 8,"
    " \"layer_types\": [\"sliding_attention\", \"full_attention\"]}";

#define N_PROMPTS 4
static const char* kPrompts[N_PROMPTS] = {"say:", "shout:", "yell:", "call:"};
static const char* kAnswers[N_PROMPTS] = {"A", NULL, "B", "C"};

/* What the reward callback saw and checked. */
typedef struct seen {
  int calls, bad;      /* callbacks, and ones whose arguments did not add up */
  int max_len;         /* max_completion_length */
} seen;

/* The byte a byte-level id stands for (ids 0..2 are <pad>, <eos>, <bos>). */
static int byte_of(int32_t id) { return id >= 3 && id < 259 ? id - 3 : -1; }

/* The prompt the callback's text names, or -1. */
static int prompt_index(const char* text) {
  int i;
  for (i = 0; i < N_PROMPTS; ++i)
    if (strcmp(text, kPrompts[i]) == 0) return i;
  return -1;
}

/* Checks every argument against what the trainer must hand over, then pays the share of
   the completion's tokens that are capital letters. */
static int32_t capitals(const int32_t* prompt, size_t n_prompt, const int32_t* completion, size_t n_completion,
                        const char* prompt_text, const char* completion_text, const char* answer, double* reward_out,
                        void* user) {
  seen* s = (seen*)user;
  const int i = prompt_index(prompt_text);
  size_t k, n_text = 0, caps = 0;
  ++s->calls;
  if (i < 0 || n_prompt != strlen(kPrompts[i]) + 1 || prompt[0] != 2) ++s->bad; /* <bos> + bytes */
  else
    for (k = 1; k < n_prompt; ++k)
      if (byte_of(prompt[k]) != (unsigned char)kPrompts[i][k - 1]) ++s->bad;
  if (i >= 0 && strcmp(answer, kAnswers[i] ? kAnswers[i] : "") != 0) ++s->bad;
  if (n_completion < 1 || (int)n_completion > s->max_len) ++s->bad;
  /* the text is the completion's bytes, the special ids (<eos>) dropped; C sees it up to a
     NUL byte, which the tiny model may draw */
  for (k = 0; k < n_completion; ++k) {
    const int b = byte_of(completion[k]);
    if (b < 0) continue;
    if (b >= 'A' && b <= 'Z') ++caps;
    if (n_text == (size_t)-1) continue; /* past a NUL */
    if (b == 0) {
      if (strlen(completion_text) != n_text) ++s->bad;
      n_text = (size_t)-1;
      continue;
    }
    if ((unsigned char)completion_text[n_text] != b) ++s->bad;
    ++n_text;
  }
  if (n_text != (size_t)-1 && strlen(completion_text) != n_text) ++s->bad;
  *reward_out = (double)caps / (double)n_completion;
  return 0;
}

static int32_t returns_nan(const int32_t* p, size_t np, const int32_t* c, size_t nc, const char* pt, const char* ct,
                           const char* a, double* r, void* u) {
  (void)p, (void)np, (void)c, (void)nc, (void)pt, (void)ct, (void)a, (void)u;
  *r = NAN;
  return 0;
}

static int32_t forgets(const int32_t* p, size_t np, const int32_t* c, size_t nc, const char* pt, const char* ct,
                       const char* a, double* r, void* u) {
  (void)p, (void)np, (void)c, (void)nc, (void)pt, (void)ct, (void)a, (void)r, (void)u;
  return 0; /* without writing *r */
}

static int32_t refuses(const int32_t* p, size_t np, const int32_t* c, size_t nc, const char* pt, const char* ct,
                       const char* a, double* r, void* u) {
  (void)p, (void)np, (void)c, (void)nc, (void)pt, (void)ct, (void)a, (void)r, (void)u;
  return 5;
}

/* The run's reward per step, and a stop after `stop_at`. */
typedef struct progress {
  double reward[64];
  int64_t last_step, stop_at;
  int calls, sampled;
} progress;

static int32_t on_step(int64_t step, const xla_grpo_step_metrics* m, void* user) {
  progress* p = (progress*)user;
  ++p->calls;
  p->last_step = step;
  if (step == m->step && step >= 1 && step <= 64) p->reward[step - 1] = m->reward;
  p->sampled += m->sampled;
  return p->stop_at > 0 && step >= p->stop_at;
}

static void params(xla_grpo_trainer_params* tp) {
  xla_grpo_trainer_params_init(tp);
  tp->max_completion_length = 4;
  tp->batch_size = 8; /* 2 prompts x 4 completions */
  tp->progress = 0;
  tp->seed = 3;
}

static void test_defaults(void) {
  xla_grpo_trainer_params tp;
  memset(&tp, 0xff, sizeof tp);
  xla_grpo_trainer_params_init(&tp);
  EXPECT(tp.struct_size == sizeof tp && tp.grpo.struct_size == sizeof(xla_grpo_params));
  EXPECT(tp.grpo.group_size == 4 && tp.grpo.beta == 0.f && tp.grpo.epsilon == 0.2f && tp.grpo.epsilon_high == 0.2f);
  EXPECT(tp.grpo.loss_type == XLA_GRPO_LOSS_GRPO && tp.grpo.scale_rewards == 1);
  EXPECT(tp.num_iterations == 1 && tp.max_completion_length == 64);
  EXPECT(tp.sampling.struct_size == sizeof(xla_sampler_params) && tp.sampling.temperature == 1.f);
  EXPECT(tp.sampling.top_k == 0 && tp.sampling.top_p == 1.f && tp.sampling.n_stop_ids == 0);
  EXPECT(tp.sampler == XLA_GRPO_SAMPLER_ENGINE && tp.engine_max_seqs == 8);
  EXPECT(tp.reference == XLA_DPO_REF_FROZEN_COPY && tp.reference_model == NULL);
  EXPECT(tp.batch_size == 8 && tp.grad_accum == 1 && tp.steps == 100 && tp.schedule == XLA_SCHEDULE_CONSTANT);
  EXPECT(tp.max_grad_norm == 1.0 && tp.seed == 0 && tp.metrics_path == NULL && tp.checkpoint_dir == NULL);
  EXPECT(tp.keep_checkpoints == 2 && tp.progress == -1);
  xla_grpo_trainer_params_init(NULL); /* accepted, does nothing */
}

static void test_prompts(void) {
  xla_prompt_dataset* d = (xla_prompt_dataset*)&g_passed;
  const char* with_null[2] = {"a", NULL};
  EXPECT_OK(xla_prompt_dataset_from_text(kPrompts, kAnswers, N_PROMPTS, NULL, 0, &d));
  EXPECT(xla_prompt_dataset_size(d) == N_PROMPTS);
  xla_prompt_dataset_free(d);
  EXPECT_OK(xla_prompt_dataset_from_text(kPrompts, NULL, 2, NULL, 0, &d)); /* no answers */
  EXPECT(xla_prompt_dataset_size(d) == 2);
  xla_prompt_dataset_free(d);
  d = (xla_prompt_dataset*)&g_passed;
  BAD(xla_prompt_dataset_from_text(with_null, NULL, 2, NULL, 0, &d), XLA_ERR_INVALID_ARG,
      "xla_prompt_dataset_from_text", "prompts[1] is NULL");
  BAD(xla_prompt_dataset_from_text(kPrompts, NULL, 0, NULL, 0, &d), XLA_ERR_INVALID_ARG,
      "xla_prompt_dataset_from_text", "n is 0");
  BAD(xla_prompt_dataset_from_text(NULL, NULL, 2, NULL, 0, &d), XLA_ERR_INVALID_ARG, "xla_prompt_dataset_from_text",
      "prompts is NULL");
  BAD(xla_prompt_dataset_load_jsonl("/nonexistent/prompts.jsonl", NULL, 0, &d), XLA_ERR_IO,
      "xla_prompt_dataset_load_jsonl", "/nonexistent/prompts.jsonl");
  EXPECT(d == (xla_prompt_dataset*)&g_passed);
  EXPECT(xla_prompt_dataset_size(NULL) == -1);
  {
    FILE* f = fopen("capi_grpo_prompts.jsonl", "w");
    fputs("{\"prompt\": \"say:\", \"answer\": \"A\"}\n\n{\"prompt_ids\": [2, 75, 76], \"answer\": \"B\"}\n", f);
    fclose(f);
    EXPECT_OK(xla_prompt_dataset_load_jsonl("capi_grpo_prompts.jsonl", NULL, 0, &d));
    EXPECT(xla_prompt_dataset_size(d) == 2);
    xla_prompt_dataset_free(d);
    d = (xla_prompt_dataset*)&g_passed;
    f = fopen("capi_grpo_prompts.jsonl", "w");
    fputs("{\"prompt\": \"say:\"}\n{\"answer\": \"B\"}\n", f);
    fclose(f);
    BAD(xla_prompt_dataset_load_jsonl("capi_grpo_prompts.jsonl", NULL, 0, &d), XLA_ERR_FORMAT,
        "xla_prompt_dataset_load_jsonl", "capi_grpo_prompts.jsonl:2");
    EXPECT(d == (xla_prompt_dataset*)&g_passed);
  }
}

/* The reward pays for capital letters; the policy learns to write them. */
static void test_learns(xla_prompt_dataset* prompts) {
  xla_model* m = NULL;
  xla_optimizer* opt = NULL;
  xla_optimizer_params op;
  xla_grpo_trainer* t = NULL;
  xla_grpo_trainer_params tp;
  xla_grpo_step_metrics first, short_m;
  seen s = {0, 0, 4};
  progress pr;
  int64_t ran = -1;
  double early = 0, late = 0;
  int i;
  memset(&pr, 0, sizeof pr);
  EXPECT_OK(xla_model_create(kConfig, 11, &m));
  EXPECT_OK(xla_optimizer_params_defaults(&op, XLA_OPT_ADAMW, 3e-2));
  EXPECT_OK(xla_optimizer_create(m, &op, &opt));
  params(&tp);
  tp.steps = 40;
  EXPECT_OK(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &t));
  /* no reward yet: the step says so */
  first.struct_size = sizeof first;
  BAD(xla_grpo_trainer_step(t, &first), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_step", "reward");
  EXPECT_OK(xla_grpo_trainer_add_reward(t, "capitals", capitals, &s, 1.0));
  EXPECT_OK(xla_grpo_trainer_add_exact_match_reward(t, 0.0)); /* weight 0: in the metrics, not the total */
  BAD(xla_grpo_trainer_add_reward(t, "capitals", capitals, &s, 1.0), XLA_ERR_INVALID_ARG,
      "xla_grpo_trainer_add_reward", "capitals"); /* a name already used */
  BAD(xla_grpo_trainer_add_reward(t, "w", capitals, &s, NAN), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_add_reward",
      "weight");
  BAD(xla_grpo_trainer_add_format_reward(t, "([a-z", 1.0), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_add_format_reward",
      "");

  /* step 1: one round of 2 prompts x 4 completions, each scored once */
  memset(&first, 0xAB, sizeof first);
  first.struct_size = sizeof first;
  EXPECT_OK(xla_grpo_trainer_step(t, &first));
  EXPECT(s.calls == 8 && s.bad == 0);
  EXPECT(first.step == 1 && first.sampled == 1);
  EXPECT(fabs(first.loss) < 1e-6); /* on-policy: -mean(A) = 0 over whole groups */
  EXPECT(first.kl == 0.0 && first.clip_ratio_region == 0.0);
  EXPECT(first.reward >= 0.0 && first.reward <= 1.0 && first.reward_std >= 0.0);
  EXPECT(first.frac_reward_zero_std >= 0.0 && first.frac_reward_zero_std <= 1.0);
  EXPECT(first.completion_mean_length >= 1.0 && first.completion_mean_length <= 4.0);
  EXPECT(first.clipped_ratio >= 0.0 && first.clipped_ratio <= 1.0);
  EXPECT(first.learning_rate == 3e-2 && first.grad_norm >= 0.0 && isfinite(first.grad_norm));
  EXPECT(first.samples_per_s > 0.0 && first.sampled_tokens_per_s > 0.0);
  /* a metrics struct from an older header gets the fields it has */
  memset(&short_m, 0, sizeof short_m);
  short_m.struct_size = (uint32_t)offsetof(xla_grpo_step_metrics, loss);
  short_m.loss = 42;
  EXPECT_OK(xla_grpo_trainer_step(t, &short_m));
  EXPECT(short_m.step == 2 && short_m.loss == 42);
  short_m.struct_size = 2;
  BAD(xla_grpo_trainer_step(t, &short_m), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_step", "struct_size");
  EXPECT_OK(xla_grpo_trainer_step(t, NULL)); /* the metrics are optional */
  EXPECT(s.calls == 24);

  /* the run stops when the callback says so ... */
  pr.stop_at = 6;
  EXPECT(xla_grpo_trainer_run(t, on_step, &pr, &ran) == XLA_ERR_ABORTED);
  EXPECT(has("xla_grpo_trainer_run") && has("after step 6"));
  EXPECT(pr.calls == 3 && pr.sampled == 3 && ran == 3); /* steps 4, 5, 6 */
  /* ... and goes on to the end */
  pr.stop_at = 0;
  EXPECT_OK(xla_grpo_trainer_run(t, on_step, &pr, &ran));
  EXPECT(ran == 34 && pr.last_step == 40 && s.calls == 8 * 40 && s.bad == 0);
  early = first.reward / 6; /* steps 1 and 4..8 */
  for (i = 3; i < 8; ++i) early += pr.reward[i] / 6;
  for (i = 30; i < 40; ++i) late += pr.reward[i] / 10;
  printf("mean reward: first steps %.3f, last steps %.3f\n", early, late);
  EXPECT(late > early + 0.2);
  BAD(xla_grpo_trainer_save(t), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_save", "checkpoint_dir");

  xla_grpo_trainer_free(t);
  xla_optimizer_free(opt);
  xla_model_free(m);
}

/* num_iterations 2: every round feeds two steps; the second reuses the samples. */
static void test_round_reuse(xla_prompt_dataset* prompts) {
  xla_model* m = NULL;
  xla_optimizer* opt = NULL;
  xla_grpo_trainer* t = NULL;
  xla_grpo_trainer_params tp;
  xla_grpo_step_metrics a, b, c;
  seen s = {0, 0, 4};
  int32_t resumed = -1;
  EXPECT_OK(xla_model_create(kConfig, 12, &m));
  EXPECT_OK(xla_optimizer_create(m, NULL, &opt));
  params(&tp);
  tp.num_iterations = 2;
  tp.sampler = XLA_GRPO_SAMPLER_SESSIONS;
  EXPECT_OK(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &t));
  EXPECT_OK(xla_grpo_trainer_add_reward(t, "capitals", capitals, &s, 2.0));
  EXPECT_OK(xla_grpo_trainer_resume(t, &resumed)); /* no checkpoint_dir: nothing to resume */
  EXPECT(resumed == 0);
  a.struct_size = b.struct_size = c.struct_size = sizeof a;
  EXPECT_OK(xla_grpo_trainer_step(t, &a));
  EXPECT_OK(xla_grpo_trainer_step(t, &b));
  EXPECT_OK(xla_grpo_trainer_step(t, &c));
  EXPECT(a.sampled == 1 && b.sampled == 0 && c.sampled == 1);
  EXPECT(s.calls == 16 && s.bad == 0);     /* two rounds scored, not three */
  EXPECT(b.reward == a.reward);            /* the same samples */
  EXPECT(a.reward >= 0.0 && a.reward <= 2.0); /* weight 2 */
  xla_grpo_trainer_free(t);
  xla_optimizer_free(opt);
  xla_model_free(m);
}

/* Four steps with num_iterations 2 and a checkpoint after step 3, mid-round: a new trainer
   over the same starting model resumes there and steps as the first one did. */
static void test_resume(xla_prompt_dataset* prompts) {
  xla_model *m = NULL, *m2 = NULL;
  xla_optimizer *opt = NULL, *opt2 = NULL;
  xla_grpo_trainer *t = NULL, *t2 = NULL;
  xla_grpo_trainer_params tp;
  xla_grpo_step_metrics a, b;
  seen s = {0, 0, 4};
  int32_t resumed = -1;
  params(&tp);
  tp.num_iterations = 2;
  tp.checkpoint_dir = "capi_grpo_ckpt";
  EXPECT_OK(xla_model_create(kConfig, 14, &m));
  EXPECT_OK(xla_optimizer_create(m, NULL, &opt));
  EXPECT_OK(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &t));
  EXPECT_OK(xla_grpo_trainer_add_reward(t, "capitals", capitals, &s, 1.0));
  EXPECT_OK(xla_grpo_trainer_step(t, NULL));
  EXPECT_OK(xla_grpo_trainer_step(t, NULL));
  EXPECT_OK(xla_grpo_trainer_step(t, NULL));
  EXPECT_OK(xla_grpo_trainer_save(t));
  a.struct_size = b.struct_size = sizeof a;
  EXPECT_OK(xla_grpo_trainer_step(t, &a)); /* step 4: reuses step 3's round */
  EXPECT(a.step == 4 && a.sampled == 0 && s.calls == 16);

  EXPECT_OK(xla_model_create(kConfig, 14, &m2));
  EXPECT_OK(xla_optimizer_create(m2, NULL, &opt2));
  EXPECT_OK(xla_grpo_trainer_create(m2, opt2, prompts, NULL, &tp, &t2));
  EXPECT_OK(xla_grpo_trainer_add_reward(t2, "capitals", capitals, &s, 1.0));
  EXPECT_OK(xla_grpo_trainer_resume(t2, &resumed));
  EXPECT(resumed == 1);
  EXPECT_OK(xla_grpo_trainer_step(t2, &b));
  EXPECT(s.calls == 16); /* the round came back with the checkpoint: nothing scored again */
  EXPECT(b.step == 4 && b.sampled == 0);
  EXPECT(b.loss == a.loss && b.reward == a.reward && b.grad_norm == a.grad_norm);
  xla_grpo_trainer_free(t2);
  xla_grpo_trainer_free(t);
  xla_optimizer_free(opt2);
  xla_optimizer_free(opt);
  xla_model_free(m2);
  xla_model_free(m);
}

/* Stop ids end completions (every id here: one token each); beta != 0 against the frozen copy:
   no KL on the first step (policy = reference), some once the policy has moved. */
static void test_stop_ids_and_kl(xla_prompt_dataset* prompts) {
  xla_model* m = NULL;
  xla_optimizer* opt = NULL;
  xla_optimizer_params op;
  xla_grpo_trainer* t = NULL;
  xla_grpo_trainer_params tp;
  xla_grpo_step_metrics a, b;
  seen s = {0, 0, 4};
  int32_t every[259], past_the_end[2] = {258, 259}; /* the vocabulary is 259 */
  int i;
  for (i = 0; i < 259; ++i) every[i] = i;
  EXPECT_OK(xla_model_create(kConfig, 15, &m));
  EXPECT_OK(xla_optimizer_params_defaults(&op, XLA_OPT_ADAMW, 3e-2));
  EXPECT_OK(xla_optimizer_create(m, &op, &opt));
  params(&tp);
  tp.sampling.n_stop_ids = 259;
  tp.sampling.stop_ids = every;
  tp.grpo.beta = 0.1f;
  EXPECT_OK(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &t));
  EXPECT_OK(xla_grpo_trainer_add_reward(t, "capitals", capitals, &s, 1.0));
  a.struct_size = b.struct_size = sizeof a;
  EXPECT_OK(xla_grpo_trainer_step(t, &a));
  EXPECT(a.completion_mean_length == 1.0 && a.clipped_ratio == 0.0);
  EXPECT(a.kl == 0.0);
  EXPECT_OK(xla_grpo_trainer_step(t, NULL));
  EXPECT_OK(xla_grpo_trainer_step(t, &b));
  EXPECT(b.kl > 0.0 && isfinite(b.kl));
  xla_grpo_trainer_free(t);
  params(&tp);
  tp.sampling.n_stop_ids = 1;
  tp.sampling.stop_ids = NULL;
  BAD(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &t), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
      "sampling.stop_ids is NULL");
  tp.sampling.stop_ids = past_the_end;
  tp.sampling.n_stop_ids = 2;
  BAD(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &t), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
      "stop id 259");
  params(&tp);
  tp.grpo.beta = 0.1f;
  tp.reference = XLA_DPO_REF_MODEL; /* without reference_model */
  BAD(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &t), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
      "reference_model");
  xla_optimizer_free(opt);
  xla_model_free(m);
}

static void test_bad_input(xla_prompt_dataset* prompts) {
  xla_model* m = NULL;
  xla_optimizer* opt = NULL;
  xla_grpo_trainer *t = NULL, *out = (xla_grpo_trainer*)&g_passed;
  xla_grpo_trainer_params tp;
  xla_grpo_step_metrics sm;
  seen s = {0, 0, 4};
  EXPECT_OK(xla_model_create(kConfig, 13, &m));
  EXPECT_OK(xla_optimizer_create(m, NULL, &opt));

  /* creation: NULL arguments, then bad params, each named; *out untouched */
  params(&tp);
  BAD(xla_grpo_trainer_create(NULL, opt, prompts, NULL, &tp, &out), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
      "policy is NULL");
  BAD(xla_grpo_trainer_create(m, NULL, prompts, NULL, &tp, &out), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
      "o is NULL");
  BAD(xla_grpo_trainer_create(m, opt, NULL, NULL, &tp, &out), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
      "prompts is NULL");
  BAD(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, NULL), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
      "out is NULL");
  tp.grpo.group_size = 3; /* 8 completions are not groups of 3 */
  BAD(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &out), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
      "group_size");
  params(&tp);
  tp.grpo.group_size = 1;
  BAD(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &out), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
      "group_size");
  params(&tp);
  tp.sampling.temperature = 0.f;
  BAD(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &out), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
      "temperature");
  params(&tp);
  tp.batch_size = 20; /* a micro-batch would need 5 prompts of the 4 */
  BAD(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &out), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
      "prompts");
  params(&tp);
  tp.num_iterations = 0;
  BAD(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &out), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
      "num_iterations");
  params(&tp);
  tp.engine_max_seqs = 0;
  BAD(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &out), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
      "engine_max_seqs must be >= 1, got 0");
  params(&tp);
  tp.sampler = 7;
  BAD(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &out), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
      "sampler 7");
  params(&tp);
  tp.grpo.beta = 0.1f;
  tp.reference = XLA_DPO_REF_PRECOMPUTED;
  BAD(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &out), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
      "reference 2");
  params(&tp);
  tp.grpo.struct_size = 8;
  BAD(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &out), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
      "grpo.struct_size is 8");
  params(&tp);
  tp.struct_size = 0;
  BAD(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &out), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
      "xla_grpo_trainer_params.struct_size is 0");
  params(&tp);
  tp.grpo.scale_rewards = 2;
  BAD(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &out), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
      "scale_rewards");
  EXPECT(out == (xla_grpo_trainer*)&g_passed);

  /* rewards: NULL arguments; a NaN reward and a refusing callback fail the step, named */
  params(&tp);
  EXPECT_OK(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &t));
  BAD(xla_grpo_trainer_add_reward(NULL, "r", capitals, &s, 1.0), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_add_reward",
      "t is NULL");
  BAD(xla_grpo_trainer_add_reward(t, NULL, capitals, &s, 1.0), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_add_reward",
      "name is NULL");
  BAD(xla_grpo_trainer_add_reward(t, "r", NULL, &s, 1.0), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_add_reward",
      "fn is NULL");
  BAD(xla_grpo_trainer_add_format_reward(t, NULL, 1.0), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_add_format_reward",
      "pattern is NULL");
  EXPECT_OK(xla_grpo_trainer_add_reward(t, "not_a_number", returns_nan, NULL, 1.0));
  sm.struct_size = sizeof sm;
  sm.step = -7;
  BAD(xla_grpo_trainer_step(t, &sm), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_step", "not_a_number");
  EXPECT(sm.step == -7);
  xla_grpo_trainer_free(t);
  EXPECT_OK(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &t));
  EXPECT_OK(xla_grpo_trainer_add_reward(t, "forgetful", forgets, NULL, 1.0));
  BAD(xla_grpo_trainer_step(t, &sm), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_step", "forgetful");
  EXPECT(has("nan") && sm.step == -7);
  xla_grpo_trainer_free(t);
  EXPECT_OK(xla_grpo_trainer_create(m, opt, prompts, NULL, &tp, &t));
  EXPECT_OK(xla_grpo_trainer_add_reward(t, "capitals", capitals, &s, 1.0));
  EXPECT_OK(xla_grpo_trainer_add_reward(t, "refuser", refuses, NULL, 1.0));
  BAD(xla_grpo_trainer_step(t, &sm), XLA_ERR_ABORTED, "xla_grpo_trainer_step", "refuser");
  EXPECT(has("returned 5") && sm.step == -7);
  xla_grpo_trainer_free(t);

  BAD(xla_grpo_trainer_step(NULL, &sm), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_step", "t is NULL");
  BAD(xla_grpo_trainer_run(NULL, NULL, NULL, NULL), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_run", "t is NULL");
  xla_grpo_trainer_free(NULL);
  xla_optimizer_free(opt);
  xla_model_free(m);
}

int main(void) {
  xla_prompt_dataset* prompts = NULL;
  test_defaults();
  test_prompts();
  EXPECT_OK(xla_prompt_dataset_from_text(kPrompts, kAnswers, N_PROMPTS, NULL, 0, &prompts));
  test_learns(prompts);
  test_round_reuse(prompts);
  test_resume(prompts);
  test_stop_ids_and_kl(prompts);
  test_bad_input(prompts);
  xla_prompt_dataset_free(prompts);
  return finish("capi.grpo_trainer");
}
