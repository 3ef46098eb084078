// model_api.cpp — C entry points for Gemma models, generation and sessions.
// Inference always runs under NoGradGuard (never records, whatever the thread's grad mode).
#include <cstring>
#include <optional>

#include "collective.hpp"
#include "handles.hpp"
#include "xla/pipeline.hpp"
#include "xla/autograd.hpp"
#include "xla/generate.hpp"
#include "xla/loss.hpp"

struct xla_session {
  explicit xla_session(const xla::Model& m) : s(m), vocab(m.vocab_size()) {}
  xla::Session s;
  int64_t vocab;
};

using namespace xla;
using namespace xla::capi;

namespace {

DType weight_dtype(const xla_model_options& o) {
  if (o.weight_dtype != XLA_F32 && o.weight_dtype != XLA_BF16 && o.weight_dtype != XLA_Q8)
    fail(Status::DType, "weight_dtype must be XLA_F32, XLA_BF16 or XLA_Q8, got " + std::to_string(o.weight_dtype));
  return DType(o.weight_dtype);
}

// The shared body of xla_generate and xla_session_generate. `session_of()` checks the handle
// arguments and gives the session to generate in; it runs inside the guard, since building
// one (xla_generate's own) can throw.
template <typename GetSession>
xla_status run_generate(const char* fn, GetSession&& session_of, const int32_t* prompt, size_t n_prompt,
                        const xla_sampler_params* p, xla_token_fn on_token, void* user_data, int32_t* out, size_t cap,
                        size_t* n_out) {
  bool aborted = false;
  xla_status st = guard(fn, [&] {
    Session& session = session_of();
    require_ptr(n_out, "n_out");
    GenerateOptions g = generate_options(p);
    if (cap < size_t(g.max_new_tokens)) {
      *n_out = size_t(g.max_new_tokens);
      fail(Status::BufferTooSmall, "out holds " + std::to_string(cap) + " tokens, max_new_tokens is " +
                                       std::to_string(g.max_new_tokens));
    }
    if (g.max_new_tokens > 0) require_ptr(out, "out");
    std::vector<int32_t> tokens = session.generate(
        ids_arg(prompt, n_prompt, "prompt"), g,
        on_token ? TokenCallback([&](int32_t t) { return on_token(t, user_data) != 0; }) : TokenCallback(), &aborted);
    std::copy(tokens.begin(), tokens.end(), out);
    *n_out = tokens.size();
  });
  if (st == XLA_OK && aborted) {
    set_last_error(std::string(fn) + ": stopped by the token callback");
    return XLA_ERR_ABORTED;
  }
  return st;
}

}  // namespace

GenerateOptions xla::capi::generate_options(const xla_sampler_params* user) {
  const xla_sampler_params p = read_options(user, xla_sampler_params_init, "xla_sampler_params");
  GenerateOptions g;
  g.sampler = sampler_params_of(p);
  if (p.max_new_tokens < 0) invalid("max_new_tokens is negative");
  g.max_new_tokens = p.max_new_tokens;
  if (p.n_stop_ids < 0) invalid("n_stop_ids is negative");
  if (p.n_stop_ids > 0) {
    require_ptr(p.stop_ids, "stop_ids");
    g.stop_ids.assign(p.stop_ids, p.stop_ids + p.n_stop_ids);
  }
  return g;
}

std::vector<int32_t> xla::capi::ids_arg(const int32_t* ids, size_t n, const char* name) {
  if (n > 0) require_ptr(ids, name);
  return std::vector<int32_t>(ids, ids + n);
}

