// train_api.cpp — C entry points for optimizers, the training loss, datasets, the trainer
// and checkpoints (xla/optim.hpp, loss.hpp, data.hpp, trainer.hpp).
#include <cmath>
#include <functional>
#include <memory>

#include "collective.hpp"
#include "handles.hpp"
#include "loop_params.hpp"
#include "xla/autograd.hpp"
#include "xla/trainer.hpp"

using namespace xla;
using namespace xla::capi;

struct xla_dataset {
  train::Dataset d;
};
struct xla_trainer {
  std::unique_ptr<xla::Collective> collective;  // declared first: the trainer uses it until it goes
  std::unique_ptr<train::Trainer> t;
};

static_assert(XLA_OPT_SGD == int(train::OptimizerKind::SGD) && XLA_OPT_ADAM == int(train::OptimizerKind::Adam) &&
              XLA_OPT_ADAMW == int(train::OptimizerKind::AdamW));
static_assert(XLA_SCHEDULE_CONSTANT == int(train::ScheduleKind::Constant) &&
              XLA_SCHEDULE_LINEAR == int(train::ScheduleKind::Linear) &&
              XLA_SCHEDULE_COSINE == int(train::ScheduleKind::Cosine));

namespace {

train::OptimizerKind kind_arg(int32_t k) {
  if (k < XLA_OPT_SGD || k > XLA_OPT_ADAMW)
    invalid("optimizer kind " + std::to_string(k) + " is not XLA_OPT_SGD, XLA_OPT_ADAM or XLA_OPT_ADAMW");
  return train::OptimizerKind(k);
}

train::LossOptions loss_options(const xla_loss_params& p) {
  train::LossOptions o;
  o.ignore_index = p.ignore_index;
  o.label_smoothing = p.label_smoothing;
  o.z_loss = p.z_loss;
  return o;
}

const Tokenizer* tokenizer_of(const xla_tokenizer* tok) { return tok ? &tok->t : nullptr; }

void write_metrics(const train::StepMetrics& m, xla_train_metrics* out) {
  clear_result(out);
  put(out, &xla_train_metrics::step, m.step);
  put(out, &xla_train_metrics::loss, m.loss);
  put(out, &xla_train_metrics::lr, m.lr);
  put(out, &xla_train_metrics::grad_norm, m.grad_norm);
  put(out, &xla_train_metrics::tokens_per_s, m.tokens_per_s);
  put(out, &xla_train_metrics::elapsed_s, m.elapsed_s);
  put(out, &xla_train_metrics::tokens, m.tokens);
  put(out, &xla_train_metrics::mem_mb, m.mem_mb);
  put(out, &xla_train_metrics::val_loss, m.val_loss);
  put(out, &xla_train_metrics::val_ppl, m.val_ppl);
  put(out, &xla_train_metrics::skipped, int32_t(m.skipped));
}

template <typename T>
T& handle(T* h, const char* name) {
  require_ptr(h, name);
  return *h;
}

}  // namespace

