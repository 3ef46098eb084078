/* dpo.c — Direct Preference Optimization from C: a small Gemma with LoRA adapters learns to
 * prefer one completion over another; the reference is the same model with its adapters off
 * (no second model in memory). Prints TRL's metrics as they move. */
#include <stdio.h>

#include "xla/xla.h"

#define CHECK(call)                                                \
  do {                                                             \
    if ((call) != XLA_OK) {                                        \
      fprintf(stderr, "%s failed: %s\n", #call, xla_last_error()); \
      return 1;                                                    \
    }                                                              \
  } while (0)

static const char* kConfig =
    "{\"model_type\": \"gemma3_text\", \"vocab_size\": 259, \"hidden_size\": 64, \"intermediate_size\": 128,"
    " \"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"head_dim\": 32,"
    " \"query_pre_attn_scalar\": 32, \"sliding_window\": 16,"
    " \"layer_types\": [\"sliding_attention\", \"full_attention\"]}";

static int report(int64_t step, const xla_dpo_metrics* m, void* user) {
  (void)user;
  if (step % 10 == 0)
    printf("step %2lld  loss %.4f  rewards/margins %+.3f  rewards/accuracies %.2f\n", (long long)step, m->loss,
           m->reward_margin, m->reward_accuracy);
  return 0; /* nonzero would stop the run */
}

int main(void) {
  const char* prompts[4] = {"Is the sky blue?", "Is fire cold?", "Is water wet?", "Do fish fly?"};
  const char* chosen[4] = {"Yes, it is.", "No, it is hot.", "Yes, it is.", "No, they swim."};
  const char* rejected[4] = {"no", "yes", "no", "yes"};
  xla_model* m = NULL;
  xla_optimizer* opt = NULL;
  xla_optimizer_params op;
  xla_preference_dataset* prefs = NULL;
  xla_dpo_trainer* t = NULL;
  xla_dpo_trainer_params p;
  xla_dpo_metrics last;

  CHECK(xla_model_create(kConfig, 1, &m));
  CHECK(xla_model_add_lora(m, 8, 16.f, 2));    /* adapters start at zero: the model is unchanged */
  CHECK(xla_optimizer_params_defaults(&op, XLA_OPT_ADAMW, 5e-3));
  CHECK(xla_optimizer_create(m, &op, &opt));   /* trains the adapters only */
  CHECK(xla_preference_dataset_from_text(prompts, chosen, rejected, 4, NULL /* bytes */, 64, &prefs));

  xla_dpo_trainer_params_init(&p);             /* beta 0.1, sigmoid loss, frozen-copy reference */
  p.reference = XLA_DPO_REF_LORA_DISABLED;
  p.batch_size = 4;
  p.steps = 40;
  p.progress = 0;
  CHECK(xla_dpo_trainer_create(m, opt, prefs, NULL, &p, &t));
  CHECK(xla_dpo_trainer_run(t, report, NULL, NULL));
  last.struct_size = sizeof last;
  CHECK(xla_dpo_trainer_step(t, &last));
  printf("after 41 steps: rewards/chosen %+.3f  rewards/rejected %+.3f\n", last.reward_chosen, last.reward_rejected);

  xla_dpo_trainer_free(t);
  xla_preference_dataset_free(prefs);
  xla_optimizer_free(opt);
  xla_model_free(m);
  return last.reward_margin > 0 && last.reward_accuracy == 1.0 ? 0 : 1;
}
