// sampler_api.cpp — the sampler on its own: xla_generate's token choice for logits the
// caller computed.
#include <climits>

#include "handles.hpp"

struct xla_sampler {
  explicit xla_sampler(const xla::SamplerParams& p) : s(p) {}
  xla::Sampler s;
};

using namespace xla;
using namespace xla::capi;

SamplerParams xla::capi::sampler_params_of(const xla_sampler_params& p) {
  SamplerParams sp;
  sp.seed = p.seed;
  sp.temperature = p.temperature;
  sp.top_k = p.top_k;
  sp.top_p = p.top_p;
  sp.min_p = p.min_p;
  sp.repetition_penalty = p.repetition_penalty;
  validate(sp);  // names the bad field
  return sp;
}

// Reads the sampler group of xla_sampler_params only: max_new_tokens and the stop ids are
// generation options (xla.h), ignored here and not validated.
xla_status xla_sampler_create(const xla_sampler_params* user, xla_sampler** out) {
  return guard("xla_sampler_create", [&] {
    require_ptr(out, "out");
    *out = new xla_sampler(sampler_params_of(read_options(user, xla_sampler_params_init, "xla_sampler_params")));
  });
}

void xla_sampler_free(xla_sampler* s) { delete s; }

xla_status xla_sampler_sample(xla_sampler* s, const float* logits, int64_t vocab, const int32_t* history,
                              size_t n_history, int32_t* token_out) {
  return guard("xla_sampler_sample", "Sampler::sample", [&] {
    require_ptr(s, "s");
    require_ptr(logits, "logits");
    require_ptr(token_out, "token_out");
    if (n_history > 0) require_ptr(history, "history");
    if (vocab < 1 || vocab > INT32_MAX) invalid("vocab must be in [1, 2^31), got " + std::to_string(vocab));
    const int32_t token = s->s.sample(logits, vocab, history, n_history);
    *token_out = token;
  });
}
