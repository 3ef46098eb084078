// training_loop.cpp — the loop machinery both trainers share (training_loop.hpp).
#include "training_loop.hpp"

#include "strict_json.hpp"
#include "text_file.hpp"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

namespace xla::train::detail {

LoopOptions checked_loop_options(LoopOptions o, const std::string& who) {
  auto bad = [&](const std::string& m) { fail(Status::InvalidArg, who + ": " + m); };
  if (o.batch_size < 1) bad("batch_size must be >= 1");
  if (o.grad_accum < 1) bad("grad_accum must be >= 1");
  if (o.steps < 0) bad("steps must be >= 0");
  if (!(o.max_grad_norm >= 0)) bad("max_grad_norm must be >= 0");
  if (o.schedule.total_steps == 0) o.schedule.total_steps = o.steps;
  if (o.schedule.warmup_steps < 0 || !(o.schedule.min_ratio >= 0 && o.schedule.min_ratio <= 1))  // NaN too
    bad("schedule warmup_steps must be >= 0 and min_ratio in [0, 1]");
  if (o.keep_checkpoints < 1) bad("keep_checkpoints must be >= 1, got " + std::to_string(o.keep_checkpoints));
  if (o.checkpoint_every < 0 || o.eval_every < 0) bad("intervals must be >= 0");
  if (o.checkpoint_every > 0 && o.checkpoint_dir.empty()) bad("checkpoint_every needs a checkpoint_dir");
  return o;
}

TrainingLoop::TrainingLoop(Model& model, Optimizer& optimizer, const LoopOptions& options, std::string who,
                           std::string kind)
    : step(optimizer, options),
      metrics(options.metrics_path, who.c_str()),
      progress(options.progress),
      model_(model),
      opt_(optimizer),
      o_(options),
      who_(std::move(who)),
      kind_(std::move(kind)) {
  check_optimizer_of(optimizer, model, who_);
  state.trainer = kind_;
}

namespace {

std::string loop_name(const std::string& kind) {
  if (kind.empty()) return "the language-model Trainer";
  if (kind == "dpo") return "a DpoTrainer";
  if (kind == "grpo") return "a GrpoTrainer";
  return "a " + kind + " trainer";
}

// The trainer and reference fields of a training state's state.json, read before anything
// loads: parsed strictly, and a field of the wrong type is Status::Format naming the key.
std::pair<std::string, std::string> written_by(const std::string& dir) {
  const std::string where = "checkpoint: " + dir + "/state.json";
  const nlohmann::json st =
      xla::detail::parse_json_strict(io::read_text_file(dir + "/state.json", "the checkpoint state"), where);
  if (!st.is_object()) fail(Status::Format, where + ": not a JSON object");
  auto text = [&](const char* key) -> std::string {
    if (!st.contains(key)) return "";
    if (!st[key].is_string()) fail(Status::Format, where + ": '" + key + "' must be a string, got " + st[key].dump());
    return st[key].get<std::string>();
  };
  return {text("trainer"), text("reference")};
}

}  // namespace

bool TrainingLoop::resume(const std::string& reference) {
  if (o_.checkpoint_dir.empty()) return false;
  const std::string dir = latest_training_state(o_.checkpoint_dir);
  if (dir.empty()) return false;
  const auto [kind, ref] = written_by(dir);
  if (kind != kind_)
    fail(Status::Format, who_ + ": " + dir + " is a training state of " + loop_name(kind) + ", not of " + loop_name(kind_));
  if (!reference.empty() && ref != reference)
    fail(Status::InvalidArg, who_ + ": " + dir + " was trained against reference " + ref + ", this trainer's is " +
                                 reference + " (construct the trainer from the run's starting policy and reference)");
  state = load_training_state(dir, model_, &opt_);
  metrics.reopen_at(state.step);
  return true;
}

void TrainingLoop::save() {
  if (o_.checkpoint_dir.empty()) fail(Status::InvalidArg, who_ + ": no checkpoint_dir to save into");
  save_training_state(o_.checkpoint_dir, model_, &opt_, state, o_.keep_checkpoints);
}

int64_t TrainingLoop::run(const std::function<bool()>& step_and_report) {
  run_start = state.step;
  seconds = 0;
  const int64_t every = o_.checkpoint_every;
  int64_t done = 0;
  while (state.step < o_.steps) {
    const bool stop = step_and_report();
    ++done;
    if (every > 0 && state.step % every == 0) save();
    if (stop) return done;
  }
  if (!o_.checkpoint_dir.empty() && done > 0 && (every == 0 || state.step % every != 0)) save();
  return done;
}

double TrainingLoop::seconds_per_step() const {
  return seconds / double(std::max<int64_t>(1, state.step - run_start));
}

}  // namespace xla::train::detail
