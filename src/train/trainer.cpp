// trainer.cpp — the language-model loop: micro-batches weighted by their counted targets →
// lm_loss → backward, inside the shared optimizer step; validation and the metrics line. The
// step, checkpoints and run() are training_loop.cpp's.
#include "xla/trainer.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include <map>

#include "training_loop.hpp"
#include "xla/autograd.hpp"
#include "xla/compile.hpp"

namespace xla::train {

using detail::now_s;
using detail::resident_mb;

namespace {

// Data parallel: every rank draws the global batch of ranks × batch_size rows; this is the
// batcher of it (checked first, so that a set too small for it is named as such).
Batcher global_batcher(const Dataset& train, const TrainerOptions& o) {
  const int64_t ranks = detail::world_size_of(o.collective);
  if (o.batch_size >= 1 && ranks > 1 && int64_t(train.size()) < o.batch_size * ranks)
    fail(Status::InvalidArg, "trainer: the training set has " + std::to_string(train.size()) +
                                 " rows, fewer than a global batch of " + std::to_string(ranks) + " ranks × " +
                                 std::to_string(o.batch_size));
  return Batcher(train, std::max<int64_t>(1, o.batch_size) * ranks, o.seed);
}

}  // namespace

Trainer::Trainer(Model& model, Optimizer& optimizer, const Dataset& train, const Dataset* val, TrainerOptions o)
    : model_(model), train_(train), val_(val), o_(std::move(o)), batcher_(global_batcher(train, o_)) {
  static_cast<LoopOptions&>(o_) = detail::checked_loop_options(o_, "trainer");
  if (train.seq_len() == 0) fail(Status::InvalidArg, "trainer: the training set is empty");
  detail::check_same_on_all_ranks(o_.collective,
                                  {{"the training rows", int64_t(train.size())},
                                   {"the training seq_len", train.seq_len()},
                                   {"the training data's fingerprint", int64_t(train.fingerprint() >> 12)},
                                   {"the validation rows", val ? int64_t(val->size()) : -1}},
                                  "trainer");
  detail::broadcast_parameters(model, o_.collective);
  loop_ = std::make_unique<detail::TrainingLoop>(model, optimizer, o_, "trainer", "");
  loop_->state.data = batcher_.state();
}

// A micro-batch's forward, loss and backward as a graph: inputs (tokens, targets, weight),
// results (loss, then the gradient of each parameter in `grads`, in block order).
struct Trainer::CompiledSteps {
  struct Step {
    CompiledFunction graph;
    std::vector<size_t> grads;  // block positions of the parameters a gradient reaches
  };
  std::map<std::string, Step> by_shape;
};

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
  double sums[2] = {0, 0};  // Σ cross-entropy × tokens, tokens
  double& total = sums[0];
  double& tokens = sums[1];
  const int rank = loop_->rank(), ranks = loop_->world_size();
  int64_t index = 0;
  for (auto& [in, tg] : eval_batches(*val_, o_.batch_size, o_.eval_batches)) {
    if (index++ % ranks != rank) continue;  // data parallel: every ranks-th batch is this rank's
    LossParts parts;
    LossOptions lo = o_.loss;
    lo.z_loss = 0;
    lm_loss(model_, in, tg, lo, &parts);
    if (parts.tokens == 0) continue;
    total += parts.cross_entropy * double(parts.tokens);
    tokens += double(parts.tokens);
  }
  detail::sum_over_ranks(o_.collective, sums);
  return tokens > 0 ? total / tokens : NAN;
}

