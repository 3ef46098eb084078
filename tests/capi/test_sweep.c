/* test_sweep.c — every function of xla.h called with NULL and invalid arguments: each must
 * return the documented status, leave its out-pointers untouched, and leave a message that
 * names the function and the problem. Never a crash: make test also runs this under
 * AddressSanitizer + UndefinedBehaviorSanitizer. capi.sweep_complete checks that every
 * exported symbol is named in this file. */
#include <math.h>
#include <string.h>

#include "expect.h"

static const char* kConfig =
    "{\"model_type\": \"gemma\", \"vocab_size\": 16, \"hidden_size\": 8, \"intermediate_size\": 16,"
    " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"head_dim\": 4}";

static int32_t no_stop(int32_t t, void* u) { (void)t; (void)u; return 0; }
static int32_t neg_graph(xla_tensor* const* in, int32_t n_in, xla_tensor** out, int32_t n_out, void* u) {
  (void)n_in; (void)n_out; (void)u;
  return xla_neg(in[0], &out[0]) != XLA_OK;
}
static int32_t refusing_graph(xla_tensor* const* in, int32_t n_in, xla_tensor** out, int32_t n_out, void* u) {
  (void)in; (void)n_in; (void)out; (void)n_out; (void)u;
  return 7;
}

int main(void) {
  void* const S = (void*)&g_failed; /* a sentinel: out-pointers must keep it */
  xla_tensor *a = NULL, *i32 = NULL, *out = (xla_tensor*)S, *outs[2] = {(xla_tensor*)S, (xla_tensor*)S};
  xla_model *m = NULL, *mo = (xla_model*)S;
  const int64_t shape[2] = {2, 3}, bad_shape[2] = {2, -1}, ishape[1] = {2}, shape4[2] = {4, 3};
  const int32_t ids[2] = {1, 99}, axes[1] = {5}, order[2] = {0, 0};
  const float data[6] = {1, 2, 3, 4, 5, 6};
  int32_t i32v[4] = {0, 0, 0, 0};
  int64_t i64v = -7;
  double dv = -7;
  size_t n = 77;
  float logits[64];
  char buf[8];

  /* library */
  EXPECT(xla_version_string() != NULL && xla_abi_version() == XLA_ABI_VERSION && xla_last_error() != NULL);
  EXPECT(xla_cpu_path() != NULL && xla_cpu_path()[0] != '\0');
  EXPECT(xla_set_num_threads(-3) == XLA_OK && xla_get_num_threads() >= 1);

  /* tensors */
  EXPECT_OK(xla_tensor_create(XLA_F32, 2, shape, data, &a));
  EXPECT_OK(xla_tensor_create(XLA_I32, 1, ishape, ids, &i32));
  BAD(xla_tensor_create(99, 2, shape, data, &out), XLA_ERR_INVALID_ARG, "xla_tensor_create", "dtype 99");
  BAD(xla_tensor_create(XLA_Q8, 2, shape, data, &out), XLA_ERR_INVALID_ARG, "xla_tensor_create", "dtype 6");
  BAD(xla_tensor_create(XLA_F32, 9, shape, data, &out), XLA_ERR_INVALID_ARG, "xla_tensor_create", "ndim");
  BAD(xla_tensor_create(XLA_F32, 2, bad_shape, data, &out), XLA_ERR_SHAPE, "xla_tensor_create", "negative extent");
  BAD(xla_tensor_create(XLA_F32, 2, NULL, data, &out), XLA_ERR_INVALID_ARG, "xla_tensor_create", "shape");
  BAD(xla_tensor_create(XLA_F32, 2, shape, data, NULL), XLA_ERR_INVALID_ARG, "xla_tensor_create", "out");
  xla_tensor_free(NULL);
  BAD(xla_tensor_shape(NULL, i32v, i32v, &i64v), XLA_ERR_INVALID_ARG, "xla_tensor_shape", "NULL");
  BAD(xla_tensor_read(a, buf, 3), XLA_ERR_INVALID_ARG, "xla_tensor_read", "24");
  BAD(xla_tensor_read(NULL, buf, 3), XLA_ERR_INVALID_ARG, "xla_tensor_read", "NULL");
  BAD(xla_tensor_numel(NULL, &i64v, &n), XLA_ERR_INVALID_ARG, "xla_tensor_numel", "NULL");
  BAD(xla_tensor_clone(NULL, &out), XLA_ERR_INVALID_ARG, "xla_tensor_clone", "NULL");
  BAD(xla_tensor_data(NULL, NULL, &i64v), XLA_ERR_INVALID_ARG, "xla_tensor_data", "NULL");
  BAD(xla_tensor_from_buffer(XLA_F32, 2, shape, NULL, NULL, NULL, &out), XLA_ERR_INVALID_ARG,
      "xla_tensor_from_buffer", "data");
  BAD(xla_tensor_from_buffer(XLA_F32, 1, ishape, (char*)data + 1, NULL, NULL, &out), XLA_ERR_INVALID_ARG,
      "xla_tensor_from_buffer", "aligned");
  BAD(xla_tensor_from_buffer(7, 1, ishape, (void*)data, NULL, NULL, &out), XLA_ERR_INVALID_ARG,
      "xla_tensor_from_buffer", "dtype 7");
  BAD(xla_tensor_from_buffer(XLA_F32, 2, bad_shape, (void*)data, NULL, NULL, &out), XLA_ERR_SHAPE,
      "xla_tensor_from_buffer", "negative extent");
  BAD(xla_tensor_from_buffer(XLA_F32, 1, ishape, (void*)data, NULL, NULL, NULL), XLA_ERR_INVALID_ARG,
      "xla_tensor_from_buffer", "out");
  BAD(xla_arange(0, 10, 0, XLA_F32, &out), XLA_ERR_INVALID_ARG, "xla_arange", "step");
  BAD(xla_full(XLA_F32, 2, bad_shape, 1.0, &out), XLA_ERR_SHAPE, "xla_full", "negative extent in shape [2, -1]");
  BAD(xla_randn(2, NULL, 1, 0, 1, &out), XLA_ERR_INVALID_ARG, "xla_randn", "shape");
  BAD(xla_rand(2, shape, 1, 1, 0, &out), XLA_ERR_INVALID_ARG, "xla_rand", "");
  BAD(xla_cast(a, 42, &out), XLA_ERR_INVALID_ARG, "xla_cast", "42");
  BAD(xla_neg(NULL, &out), XLA_ERR_INVALID_ARG, "xla_neg", "NULL");
  BAD(xla_abs(NULL, &out), XLA_ERR_INVALID_ARG, "xla_abs", "NULL");
  BAD(xla_exp(NULL, &out), XLA_ERR_INVALID_ARG, "xla_exp", "NULL");
  BAD(xla_log(NULL, &out), XLA_ERR_INVALID_ARG, "xla_log", "NULL");
  BAD(xla_sqrt(NULL, &out), XLA_ERR_INVALID_ARG, "xla_sqrt", "NULL");
  BAD(xla_rsqrt(NULL, &out), XLA_ERR_INVALID_ARG, "xla_rsqrt", "NULL");
  BAD(xla_tanh(NULL, &out), XLA_ERR_INVALID_ARG, "xla_tanh", "NULL");
  BAD(xla_sigmoid(NULL, &out), XLA_ERR_INVALID_ARG, "xla_sigmoid", "NULL");
  BAD(xla_relu(a, NULL), XLA_ERR_INVALID_ARG, "xla_relu", "out");
  BAD(xla_gelu(NULL, &out), XLA_ERR_INVALID_ARG, "xla_gelu", "NULL");
  BAD(xla_gelu_tanh(NULL, &out), XLA_ERR_INVALID_ARG, "xla_gelu_tanh", "NULL");
  BAD(xla_silu(NULL, &out), XLA_ERR_INVALID_ARG, "xla_silu", "NULL");
  BAD(xla_add(a, i32, &out), XLA_ERR_SHAPE, "xla_add", "[2, 3]");
  BAD(xla_sub(NULL, a, &out), XLA_ERR_INVALID_ARG, "xla_sub", "NULL");
  BAD(xla_mul(a, NULL, &out), XLA_ERR_INVALID_ARG, "xla_mul", "NULL");
  BAD(xla_div(a, i32, &out), XLA_ERR_SHAPE, "xla_div", "[2]");
  BAD(xla_maximum(a, i32, &out), XLA_ERR_SHAPE, "xla_maximum", "[2]");
  BAD(xla_minimum(NULL, NULL, &out), XLA_ERR_INVALID_ARG, "xla_minimum", "NULL");
  BAD(xla_pow(a, i32, &out), XLA_ERR_SHAPE, "xla_pow", "[2]");
  BAD(xla_eq(a, i32, &out), XLA_ERR_SHAPE, "xla_eq", "[2]");
  BAD(xla_ne(a, i32, &out), XLA_ERR_SHAPE, "xla_ne", "[2]");
  BAD(xla_lt(a, i32, &out), XLA_ERR_SHAPE, "xla_lt", "[2]");
  BAD(xla_le(a, i32, &out), XLA_ERR_SHAPE, "xla_le", "[2]");
  BAD(xla_gt(a, i32, &out), XLA_ERR_SHAPE, "xla_gt", "[2]");
  BAD(xla_ge(a, i32, &out), XLA_ERR_SHAPE, "xla_ge", "[2]");
  BAD(xla_where(NULL, a, a, &out), XLA_ERR_INVALID_ARG, "xla_where", "NULL");
  BAD(xla_sum(a, axes, 1, 0, &out), XLA_ERR_INVALID_ARG, "xla_sum", "5");
  BAD(xla_mean(a, NULL, 1, 0, &out), XLA_ERR_INVALID_ARG, "xla_mean", "axes");
  BAD(xla_max(a, axes, 1, 0, &out), XLA_ERR_INVALID_ARG, "xla_max", "5");
  BAD(xla_min(a, axes, 1, 0, &out), XLA_ERR_INVALID_ARG, "xla_min", "5");
  BAD(xla_logsumexp(a, axes, 1, 0, &out), XLA_ERR_INVALID_ARG, "xla_logsumexp", "5");
  BAD(xla_var(a, axes, 1, 0, 1, &out), XLA_ERR_INVALID_ARG, "xla_var", "5");
  BAD(xla_argmax(a, 7, 0, &out), XLA_ERR_INVALID_ARG, "xla_argmax", "7");
  BAD(xla_softmax(a, 7, &out), XLA_ERR_INVALID_ARG, "xla_softmax", "7");
  BAD(xla_log_softmax(NULL, 0, &out), XLA_ERR_INVALID_ARG, "xla_log_softmax", "NULL");
  BAD(xla_matmul(a, a, &out), XLA_ERR_SHAPE, "xla_matmul", "[2, 3]");
  BAD(xla_reshape(a, 1, ishape, &out), XLA_ERR_SHAPE, "xla_reshape", "[2, 3]");
  BAD(xla_permute(a, order, 2, &out), XLA_ERR_INVALID_ARG, "xla_permute", "");
  BAD(xla_transpose(a, 0, 9, &out), XLA_ERR_INVALID_ARG, "xla_transpose", "9");
  BAD(xla_slice(a, 1, 0, 2, 0, &out), XLA_ERR_INVALID_ARG, "xla_slice", "step");
  BAD(xla_expand(a, 2, shape4, &out), XLA_ERR_SHAPE, "xla_expand", "[4, 3]");
  BAD(xla_squeeze(a, 0, &out), XLA_ERR_SHAPE, "xla_squeeze", "");
  BAD(xla_unsqueeze(a, 9, &out), XLA_ERR_INVALID_ARG, "xla_unsqueeze", "9");
  BAD(xla_contiguous(NULL, &out), XLA_ERR_INVALID_ARG, "xla_contiguous", "NULL");
  BAD(xla_index_select(a, 1, i32, &out), XLA_ERR_INVALID_ARG, "xla_index_select", "99");
  BAD(xla_gather(a, 0, NULL, &out), XLA_ERR_INVALID_ARG, "xla_gather", "NULL");
  BAD(xla_embedding(a, i32, &out), XLA_ERR_INVALID_ARG, "xla_embedding", "99");
  BAD(xla_concat(NULL, 2, 0, &out), XLA_ERR_INVALID_ARG, "xla_concat", "NULL");
  BAD(xla_stack(NULL, 0, 0, &out), XLA_ERR_INVALID_ARG, "xla_stack", "");
  {
    const int64_t sizes[2] = {1, 1};
    BAD(xla_split(a, sizes, 2, 1, outs, 2, &n), XLA_ERR_SHAPE, "xla_split", "");
    EXPECT(outs[0] == (xla_tensor*)S && outs[1] == (xla_tensor*)S);
  }
  BAD(xla_tril(NULL, 0, &out), XLA_ERR_INVALID_ARG, "xla_tril", "NULL");
  BAD(xla_triu(i32, 0, &out), XLA_ERR_SHAPE, "xla_triu", "");
  BAD(xla_cross_entropy(a, i32, -100, 2.f, &out), XLA_ERR_INVALID_ARG, "xla_cross_entropy", "label_smoothing");
  EXPECT(out == (xla_tensor*)S);

  /* the compiler */
  {
    xla_graph *g = (xla_graph*)S, *gr = NULL;
    const xla_tensor* ex[1];
    ex[0] = a;
    BAD(xla_compile(NULL, NULL, ex, 1, 1, 0, &g), XLA_ERR_INVALID_ARG, "xla_compile", "fn is NULL");
    BAD(xla_compile(neg_graph, NULL, ex, 1, 1, 0, NULL), XLA_ERR_INVALID_ARG, "xla_compile", "out is NULL");
    BAD(xla_compile(neg_graph, NULL, NULL, 1, 1, 0, &g), XLA_ERR_INVALID_ARG, "xla_compile", "example_inputs is NULL");
    BAD(xla_compile(neg_graph, NULL, ex, 1, 0, 0, &g), XLA_ERR_INVALID_ARG, "xla_compile", "n_outputs is 0");
    BAD(xla_compile(neg_graph, NULL, ex, -1, 1, 0, &g), XLA_ERR_INVALID_ARG, "xla_compile", "n_inputs is -1");
    BAD(xla_compile(neg_graph, NULL, ex, 1, 1, 64, &g), XLA_ERR_INVALID_ARG, "xla_compile", "flags 64");
    BAD(xla_compile(refusing_graph, NULL, ex, 1, 1, 0, &g), XLA_ERR_ABORTED, "xla_compile", "fn returned 7");
    EXPECT(g == (xla_graph*)S);
    EXPECT_OK(xla_compile(neg_graph, NULL, ex, 1, 1, 0, &gr));
    BAD(xla_graph_run(NULL, ex, 1, outs, 1), XLA_ERR_INVALID_ARG, "xla_graph_run", "g is NULL");
    BAD(xla_graph_run(gr, ex, 1, NULL, 1), XLA_ERR_INVALID_ARG, "xla_graph_run", "outputs is NULL");
    BAD(xla_graph_run(gr, ex, 1, outs, 2), XLA_ERR_INVALID_ARG, "xla_graph_run", "n_outputs is 2");
    BAD(xla_graph_run(gr, NULL, 1, outs, 1), XLA_ERR_INVALID_ARG, "xla_graph_run", "inputs is NULL");
    BAD(xla_graph_run(gr, ex, 0, outs, 1), XLA_ERR_INVALID_ARG, "xla_graph_run", "takes 1 inputs, got 0");
    ex[0] = i32;
    BAD(xla_graph_run(gr, ex, 1, outs, 1), XLA_ERR_SHAPE, "xla_graph_run", "captured as [2, 3]");
    EXPECT(outs[0] == (xla_tensor*)S);
    BAD(xla_graph_dump(NULL, 0, 0, buf, 8, &n), XLA_ERR_INVALID_ARG, "xla_graph_dump", "g is NULL");
    BAD(xla_graph_dump(gr, 2, 0, buf, 8, &n), XLA_ERR_INVALID_ARG, "xla_graph_dump", "stage 2");
    BAD(xla_graph_dump(gr, 0, 5, buf, 8, &n), XLA_ERR_INVALID_ARG, "xla_graph_dump", "format 5");
    BAD(xla_graph_dump(gr, 0, 0, buf, 8, NULL), XLA_ERR_INVALID_ARG, "xla_graph_dump", "len_out is NULL");
    BAD(xla_graph_dump(gr, 0, 0, buf, 8, &n), XLA_ERR_BUFFER_TOO_SMALL, "xla_graph_dump", "needs");
    EXPECT(n > 8);
    BAD(xla_graph_profile(NULL, ex, 1, 1, buf, 8, &n), XLA_ERR_INVALID_ARG, "xla_graph_profile", "g is NULL");
    BAD(xla_graph_profile(gr, ex, 1, 1, buf, 8, NULL), XLA_ERR_INVALID_ARG, "xla_graph_profile", "len_out is NULL");
    BAD(xla_graph_profile(gr, NULL, 1, 1, buf, 8, &n), XLA_ERR_INVALID_ARG, "xla_graph_profile", "inputs is NULL");
    BAD(xla_graph_profile(gr, ex, 1, 0, buf, 8, &n), XLA_ERR_INVALID_ARG, "xla_graph_profile", "runs is 0");
    BAD(xla_graph_profile(gr, ex, 1, 1, buf, 8, &n), XLA_ERR_SHAPE, "xla_graph_profile", "captured as [2, 3]");
    ex[0] = a;
    n = 0;
    BAD(xla_graph_profile(gr, ex, 1, 1, buf, 8, &n), XLA_ERR_BUFFER_TOO_SMALL, "xla_graph_profile", "needs");
    EXPECT(n > 8);
    xla_graph_free(gr);
    xla_graph_free(NULL);
  }

  /* autograd */
  BAD(xla_tensor_set_requires_grad(NULL, 1), XLA_ERR_INVALID_ARG, "xla_tensor_set_requires_grad", "NULL");
  BAD(xla_tensor_set_requires_grad(i32, 1), XLA_ERR_DTYPE, "xla_tensor_set_requires_grad", "i32");
  BAD(xla_tensor_requires_grad(a, NULL), XLA_ERR_INVALID_ARG, "xla_tensor_requires_grad", "out");
  BAD(xla_backward(a), XLA_ERR_INVALID_ARG, "xla_backward", "require");
  BAD(xla_backward_seeded(NULL, NULL, 0), XLA_ERR_INVALID_ARG, "xla_backward_seeded", "NULL");
  BAD(xla_tensor_grad(NULL, &out), XLA_ERR_INVALID_ARG, "xla_tensor_grad", "NULL");
  BAD(xla_tensor_zero_grad(NULL), XLA_ERR_INVALID_ARG, "xla_tensor_zero_grad", "NULL");
  BAD(xla_tensor_detach(NULL, &out), XLA_ERR_INVALID_ARG, "xla_tensor_detach", "NULL");
  EXPECT(xla_set_grad_enabled(1) == 1 && xla_is_grad_enabled() == 1);

  /* models */
  xla_model_options_init(NULL);
  BAD(xla_model_load(NULL, &mo), XLA_ERR_INVALID_ARG, "xla_model_load", "NULL");
  BAD(xla_model_load("/nonexistent", &mo), XLA_ERR_IO, "xla_model_load", "/nonexistent");
  {
    xla_model_options o;
    xla_model_options_init(&o);
    o.weight_dtype = XLA_I32;
    BAD(xla_model_load_ex("/nonexistent", &o, &mo), XLA_ERR_DTYPE, "xla_model_load", "weight_dtype"); /* load_ex reports as xla_model_load */
    BAD(xla_model_create_ex(kConfig, 1, &o, &mo), XLA_ERR_DTYPE, "xla_model_create", "weight_dtype");
  }
  BAD(xla_model_create("{\"model_type\": \"gemma\", \"bogus_key\": 1}", 1, &mo), XLA_ERR_FORMAT, "xla_model_create", "bogus_key");
  {
    xla_collective c;
    memset(&c, 0, sizeof c);
    BAD(xla_model_load_pipeline("/nonexistent", NULL, NULL, &mo), XLA_ERR_INVALID_ARG, "xla_model_load_pipeline", "c");
    BAD(xla_model_load_pipeline("/nonexistent", NULL, &c, &mo), XLA_ERR_INVALID_ARG, "xla_model_load_pipeline", "struct_size");
    c.struct_size = sizeof c;
    c.world_size = 1;
    BAD(xla_model_load_pipeline("/nonexistent", NULL, &c, &mo), XLA_ERR_INVALID_ARG, "xla_model_load_pipeline", "all_reduce_f32");
    BAD(xla_model_load_pipeline(NULL, NULL, &c, &mo), XLA_ERR_INVALID_ARG, "xla_model_load_pipeline", "NULL");
  }
  EXPECT(mo == (xla_model*)S);
  EXPECT_OK(xla_model_create(kConfig, 1, &m));
  BAD(xla_model_save(NULL, "x"), XLA_ERR_INVALID_ARG, "xla_model_save", "NULL");
  xla_model_free(NULL);
  EXPECT(xla_model_vocab_size(NULL) == -1);
  EXPECT(xla_model_architecture(NULL) == NULL);
  BAD(xla_model_forward(m, ids, 1, 2, logits, 64), XLA_ERR_INVALID_ARG, "xla_model_forward", "99");
  BAD(xla_model_forward(m, i32v, 1, 2, logits, 3), XLA_ERR_BUFFER_TOO_SMALL, "xla_model_forward", "32");
  BAD(xla_model_logprob(m, i32v, 2, 0, &dv), XLA_ERR_INVALID_ARG, "xla_model_logprob", "start");
  EXPECT(dv == -7);
  xla_sampler_params_init(NULL);
  {
    xla_sampler_params p;
    xla_session* s = (xla_session*)S;
    xla_sampler_params_init(&p);
    p.top_p = 2.f;
    BAD(xla_generate(m, i32v, 2, &p, no_stop, NULL, i32v, 4, &n), XLA_ERR_INVALID_ARG, "xla_generate", "top_p");
    BAD(xla_generate(NULL, i32v, 2, NULL, NULL, NULL, i32v, 4, &n), XLA_ERR_INVALID_ARG, "xla_generate", "NULL");
    BAD(xla_session_create(NULL, &s), XLA_ERR_INVALID_ARG, "xla_session_create", "NULL");
    EXPECT(s == (xla_session*)S);
    xla_session_free(NULL);
    EXPECT(xla_session_length(NULL) == -1);
    BAD(xla_session_reset(NULL), XLA_ERR_INVALID_ARG, "xla_session_reset", "NULL");
    BAD(xla_session_compile(NULL, 1), XLA_ERR_INVALID_ARG, "xla_session_compile", "NULL");
    BAD(xla_session_feed(NULL, i32v, 1, NULL, 0), XLA_ERR_INVALID_ARG, "xla_session_feed", "NULL");
    BAD(xla_session_generate(NULL, i32v, 1, NULL, NULL, NULL, i32v, 4, &n), XLA_ERR_INVALID_ARG, "xla_session_generate", "NULL");
  }
  {
    xla_sampler_params p;
    xla_sampler *smp = (xla_sampler*)S, *ok = NULL;
    const float lg[3] = {0.f, 1.f, 2.f};
    int32_t tok = -7;
    xla_sampler_params_init(&p);
    p.min_p = 2.f;
    BAD(xla_sampler_create(&p, &smp), XLA_ERR_INVALID_ARG, "xla_sampler_create", "min_p");
    p.min_p = 0.f;
    p.struct_size = 1;
    BAD(xla_sampler_create(&p, &smp), XLA_ERR_INVALID_ARG, "xla_sampler_create", "struct_size");
    EXPECT(smp == (xla_sampler*)S);
    BAD(xla_sampler_create(NULL, NULL), XLA_ERR_INVALID_ARG, "xla_sampler_create", "out");
    xla_sampler_free(NULL);
    EXPECT_OK(xla_sampler_create(NULL, &ok));
    BAD(xla_sampler_sample(NULL, lg, 3, NULL, 0, &tok), XLA_ERR_INVALID_ARG, "xla_sampler_sample", "NULL");
    BAD(xla_sampler_sample(ok, NULL, 3, NULL, 0, &tok), XLA_ERR_INVALID_ARG, "xla_sampler_sample", "logits");
    BAD(xla_sampler_sample(ok, lg, 0, NULL, 0, &tok), XLA_ERR_INVALID_ARG, "xla_sampler_sample", "vocab");
    BAD(xla_sampler_sample(ok, lg, 3, NULL, 2, &tok), XLA_ERR_INVALID_ARG, "xla_sampler_sample", "history");
    BAD(xla_sampler_sample(ok, lg, 3, NULL, 0, NULL), XLA_ERR_INVALID_ARG, "xla_sampler_sample", "token_out");
    EXPECT(tok == -7);
    xla_sampler_free(ok);
  }

  /* tokenizer */
  {
    xla_tokenizer* t = (xla_tokenizer*)S;
    xla_chat_message msg = {"wizard", "hi"};
    BAD(xla_tokenizer_load("/nonexistent.json", &t), XLA_ERR_IO, "xla_tokenizer_load", "/nonexistent.json");
    EXPECT(t == (xla_tokenizer*)S);
    xla_tokenizer_free(NULL);
    BAD(xla_tokenizer_encode(NULL, "a", 1, 0, i32v, 4, &n), XLA_ERR_INVALID_ARG, "xla_tokenizer_encode", "NULL");
    BAD(xla_tokenizer_decode(NULL, i32v, 1, 0, buf, 8, &n), XLA_ERR_INVALID_ARG, "xla_tokenizer_decode", "NULL");
    EXPECT(xla_tokenizer_vocab_size(NULL) == -1);
    BAD(xla_tokenizer_token_id(NULL, "a", i32v), XLA_ERR_INVALID_ARG, "xla_tokenizer_token_id", "NULL");
    BAD(xla_tokenizer_special_ids(NULL, NULL, NULL, NULL, NULL, NULL), XLA_ERR_INVALID_ARG, "xla_tokenizer_special_ids", "NULL");
    BAD(xla_chat_render(&msg, 1, 1, buf, 8, &n), XLA_ERR_INVALID_ARG, "xla_chat_render", "wizard");
  }

  /* training */
  {
    xla_optimizer_params op;
    xla_optimizer* o = (xla_optimizer*)S;
    xla_dataset *d = (xla_dataset*)S, *d2 = (xla_dataset*)S;
    xla_trainer* tr = (xla_trainer*)S;
    xla_trainer_params tp;
    const char* pr[1] = {NULL};
    xla_optimizer_params_init(NULL);
    xla_optimizer_params_init(&op);
    BAD(xla_optimizer_params_defaults(&op, 9, 0.1), XLA_ERR_INVALID_ARG, "xla_optimizer_params_defaults", "kind 9");
    op.beta1 = 1.5;
    BAD(xla_optimizer_create(m, &op, &o), XLA_ERR_INVALID_ARG, "xla_optimizer_create", "beta1");
    EXPECT(o == (xla_optimizer*)S);
    xla_optimizer_free(NULL);
    BAD(xla_optimizer_step(NULL), XLA_ERR_INVALID_ARG, "xla_optimizer_step", "NULL");
    BAD(xla_optimizer_zero_grad(NULL), XLA_ERR_INVALID_ARG, "xla_optimizer_zero_grad", "NULL");
    BAD(xla_optimizer_set_lr(NULL, 0.1), XLA_ERR_INVALID_ARG, "xla_optimizer_set_lr", "NULL");
    BAD(xla_optimizer_get_lr(NULL, &dv), XLA_ERR_INVALID_ARG, "xla_optimizer_get_lr", "NULL");
    BAD(xla_optimizer_clip_grad_norm(NULL, 1, &dv), XLA_ERR_INVALID_ARG, "xla_optimizer_clip_grad_norm", "NULL");
    xla_loss_params_init(NULL);
    BAD(xla_model_loss(m, i32v, ids, 1, 2, NULL, &out), XLA_ERR_INVALID_ARG, "xla_model_loss", "99");
    BAD(xla_dataset_from_text(NULL, 5, NULL, 8, &d), XLA_ERR_INVALID_ARG, "xla_dataset_from_text", "NULL");
    BAD(xla_dataset_from_text_file("/nonexistent.txt", NULL, 8, &d), XLA_ERR_IO, "xla_dataset_from_text_file", "/nonexistent.txt");
    BAD(xla_dataset_from_pairs(pr, pr, 1, NULL, 8, &d), XLA_ERR_INVALID_ARG, "xla_dataset_from_pairs", "NULL");
    BAD(xla_dataset_from_jsonl(NULL, NULL, 8, 0, &d), XLA_ERR_INVALID_ARG, "xla_dataset_from_jsonl", "NULL");
    BAD(xla_dataset_split(NULL, 0.1, 1, &d, &d2), XLA_ERR_INVALID_ARG, "xla_dataset_split", "NULL");
    EXPECT(d == (xla_dataset*)S && d2 == (xla_dataset*)S);
    EXPECT(xla_dataset_size(NULL) == -1);
    xla_dataset_free(NULL);
    xla_trainer_params_init(NULL);
    xla_trainer_params_init(&tp);
    BAD(xla_trainer_create(m, NULL, NULL, NULL, &tp, &tr), XLA_ERR_INVALID_ARG, "xla_trainer_create", "NULL");
    EXPECT(tr == (xla_trainer*)S);
    xla_trainer_free(NULL);
    BAD(xla_trainer_resume(NULL, NULL), XLA_ERR_INVALID_ARG, "xla_trainer_resume", "NULL");
    BAD(xla_trainer_step(NULL, NULL), XLA_ERR_INVALID_ARG, "xla_trainer_step", "NULL");
    BAD(xla_trainer_run(NULL, NULL, NULL, &i64v), XLA_ERR_INVALID_ARG, "xla_trainer_run", "NULL");
    EXPECT(i64v == -7);
    BAD(xla_trainer_evaluate(NULL, &dv), XLA_ERR_INVALID_ARG, "xla_trainer_evaluate", "NULL");
    BAD(xla_trainer_save(NULL), XLA_ERR_INVALID_ARG, "xla_trainer_save", "NULL");
    BAD(xla_checkpoint_save(NULL, m, NULL, 0), XLA_ERR_INVALID_ARG, "xla_checkpoint_save", "NULL");
    BAD(xla_checkpoint_save("ckpt_sweep", m, NULL, -1), XLA_ERR_INVALID_ARG, "xla_checkpoint_save", "negative");
    BAD(xla_checkpoint_load("/nonexistent", m, NULL, &i64v), XLA_ERR_IO, "xla_checkpoint_load", "/nonexistent");
  }

  /* DPO */
  {
    const double x[1] = {0.0}, inf[1] = {INFINITY};
    xla_dpo_metrics dm;
    xla_dpo_params dp;
    xla_dpo_params_init(NULL);
    xla_dpo_params_init(&dp);
    dm.struct_size = sizeof dm;
    dm.loss = -7;
    BAD(xla_dpo_loss(&dp, NULL, x, x, x, 1, &dm), XLA_ERR_INVALID_ARG, "xla_dpo_loss", "NULL");
    BAD(xla_dpo_loss(&dp, inf, x, x, x, 1, &dm), XLA_ERR_INVALID_ARG, "xla_dpo_loss", "finite");
    dp.beta = -1;
    BAD(xla_dpo_loss(&dp, x, x, x, x, 1, &dm), XLA_ERR_INVALID_ARG, "xla_dpo_loss", "beta");
    EXPECT(dm.loss == -7);
  }

  /* GRPO */
  {
    const double x[2] = {-1.0, -2.0}, r[2] = {0.0, 1.0};
    const int32_t len[2] = {1, 1}, bad_len[2] = {1, 2};
    double adv[2] = {-7, -7};
    xla_grpo_metrics gm;
    xla_grpo_params gp;
    xla_grpo_params_init(NULL);
    xla_grpo_params_init(&gp);
    gm.struct_size = sizeof gm;
    gm.loss = -7;
    BAD(xla_grpo_loss(&gp, x, NULL, NULL, len, r, 2, 1, adv, NULL, &gm), XLA_ERR_INVALID_ARG, "xla_grpo_loss",
        "group_size");
    gp.group_size = 2;
    BAD(xla_grpo_loss(&gp, NULL, NULL, NULL, len, r, 2, 1, adv, NULL, &gm), XLA_ERR_INVALID_ARG, "xla_grpo_loss",
        "logps is NULL");
    BAD(xla_grpo_loss(&gp, x, NULL, NULL, bad_len, r, 2, 1, adv, NULL, &gm), XLA_ERR_INVALID_ARG, "xla_grpo_loss",
        "lengths[1]");
    BAD(xla_grpo_loss(&gp, x, NULL, NULL, len, r, 2, 1, adv, NULL, NULL), XLA_ERR_INVALID_ARG, "xla_grpo_loss",
        "out is NULL");
    EXPECT(gm.loss == -7 && adv[0] == -7 && adv[1] == -7);
  }

  /* LoRA and the DPO trainer */
  {
    xla_preference_dataset *pd = (xla_preference_dataset*)S, *pd2 = (xla_preference_dataset*)S;
    xla_dpo_trainer* dt = (xla_dpo_trainer*)S;
    xla_dpo_trainer_params tp;
    xla_dpo_metrics dm;
    const char* p1[1] = {"1+1="};
    const char* c1[1] = {NULL};
    BAD(xla_model_set_lora_enabled(m, 0), XLA_ERR_INVALID_ARG, "xla_model_set_lora_enabled", "no LoRA");
    BAD(xla_model_add_lora(m, 0, 16.f, 1), XLA_ERR_INVALID_ARG, "xla_model_add_lora", "rank");
    BAD(xla_model_add_lora(NULL, 4, 16.f, 1), XLA_ERR_INVALID_ARG, "xla_model_add_lora", "NULL");
    BAD(xla_preference_dataset_from_jsonl("/nonexistent.jsonl", NULL, 0, 0, &pd), XLA_ERR_IO,
        "xla_preference_dataset_from_jsonl", "/nonexistent.jsonl");
    BAD(xla_preference_dataset_from_text(p1, c1, c1, 1, NULL, 0, &pd), XLA_ERR_INVALID_ARG,
        "xla_preference_dataset_from_text", "pair 0");
    BAD(xla_preference_dataset_split(NULL, 0.5, 1, &pd, &pd2), XLA_ERR_INVALID_ARG, "xla_preference_dataset_split", "NULL");
    EXPECT(pd == (xla_preference_dataset*)S && pd2 == (xla_preference_dataset*)S);
    EXPECT(xla_preference_dataset_size(NULL) == -1);
    xla_preference_dataset_free(NULL);
    xla_dpo_trainer_params_init(NULL);
    xla_dpo_trainer_params_init(&tp);
    tp.reference = 9;
    BAD(xla_dpo_trainer_create(m, NULL, NULL, NULL, &tp, &dt), XLA_ERR_INVALID_ARG, "xla_dpo_trainer_create", "NULL");
    EXPECT(dt == (xla_dpo_trainer*)S);
    xla_dpo_trainer_free(NULL);
    dm.struct_size = sizeof dm;
    BAD(xla_dpo_trainer_step(NULL, &dm), XLA_ERR_INVALID_ARG, "xla_dpo_trainer_step", "NULL");
    BAD(xla_dpo_trainer_run(NULL, NULL, NULL, &i64v), XLA_ERR_INVALID_ARG, "xla_dpo_trainer_run", "NULL");
    BAD(xla_dpo_trainer_evaluate(NULL, &dm), XLA_ERR_INVALID_ARG, "xla_dpo_trainer_evaluate", "NULL");
    BAD(xla_dpo_trainer_resume(NULL, NULL), XLA_ERR_INVALID_ARG, "xla_dpo_trainer_resume", "NULL");
    BAD(xla_dpo_trainer_save(NULL), XLA_ERR_INVALID_ARG, "xla_dpo_trainer_save", "NULL");
  }

  /* prompt data and the GRPO trainer */
  {
    xla_prompt_dataset* pd = (xla_prompt_dataset*)S;
    xla_grpo_trainer* gt = (xla_grpo_trainer*)S;
    xla_grpo_trainer_params gtp;
    xla_grpo_step_metrics gsm;
    const char* p1[1] = {NULL};
    int32_t resumed = -7;
    BAD(xla_prompt_dataset_from_text(p1, NULL, 1, NULL, 0, &pd), XLA_ERR_INVALID_ARG, "xla_prompt_dataset_from_text",
        "prompts[0]");
    BAD(xla_prompt_dataset_load_jsonl("/nonexistent.jsonl", NULL, 0, &pd), XLA_ERR_IO, "xla_prompt_dataset_load_jsonl",
        "/nonexistent.jsonl");
    BAD(xla_prompt_dataset_load_jsonl(NULL, NULL, 0, &pd), XLA_ERR_INVALID_ARG, "xla_prompt_dataset_load_jsonl",
        "path is NULL");
    EXPECT(pd == (xla_prompt_dataset*)S);
    EXPECT(xla_prompt_dataset_size(NULL) == -1);
    xla_prompt_dataset_free(NULL);
    xla_grpo_trainer_params_init(NULL);
    xla_grpo_trainer_params_init(&gtp);
    gtp.sampler = 9;
    BAD(xla_grpo_trainer_create(m, NULL, NULL, NULL, &gtp, &gt), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_create",
        "NULL");
    EXPECT(gt == (xla_grpo_trainer*)S);
    xla_grpo_trainer_free(NULL);
    BAD(xla_grpo_trainer_add_reward(NULL, "r", NULL, NULL, 1.0), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_add_reward",
        "NULL");
    BAD(xla_grpo_trainer_add_exact_match_reward(NULL, 1.0), XLA_ERR_INVALID_ARG,
        "xla_grpo_trainer_add_exact_match_reward", "NULL");
    BAD(xla_grpo_trainer_add_format_reward(NULL, "x", 1.0), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_add_format_reward",
        "NULL");
    gsm.struct_size = sizeof gsm;
    gsm.step = -7;
    BAD(xla_grpo_trainer_step(NULL, &gsm), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_step", "NULL");
    EXPECT(gsm.step == -7);
    BAD(xla_grpo_trainer_run(NULL, NULL, NULL, &i64v), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_run", "NULL");
    BAD(xla_grpo_trainer_resume(NULL, &resumed), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_resume", "NULL");
    EXPECT(resumed == -7);
    BAD(xla_grpo_trainer_save(NULL), XLA_ERR_INVALID_ARG, "xla_grpo_trainer_save", "NULL");
  }

  /* the serving engine */
  {
    xla_engine_options eo;
    xla_engine *e = (xla_engine*)S, *ok = NULL;
    xla_engine_event ev[2];
    xla_engine_stats st;
    uint64_t id = 7;
    xla_engine_options_init(NULL);
    xla_engine_options_init(&eo);
    eo.max_seqs = 0;
    BAD(xla_engine_create(m, &eo, &e), XLA_ERR_INVALID_ARG, "xla_engine_create", "max_seqs");
    eo.max_seqs = 8;
    eo.struct_size = 2;
    BAD(xla_engine_create(m, &eo, &e), XLA_ERR_INVALID_ARG, "xla_engine_create", "struct_size");
    BAD(xla_engine_create(NULL, NULL, &e), XLA_ERR_INVALID_ARG, "xla_engine_create", "NULL");
    EXPECT(e == (xla_engine*)S);
    xla_engine_free(NULL);
    EXPECT_OK(xla_engine_create(m, NULL, &ok));
    BAD(xla_engine_submit(NULL, i32v, 2, NULL, &id), XLA_ERR_INVALID_ARG, "xla_engine_submit", "NULL");
    BAD(xla_engine_submit(ok, i32v, 0, NULL, &id), XLA_ERR_INVALID_ARG, "xla_engine_submit", "empty");
    BAD(xla_engine_submit(ok, NULL, 2, NULL, &id), XLA_ERR_INVALID_ARG, "xla_engine_submit", "prompt");
    BAD(xla_engine_submit(ok, ids, 2, NULL, &id), XLA_ERR_INVALID_ARG, "xla_engine_submit", "99");
    BAD(xla_engine_submit(ok, i32v, 2, NULL, NULL), XLA_ERR_INVALID_ARG, "xla_engine_submit", "id_out");
    EXPECT(id == 7);
    BAD(xla_engine_cancel(NULL, 1), XLA_ERR_INVALID_ARG, "xla_engine_cancel", "NULL");
    BAD(xla_engine_cancel(ok, 42), XLA_ERR_INVALID_ARG, "xla_engine_cancel", "42");
    BAD(xla_engine_step(NULL, ev, 2, &n), XLA_ERR_INVALID_ARG, "xla_engine_step", "NULL");
    BAD(xla_engine_step(ok, NULL, 2, &n), XLA_ERR_INVALID_ARG, "xla_engine_step", "events");
    BAD(xla_engine_step(ok, ev, 2, NULL), XLA_ERR_INVALID_ARG, "xla_engine_step", "n_out");
    st.struct_size = 0;
    BAD(xla_engine_stats_get(ok, &st), XLA_ERR_INVALID_ARG, "xla_engine_stats_get", "struct_size");
    st.struct_size = sizeof st;
    BAD(xla_engine_stats_get(NULL, &st), XLA_ERR_INVALID_ARG, "xla_engine_stats_get", "NULL");
    BAD(xla_engine_stats_get(ok, NULL), XLA_ERR_INVALID_ARG, "xla_engine_stats_get", "out");
    xla_engine_free(ok);
  }

  xla_model_free(m);
  xla_tensor_free(i32);
  xla_tensor_free(a);
  return finish("capi.sweep");
}
