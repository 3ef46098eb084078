// engine_api.cpp — C entry points of the serving engine (xla::Engine, continuous batching):
// options, submit and cancel, the step with its backlog of events that did not fit the
// caller's buffer, and the stats. The scheduling itself is the C++ engine's; this file only
// checks what C can get wrong and converts.
#include <algorithm>
#include <deque>

#include "handles.hpp"
#include "xla/engine.hpp"

using namespace xla;
using namespace xla::capi;

static_assert(XLA_FINISH_NONE == int32_t(Finish::None) && XLA_FINISH_STOP == int32_t(Finish::Stop) &&
              XLA_FINISH_LENGTH == int32_t(Finish::Length) && XLA_FINISH_CANCELLED == int32_t(Finish::Cancelled));

struct xla_engine {
  xla_engine(const Model& m, const EngineOptions& o) : e(m, o) {}
  Engine e;
  // Events of the last Engine::step() that the caller's buffer could not take, oldest first.
  // xla_engine_step hands these out before it steps again, so no event is ever lost and the
  // order stays the order of production. Touched only by the stepping thread.
  std::deque<xla_engine_event> backlog;
};

namespace {

// The caller's options over the defaults, each field checked and named: the C struct has
// int32 flags where EngineOptions has a bool.
EngineOptions engine_options(const xla_engine_options* user) {
  const xla_engine_options o = read_options(user, xla_engine_options_init, "xla_engine_options");
  auto at_least_1 = [](int64_t v, const char* field) {
    if (v < 1) invalid(std::string("xla_engine_options.") + field + " is " + std::to_string(v) + "; it must be at least 1");
  };
  at_least_1(o.max_seqs, "max_seqs");
  at_least_1(o.max_batch_tokens, "max_batch_tokens");
  at_least_1(o.max_queue, "max_queue");
  if (o.kv_tokens < 0)
    invalid("xla_engine_options.kv_tokens is " + std::to_string(o.kv_tokens) + "; it must be >= 0 (0 = the default)");
  if (o.prefix_cache != 0 && o.prefix_cache != 1)
    invalid("xla_engine_options.prefix_cache is " + std::to_string(o.prefix_cache) + "; it must be 0 or 1");
  EngineOptions eo;
  eo.max_seqs = o.max_seqs;
  eo.max_batch_tokens = o.max_batch_tokens;
  eo.kv_tokens = o.kv_tokens;
  eo.prefix_cache = o.prefix_cache == 1;
  eo.max_queue = o.max_queue;
  return eo;
}

}  // namespace

extern "C" {

void xla_engine_options_init(xla_engine_options* o) {
  if (!o) return;
  clear_struct(o);
  const EngineOptions d;
  o->max_seqs = d.max_seqs;
  o->max_batch_tokens = d.max_batch_tokens;
  o->kv_tokens = d.kv_tokens;
  o->prefix_cache = d.prefix_cache ? 1 : 0;
  o->max_queue = d.max_queue;
}

xla_status xla_engine_create(xla_model* m, const xla_engine_options* o, xla_engine** out) {
  return guard("xla_engine_create", "Engine", [&] {
    require_ptr(m, "m");
    require_ptr(out, "out");
    const EngineOptions eo = engine_options(o);
    *out = new xla_engine(*m->m, eo);
  });
}

void xla_engine_free(xla_engine* e) { delete e; }

xla_status xla_engine_submit(xla_engine* e, const int32_t* prompt, size_t n_prompt, const xla_sampler_params* p,
                             uint64_t* id_out) {
  return guard("xla_engine_submit", "Engine::submit", [&] {
    require_ptr(e, "e");
    require_ptr(id_out, "id_out");
    if (n_prompt == 0) invalid("the prompt is empty");
    EngineRequest r;
    r.prompt = ids_arg(prompt, n_prompt, "prompt");
    r.generation = generate_options(p);
    const uint64_t id = e->e.submit(r);
    *id_out = id;
  });
}

xla_status xla_engine_cancel(xla_engine* e, uint64_t id) {
  return guard("xla_engine_cancel", "Engine::cancel", [&] {
    require_ptr(e, "e");
    e->e.cancel(id);
  });
}

xla_status xla_engine_step(xla_engine* e, xla_engine_event* events, size_t cap, size_t* n_out) {
  return guard("xla_engine_step", "Engine::step", [&] {
    require_ptr(e, "e");
    require_ptr(n_out, "n_out");
    if (cap > 0) require_ptr(events, "events");
    std::deque<xla_engine_event>& backlog = e->backlog;
    if (backlog.empty()) {
      const std::vector<EngineEvent> made = e->e.step();
      for (const EngineEvent& ev : made) backlog.push_back({ev.id, ev.token, int32_t(ev.finish)});
    }
    const size_t n = std::min(cap, backlog.size());
    std::copy_n(backlog.begin(), n, events);
    backlog.erase(backlog.begin(), backlog.begin() + std::ptrdiff_t(n));
    *n_out = n;
  });
}

xla_status xla_engine_stats_get(const xla_engine* e, xla_engine_stats* out) {
  return guard("xla_engine_stats_get", [&] {
    require_ptr(e, "e");
    require_ptr(out, "out");
    check_result_size(out, &xla_engine_stats::running, "xla_engine_stats");
    const EngineStats s = e->e.stats();
    clear_result(out);
    put(out, &xla_engine_stats::running, s.running);
    put(out, &xla_engine_stats::waiting, s.waiting);
    put(out, &xla_engine_stats::kv_tokens_used, s.kv_tokens_used);
    put(out, &xla_engine_stats::kv_tokens_capacity, s.kv_tokens_capacity);
    put(out, &xla_engine_stats::prefix_tokens_reused, s.prefix_tokens_reused);
    put(out, &xla_engine_stats::steps, s.steps);
    put(out, &xla_engine_stats::tokens_generated, s.tokens_generated);
  });
}

}  // extern "C"
