// loop_params.hpp — the C side of what the trainers share: defaults and reading of the loop
// fields that xla_trainer_params, xla_dpo_trainer_params and xla_grpo_trainer_params have
// (train::LoopOptions; eval_every where the struct has it), and the body of their _run
// functions around the caller's callback. Internal to capi/.
#pragma once
#include <cstdint>
#include <string>

#include "handles.hpp"
#include "xla/trainer.hpp"

namespace xla::capi {

// P: xla_trainer_params, xla_dpo_trainer_params or xla_grpo_trainer_params. Defaults are
// LoopOptions' own.
template <typename P>
void init_loop_params(P* p) {
  const train::LoopOptions d;
  p->batch_size = d.batch_size;
  p->grad_accum = d.grad_accum;
  p->steps = d.steps;
  p->schedule = int32_t(d.schedule.kind);
  p->warmup_steps = d.schedule.warmup_steps;
  p->min_lr_ratio = d.schedule.min_ratio;
  p->max_grad_norm = d.max_grad_norm;
  p->seed = d.seed;
  if constexpr (requires { p->eval_every; }) p->eval_every = d.eval_every;  // GRPO has no eval set
  p->checkpoint_every = d.checkpoint_every;
  p->keep_checkpoints = d.keep_checkpoints;
  p->progress = d.progress;
}

// The shared fields of p into o; a schedule that is no XLA_SCHEDULE_* value is an error.
template <typename P>
void read_loop_params(const P& p, train::LoopOptions& o) {
  if (p.schedule < XLA_SCHEDULE_CONSTANT || p.schedule > XLA_SCHEDULE_COSINE)
    invalid("schedule " + std::to_string(p.schedule) + " is not an XLA_SCHEDULE_* value");
  o.batch_size = p.batch_size;
  o.grad_accum = p.grad_accum;
  o.steps = p.steps;
  o.schedule = {train::ScheduleKind(p.schedule), p.warmup_steps, 0, p.min_lr_ratio};
  o.max_grad_norm = p.max_grad_norm;
  o.seed = p.seed;
  if constexpr (requires { p.eval_every; }) o.eval_every = p.eval_every;
  if (p.metrics_path) o.metrics_path = p.metrics_path;
  if (p.checkpoint_dir) o.checkpoint_dir = p.checkpoint_dir;
  o.checkpoint_every = p.checkpoint_every;
  o.keep_checkpoints = p.keep_checkpoints;
  o.progress = p.progress;
}

// H: xla_trainer, xla_dpo_trainer or xla_grpo_trainer (a `t` pointing at the C++ trainer). Runs the loop on
// this thread; stop(metrics) calls the caller's callback and returns true to stop. A stop is
// XLA_ERR_ABORTED naming the step; *steps_out (nullable) is written only on XLA_OK.
template <typename H, typename Stop>
xla_status run_loop(const char* fn, H* h, Stop&& stop, int64_t* steps_out) {
  bool stopped = false;
  int64_t done = 0;
  const xla_status s = guard(fn, [&] {
    require_ptr(h, "t");
    done = h->t->run([&](const auto& m) {
      stopped = stop(m);
      return !stopped;
    });
  });
  if (steps_out && s == XLA_OK) *steps_out = done;
  if (s == XLA_OK && stopped) {
    set_last_error(std::string(fn) + ": stopped by the callback after step " + std::to_string(h->t->current_step()));
    return XLA_ERR_ABORTED;
  }
  return s;
}

}  // namespace xla::capi