extern "C" {

// ---- optimizers ----

void xla_optimizer_params_init(xla_optimizer_params* p) {
  if (!p) return;
  clear_struct(p);
  const train::OptimizerOptions d = train::OptimizerOptions::defaults(train::OptimizerKind::AdamW);
  p->kind = XLA_OPT_ADAMW;
  p->lr = d.lr;
  p->beta1 = d.beta1;
  p->beta2 = d.beta2;
  p->eps = d.eps;
  p->weight_decay = d.weight_decay;
}

xla_status xla_optimizer_params_defaults(xla_optimizer_params* p, int32_t kind, double lr) {
  return guard("xla_optimizer_params_defaults", [&] {
    require_ptr(p, "p");
    const train::OptimizerOptions d = train::OptimizerOptions::defaults(kind_arg(kind), lr);
    xla_optimizer_params_init(p);
    p->kind = kind;
    p->lr = d.lr;
    p->weight_decay = d.weight_decay;
  });
}

xla_status xla_optimizer_create(xla_model* m, const xla_optimizer_params* user, xla_optimizer** out) {
  return guard("xla_optimizer_create", [&] {
    require_ptr(out, "out");
    Model& model = *handle(m, "m").m;
    const xla_optimizer_params p = read_options(user, xla_optimizer_params_init, "xla_optimizer_params");
    train::OptimizerOptions o;
    o.kind = kind_arg(p.kind);
    o.lr = p.lr;
    o.beta1 = p.beta1;
    o.beta2 = p.beta2;
    o.eps = p.eps;
    o.weight_decay = p.weight_decay;
    o.momentum = p.momentum;
    o.dampening = p.dampening;
    o.nesterov = p.nesterov != 0;
    std::vector<train::ParamGroup> groups = train::default_param_groups(model, o.weight_decay);
    if (p.decay_all)
      for (train::ParamGroup& g : groups) g.weight_decay = o.weight_decay;
    auto h = std::make_unique<xla_optimizer>();
    h->o = std::make_unique<train::Optimizer>(std::move(groups), o);
    *out = h.release();
  });
}

void xla_optimizer_free(xla_optimizer* o) { delete o; }

xla_status xla_optimizer_step(xla_optimizer* o) {
  return guard("xla_optimizer_step", [&] { handle(o, "o").o->step(); });
}

xla_status xla_optimizer_zero_grad(xla_optimizer* o) {
  return guard("xla_optimizer_zero_grad", [&] { handle(o, "o").o->zero_grad(); });
}

xla_status xla_optimizer_set_lr(xla_optimizer* o, double lr) {
  return guard("xla_optimizer_set_lr", [&] { handle(o, "o").o->set_lr(lr); });
}

xla_status xla_optimizer_get_lr(const xla_optimizer* o, double* lr_out) {
  return guard("xla_optimizer_get_lr", [&] {
    require_ptr(o, "o");
    require_ptr(lr_out, "lr_out");
    *lr_out = o->o->lr();
  });
}

xla_status xla_optimizer_clip_grad_norm(xla_optimizer* o, double max_norm, double* norm_out) {
  return guard("xla_optimizer_clip_grad_norm", [&] {
    require_ptr(o, "o");
    if (std::isnan(max_norm)) invalid("max_norm is NaN");
    const double n = train::clip_grad_norm(o->o->parameters(), max_norm > 0 ? max_norm : 0);
    if (norm_out) *norm_out = n;
  });
}

// ---- the loss ----

void xla_loss_params_init(xla_loss_params* p) {
  if (!p) return;
  clear_struct(p);
  p->ignore_index = -100;
}

xla_status xla_model_loss(xla_model* m, const int32_t* inputs, const int32_t* targets, int64_t batch, int64_t seq_len,
                          const xla_loss_params* user, xla_tensor** loss_out) {
  return make("xla_model_loss", loss_out, [&] {
    const Model& model = *handle(m, "m").m;
    require_ptr(inputs, "inputs");
    require_ptr(targets, "targets");
    if (batch < 1 || seq_len < 1)
      invalid("batch and seq_len must be >= 1, got " + std::to_string(batch) + " and " + std::to_string(seq_len));
    const xla_loss_params p = read_options(user, xla_loss_params_init, "xla_loss_params");
    Tensor in = Tensor::from_data(inputs, {batch, seq_len}, DType::I32);
    Tensor tg = Tensor::from_data(targets, {batch, seq_len}, DType::I32);
    return train::lm_loss(model, in, tg, loss_options(p));
  });
}

// ---- datasets ----

static xla_status dataset_out(const char* fn, xla_dataset** out, const std::function<train::Dataset()>& make_it) {
  return guard(fn, [&] {
    require_ptr(out, "out");
    auto h = std::make_unique<xla_dataset>();
    h->d = make_it();
    if (h->d.size() == 0) invalid("the data gives no row of seq_len + 1 tokens");
    *out = h.release();
  });
}

xla_status xla_dataset_from_text(const char* text, size_t len, const xla_tokenizer* tok, int64_t seq_len,
                                 xla_dataset** out) {
  return dataset_out("xla_dataset_from_text", out, [&] {
    if (len > 0) require_ptr(text, "text");
    return train::Dataset::from_text(std::string_view(text ? text : "", len), train::TextCodec{tokenizer_of(tok)}, seq_len);
  });
}

xla_status xla_dataset_from_text_file(const char* path, const xla_tokenizer* tok, int64_t seq_len, xla_dataset** out) {
  return dataset_out("xla_dataset_from_text_file", out, [&] {
    require_ptr(path, "path");
    return train::Dataset::from_text_file(path, train::TextCodec{tokenizer_of(tok)}, seq_len);
  });
}

xla_status xla_dataset_from_pairs(const char* const* prompts, const char* const* responses, size_t n,
                                  const xla_tokenizer* tok, int64_t seq_len, xla_dataset** out) {
  return dataset_out("xla_dataset_from_pairs", out, [&] {
    if (n == 0) invalid("n is 0");
    require_ptr(prompts, "prompts");
    require_ptr(responses, "responses");
    std::vector<std::pair<std::string, std::string>> pairs;
    for (size_t i = 0; i < n; ++i) {
      if (!prompts[i] || !responses[i]) invalid("prompt or response " + std::to_string(i) + " is NULL");
      pairs.emplace_back(prompts[i], responses[i]);
    }
    return train::Dataset::supervised(pairs, train::TextCodec{tokenizer_of(tok)}, seq_len);
  });
}

xla_status xla_dataset_from_jsonl(const char* path, const xla_tokenizer* tok, int64_t seq_len, int32_t chat,
                                  xla_dataset** out) {
  return dataset_out("xla_dataset_from_jsonl", out, [&] {
    require_ptr(path, "path");
    return train::Dataset::from_jsonl(path, train::TextCodec{tokenizer_of(tok)}, seq_len, chat != 0);
  });
}

xla_status xla_dataset_split(const xla_dataset* d, double val_fraction, uint64_t seed, xla_dataset** train_out,
                             xla_dataset** val_out) {
  return guard("xla_dataset_split", [&] {
    require_ptr(d, "d");
    require_ptr(train_out, "train_out");
    require_ptr(val_out, "val_out");
    auto [tr, va] = d->d.split(val_fraction, seed);
    auto a = std::make_unique<xla_dataset>(), b = std::make_unique<xla_dataset>();
    a->d = std::move(tr);
    b->d = std::move(va);
    *train_out = a.release();
    *val_out = b.release();
  });
}

int64_t xla_dataset_size(const xla_dataset* d) { return d ? int64_t(d->d.size()) : -1; }

void xla_dataset_free(xla_dataset* d) { delete d; }

// ---- the trainer ----

void xla_trainer_params_init(xla_trainer_params* p) {
  if (!p) return;
  clear_struct(p);
  init_loop_params(p);
  xla_loss_params_init(&p->loss);
}

xla_status xla_trainer_create(xla_model* m, xla_optimizer* o, const xla_dataset* train_set, const xla_dataset* val,
                              const xla_trainer_params* user, xla_trainer** out) {
  return guard("xla_trainer_create", [&] {
    require_ptr(out, "out");
    Model& model = *handle(m, "m").m;
    train::Optimizer& opt = *handle(o, "o").o;
    require_ptr(train_set, "train");
    const xla_trainer_params p = read_options(user, xla_trainer_params_init, "xla_trainer_params");
    train::TrainerOptions t;
    read_loop_params(p, t);
    if (p.loss.struct_size != 0 && p.loss.struct_size != sizeof(xla_loss_params))
      invalid("loss.struct_size is " + std::to_string(p.loss.struct_size) + "; call xla_trainer_params_init");
    t.loss = loss_options(p.loss);
    t.eval_batches = p.eval_batches;
    if (p.compile != 0 && p.compile != 1) invalid("compile is " + std::to_string(p.compile) + ", not 0 or 1");
    t.compile = p.compile != 0;
    auto h = std::make_unique<xla_trainer>();
    h->collective = collective_from_c(p.collective, "all_reduce");
    t.collective = h->collective.get();
    h->t = std::make_unique<train::Trainer>(model, opt, train_set->d, val ? &val->d : nullptr, std::move(t));
    *out = h.release();
  });
}

void xla_trainer_free(xla_trainer* t) { delete t; }

xla_status xla_trainer_resume(xla_trainer* t, int32_t* resumed_out) {
  return guard("xla_trainer_resume", [&] {
    const bool r = handle(t, "t").t->resume();
    if (resumed_out) *resumed_out = r ? 1 : 0;
  });
}

xla_status xla_trainer_step(xla_trainer* t, xla_train_metrics* out) {
  return guard("xla_trainer_step", [&] {
    train::Trainer& tr = *handle(t, "t").t;
    if (out) check_result_size(out, &xla_train_metrics::step, "xla_train_metrics");
    const train::StepMetrics m = tr.step();
    if (out) write_metrics(m, out);
  });
}

xla_status xla_trainer_run(xla_trainer* t, xla_train_fn on_step, void* user_data, int64_t* steps_out) {
  return run_loop(
      "xla_trainer_run", t,
      [&](const train::StepMetrics& m) {
        if (!on_step) return false;
        xla_train_metrics cm;
        clear_struct(&cm);
        write_metrics(m, &cm);
        return on_step(&cm, user_data) != 0;
      },
      steps_out);
}

xla_status xla_trainer_evaluate(xla_trainer* t, double* loss_out) {
  return guard("xla_trainer_evaluate", [&] {
    train::Trainer& tr = *handle(t, "t").t;
    require_ptr(loss_out, "loss_out");
    *loss_out = tr.evaluate();
  });
}

xla_status xla_trainer_save(xla_trainer* t) {
  return guard("xla_trainer_save", [&] { handle(t, "t").t->save(); });
}

// ---- checkpoints ----

xla_status xla_checkpoint_save(const char* root, const xla_model* m, const xla_optimizer* o, int64_t step) {
  return guard("xla_checkpoint_save", [&] {
    require_ptr(root, "root");
    require_ptr(m, "m");
    if (step < 0) invalid("step is negative");
    train::TrainState s;
    s.step = step;
    train::save_training_state(root, *m->m, o ? o->o.get() : nullptr, s);
  });
}

xla_status xla_checkpoint_load(const char* path, xla_model* m, xla_optimizer* o, int64_t* step_out) {
  return guard("xla_checkpoint_load", [&] {
    require_ptr(path, "path");
    Model& model = *handle(m, "m").m;
    const train::TrainState s = train::load_training_state(path, model, o ? o->o.get() : nullptr);
    if (step_out) *step_out = s.step;
  });
}

}  // extern "C"
