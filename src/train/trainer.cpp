// trainer.cpp — the loop: micro-batches → loss → backward, clip, schedule, optimizer step;
// validation, metrics JSONL, progress display, checkpoints.
#include "xla/trainer.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "progress.hpp"
#include "xla/autograd.hpp"

namespace xla::train {

using detail::now_s;
using detail::resident_mb;

Trainer::Trainer(GemmaModel& model, Optimizer& optimizer, const Dataset& train, const Dataset* val, TrainerOptions o)
    : model_(model),
      opt_(optimizer),
      train_(train),
      val_(val),
      o_(std::move(o)),
      batcher_(train, o_.batch_size, o_.seed),
      base_lr_(optimizer.lr()) {
  if (o_.grad_accum < 1) fail(Status::InvalidArg, "trainer: grad_accum must be >= 1");
  if (o_.steps < 0) fail(Status::InvalidArg, "trainer: steps must be >= 0");
  if (!(o_.max_grad_norm >= 0)) fail(Status::InvalidArg, "trainer: max_grad_norm must be >= 0");
  if (o_.schedule.total_steps == 0) o_.schedule.total_steps = o_.steps;
  if (o_.schedule.warmup_steps < 0 || o_.schedule.min_ratio < 0 || o_.schedule.min_ratio > 1)
    fail(Status::InvalidArg, "trainer: schedule warmup_steps must be >= 0 and min_ratio in [0, 1]");
  if (o_.checkpoint_every < 0 || o_.eval_every < 0) fail(Status::InvalidArg, "trainer: intervals must be >= 0");
  if (o_.checkpoint_every > 0 && o_.checkpoint_dir.empty())
    fail(Status::InvalidArg, "trainer: checkpoint_every needs a checkpoint_dir");
  if (train.seq_len() == 0) fail(Status::InvalidArg, "trainer: the training set is empty");
  state_.data = batcher_.state();
  metrics_ = std::make_unique<detail::MetricsFile>(o_.metrics_path, "trainer");
  progress_ = std::make_unique<detail::ProgressPrinter>(o_.progress);
}

Trainer::~Trainer() = default;

bool Trainer::resume() {
  if (o_.checkpoint_dir.empty() || latest_checkpoint(o_.checkpoint_dir).empty()) return false;
  state_ = load_checkpoint(o_.checkpoint_dir, model_, &opt_);
  batcher_.set_state(state_.data);
  metrics_->reopen_at(state_.step);
  return true;
}

double Trainer::evaluate() {
  if (!val_ || val_->size() == 0) return NAN;
  NoGradGuard no_grad;
  double total = 0;
  int64_t tokens = 0;
  for (auto& [in, tg] : eval_batches(*val_, o_.batch_size, o_.eval_batches)) {
    LossParts parts;
    LossOptions lo = o_.loss;
    lo.z_loss = 0;
    lm_loss(model_, in, tg, lo, &parts);
    if (parts.tokens == 0) continue;
    total += parts.cross_entropy * double(parts.tokens);
    tokens += parts.tokens;
  }
  return tokens ? total / double(tokens) : NAN;
}

StepMetrics Trainer::step() {
  const double t0 = now_s();
  StepMetrics m;
  const double lr = base_lr_ * o_.schedule.factor(state_.step);
  opt_.set_lr(lr);
  opt_.zero_grad();
  // Each micro-batch's loss is a mean over its own counted targets. Weighting micro-batch i
  // by n_i / N (N: counted targets of the whole step) makes the accumulated gradient that
  // of one big batch even when masks leave the micro-batches uneven.
  std::vector<Tensor> ins(size_t(o_.grad_accum)), tgs(size_t(o_.grad_accum));
  std::vector<int64_t> counted(size_t(o_.grad_accum), 0);
  int64_t all_counted = 0;
  for (size_t a = 0; a < ins.size(); ++a) {
    batcher_.next(ins[a], tgs[a]);
    const int32_t* t = tgs[a].data<int32_t>();
    for (int64_t i = 0; i < tgs[a].numel(); ++i) counted[a] += t[i] != o_.loss.ignore_index;
    all_counted += counted[a];
  }
  double loss_sum = 0;
  for (size_t a = 0; a < ins.size(); ++a) {
    tokens_ += ins[a].numel();
    if (all_counted > 0 && counted[a] == 0) continue;  // nothing to learn from: weight 0
    const double w = all_counted > 0 ? double(counted[a]) / double(all_counted) : 1.0 / double(o_.grad_accum);
    Tensor loss = lm_loss(model_, ins[a], tgs[a], o_.loss);
    loss_sum += w * loss.item();
    backward(loss, Tensor::scalar(float(w)));  // the weighted mean without another node
  }
  m.loss = loss_sum;
  const std::vector<Tensor> params = opt_.parameters();
  m.grad_norm = clip_grad_norm(params, o_.max_grad_norm);
  m.skipped = !std::isfinite(m.loss) || !std::isfinite(m.grad_norm);
  if (!m.skipped) opt_.step();
  opt_.zero_grad();
  ++state_.step;
  state_.data = batcher_.state();
  const double dt = now_s() - t0;
  seconds_ += dt;
  m.step = state_.step;
  m.lr = lr;
  m.tokens = tokens_;
  m.tokens_per_s = double(o_.grad_accum * o_.batch_size * train_.seq_len()) / dt;
  m.elapsed_s = seconds_;
  m.mem_mb = resident_mb();
  if (o_.eval_every > 0 && state_.step % o_.eval_every == 0) {
    m.val_loss = evaluate();
    m.val_ppl = std::exp(m.val_loss);
  }
  return m;
}

void Trainer::log(const StepMetrics& m) {
  if (metrics_->open()) {
    nlohmann::json j = {{"step", m.step},         {"loss", m.loss},   {"lr", m.lr},
                        {"grad_norm", m.grad_norm}, {"tokens_per_s", m.tokens_per_s}, {"tokens", m.tokens},
                        {"elapsed_s", m.elapsed_s}, {"mem_mb", m.mem_mb}};
    if (m.skipped) j["skipped"] = true;
    if (std::isfinite(m.val_loss)) j["val_loss"] = m.val_loss, j["val_ppl"] = m.val_ppl;
    if (!std::isfinite(m.loss)) j["loss"] = nullptr;
    if (!std::isfinite(m.grad_norm)) j["grad_norm"] = nullptr;
    metrics_->write(j.dump());
  }
  const double per_step = seconds_ / double(std::max<int64_t>(1, m.step - run_start_step_));
  char val[64] = "", bar[160], line[160];
  if (std::isfinite(m.val_loss)) std::snprintf(val, sizeof val, " | val %.4f ppl %.2f", m.val_loss, m.val_ppl);
  std::snprintf(bar, sizeof bar, "loss %.4f  lr %.2e  %.0f tok/s", m.loss, m.lr, m.tokens_per_s);
  std::snprintf(line, sizeof line, "loss %.4f lr %.2e grad_norm %.3f %.0f tok/s", m.loss, m.lr, m.grad_norm,
                m.tokens_per_s);
  progress_->print(m.step, o_.steps, per_step, bar, line, val, std::isfinite(m.val_loss));
}

int64_t Trainer::run(const std::function<bool(const StepMetrics&)>& also) {
  run_start_step_ = state_.step;
  seconds_ = 0;
  return detail::run_steps<StepMetrics>(
      [&] { return state_.step; }, o_.steps, [&] { return step(); }, [&](const StepMetrics& m) { log(m); }, o_.on_step,
      also, o_.checkpoint_every, !o_.checkpoint_dir.empty(), [&] { save(); });
}

void Trainer::save() {
  if (o_.checkpoint_dir.empty()) fail(Status::InvalidArg, "trainer: no checkpoint_dir to save into");
  save_checkpoint(o_.checkpoint_dir, model_, &opt_, state_, o_.keep_checkpoints);
}

}  // namespace xla::train
