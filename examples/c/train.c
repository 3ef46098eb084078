/* train.c — the training loop by hand: a small Gemma created from a config, AdamW, the
 * fused LM loss, backward, clipping, a step. It memorises one sentence (bytes as tokens). */
#include <stdio.h>
#include <string.h>

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

int main(void) {
  const char* text = "libxla trains Gemma on the CPU.";
  int32_t inputs[64], targets[64];
  const int64_t T = (int64_t)strlen(text) + 1; /* <bos> + bytes; each position predicts the next */
  xla_model* m = NULL;
  xla_optimizer* opt = NULL;
  xla_optimizer_params op;
  float first = 0, loss_value = 0;
  int64_t t;
  int step;

  for (t = 0; t < T; ++t) {
    inputs[t] = t == 0 ? 2 : (int32_t)(unsigned char)text[t - 1] + 3; /* byte ids: byte + 3 */
    targets[t] = t + 1 < T ? (int32_t)(unsigned char)text[t] + 3 : 1;  /* the last predicts <eos> */
  }
  CHECK(xla_model_create(kConfig, 42, &m));
  CHECK(xla_optimizer_params_defaults(&op, XLA_OPT_ADAMW, 1e-2));
  CHECK(xla_optimizer_create(m, &op, &opt));

  for (step = 1; step <= 60; ++step) {
    xla_tensor* loss = NULL;
    double norm = 0;
    CHECK(xla_optimizer_zero_grad(opt));
    CHECK(xla_model_loss(m, inputs, targets, 1, T, NULL, &loss)); /* mean cross-entropy, 0-d */
    CHECK(xla_tensor_read(loss, &loss_value, sizeof loss_value));
    CHECK(xla_backward(loss)); /* fills every weight's gradient */
    CHECK(xla_optimizer_clip_grad_norm(opt, 1.0, &norm));
    CHECK(xla_optimizer_step(opt));
    xla_tensor_free(loss);
    if (step == 1) first = loss_value;
    if (step % 10 == 0 || step == 1) printf("step %2d  loss %.4f  grad norm %.3f\n", step, loss_value, norm);
  }
  printf("loss %.3f -> %.3f\n", first, loss_value);
  xla_optimizer_free(opt);
  xla_model_free(m);
  return loss_value < first / 4 ? 0 : 1;
}