StepMetrics Trainer::step() {
  const double t0 = now_s();
  TrainState& state = loop_->state;
  // Each micro-batch's loss is a mean over its own counted targets. Weighting micro-batch i
  // by n_i / N (N: counted targets of the whole step) makes the accumulated gradient that
  // of one big batch even when masks leave the micro-batches uneven.
  // Data parallel: each rank keeps its batch_size rows of every global batch, and N counts
  // the targets of every rank's micro-batches, so that the all-reduced sum of the weighted
  // gradients is that of the one big batch.
  const int64_t rank = loop_->rank(), ranks = loop_->world_size(), B = o_.batch_size;
  std::vector<Tensor> ins(size_t(o_.grad_accum)), tgs(size_t(o_.grad_accum));
  std::vector<int64_t> counted(size_t(o_.grad_accum), 0);
  double all_counted = 0;
  for (size_t a = 0; a < ins.size(); ++a) {
    Tensor in, tg;
    batcher_.next(in, tg);
    ins[a] = ranks > 1 ? in.slice(0, rank * B, (rank + 1) * B) : in;
    tgs[a] = ranks > 1 ? tg.slice(0, rank * B, (rank + 1) * B) : tg;
    const int32_t* t = tgs[a].data<int32_t>();
    for (int64_t i = 0; i < tgs[a].numel(); ++i) counted[a] += t[i] != o_.loss.ignore_index;
    all_counted += double(counted[a]);
  }
  detail::sum_over_ranks(o_.collective, std::span<double>(&all_counted, 1));
  const detail::StepOutcome out = loop_->step.run(state.step, o_.grad_accum, [&](int64_t i) {
    const size_t a = size_t(i);
    tokens_ += ins[a].numel() * ranks;
    if (all_counted > 0 && counted[a] == 0) return 0.0;  // nothing to learn from: weight 0
    const double w = all_counted > 0 ? double(counted[a]) / all_counted : 1.0 / double(o_.grad_accum * ranks);
    if (o_.compile) return w * compiled_micro_batch(ins[a], tgs[a], w);
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
  m.allreduce_s = out.allreduce_s;
  m.step = state.step;
  m.lr = out.lr;
  m.tokens = tokens_;
  m.tokens_per_s = double(o_.grad_accum * o_.batch_size * ranks * train_.seq_len()) / dt;
  m.elapsed_s = loop_->seconds;
  m.mem_mb = resident_mb();
  if (o_.eval_every > 0 && state.step % o_.eval_every == 0 && has_eval_set()) {
    m.val_loss = evaluate();
    m.val_ppl = std::exp(m.val_loss);
  }
  return m;
}

double Trainer::compiled_micro_batch(const Tensor& in, const Tensor& tg, double w) {
  if (!compiled_) compiled_ = std::make_unique<CompiledSteps>();
  detail::OptimizerStep& opt = loop_->step;
  const std::vector<Tensor>& params = opt.parameters();
  const std::string key = in.shape().str() + tg.shape().str();
  auto it = compiled_->by_shape.find(key);
  if (it == compiled_->by_shape.end()) {
    auto forget_grads = [&] {
      for (Tensor p : params) zero_grad(p);  // p shares the parameter's autograd record
    };
    std::vector<size_t> grads;
    auto micro_batch = [&](const std::vector<Tensor>& x) {
      forget_grads();
      Tensor loss = lm_loss(model_, x[0], x[1], o_.loss);
      backward(loss, x[2]);
      std::vector<Tensor> out = {detach(loss)};
      grads.clear();
      for (size_t i = 0; i < params.size(); ++i)
        if (Tensor g = grad(params[i]); g.defined()) {
          out.push_back(g);
          grads.push_back(i);
        }
      return out;
    };
    opt.detach_buffers();  // the capture records gradients as values (optimizer_step.hpp)
    try {
      CompiledFunction graph = compile(micro_batch, {in, tg, Tensor::scalar(float(w))});
      it = compiled_->by_shape.emplace(key, CompiledSteps::Step{std::move(graph), grads}).first;
    } catch (...) {
      forget_grads();
      opt.attach_buffers();
      throw;
    }
    forget_grads();
    opt.attach_buffers();
  }
  const std::vector<Tensor>& r = it->second.graph.run({in, tg, Tensor::scalar(float(w))});
  for (size_t k = 0; k < it->second.grads.size(); ++k) opt.add_gradient(it->second.grads[k], r[k + 1]);
  return double(r[0].item());
}

void Trainer::log(const StepMetrics& m) {
  if (loop_->metrics.open()) {
    nlohmann::json j = {{"step", m.step},         {"loss", m.loss},   {"lr", m.lr},
                        {"grad_norm", m.grad_norm}, {"tokens_per_s", m.tokens_per_s}, {"tokens", m.tokens},
                        {"elapsed_s", m.elapsed_s}, {"mem_mb", m.mem_mb}};
    if (m.skipped) j["skipped"] = true;
    if (loop_->world_size() > 1) j["allreduce_s"] = m.allreduce_s, j["ranks"] = loop_->world_size();
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
