// optim.cpp — SGD, Adam and AdamW updates, in place over each parameter's f32 buffer.
// The arithmetic follows torch.optim's single-tensor ("foreach=False") code path step by
// step: float math on tensors, double for the scalar factors.
#include "xla/optim.hpp"

#include <cmath>
#include <unordered_set>

#include "parallel.hpp"  // src/tensor/kernels
#include "xla/autograd.hpp"

namespace xla::train {

OptimizerOptions OptimizerOptions::defaults(OptimizerKind kind, double lr) {
  OptimizerOptions o;
  o.kind = kind;
  o.lr = lr;
  o.weight_decay = kind == OptimizerKind::AdamW ? 1e-2 : 0.0;
  return o;
}

std::vector<ParamGroup> default_param_groups(Model& model, double weight_decay) {
  if (model.has_lora()) {  // LoRA: the adapters alone learn, the base stays frozen
    for (auto& [name, p] : model.named_parameters())
      if (p->defined()) set_requires_grad(*p, false);
    ParamGroup adapters;
    adapters.weight_decay = weight_decay;
    for (auto& [name, p] : model.lora_parameters()) {
      set_requires_grad(*p, true);
      adapters.names.push_back(name);
      adapters.params.push_back(*p);
    }
    return {std::move(adapters)};
  }
  ParamGroup decay, no_decay;
  decay.weight_decay = weight_decay;
  for (auto& [name, p] : model.named_parameters()) {
    if (!p->defined()) continue;
    set_requires_grad(*p, true);
    const bool exempt = p->ndim() < 2 || name.find("embed") != std::string::npos;
    ParamGroup& g = exempt ? no_decay : decay;
    g.names.push_back(name);
    g.params.push_back(*p);
  }
  std::vector<ParamGroup> groups;
  if (!decay.params.empty()) groups.push_back(std::move(decay));
  if (!no_decay.params.empty()) groups.push_back(std::move(no_decay));
  return groups;
}

static void check_options(const OptimizerOptions& o) {
  auto bad = [](const std::string& m) { fail(Status::InvalidArg, "optimizer: " + m); };
  if (int(o.kind) < 0 || int(o.kind) > 2) bad("unknown kind " + std::to_string(int(o.kind)));
  if (!(o.lr >= 0) || !std::isfinite(o.lr)) bad("lr must be finite and >= 0");
  if (!(o.weight_decay >= 0) || !std::isfinite(o.weight_decay)) bad("weight_decay must be finite and >= 0");
  if (o.kind != OptimizerKind::SGD) {
    if (!(o.beta1 >= 0 && o.beta1 < 1)) bad("beta1 must be in [0, 1)");
    if (!(o.beta2 >= 0 && o.beta2 < 1)) bad("beta2 must be in [0, 1)");
    if (!(o.eps >= 0) || !std::isfinite(o.eps)) bad("eps must be finite and >= 0");
  } else {
    if (!(o.momentum >= 0) || !std::isfinite(o.momentum)) bad("momentum must be finite and >= 0");
    if (!(o.dampening >= 0 && o.dampening <= 1)) bad("dampening must be in [0, 1]");
    if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
      bad("Nesterov momentum requires a momentum and zero dampening");
  }
}

Optimizer::Optimizer(std::vector<ParamGroup> groups, const OptimizerOptions& options)
    : groups_(std::move(groups)), options_(options), lr_(options.lr) {
  check_options(options);
  for (ParamGroup& g : groups_) {
    if (g.names.size() != g.params.size()) fail(Status::InvalidArg, "optimizer: a group has names and params of different counts");
    if (!(g.weight_decay >= 0) || !(g.lr_scale >= 0)) fail(Status::InvalidArg, "optimizer: group weight_decay and lr_scale must be >= 0");
    for (size_t i = 0; i < g.params.size(); ++i) {
      if (!g.params[i].defined()) fail(Status::InvalidArg, "optimizer: parameter " + g.names[i] + " is undefined");
      if (!requires_grad(g.params[i]))  // a handle made before requires_grad would not see the model's .grad
        fail(Status::InvalidArg, "optimizer: parameter " + g.names[i] + " does not require grad (call set_requires_grad first)");
    }
    state_.emplace_back(g.params.size());
  }
}

Optimizer::Optimizer(Model& model, const OptimizerOptions& options)
    : Optimizer(default_param_groups(model, options.weight_decay), options) {}

void Optimizer::set_lr(double lr) {
  if (!(lr >= 0) || !std::isfinite(lr)) fail(Status::InvalidArg, "optimizer: lr must be finite and >= 0");
  lr_ = lr;
}

std::vector<Tensor> Optimizer::parameters() const {
  std::vector<Tensor> out;
  for (const ParamGroup& g : groups_) out.insert(out.end(), g.params.begin(), g.params.end());
  return out;
}

void Optimizer::zero_grad() {
  for (ParamGroup& g : groups_)
    for (Tensor& p : g.params) xla::zero_grad(p);
}

namespace {

// grad as a contiguous f32 tensor of p's shape
Tensor grad_of(const Tensor& p, const std::string& name) {
  Tensor g = grad(p);
  if (!g.defined()) return g;
  if (!(g.shape() == p.shape())) fail(Status::Shape, "optimizer: gradient of " + name + " has shape " + g.shape().str());
  return g.dtype() == DType::F32 && g.is_contiguous() ? g : g.to(DType::F32).contiguous();
}

// The updates' factors, rounded to float once from double, as torch passes them to its kernels.
// Passed by value with the buffers __restrict: captured by reference, every factor would be
// read again after each store (it might alias), and the loops would not vectorise.
struct SgdFactors {
  float weight_decay, momentum, dampening_complement, lr;
  bool first, nesterov;
};
struct AdamFactors {
  float beta1, beta2, one_minus_beta1, one_minus_beta2, eps, step_size, bias2_sqrt;
  float decay, l2;  // AdamW scales w by decay; Adam adds l2·w to the gradient
  bool adamw;
};

void sgd_update(const SgdFactors f, float* __restrict w, float* __restrict buf, const float* __restrict gr, int64_t b,
                int64_t e) {
  for (int64_t j = b; j < e; ++j) {
    float d = gr[j];
    if (f.weight_decay != 0) d += f.weight_decay * w[j];
    if (buf) {
      buf[j] = f.first ? d : f.momentum * buf[j] + f.dampening_complement * d;  // torch: the first step copies
      d = f.nesterov ? d + f.momentum * buf[j] : buf[j];
    }
    w[j] -= f.lr * d;
  }
}

void adam_update(const AdamFactors f, float* __restrict w, float* __restrict m, float* __restrict v,
                 const float* __restrict gr, int64_t b, int64_t e) {
  for (int64_t j = b; j < e; ++j) {
    float d = gr[j];
    if (f.adamw)
      w[j] *= f.decay;
    else if (f.l2 != 0)
      d += f.l2 * w[j];
    m[j] = m[j] * f.beta1 + d * f.one_minus_beta1;
    v[j] = v[j] * f.beta2 + f.one_minus_beta2 * d * d;
    const float denom = std::sqrt(v[j]) / f.bias2_sqrt + f.eps;
    w[j] -= f.step_size * (m[j] / denom);
  }
}

}  // namespace

void Optimizer::step() {
  ++steps_;
  const OptimizerOptions& o = options_;
  const double t = double(steps_);
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    ParamGroup& group = groups_[gi];
    const double lr = lr_ * group.lr_scale, wd = group.weight_decay;
    for (size_t i = 0; i < group.params.size(); ++i) {
      Tensor& p = group.params[i];
      Tensor g = grad_of(p, group.names[i]);
      if (!g.defined()) continue;
      if (p.dtype() != DType::F32 || !p.is_contiguous())
        fail(Status::DType, "optimizer: parameter " + group.names[i] + " must be contiguous f32 to be trained (got " +
                                dtype_name(p.dtype()) + ")");
      ParamState& s = state_[gi][i];
      const int64_t n = p.numel();
      float* w = p.data<float>();
      const float* gr = g.data<float>();
      if (o.kind == OptimizerKind::SGD) {
        const bool first = !s.m.defined();
        if (o.momentum > 0 && first) s.m = Tensor::zeros(p.shape());
        float* buf = o.momentum > 0 ? s.m.data<float>() : nullptr;
        const SgdFactors f{float(wd), float(o.momentum), float(1 - o.dampening), float(lr), first, o.nesterov};
        detail::parallel_for(n, detail::kElementwiseGrain,
                             [=](int64_t b, int64_t e) { sgd_update(f, w, buf, gr, b, e); });
      } else {
        if (!s.m.defined()) s.m = Tensor::zeros(p.shape()), s.v = Tensor::zeros(p.shape());
        float* m = s.m.data<float>();
        float* v = s.v.data<float>();
        const bool adamw = o.kind == OptimizerKind::AdamW;
        const double bc1 = 1 - std::pow(o.beta1, t), bc2 = 1 - std::pow(o.beta2, t);
        const AdamFactors f{
            float(o.beta1),  float(o.beta2),        float(1 - o.beta1), float(1 - o.beta2), float(o.eps),
            float(lr / bc1), float(std::sqrt(bc2)), float(1 - lr * wd), float(wd),          adamw};
        detail::parallel_for(n, detail::kHeavyElementGrain,
                             [=](int64_t b, int64_t e) { adam_update(f, w, m, v, gr, b, e); });
      }
      p.bump_version();
    }
  }
}

