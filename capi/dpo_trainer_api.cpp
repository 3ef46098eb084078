// dpo_trainer_api.cpp — C entry points for LoRA adapters in a model, preference data and
// the DPO trainer (xla/dpo_trainer.hpp).
#include <cmath>
#include <memory>

#include "collective.hpp"
#include "handles.hpp"
#include "loop_params.hpp"
#include "xla/dpo_trainer.hpp"

using namespace xla;
using namespace xla::capi;

struct xla_preference_dataset {
  train::PreferenceDataset d;
};
struct xla_dpo_trainer {
  std::unique_ptr<xla::Collective> collective;  // declared first: the trainer uses it until it goes
  std::unique_ptr<train::DpoTrainer> t;
};

static_assert(XLA_DPO_REF_FROZEN_COPY == int(train::ReferenceKind::FrozenCopy) &&
              XLA_DPO_REF_MODEL == int(train::ReferenceKind::Model) &&
              XLA_DPO_REF_PRECOMPUTED == int(train::ReferenceKind::Precomputed) &&
              XLA_DPO_REF_LORA_DISABLED == int(train::ReferenceKind::LoraDisabled));

namespace {

const Tokenizer* tokenizer_of(const xla_tokenizer* tok) { return tok ? &tok->t : nullptr; }

train::DpoTrainer& trainer_of(xla_dpo_trainer* t) {
  require_ptr(t, "t");
  return *t->t;
}

}  // namespace