extern "C" {

void xla_model_options_init(xla_model_options* o) {
  if (!o) return;
  o->struct_size = sizeof(*o);
  o->weight_dtype = XLA_F32;
}

xla_status xla_model_load(const char* dir, xla_model** out) { return xla_model_load_ex(dir, nullptr, out); }

xla_status xla_model_load_ex(const char* dir, const xla_model_options* opts, xla_model** out) {
  return guard("xla_model_load", "GemmaModel::load", [&] {
    require_ptr(dir, "dir");
    require_ptr(out, "out");
    xla_model_options o = read_options(opts, xla_model_options_init, "xla_model_options");
    *out = new xla_model{load_model(dir, weight_dtype(o))};
  });
}

xla_status xla_model_load_pipeline(const char* dir, const xla_model_options* opts, const xla_collective* c,
                                   xla_model** out) {
  return guard("xla_model_load_pipeline", [&] {
    require_ptr(dir, "dir");
    require_ptr(out, "out");
    require_ptr(c, "c");
    xla_model_options o = read_options(opts, xla_model_options_init, "xla_model_options");
    std::shared_ptr<Collective> collective = collective_from_c(c, "pipeline");
    *out = new xla_model{load_pipeline(dir, std::move(collective), weight_dtype(o))};
  });
}

xla_status xla_model_create(const char* config_json, uint64_t seed, xla_model** out) {
  return xla_model_create_ex(config_json, seed, nullptr, out);
}

xla_status xla_model_create_ex(const char* config_json, uint64_t seed, const xla_model_options* opts, xla_model** out) {
  return guard("xla_model_create", [&] {
    require_ptr(config_json, "config_json");
    require_ptr(out, "out");
    xla_model_options o = read_options(opts, xla_model_options_init, "xla_model_options");
    *out = new xla_model{create_model(config_json, seed, weight_dtype(o))};
  });
}

xla_status xla_model_save(const xla_model* m, const char* dir) {
  return guard("xla_model_save", [&] {
    require_ptr(m, "m");
    require_ptr(dir, "dir");
    m->m->save(dir);
  });
}

void xla_model_free(xla_model* m) { delete m; }

int64_t xla_model_vocab_size(const xla_model* m) { return m ? m->m->vocab_size() : -1; }

const char* xla_model_architecture(const xla_model* m) {
  if (!m) return nullptr;
  static const char* const kFamilies[] = {"gemma", "mamba"};  // static: the pointer outlives the call
  const std::string family = m->m->architecture();
  for (const char* f : kFamilies)
    if (family == f) return f;
  return "unknown";
}

xla_status xla_model_forward(xla_model* m, const int32_t* tokens, int64_t batch, int64_t seq_len, float* logits_out,
                             size_t logits_cap) {
  return guard("xla_model_forward", [&] {
    require_ptr(m, "m");
    if (batch <= 0 || seq_len <= 0) invalid("batch and seq_len must be positive");
    require_ptr(tokens, "tokens");
    require_ptr(logits_out, "logits_out");
    size_t need = 0;  // batch · seq_len · vocab floats, checked: a wrapped product would pass the capacity test
    if (__builtin_mul_overflow(size_t(batch), size_t(seq_len), &need) ||
        __builtin_mul_overflow(need, size_t(m->m->vocab_size()), &need) || need > size_t(PTRDIFF_MAX) / sizeof(float))
      invalid("batch " + std::to_string(batch) + " × seq_len " + std::to_string(seq_len) + " × vocab " +
              std::to_string(m->m->vocab_size()) + " logits do not fit in memory");
    if (logits_cap < need)
      fail(Status::BufferTooSmall, "logits_out holds " + std::to_string(logits_cap) + " floats, " + std::to_string(need) +
                                       " needed");
    NoGradGuard no_grad;
    Tensor ids = Tensor::from_data(tokens, {batch, seq_len}, DType::I32);
    m->m->forward(ids).copy_to(logits_out);
  });
}

xla_status xla_model_logprob(xla_model* m, const int32_t* tokens, int64_t n, int64_t start, double* logprob_out) {
  return guard("xla_model_logprob", [&] {
    require_ptr(m, "m");
    require_ptr(logprob_out, "logprob_out");
    if (n <= 0) invalid("n must be positive");
    double lp = train::sequence_logprob(*m->m, ids_arg(tokens, size_t(n), "tokens"), start);  // DPO's fused path
    *logprob_out = lp;
  });
}

void xla_sampler_params_init(xla_sampler_params* p) {
  if (!p) return;
  clear_struct(p);
  p->temperature = 0.f;
  p->top_p = 1.f;
  p->repetition_penalty = 1.f;
  p->max_new_tokens = 256;
}

xla_status xla_generate(xla_model* m, const int32_t* prompt, size_t n_prompt, const xla_sampler_params* p,
                        xla_token_fn on_token, void* user_data, int32_t* out, size_t cap, size_t* n_out) {
  std::optional<Session> own;
  auto session_of = [&]() -> Session& {
    require_ptr(m, "m");
    if (n_prompt == 0) invalid("the prompt is empty");
    return own.emplace(*m->m);
  };
  return run_generate("xla_generate", session_of, prompt, n_prompt, p, on_token, user_data, out, cap, n_out);
}

xla_status xla_session_create(xla_model* m, xla_session** out) {
  return guard("xla_session_create", [&] {
    require_ptr(m, "m");
    require_ptr(out, "out");
    *out = new xla_session(*m->m);
  });
}

void xla_session_free(xla_session* s) { delete s; }

int64_t xla_session_length(const xla_session* s) { return s ? s->s.length() : -1; }

xla_status xla_session_reset(xla_session* s) {
  return guard("xla_session_reset", [&] {
    require_ptr(s, "s");
    s->s.reset();
  });
}

xla_status xla_session_compile(xla_session* s, int on) {
  return guard("xla_session_compile", [&] {
    require_ptr(s, "s");
    if (on != 0 && on != 1) invalid("on must be 0 or 1, got " + std::to_string(on));
    s->s.set_compile(on == 1);
  });
}

xla_status xla_session_feed(xla_session* s, const int32_t* ids, size_t n, float* logits_out, size_t cap) {
  return guard("xla_session_feed", [&] {
    require_ptr(s, "s");
    if (n == 0) invalid("no tokens to feed");
    std::vector<int32_t> v = ids_arg(ids, n, "ids");
    if (logits_out && cap < size_t(s->vocab))  // checked first: a failed call leaves the session as it was
      fail(Status::BufferTooSmall, "logits_out holds " + std::to_string(cap) + " floats, the vocabulary is " +
                                       std::to_string(s->vocab));
    std::vector<float> logits = s->s.feed(v);
    if (logits_out) std::copy(logits.begin(), logits.end(), logits_out);
  });
}

xla_status xla_session_generate(xla_session* s, const int32_t* prompt, size_t n_prompt, const xla_sampler_params* p,
                                xla_token_fn on_token, void* user_data, int32_t* out, size_t cap, size_t* n_out) {
  auto session_of = [&]() -> Session& {
    require_ptr(s, "s");
    return s->s;
  };
  return run_generate("xla_session_generate", session_of, prompt, n_prompt, p, on_token, user_data, out, cap, n_out);
}

}  // extern "C"