std::vector<std::pair<std::string, Tensor>> Optimizer::state() const {
  std::vector<std::pair<std::string, Tensor>> out;
  const bool sgd = options_.kind == OptimizerKind::SGD;
  for (size_t gi = 0; gi < groups_.size(); ++gi)
    for (size_t i = 0; i < groups_[gi].params.size(); ++i) {
      const ParamState& s = state_[gi][i];
      const std::string& name = groups_[gi].names[i];
      if (s.m.defined()) out.emplace_back(name + (sgd ? ".momentum_buffer" : ".exp_avg"), s.m);
      if (s.v.defined()) out.emplace_back(name + ".exp_avg_sq", s.v);
    }
  return out;
}

void Optimizer::load_state(const std::map<std::string, Tensor>& tensors, int64_t steps) {
  if (steps < 0) fail(Status::Format, "optimizer state: negative step count");
  const bool sgd = options_.kind == OptimizerKind::SGD;
  size_t used = 0;
  std::vector<std::vector<ParamState>> next(groups_.size());
  for (size_t gi = 0; gi < groups_.size(); ++gi)
    for (size_t i = 0; i < groups_[gi].params.size(); ++i) {
      const std::string& name = groups_[gi].names[i];
      auto take = [&](const std::string& key) -> Tensor {
        auto it = tensors.find(name + key);
        if (it == tensors.end()) return Tensor();
        if (!(it->second.shape() == groups_[gi].params[i].shape()) || it->second.dtype() != DType::F32)
          fail(Status::Format, "optimizer state: " + name + key + " has shape " + it->second.shape().str() +
                                   ", the parameter " + groups_[gi].params[i].shape().str());
        ++used;
        return it->second.contiguous().clone();
      };
      ParamState s;
      s.m = take(sgd ? ".momentum_buffer" : ".exp_avg");
      if (!sgd) {
        s.v = take(".exp_avg_sq");
        if (s.m.defined() != s.v.defined()) fail(Status::Format, "optimizer state: " + name + " has only one Adam moment");
      }
      next[gi].push_back(std::move(s));
    }
  if (used != tensors.size()) {
    for (const auto& [key, t] : tensors) {
      bool known = false;
      for (const ParamGroup& g : groups_)
        for (const std::string& n : g.names) known |= key.rfind(n + ".", 0) == 0;
      if (!known) fail(Status::Format, "optimizer state: unknown tensor " + key);
    }
    fail(Status::Format, "optimizer state: tensors of another optimizer kind");
  }
  state_ = std::move(next);
  steps_ = steps;
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  if (std::isnan(max_norm)) fail(Status::InvalidArg, "clip_grad_norm: max_norm is NaN");
  double total = 0;
  for (const Tensor& p : params) {
    Tensor g = grad(p);
    if (!g.defined()) continue;
    Tensor gc = g.dtype() == DType::F32 && g.is_contiguous() ? g : g.to(DType::F32).contiguous();
    const float* x = gc.data<float>();
    const int64_t n = gc.numel();
    // Partial sums in double over chunks of a fixed size, combined in order: the norm (and
    // so every clipped weight) is the same bits whatever the thread count.
    constexpr int64_t chunk = int64_t(1) << 16;
    std::vector<double> part(size_t((n + chunk - 1) / chunk), 0.0);
    detail::parallel_for(int64_t(part.size()), 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        double s = 0;
        for (int64_t j = c * chunk; j < std::min(n, (c + 1) * chunk); ++j) s += double(x[j]) * x[j];
        part[size_t(c)] = s;
      }
    });
    for (double s : part) total += s;
  }
  total = std::sqrt(total);
  if (max_norm > 0 && total > max_norm) {
    const float coef = float(max_norm / (total + 1e-6));
    for (const Tensor& p : params) {
      Tensor g = grad(p);
      if (!g.defined()) continue;
      if (g.dtype() == DType::F32) g.mul_(coef);
      else g.copy_(mul(g.to(DType::F32), Tensor::scalar(coef)));
    }
  }
  return total;
}