extern "C" {

// ---- LoRA ----

xla_status xla_model_add_lora(xla_model* m, int64_t rank, float alpha, uint64_t seed) {
  return guard("xla_model_add_lora", [&] {
    require_ptr(m, "m");
    m->m->add_lora(rank, alpha, {}, seed);
  });
}

xla_status xla_model_set_lora_enabled(xla_model* m, int32_t on) {
  return guard("xla_model_set_lora_enabled", [&] {
    require_ptr(m, "m");
    if (!m->m->has_lora()) invalid("the model has no LoRA adapters (xla_model_add_lora)");
    m->m->lora_enabled = on != 0;
  });
}

// ---- preference data ----

xla_status xla_preference_dataset_from_jsonl(const char* path, const xla_tokenizer* tok, int64_t max_len, int32_t chat,
                                             xla_preference_dataset** out) {
  return guard("xla_preference_dataset_from_jsonl", [&] {
    require_ptr(path, "path");
    require_ptr(out, "out");
    if (max_len < 0) invalid("max_len is negative");
    auto h = std::make_unique<xla_preference_dataset>();
    h->d = train::PreferenceDataset::from_jsonl(path, train::TextCodec{tokenizer_of(tok)}, max_len, chat != 0);
    *out = h.release();
  });
}

xla_status xla_preference_dataset_from_text(const char* const* prompts, const char* const* chosen,
                                            const char* const* rejected, size_t n, const xla_tokenizer* tok,
                                            int64_t max_len, xla_preference_dataset** out) {
  return guard("xla_preference_dataset_from_text", [&] {
    require_ptr(out, "out");
    if (n == 0) invalid("n is 0");
    require_ptr(prompts, "prompts");
    require_ptr(chosen, "chosen");
    require_ptr(rejected, "rejected");
    if (max_len < 0) invalid("max_len is negative");
    const train::TextCodec codec{tokenizer_of(tok)};
    std::vector<train::PreferenceExample> pairs;
    for (size_t i = 0; i < n; ++i) {
      if (!prompts[i] || !chosen[i] || !rejected[i]) invalid("pair " + std::to_string(i) + " has a NULL string");
      train::PreferenceExample e;  // as the JSONL text form: <bos> prompt, completion <eos>
      e.prompt = {codec.bos()};
      for (int32_t id : codec.encode(prompts[i])) e.prompt.push_back(id);
      e.chosen = codec.encode(chosen[i]);
      e.chosen.push_back(codec.eos());
      e.rejected = codec.encode(rejected[i]);
      e.rejected.push_back(codec.eos());
      pairs.push_back(std::move(e));
    }
    auto h = std::make_unique<xla_preference_dataset>();
    h->d = train::PreferenceDataset(std::move(pairs), max_len);
    *out = h.release();
  });
}

xla_status xla_preference_dataset_split(const xla_preference_dataset* d, double val_fraction, uint64_t seed,
                                        xla_preference_dataset** train_out, xla_preference_dataset** val_out) {
  return guard("xla_preference_dataset_split", [&] {
    require_ptr(d, "d");
    require_ptr(train_out, "train_out");
    require_ptr(val_out, "val_out");
    auto [tr, va] = d->d.split(val_fraction, seed);
    auto a = std::make_unique<xla_preference_dataset>(), b = std::make_unique<xla_preference_dataset>();
    a->d = std::move(tr);
    b->d = std::move(va);
    *train_out = a.release();
    *val_out = b.release();
  });
}

int64_t xla_preference_dataset_size(const xla_preference_dataset* d) { return d ? int64_t(d->d.size()) : -1; }

void xla_preference_dataset_free(xla_preference_dataset* d) { delete d; }

// ---- the trainer ----

void xla_dpo_trainer_params_init(xla_dpo_trainer_params* p) {
  if (!p) return;
  clear_struct(p);
  xla_dpo_params_init(&p->dpo);
  p->reference = XLA_DPO_REF_FROZEN_COPY;
  init_loop_params(p);
}

xla_status xla_dpo_trainer_create(xla_model* policy, xla_optimizer* o, const xla_preference_dataset* train_set,
                                  const xla_preference_dataset* eval, const xla_dpo_trainer_params* user,
                                  xla_dpo_trainer** out) {
  return guard("xla_dpo_trainer_create", [&] {
    require_ptr(out, "out");
    require_ptr(policy, "policy");
    require_ptr(o, "o");
    require_ptr(train_set, "train");
    const xla_dpo_trainer_params p = read_options(user, xla_dpo_trainer_params_init, "xla_dpo_trainer_params");
    if (p.dpo.struct_size != sizeof(xla_dpo_params))
      invalid("dpo.struct_size is " + std::to_string(p.dpo.struct_size) + "; call xla_dpo_trainer_params_init");
    if (p.reference < XLA_DPO_REF_FROZEN_COPY || p.reference > XLA_DPO_REF_LORA_DISABLED)
      invalid("reference " + std::to_string(p.reference) + " is not an XLA_DPO_REF_* value");
    if (p.dpo.loss_type < XLA_DPO_SIGMOID || p.dpo.loss_type > XLA_DPO_HINGE)
      invalid("dpo.loss_type " + std::to_string(p.dpo.loss_type) + " is not an XLA_DPO_* loss");
    train::DpoTrainerOptions t;
    read_loop_params(p, t);
    t.dpo = train::DpoOptions{p.dpo.beta, p.dpo.label_smoothing, train::DpoLoss(p.dpo.loss_type)};
    t.reference.kind = train::ReferenceKind(p.reference);
    t.reference.model = p.reference_model ? p.reference_model->m.get() : nullptr;
    if (p.cache_dir) t.reference.cache_dir = p.cache_dir;
    auto h = std::make_unique<xla_dpo_trainer>();
    h->collective = collective_from_c(p.collective, "all_reduce");
    t.collective = h->collective.get();
    h->t = std::make_unique<train::DpoTrainer>(*policy->m, *o->o, train_set->d, eval ? &eval->d : nullptr, std::move(t));
    *out = h.release();
  });
}

void xla_dpo_trainer_free(xla_dpo_trainer* t) { delete t; }

xla_status xla_dpo_trainer_step(xla_dpo_trainer* t, xla_dpo_metrics* out) {
  return guard("xla_dpo_trainer_step", [&] {
    train::DpoTrainer& tr = trainer_of(t);
    if (out) check_result_size(out, &xla_dpo_metrics::loss, "xla_dpo_metrics");
    const train::DpoStepMetrics m = tr.step();
    if (out) write_dpo_metrics(m, out);
  });
}

xla_status xla_dpo_trainer_run(xla_dpo_trainer* t, xla_dpo_fn on_step, void* user_data, int64_t* steps_out) {
  return run_loop(
      "xla_dpo_trainer_run", t,
      [&](const train::DpoStepMetrics& m) {
        if (!on_step) return false;
        xla_dpo_metrics cm;
        clear_struct(&cm);
        write_dpo_metrics(m, &cm);
        return on_step(m.step, &cm, user_data) != 0;
      },
      steps_out);
}

xla_status xla_dpo_trainer_evaluate(xla_dpo_trainer* t, xla_dpo_metrics* out) {
  return guard("xla_dpo_trainer_evaluate", [&] {
    train::DpoTrainer& tr = trainer_of(t);
    require_ptr(out, "out");
    check_result_size(out, &xla_dpo_metrics::loss, "xla_dpo_metrics");
    write_dpo_metrics(tr.evaluate(), out);
  });
}

xla_status xla_dpo_trainer_resume(xla_dpo_trainer* t, int32_t* resumed_out) {
  return guard("xla_dpo_trainer_resume", [&] {
    const bool r = trainer_of(t).resume();
    if (resumed_out) *resumed_out = r ? 1 : 0;
  });
}

xla_status xla_dpo_trainer_save(xla_dpo_trainer* t) {
  return guard("xla_dpo_trainer_save", [&] { trainer_of(t).save(); });
}

}  // extern "C"
