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
      metrics(rank_of(options.collective) == 0 ? options.metrics_path : "", who.c_str()),
      progress(rank_of(options.collective) == 0 ? options.progress : 0),
      model_(model),
      opt_(optimizer),
      o_(options),
      who_(std::move(who)),
      kind_(std::move(kind)) {
  check_optimizer_of(optimizer, model, who_);
  state.trainer = kind_;
  state.world_size = world_size();
  int64_t trained = 0;
  for (const Tensor& p : optimizer.parameters()) trained += p.numel();
  check_same_on_all_ranks(o_.collective,
                          {{"batch_size", o_.batch_size},
                           {"grad_accum", o_.grad_accum},
                           {"steps", o_.steps},
                           {"seed", int64_t(o_.seed % (uint64_t(1) << 52))},
                           {"checkpoint_every", o_.checkpoint_every},
                           {"eval_every", o_.eval_every},
                           {"the trained parameters' element count", trained}},
                          who_);
}

int rank_of(const Collective* c) { return c ? c->rank() : 0; }
int world_size_of(const Collective* c) { return c ? c->world_size() : 1; }

void check_same_on_all_ranks(Collective* c, const std::vector<std::pair<std::string, int64_t>>& values,
                             const std::string& who) {
  if (world_size_of(c) < 2) return;
  // max of v and of -v over the ranks: equal magnitudes mean every rank has the same v
  std::vector<double> both;
  for (const auto& [name, v] : values) both.push_back(double(v)), both.push_back(-double(v));
  c->all_reduce(both, ReduceOp::Max);
  for (size_t i = 0; i < values.size(); ++i)
    if (both[2 * i] != -both[2 * i + 1])
      fail(Status::InvalidArg, who + ": the ranks disagree on " + values[i].first + " (from " +
                                   std::to_string(int64_t(-both[2 * i + 1])) + " to " + std::to_string(int64_t(both[2 * i])) +
                                   "; this is rank " + std::to_string(c->rank()) + " with " +
                                   std::to_string(values[i].second) + "): every rank must build the same trainer");
}

void broadcast_parameters(Model& model, Collective* c) {
  if (world_size_of(c) < 2) return;
  auto send_all = [&](std::vector<std::pair<std::string, Tensor*>> params) {
    // the count first: arrays of different lengths cannot be compared in one all-reduce
    check_same_on_all_ranks(c, {{"the number of parameter tensors", int64_t(params.size())}}, "data parallel");
    std::vector<std::pair<std::string, int64_t>> sizes;
    for (auto& [name, p] : params) {
      if (p->defined() && !p->is_contiguous()) fail(Status::Internal, "data parallel: parameter " + name + " is not contiguous");
      sizes.emplace_back("the bytes of " + name, p->defined() ? int64_t(p->nbytes()) : -1);
    }
    check_same_on_all_ranks(c, sizes, "data parallel");
    for (auto& [name, p] : params)
      if (p->defined()) c->broadcast({static_cast<std::byte*>(p->raw_data()), p->nbytes()}, 0);
  };
  send_all(model.named_parameters());
  send_all(model.lora_parameters());
}

void sum_over_ranks(Collective* c, std::span<double> values) {
  if (world_size_of(c) > 1) c->all_reduce(values, ReduceOp::Sum);
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
struct WrittenBy {
  std::string kind, reference;
  int64_t world_size = 1;
};
WrittenBy written_by(const std::string& dir) {
  const std::string where = "checkpoint: " + dir + "/state.json";
  const nlohmann::json st =
      xla::detail::parse_json_strict(io::read_text_file(dir + "/state.json", "the checkpoint state"), where);
  if (!st.is_object()) fail(Status::Format, where + ": not a JSON object");
  auto text = [&](const char* key) -> std::string {
    if (!st.contains(key)) return "";
    if (!st[key].is_string()) fail(Status::Format, where + ": '" + key + "' must be a string, got " + st[key].dump());
    return st[key].get<std::string>();
  };
  WrittenBy w{text("trainer"), text("reference")};
  if (st.contains("world_size")) {
    if (!st["world_size"].is_number_integer() || st["world_size"].get<int64_t>() < 1)
      fail(Status::Format, where + ": 'world_size' must be an integer >= 1, got " + st["world_size"].dump());
    w.world_size = st["world_size"].get<int64_t>();
  }
  return w;
}

}  // namespace

bool TrainingLoop::resume(const std::string& reference) {
  if (o_.checkpoint_dir.empty()) return false;
  const std::string dir = latest_training_state(o_.checkpoint_dir);
  if (dir.empty()) return false;
  const WrittenBy by = written_by(dir);
  const std::string& kind = by.kind;
  const std::string& ref = by.reference;
  if (kind != kind_)
    fail(Status::Format, who_ + ": " + dir + " is a training state of " + loop_name(kind) + ", not of " + loop_name(kind_));
  if (!reference.empty() && ref != reference)
    fail(Status::InvalidArg, who_ + ": " + dir + " was trained against reference " + ref + ", this trainer's is " +
                                 reference + " (construct the trainer from the run's starting policy and reference)");
  if (by.world_size != world_size())
    fail(Status::InvalidArg, who_ + ": " + dir + " was trained on " + std::to_string(by.world_size) +
                                 " data-parallel rank(s), this run has " + std::to_string(world_size()) +
                                 " (each global batch is ranks × batch_size rows: resume on as many ranks)");
  state = load_training_state(dir, model_, &opt_);
  metrics.reopen_at(state.step);
  return true;
}

void TrainingLoop::save() {
  if (o_.checkpoint_dir.empty()) fail(Status::InvalidArg, who_ + ": no checkpoint_dir to save into");
  if (rank() != 0) return;  // the replicas are identical: rank 0 writes for all
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