double Schedule::factor(int64_t step) const {
  if (step < 0) step = 0;
  if (warmup_steps > 0 && step < warmup_steps) return double(step + 1) / double(warmup_steps);
  if (kind == ScheduleKind::Constant || total_steps <= warmup_steps) return 1.0;
  const double progress = std::min(1.0, double(step - warmup_steps) / double(total_steps - warmup_steps));
  const double shape = kind == ScheduleKind::Cosine ? 0.5 * (1 + std::cos(M_PI * progress)) : 1 - progress;
  return min_ratio + (1 - min_ratio) * shape;
}

void check_optimizer_of(const Optimizer& optimizer, const Model& model, const std::string& who) {
  Model& m = const_cast<Model&>(model);  // the parameter lists are not const; nothing changes
  std::unordered_set<const void*> own;  // where each of the model's tensors starts
  for (auto& [name, p] : m.named_parameters())
    if (p->defined()) own.insert(p->raw_data());
  for (auto& [name, p] : m.lora_parameters())
    if (p->defined()) own.insert(p->raw_data());
  for (const ParamGroup& g : optimizer.groups())
    for (size_t i = 0; i < g.params.size(); ++i)
      if (!g.params[i].defined() || !own.count(const_cast<Tensor&>(g.params[i]).raw_data()))
        fail(Status::InvalidArg, who + ": the optimizer's parameter '" + (i < g.names.size() ? g.names[i] : "?") +
                                     "' is not a tensor of this model: an optimizer made for another model would train "
                                     "that one, and nothing here");
}

}  // namespace xla::train
