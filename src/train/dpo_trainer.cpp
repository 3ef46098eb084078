// dpo_trainer.cpp — the DPO loss in the shared loop: the reference in its four forms (frozen
// copy, another model, precomputed and cached log-probs, the policy with its LoRA off),
// micro-batches of pairs → dpo_loss → backward inside the shared optimizer step; evaluation
// and TRL-named metrics. The step, run() and checkpoints are training_loop.cpp's; the data
// side is preference_data.cpp.
#include "xla/dpo_trainer.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "fingerprint.hpp"
#include "training_loop.hpp"
#include "xla/autograd.hpp"
#include "xla/safetensors.hpp"

namespace fs = std::filesystem;

namespace xla::train {
namespace {

using detail::Hasher;
using detail::model_fingerprint;
using detail::now_s;

const char* reference_name(ReferenceKind k) {
  switch (k) {
    case ReferenceKind::FrozenCopy: return "frozen-copy";
    case ReferenceKind::Model: return "model";
    case ReferenceKind::Precomputed: return "precomputed";
    case ReferenceKind::LoraDisabled: return "lora-disabled";
  }
  return "?";
}

void check_ids(const PreferenceDataset& data, const char* which, int64_t vocab) {
  for (size_t i = 0; i < data.size(); ++i)
    for (const auto* ids : {&data[i].prompt, &data[i].chosen, &data[i].rejected})
      for (int32_t id : *ids)
        if (id >= vocab)
          fail(Status::InvalidArg, std::string("dpo: pair ") + std::to_string(i) + " of the " + which + " set has token id " +
                                       std::to_string(id) + ", outside the policy's vocabulary of " + std::to_string(vocab));
}

// Checks everything that does not need the reference built; returns the options with
// schedule.total_steps filled in.
DpoTrainerOptions checked(DpoTrainerOptions o, const Model& policy, const PreferenceDataset* train,
                          const PreferenceDataset* eval) {
  validate(o.dpo);
  static_cast<LoopOptions&>(o) = detail::checked_loop_options(o, "dpo");
  auto bad = [](const std::string& m) { fail(Status::InvalidArg, "dpo: " + m); };
  const int64_t ranks = detail::world_size_of(o.collective);
  if (train && int64_t(train->size()) < o.batch_size * ranks)
    bad("the training set has " + std::to_string(train->size()) + " pairs, fewer than a batch of " +
        (ranks > 1 ? std::to_string(ranks) + " ranks × " : std::string()) + std::to_string(o.batch_size));
  if (train) check_ids(*train, "training", policy.vocab_size());
  if (eval) check_ids(*eval, "eval", policy.vocab_size());
  const DpoReference& r = o.reference;
  switch (r.kind) {
    case ReferenceKind::FrozenCopy: break;
    case ReferenceKind::Model:
      if (!r.model) bad("the Model reference needs reference.model");
      if (r.model == &policy) bad("the reference model is the policy itself (use FrozenCopy or LoraDisabled)");
      break;
    case ReferenceKind::Precomputed:
      if (!train) bad("the Precomputed reference needs the training set (nothing to precompute without data)");
      break;
    case ReferenceKind::LoraDisabled:
      if (!policy.has_lora())
        bad("the LoraDisabled reference needs a policy with LoRA adapters (Model::add_lora); this one has none");
      break;
    default: bad("unknown reference kind " + std::to_string(int(r.kind)));
  }
  if (r.model && r.model->vocab_size() != policy.vocab_size())
    bad("the reference's vocabulary (" + std::to_string(r.model->vocab_size()) + ") differs from the policy's (" +
        std::to_string(policy.vocab_size()) + ")");
  return o;
}

void add(DpoMetrics& sum, const DpoMetrics& m) {
  sum.loss += m.loss;
  sum.reward_chosen += m.reward_chosen;
  sum.reward_rejected += m.reward_rejected;
  sum.reward_accuracy += m.reward_accuracy;
  sum.reward_margin += m.reward_margin;
  sum.logp_chosen += m.logp_chosen;
  sum.logp_rejected += m.logp_rejected;
}

// TRL's names for the metrics, with a prefix ("" or "eval_"); a non-finite value is null.
void put(nlohmann::json& j, const std::string& prefix, const DpoMetrics& m) {
  const std::pair<const char*, double> fields[] = {
      {"loss", m.loss},
      {"rewards/chosen", m.reward_chosen},
      {"rewards/rejected", m.reward_rejected},
      {"rewards/accuracies", m.reward_accuracy},
      {"rewards/margins", m.reward_margin},
      {"logps/chosen", m.logp_chosen},
      {"logps/rejected", m.logp_rejected}};
  for (const auto& [name, v] : fields) j[prefix + name] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace

DpoTrainer::DpoTrainer(Model& policy, Optimizer& optimizer, const PreferenceDataset& train,
                       const PreferenceDataset* eval, DpoTrainerOptions options)
    : DpoTrainer(policy, optimizer, &train, eval, std::move(options), 0) {}

DpoTrainer::DpoTrainer(Model& policy, Optimizer& optimizer, DpoTrainerOptions options)
    : DpoTrainer(policy, optimizer, nullptr, nullptr, std::move(options), 0) {}

DpoTrainer::DpoTrainer(Model& policy, Optimizer& optimizer, const PreferenceDataset* train,
                       const PreferenceDataset* eval, DpoTrainerOptions options, int)
    : policy_(policy),
      train_(train),
      eval_(eval),
      o_(checked(std::move(options), policy, train, eval)) {
  // data parallel: the ranks agree on the data, and start from rank 0's policy before the
  // reference is copied or scores anything
  detail::check_same_on_all_ranks(o_.collective,
                                  {{"the training pairs", train ? int64_t(train->size()) : -1},
                                   {"the training data's fingerprint", train ? int64_t(train->fingerprint() >> 12) : -1},
                                   {"the eval pairs", eval ? int64_t(eval->size()) : -1},
                                   {"the reference kind", int64_t(o_.reference.kind)},
                                   {"whether a cache_dir is set", o_.reference.cache_dir.empty() ? 0 : 1}},
                                  "dpo");
  detail::broadcast_parameters(policy, o_.collective);
  if (train) order_.emplace(train->size(), o_.batch_size * detail::world_size_of(o_.collective), o_.seed);
  const DpoReference& r = o_.reference;
  switch (r.kind) {
    case ReferenceKind::FrozenCopy:
      frozen_ = policy.clone_model();
      ref_model_ = frozen_.get();
      reference_id_ = model_fingerprint(*frozen_, frozen_->lora_enabled);
      break;
    case ReferenceKind::Model:
      ref_model_ = r.model;
      reference_id_ = model_fingerprint(*r.model, r.model->lora_enabled);
      break;
    case ReferenceKind::LoraDisabled: reference_id_ = model_fingerprint(policy, false); break;
    case ReferenceKind::Precomputed: {
      const Model& scorer = r.model ? *r.model : policy;
      const bool lora_off = !r.model;  // the policy as a reference: its base, as TRL's null_ref_context
      ref_train_ = precompute(scorer, lora_off, *train, &cache_path_, &cache_loaded_);
      if (eval && eval->size() > 0) {
        std::string path;
        bool loaded = false;
        ref_eval_ = precompute(scorer, lora_off, *eval, &path, &loaded);
      }
      reference_id_ = model_fingerprint(scorer, !lora_off && scorer.lora_enabled);
      break;
    }
  }
  reference_id_ = std::string(reference_name(r.kind)) + ":" + reference_id_;
  loop_ = std::make_unique<detail::TrainingLoop>(policy, optimizer, o_, "dpo", "dpo");
  if (order_) loop_->state.data = order_->state();
  loop_->state.reference = reference_id_;
}

DpoTrainer::~DpoTrainer() = default;

int64_t DpoTrainer::current_step() const { return loop_->state.step; }
const TrainState& DpoTrainer::state() const { return loop_->state; }

DpoTrainer::Precomputed DpoTrainer::precompute(const Model& ref, bool lora_off, const PreferenceDataset& data,
                                               std::string* path, bool* loaded) {
  const size_t n = data.size();
  Precomputed out;
  *loaded = false;
  path->clear();
  Hasher key;
  key.text("libxla-dpo-reference-1");  // what the file holds: summed completion log-probs per pair, f32
  key.word(data.fingerprint());
  key.text(model_fingerprint(ref, !lora_off && ref.lora_enabled));
  const std::string& dir = o_.reference.cache_dir;
  Collective* c = o_.collective;
  const int rank = detail::rank_of(c), ranks = detail::world_size_of(c);
  if (!dir.empty()) {
    *path = dir + "/dpo-ref-" + key.hex() + ".safetensors";
    double read = 0;  // 1 when this rank read a valid cache
    if (fs::exists(*path)) {
      try {  // a cache that cannot be read is computed again, never trusted
        io::SafetensorsFile f = io::SafetensorsFile::open(*path);
        const auto& meta = f.metadata();
        const Shape want{int64_t(n)};
        if (meta.count("key") && meta.at("key") == key.hex() && f.contains("chosen") && f.contains("rejected") &&
            f.info("chosen").shape == want && f.info("rejected").shape == want) {
          out.chosen = f.tensor("chosen", DType::F32).to_vector();
          out.rejected = f.tensor("rejected", DType::F32).to_vector();
          read = 1;
        }
      } catch (const Error&) {
      }
    }
    // data parallel: the ranks score together unless every one of them read the cache
    detail::sum_over_ranks(c, std::span<double>(&read, 1));
    if (read == double(ranks)) {
      *loaded = true;
      return out;
    }
  }
  // score the pairs in order, batch_size at a time, as the trainer's forward does
  NoGradGuard no_grad;
  std::optional<LoraDisabledGuard> base_only;
  if (lora_off && ref.has_lora()) base_only.emplace(policy_);  // ref is the policy here
  out.chosen.assign(n, 0.f);
  out.rejected.assign(n, 0.f);
  const int32_t pad = ref.special_tokens().pad;
  int64_t batch_index = 0;
  for (size_t start = 0; start < n; start += size_t(o_.batch_size)) {
    if (batch_index++ % ranks != rank) continue;  // data parallel: every ranks-th batch is this rank's
    std::vector<size_t> idx;
    for (size_t i = start; i < std::min(n, start + size_t(o_.batch_size)); ++i) idx.push_back(i);
    const std::vector<float> lp = completion_logprobs(ref, make_preference_batch(data, idx, pad), false).to_vector();
    const size_t B = idx.size();
    for (size_t b = 0; b < B; ++b) {
      out.chosen[idx[b]] = lp[b];
      out.rejected[idx[b]] = lp[B + b];
    }
  }
  if (ranks > 1) {  // each pair was scored on one rank and is 0 on the others: the sum is exact
    c->all_reduce(out.chosen, ReduceOp::Sum);
    c->all_reduce(out.rejected, ReduceOp::Sum);
  }
  if (!dir.empty() && rank == 0) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) fail(Status::IO, "dpo: cannot create the cache folder " + dir + ": " + ec.message());
    io::save_safetensors(*path,
                         {{"chosen", Tensor::from_vector(out.chosen, {int64_t(n)})},
                          {"rejected", Tensor::from_vector(out.rejected, {int64_t(n)})}},
                         {{"format", "libxla-dpo-reference"}, {"key", key.hex()}, {"pairs", std::to_string(n)}});
  }
  return out;
}

Tensor DpoTrainer::reference_logprobs(const PreferenceBatch& batch, bool from_eval) {
  NoGradGuard no_grad;
  const bool average = o_.dpo.loss == DpoLoss::Ipo;
  switch (o_.reference.kind) {
    case ReferenceKind::FrozenCopy:
    case ReferenceKind::Model: return completion_logprobs(*ref_model_, batch, average);
    case ReferenceKind::LoraDisabled: {
      LoraDisabledGuard base_only(policy_);
      return completion_logprobs(policy_, batch, average);
    }
    case ReferenceKind::Precomputed: break;
  }
  const Precomputed& p = from_eval ? ref_eval_ : ref_train_;
  const size_t B = batch.index.size();
  std::vector<float> sums(2 * B);
  for (size_t b = 0; b < B; ++b) {
    if (batch.index[b] >= p.chosen.size())
      fail(Status::InvalidArg, "dpo: pair " + std::to_string(batch.index[b]) + " has no precomputed reference log-probs");
    sums[b] = p.chosen[batch.index[b]];
    sums[B + b] = p.rejected[batch.index[b]];
  }
  Tensor s = Tensor::from_vector(sums, {int64_t(2 * B)});
  if (!average) return s;
  std::vector<float> n(batch.tokens.begin(), batch.tokens.end());  // the same division as completion_logprobs
  return ag::div(s, Tensor::from_vector(n, {int64_t(n.size())}));
}

Tensor DpoTrainer::loss(const PreferenceBatch& batch, DpoMetrics* metrics, bool from_eval) {
  const int64_t B = batch.pairs();
  if (int64_t(batch.tokens.size()) != 2 * B) fail(Status::InvalidArg, "dpo: a batch needs 2 rows per pair");
  const Tensor ref = reference_logprobs(batch, from_eval);                              // [2B], no history
  const Tensor pol = completion_logprobs(policy_, batch, o_.dpo.loss == DpoLoss::Ipo);  // [2B]
  return dpo_loss(o_.dpo, ag::slice(pol, 0, 0, B), ag::slice(pol, 0, B, 2 * B), ref.slice(0, 0, B),
                  ref.slice(0, B, 2 * B), metrics);
}

DpoMetrics DpoTrainer::evaluate() {
  if (!has_eval_set()) fail(Status::InvalidArg, "dpo: no eval set to evaluate on");
  NoGradGuard no_grad;
  const bool average = o_.dpo.loss == DpoLoss::Ipo;
  const size_t n = eval_->size();
  // [pc | pr | rc | rr], each [n]: data parallel, each rank fills its batches' pairs and the
  // others' stay 0, so the sum over ranks is exact
  std::vector<double> all(4 * n, 0.0);
  const int rank = loop_->rank(), ranks = loop_->world_size();
  int64_t batch_index = 0;
  for (size_t start = 0; start < n; start += size_t(o_.batch_size)) {
    if (batch_index++ % ranks != rank) continue;
    std::vector<size_t> idx;
    for (size_t i = start; i < std::min(n, start + size_t(o_.batch_size)); ++i) idx.push_back(i);
    const PreferenceBatch batch = make_preference_batch(*eval_, idx, policy_.special_tokens().pad);
    const std::vector<float> pol = completion_logprobs(policy_, batch, average).to_vector();
    const std::vector<float> ref = reference_logprobs(batch, true).to_vector();
    const size_t B = idx.size();
    for (size_t b = 0; b < B; ++b) {
      all[idx[b]] = pol[b];
      all[n + idx[b]] = pol[B + b];
      all[2 * n + idx[b]] = ref[b];
      all[3 * n + idx[b]] = ref[B + b];
    }
  }
  detail::sum_over_ranks(o_.collective, all);
  auto part = [&](size_t k) { return std::vector<double>(all.begin() + long(k * n), all.begin() + long((k + 1) * n)); };
  return dpo_loss(o_.dpo, part(0), part(1), part(2), part(3));  // means over every eval pair
}

DpoStepMetrics DpoTrainer::step() {
  if (!train_) fail(Status::InvalidArg, "dpo: this trainer has no training set (step(batch) takes a batch)");
  const int64_t rank = loop_->rank(), B = o_.batch_size;
  return do_step(o_.grad_accum, [&] {
    std::vector<size_t> global = order_->next();  // ranks × batch_size pairs: this rank's are its slice
    std::vector<size_t> mine(global.begin() + rank * B, global.begin() + (rank + 1) * B);
    return make_preference_batch(*train_, mine, policy_.special_tokens().pad);
  });
}

DpoStepMetrics DpoTrainer::step(const PreferenceBatch& batch) {
  return do_step(1, [&] { return batch; });
}

DpoStepMetrics DpoTrainer::do_step(int64_t micro_batches, const std::function<PreferenceBatch()>& next_batch) {
  const double t0 = now_s();
  TrainState& state = loop_->state;
  const int64_t ranks = loop_->world_size();
  // the mean over micro-batches and ranks: the all-reduced sum is the global batch's mean
  const Tensor seed = Tensor::scalar(1.f / float(micro_batches * ranks));
  DpoMetrics sum;
  int64_t pairs = 0;
  const detail::StepOutcome out = loop_->step.run(state.step, micro_batches, [&](int64_t) {
    const PreferenceBatch batch = next_batch();
    DpoMetrics mb;
    Tensor l = loss(batch, &mb);
    backward(l, seed);  // the mean over micro-batches without another node
    add(sum, mb);
    pairs += batch.pairs();
    return mb.loss / double(ranks);
  });
  double reduced[8] = {sum.loss,          sum.reward_chosen, sum.reward_rejected, sum.reward_accuracy,
                       sum.reward_margin, sum.logp_chosen,   sum.logp_rejected,   double(pairs)};
  detail::sum_over_ranks(o_.collective, reduced);
  sum = {reduced[0], reduced[1], reduced[2], reduced[3], reduced[4], reduced[5], reduced[6]};
  pairs = int64_t(reduced[7]);
  DpoStepMetrics m;
  const double k = 1.0 / double(micro_batches * ranks);
  static_cast<DpoMetrics&>(m) = {sum.loss * k,          sum.reward_chosen * k, sum.reward_rejected * k,
                                 sum.reward_accuracy * k, sum.reward_margin * k, sum.logp_chosen * k,
                                 sum.logp_rejected * k};
  m.grad_norm = out.grad_norm;
  m.skipped = out.skipped;
  ++state.step;
  const double dt = now_s() - t0;
  loop_->seconds += dt;
  m.step = state.step;
  m.lr = out.lr;
  if (order_) {
    state.data = order_->state();
    m.epoch = double(state.data.epoch) +
              double(state.data.position) / double(order_->batches_per_epoch() * o_.batch_size);
  }
  m.elapsed_s = loop_->seconds;
  m.pairs_per_s = double(pairs) / dt;
  m.mem_mb = detail::resident_mb();
  if (o_.eval_every > 0 && state.step % o_.eval_every == 0 && has_eval_set()) {
    m.eval = evaluate();
    m.evaluated = true;
  }
  return m;
}

void DpoTrainer::log(const DpoStepMetrics& m) {
  if (loop_->metrics.open()) {
    nlohmann::json j = {{"step", m.step}, {"epoch", m.epoch}};
    put(j, "", m);
    j["grad_norm"] = std::isfinite(m.grad_norm) ? nlohmann::json(m.grad_norm) : nlohmann::json(nullptr);
    j["learning_rate"] = m.lr;
    j["elapsed_s"] = m.elapsed_s;
    j["pairs_per_s"] = m.pairs_per_s;
    j["mem_mb"] = m.mem_mb;
    if (m.skipped) j["skipped"] = true;
    if (m.evaluated) put(j, "eval_", m.eval);
    loop_->metrics.write(j.dump());
  }
  char eval[96] = "", bar[160], line[192];
  if (m.evaluated)
    std::snprintf(eval, sizeof eval, " | eval loss %.4f acc %.2f margin %+.3f", m.eval.loss, m.eval.reward_accuracy,
                  m.eval.reward_margin);
  std::snprintf(bar, sizeof bar, "loss %.4f  acc %.2f  margin %+.3f  lr %.2e", m.loss, m.reward_accuracy,
                m.reward_margin, m.lr);
  std::snprintf(line, sizeof line, "loss %.4f acc %.2f margin %+.3f lr %.2e grad_norm %.3f %.1f pairs/s", m.loss,
                m.reward_accuracy, m.reward_margin, m.lr, m.grad_norm, m.pairs_per_s);
  loop_->progress.print(m.step, o_.steps, loop_->seconds_per_step(), bar, line, eval, m.evaluated);
}

int64_t DpoTrainer::run(const std::function<bool(const DpoStepMetrics&)>& also) {
  return loop_->run([&] {
    const DpoStepMetrics m = step();
    log(m);
    return (o_.on_step && !o_.on_step(m)) || (also && !also(m));
  });
}

void DpoTrainer::save() { loop_->save(); }

bool DpoTrainer::resume() {
  if (!loop_->resume(reference_id_)) return false;
  if (order_) order_->set_state(loop_->state.data);
  return true;
}

}  // namespace xla::train
