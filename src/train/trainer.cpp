// trainer.cpp — the language-model loop: micro-batches weighted by their counted targets →
// lm_loss → backward, inside the shared optimizer step; validation and the metrics line. The
// step, checkpoints and run() are training_loop.cpp's.
#include "xla/trainer.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "training_loop.hpp"
#include "xla/autograd.hpp"

namespace xla::train {

using detail::now_s;
using detail::resident_mb;

Trainer::Trainer(Model& model, Optimizer& optimizer, const Dataset& train, const Dataset* val, TrainerOptions o)
    : model_(model), train_(train), val_(val), o_(std::move(o)), batcher_(train, o_.batch_size, o_.seed) {
  static_cast<LoopOptions&>(o_) = detail::checked_loop_options(o_, "trainer");
  if (train.seq_len() == 0) fail(Status::InvalidArg, "trainer: the training set is empty");
  loop_ = std::make_unique<detail::TrainingLoop>(model, optimizer, o_, "trainer", "");
  loop_->state.data = batcher_.state();
}

Trainer::~Trainer() = default;

int64_t Trainer::current_step() const { return loop_->state.step; }
const TrainState& Trainer::state() const { return loop_->state; }

bool Trainer::resume() {
  if (!loop_->resume()) return false;
  batcher_.set_state(loop_->state.data);
  return true;
}

double Trainer::evaluate() {
  if (!has_eval_set()) fail(Status::InvalidArg, "trainer: no validation set to evaluate on");
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
  TrainState& state = loop_->state;
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
  const detail::StepOutcome out = loop_->step.run(state.step, o_.grad_accum, [&](int64_t i) {
    const size_t a = size_t(i);
    tokens_ += ins[a].numel();
    if (all_counted > 0 && counted[a] == 0) return 0.0;  // nothing to learn from: weight 0
    const double w = all_counted > 0 ? double(counted[a]) / double(all_counted) : 1.0 / double(o_.grad_accum);
    Tensor loss = lm_loss(model_, ins[a], tgs[a], o_.loss);
    backward(loss, Tensor::scalar(float(w)));  // the weighted mean without another node
    return w * loss.item();
  });
  ++state.step;
  state.data = batcher_.state();
  const double dt = now_s() - t0;
  loop_->seconds += dt;
  StepMetrics m;
  m.loss = out.loss;
  m.grad_norm = out.grad_norm;
  m.skipped = out.skipped;
  m.step = state.step;
  m.lr = out.lr;
  m.tokens = tokens_;
  m.tokens_per_s = double(o_.grad_accum * o_.batch_size * train_.seq_len()) / dt;
  m.elapsed_s = loop_->seconds;
  m.mem_mb = resident_mb();
  if (o_.eval_every > 0 && state.step % o_.eval_every == 0 && has_eval_set()) {
    m.val_loss = evaluate();
    m.val_ppl = std::exp(m.val_loss);
  }
  return m;
}

void Trainer::log(const StepMetrics& m) {
  if (loop_->metrics.open()) {
    nlohmann::json j = {{"step", m.step},         {"loss", m.loss},   {"lr", m.lr},
                        {"grad_norm", m.grad_norm}, {"tokens_per_s", m.tokens_per_s}, {"tokens", m.tokens},
                        {"elapsed_s", m.elapsed_s}, {"mem_mb", m.mem_mb}};
    if (m.skipped) j["skipped"] = true;
    if (std::isfinite(m.val_loss)) j["val_loss"] = m.val_loss, j["val_ppl"] = m.val_ppl;
    if (!std::isfinite(m.loss)) j["loss"] = nullptr;
    if (!std::isfinite(m.grad_norm)) j["grad_norm"] = nullptr;
    loop_->metrics.write(j.dump());
  }
  char val[64] = "", bar[160], line[160];
  if (std::isfinite(m.val_loss)) std::snprintf(val, sizeof val, " | val %.4f ppl %.2f", m.val_loss, m.val_ppl);
  std::snprintf(bar, sizeof bar, "loss %.4f  lr %.2e  %.0f tok/s", m.loss, m.lr, m.tokens_per_s);
  std::snprintf(line, sizeof line, "loss %.4f lr %.2e grad_norm %.3f %.0f tok/s", m.loss, m.lr, m.grad_norm,
                m.tokens_per_s);
  loop_->progress.print(m.step, o_.steps, loop_->seconds_per_step(), bar, line, val, std::isfinite(m.val_loss));
}

int64_t Trainer::run(const std::function<bool(const StepMetrics&)>& also) {
  return loop_->run([&] {
    const StepMetrics m = step();
    log(m);
    return (o_.on_step && !o_.on_step(m)) || (also && !also(m));
  });
}

void Trainer::save() { loop_->save(); }

}  // namespace xla::train
