// engine.cpp — the serving engine: requests in, the iteration-level scheduler, one batched
// forward per step, tokens out.
//
// A sequence is its tokens (prompt, then output) and how many of them are in the cache
// (`computed`). Each step feeds every running sequence the tokens it has not computed yet —
// one for a decoding sequence, a chunk for one still in its prompt — within a token budget,
// oldest first, then admits waiting requests into what is left (chunked prefill: a long
// prompt takes several steps and never holds running sequences back for more than one
// chunk). A sequence whose last token was fed gets logits and samples its next token.
// Out of blocks, the newest running sequence is preempted: its blocks go back (to the
// prefix cache, when published) and it waits at the head of the queue to be recomputed.
//
// A model without attention (Mamba) has no KV blocks: each running sequence holds a state
// slot instead (the model's ModelState, constant-size), made at admission and dropped at the
// end; its chunks run one forward each, on a copy of the state that replaces it only once
// every forward of the step has succeeded. There is no prefix cache for such a model.
#include "xla/engine.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <mutex>
#include <numeric>
#include <unordered_set>

#include "block_pool.hpp"
#include "gemm.hpp"
#include "kv_pages.hpp"
#include "xla/gemma.hpp"
#include "xla/autograd.hpp"

namespace xla {

using serve::BlockKey;
using serve::BlockPool;
using serve::KVPages;

namespace {

constexpr int kGlobal = 0, kSliding = 1;  // layer groups: each has its own blocks and tables

struct Sequence {
  uint64_t id = 0;
  EngineRequest request;
  Sampler sampler;
  std::vector<int32_t> tokens;    // the prompt, then the output
  int64_t computed = 0;           // leading tokens whose keys and values are in the cache
  int32_t generated = 0;
  std::vector<int32_t> table[2];  // per group: block index → block, -1 = not held
  std::vector<uint64_t> key_hash; // the prefix-cache key of each full block so far
  std::unique_ptr<ModelState> state;  // a model without attention: its state slot
  explicit Sequence(const EngineRequest& r) : request(r), sampler(r.generation.sampler), tokens(r.prompt) {}
};

// One sequence's part of a step: tokens[start, start + count), logits for the last if wanted.
struct Chunk {
  Sequence* seq;
  int64_t start, count;
  bool logits;
};

}  // namespace

struct Engine::Impl {
  const Model& model;
  const GemmaModel* paged = nullptr;  // the attention model (paged KV); null: state slots
  EngineOptions opt;
  int64_t context = 0, window = 0, bs = 0;
  bool has_sliding = false;
  std::vector<int> group, index_in_group;  // per layer
  std::unique_ptr<BlockPool> pool[2];
  std::unique_ptr<KVPages> pages[2];

  // the stepping thread's state
  std::vector<std::unique_ptr<Sequence>> running;  // oldest first
  std::deque<std::unique_ptr<Sequence>> waiting;   // FIFO
  std::vector<EngineEvent> carried;                // events of a step whose forward threw
  std::vector<uint64_t> ended;                     // ids finished this step
  int64_t prefix_reused = 0, steps = 0, generated = 0, preemptions = 0;

  // shared with submit(), cancel() and stats()
  mutable std::mutex mu;
  std::deque<std::unique_ptr<Sequence>> inbox;
  std::unordered_set<uint64_t> live, cancels;
  uint64_t next_id = 1;
  EngineStats shown;

  Impl(const Model& m, const EngineOptions& o);
  void run_stateful(const std::vector<Chunk>& plan, std::vector<EngineEvent>& events);
  void finish(const std::vector<Chunk>& plan, const Tensor& logits, std::vector<EngineEvent>& events);
  void release_all(Sequence& s);
  bool grow(Sequence& s, int64_t upto);
  int64_t match_prefix(Sequence& s);
  void preempt_newest();
  std::vector<Chunk> schedule();
  void run(const std::vector<Chunk>& plan, std::vector<EngineEvent>& events);
  void commit(Sequence& s, int64_t count);
  bool sample(Sequence& s, const float* logits, std::vector<EngineEvent>& events);
  void cancel(const std::unordered_set<uint64_t>& ids, std::vector<EngineEvent>& events);
  void publish();
};

Engine::Impl::Impl(const Model& model_, const EngineOptions& o)
    : model(model_), paged(dynamic_cast<const GemmaModel*>(&model_)), opt(o) {
  auto bad = [](const std::string& msg) { fail(Status::InvalidArg, "Engine", msg); };
  if (opt.max_seqs < 1) bad("max_seqs must be at least 1, got " + std::to_string(opt.max_seqs));
  if (opt.max_batch_tokens < 1) bad("max_batch_tokens must be at least 1, got " + std::to_string(opt.max_batch_tokens));
  if (opt.kv_tokens < 0) bad("kv_tokens must not be negative, got " + std::to_string(opt.kv_tokens));
  if (opt.max_queue < 1) bad("max_queue must be at least 1, got " + std::to_string(opt.max_queue));
  if (opt.block_tokens < 1 || opt.block_tokens > 1024)
    bad("block_tokens must be in [1, 1024], got " + std::to_string(opt.block_tokens));
  if (opt.max_context < 0) bad("max_context must not be negative, got " + std::to_string(opt.max_context));
  if (opt.kv_dtype != DType::F32 && opt.kv_dtype != DType::BF16)
    bad(std::string("kv_dtype must be f32 or bf16, not ") + dtype_name(opt.kv_dtype));
  bs = opt.block_tokens;
  const int64_t wanted_context = opt.max_context > 0 ? opt.max_context : model.context_length();
  if (!paged) {  // state slots: no blocks, no prefix cache
    opt.prefix_cache = false;
    context = wanted_context;
    if (context < 2) bad("a context of " + std::to_string(context) + " tokens leaves no room for output");
    publish();
    return;
  }
  const GemmaModel& m = *paged;
  const GemmaConfig& c = m.config;
  if (m.layers.empty() || int64_t(c.sliding.size()) != int64_t(m.layers.size())) bad("the model has no layers");
  const int64_t kv_tokens = opt.kv_tokens > 0 ? opt.kv_tokens : int64_t(opt.max_seqs) * wanted_context;
  const int64_t global_blocks = (kv_tokens + bs - 1) / bs;
  context = std::min(wanted_context, global_blocks * bs);  // one sequence alone always fits
  if (context < 2) bad("a context of " + std::to_string(context) + " tokens leaves no room for output");

  int64_t n[2] = {0, 0};
  for (size_t l = 0; l < m.layers.size(); ++l) {
    group.push_back(c.sliding[l] ? kSliding : kGlobal);
    index_in_group.push_back(int(n[group.back()]++));
  }
  has_sliding = n[kSliding] > 0;
  window = has_sliding ? c.sliding_window : 0;
  // Every sequence holds global blocks for all its tokens (the capacity is counted there).
  // A sliding layer needs at most the window before a chunk plus the chunk; twice the
  // window on top keeps recent blocks findable for prefix reuse.
  const int64_t sliding_blocks =
      has_sliding ? int64_t(opt.max_seqs) * ((2 * window + opt.max_batch_tokens) / bs + 3) : 0;
  const int64_t blocks[2] = {global_blocks, sliding_blocks};
  for (int g : {kGlobal, kSliding}) {
    pool[g] = std::make_unique<BlockPool>(blocks[g]);
    pages[g] = std::make_unique<KVPages>(n[g] ? blocks[g] : 0, n[g], c.num_kv_heads, bs, c.head_dim, opt.kv_dtype);
  }
  publish();
}

void Engine::Impl::release_all(Sequence& s) {
  s.state.reset();
  s.computed = 0;
  if (!paged) return;
  for (int g : {kGlobal, kSliding}) {
    for (int32_t b : s.table[g])
      if (b >= 0) pool[g]->release(b);
    s.table[g].clear();
  }
  s.key_hash.clear();
  s.computed = 0;
}

// Holds the blocks that tokens [computed, upto) are written to; false when the pool is out.
bool Engine::Impl::grow(Sequence& s, int64_t upto) {
  if (!paged) {
    if (!s.state) s.state = model.new_state();
    return true;
  }
  const size_t need = size_t((upto + bs - 1) / bs);
  while (s.table[kGlobal].size() < need) {
    const int64_t b = pool[kGlobal]->allocate();
    if (b < 0) return false;
    s.table[kGlobal].push_back(int32_t(b));
  }
  if (has_sliding) {
    std::vector<int32_t>& t = s.table[kSliding];
    t.resize(std::max(t.size(), need), -1);
    const size_t first = size_t(std::max<int64_t>(0, s.computed - window + 1) / bs);  // the first block a query sees
    for (size_t b = first; b < need; ++b)
      if (t[b] < 0) {
        const int64_t x = pool[kSliding]->allocate();
        if (x < 0) return false;
        t[b] = int32_t(x);
      }
  }
  return true;
}

// Takes the longest run of leading full blocks published in both groups (the sliding group
// only needs the blocks in the window before the first new token). At least one prompt
// token is always left to compute: it gives the logits. Returns the tokens reused.
int64_t Engine::Impl::match_prefix(Sequence& s) {
  const int64_t full = (int64_t(s.tokens.size()) - 1) / bs;
  std::vector<BlockKey> keys;
  uint64_t parent = 0;
  for (int64_t b = 0; b < full; ++b) {
    keys.push_back(serve::block_key(parent, s.tokens.data() + b * bs, bs));
    if (pool[kGlobal]->find(keys.back()) < 0) {
      keys.pop_back();
      break;
    }
    parent = keys.back().hash;
  }
  int64_t k = int64_t(keys.size());
  auto first_seen = [&](int64_t blocks) { return std::max<int64_t>(0, blocks * bs - window + 1) / bs; };
  if (has_sliding)
    for (; k > 0; --k) {
      bool all = true;
      for (int64_t b = first_seen(k); b < k && all; ++b) all = pool[kSliding]->find(keys[size_t(b)]) >= 0;
      if (all) break;
    }
  for (int64_t b = 0; b < k; ++b) {
    const int64_t x = pool[kGlobal]->find(keys[size_t(b)]);
    pool[kGlobal]->retain(x);
    s.table[kGlobal].push_back(int32_t(x));
    s.key_hash.push_back(keys[size_t(b)].hash);
  }
  if (has_sliding && k > 0) {
    s.table[kSliding].assign(size_t(k), -1);
    for (int64_t b = first_seen(k); b < k; ++b) {
      const int64_t x = pool[kSliding]->find(keys[size_t(b)]);
      pool[kSliding]->retain(x);
      s.table[kSliding][size_t(b)] = int32_t(x);
    }
  }
  s.computed = k * bs;
  return s.computed;
}

void Engine::Impl::preempt_newest() {
  std::unique_ptr<Sequence> s = std::move(running.back());
  running.pop_back();
  release_all(*s);
  waiting.push_front(std::move(s));  // it came before everything still waiting
  ++preemptions;
}

std::vector<Chunk> Engine::Impl::schedule() {
  std::vector<Chunk> plan;
  int64_t budget = opt.max_batch_tokens;
  // running sequences first, oldest first: decodes and the rest of admitted prompts
  for (size_t r = 0; r < running.size() && budget > 0; ++r) {
    Sequence* s = running[r].get();
    const int64_t n = std::min<int64_t>(int64_t(s->tokens.size()) - s->computed, budget);
    bool preempted_self = false;
    while (!grow(*s, s->computed + n)) {
      preempted_self = running.back().get() == s;
      preempt_newest();
      if (preempted_self) break;
    }
    if (preempted_self) break;
    plan.push_back({s, s->computed, n, s->computed + n == int64_t(s->tokens.size())});
    budget -= n;
  }
  // then waiting requests, in order, while there is room
  while (budget > 0 && int64_t(running.size()) < opt.max_seqs && !waiting.empty()) {
    Sequence& s = *waiting.front();
    const int64_t reused = opt.prefix_cache ? match_prefix(s) : 0;
    const int64_t n = std::min<int64_t>(int64_t(s.tokens.size()) - s.computed, budget);
    if (!grow(s, s.computed + n)) {  // not enough free blocks: it waits, and so do those behind it
      release_all(s);
      break;
    }
    prefix_reused += reused;
    plan.push_back({&s, s.computed, n, s.computed + n == int64_t(s.tokens.size())});
    budget -= n;
    running.push_back(std::move(waiting.front()));
    waiting.pop_front();
  }
  return plan;
}

// The tokens of the step's chunks are now in the cache: publish the blocks they filled and
// let go of sliding blocks that no later query can see.
void Engine::Impl::commit(Sequence& s, int64_t count) {
  s.computed += count;
  if (!paged) return;
  if (opt.prefix_cache)
    for (int64_t b = int64_t(s.key_hash.size()); b < s.computed / bs; ++b) {
      const BlockKey key = serve::block_key(b ? s.key_hash[size_t(b - 1)] : 0, s.tokens.data() + b * bs, bs);
      pool[kGlobal]->publish(s.table[kGlobal][size_t(b)], key);
      if (has_sliding && s.table[kSliding][size_t(b)] >= 0) pool[kSliding]->publish(s.table[kSliding][size_t(b)], key);
      s.key_hash.push_back(key.hash);
    }
  if (has_sliding) {
    const size_t first = size_t(std::max<int64_t>(0, s.computed - window + 1) / bs);
    for (size_t b = 0; b < first && b < s.table[kSliding].size(); ++b)
      if (s.table[kSliding][b] >= 0) {
        pool[kSliding]->release(s.table[kSliding][b]);
        s.table[kSliding][b] = -1;
      }
  }
}

// Draws the sequence's next token from its logits; true when the request is finished.
bool Engine::Impl::sample(Sequence& s, const float* logits, std::vector<EngineEvent>& events) {
  const int64_t V = model.vocab_size();
  const EngineRequest& r = s.request;
  EngineEvent e;
  e.id = s.id;
  e.token = s.sampler.sample(logits, V, s.tokens.data(), s.tokens.size());
  if (r.logprobs || r.top_logprobs > 0) {
    const float mx = *std::max_element(logits, logits + V);
    double sum = 0;
    for (int64_t i = 0; i < V; ++i) sum += std::exp(double(logits[i]) - mx);
    const double lse = mx + std::log(sum);
    e.logprob = float(logits[e.token] - lse);
    if (r.top_logprobs > 0) {
      std::vector<int32_t> ids(static_cast<size_t>(V));
      std::iota(ids.begin(), ids.end(), 0);
      const size_t k = std::min<size_t>(size_t(r.top_logprobs), ids.size());
      std::partial_sort(ids.begin(), ids.begin() + ptrdiff_t(k), ids.end(),
                        [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
      for (size_t i = 0; i < k; ++i) e.top.emplace_back(ids[i], float(logits[ids[i]] - lse));
    }
  }
  if (r.keep_logits) e.logits.assign(logits, logits + V);
  s.tokens.push_back(e.token);
  ++s.generated;
  ++generated;
  const std::vector<int32_t>& stops = r.generation.stop_ids;
  if (std::find(stops.begin(), stops.end(), e.token) != stops.end()) e.finish = Finish::Stop;
  else if (s.generated >= r.generation.max_new_tokens || int64_t(s.tokens.size()) >= context) e.finish = Finish::Length;
  const bool done = e.finish != Finish::None;
  events.push_back(std::move(e));
  return done;
}

void Engine::Impl::run(const std::vector<Chunk>& plan, std::vector<EngineEvent>& events) {
  if (!paged) return run_stateful(plan, events);
  const GemmaModel& model = *paged;
  const GemmaConfig& c = model.config;
  std::vector<int32_t> ids;
  std::vector<int64_t> pos, rows;
  std::vector<const int32_t*> tables[2];
  for (const Chunk& ch : plan) {
    for (int64_t j = 0; j < ch.count; ++j) {
      ids.push_back(ch.seq->tokens[size_t(ch.start + j)]);
      pos.push_back(ch.start + j);
      for (int g : {kGlobal, kSliding}) tables[g].push_back(ch.seq->table[g].data());
    }
    if (ch.logits) rows.push_back(int64_t(ids.size()) - 1);
  }
  const int64_t N = int64_t(ids.size()), H = c.num_heads, D = c.head_dim;
  const float scale = 1.f / std::sqrt(c.query_pre_attn_scalar);
  NoGradGuard no_grad;
  detail::RowInvariantGemm row_invariant(opt.batch_invariant);
  auto attend = [&](int64_t layer, const Tensor& q, const Tensor& k, const Tensor& v) {
    const int g = group[size_t(layer)], li = index_in_group[size_t(layer)];
    const KVPages::Tokens t{N, pos.data(), tables[g].data()};
    const Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();  // [1, heads, N, D]
    pages[g]->write(li, t, kc.data<float>(), vc.data<float>());
    Tensor out = Tensor::empty({1, H, N, D});
    pages[g]->attend(li, t, qc.data<float>(), H, g == kSliding ? window : 0, scale, c.attn_softcap, out.data<float>());
    return out;
  };
  Tensor h = model.decoder(Tensor::from_data(ids.data(), {1, N}, DType::I32),
                           Tensor::from_data(pos.data(), {N}, DType::I64), attend);  // [1, N, C]
  Tensor logits;
  if (!rows.empty()) {
    const Tensor last = ag::index_select(h, 1, Tensor::from_data(rows.data(), {int64_t(rows.size())}, DType::I64));
    logits = nn::linear(nn::rms_norm(last, model.norm, c.rms_norm_eps), model.head_weight());
    if (c.final_softcap > 0) logits = nn::softcap(logits, c.final_softcap);
    logits = logits.contiguous();  // [1, rows, V]
  }
  finish(plan, logits, events);
}

// One forward per chunk, each on a copy of its sequence's state: the copies replace the
// states only when all forwards succeeded, so a step that throws changes nothing.
void Engine::Impl::run_stateful(const std::vector<Chunk>& plan, std::vector<EngineEvent>& events) {
  NoGradGuard no_grad;
  detail::RowInvariantGemm row_invariant(opt.batch_invariant);
  std::vector<std::unique_ptr<ModelState>> next;
  std::vector<Tensor> rows;
  for (const Chunk& ch : plan) {
    next.push_back(ch.seq->state->length() ? ch.seq->state->clone() : model.new_state());
    const int32_t* first = ch.seq->tokens.data() + ch.start;
    const Tensor ids = Tensor::from_data(first, {1, ch.count}, DType::I32);
    if (ch.logits) rows.push_back(model.forward(ids, next.back().get(), nullptr, /*last_only=*/true));  // [1, 1, V]
    else model.final_hidden(ids, next.back().get(), nullptr, /*last_only=*/true);
  }
  const Tensor logits = rows.empty() ? Tensor() : ag::concat(rows, 1).contiguous();  // [1, rows, V]
  for (size_t i = 0; i < plan.size(); ++i) plan[i].seq->state = std::move(next[i]);
  finish(plan, logits, events);
}

// The step's forward succeeded: commit every chunk, sample where logits were asked for, and
// retire the sequences that finished.
void Engine::Impl::finish(const std::vector<Chunk>& plan, const Tensor& logits, std::vector<EngineEvent>& events) {
  // from here on nothing throws but a bug
  ++steps;
  size_t row = 0;
  std::vector<Sequence*> done;
  for (const Chunk& ch : plan) {
    commit(*ch.seq, ch.count);
    if (ch.logits && sample(*ch.seq, logits.data<float>() + int64_t(row++) * model.vocab_size(), events))
      done.push_back(ch.seq);
  }
  for (Sequence* s : done) {
    release_all(*s);
    ended.push_back(s->id);
    running.erase(std::find_if(running.begin(), running.end(), [&](const auto& p) { return p.get() == s; }));
  }
}

void Engine::Impl::cancel(const std::unordered_set<uint64_t>& ids, std::vector<EngineEvent>& events) {
  auto end = [&](auto& list) {
    for (auto it = list.begin(); it != list.end();) {
      if (!ids.count((*it)->id)) {
        ++it;
        continue;
      }
      release_all(**it);
      EngineEvent e;
      e.id = (*it)->id;
      e.finish = Finish::Cancelled;
      events.push_back(std::move(e));
      ended.push_back((*it)->id);
      it = list.erase(it);
    }
  };
  end(running);
  end(waiting);
}

// What other threads see: the live ids and the stats.
void Engine::Impl::publish() {
  std::lock_guard<std::mutex> lock(mu);
  for (uint64_t id : ended) live.erase(id);
  ended.clear();
  shown.running = int64_t(running.size());
  shown.waiting = int64_t(waiting.size());
  shown.kv_tokens_used = paged ? pool[kGlobal]->held() * bs : 0;
  shown.kv_tokens_capacity = paged ? pool[kGlobal]->size() * bs : 0;
  shown.prefix_tokens_reused = prefix_reused;
  shown.steps = steps;
  shown.tokens_generated = generated;
  shown.preemptions = preemptions;
  if (paged) {
    shown.kv_bytes = pages[kGlobal]->nbytes() + pages[kSliding]->nbytes();
  } else {  // the state slots held
    shown.kv_bytes = 0;
    for (const auto& s : running)
      if (s->state) shown.kv_bytes += s->state->nbytes();
  }
}

Engine::Engine(const Model& model, const EngineOptions& options) : impl_(std::make_unique<Impl>(model, options)) {}
Engine::~Engine() = default;

uint64_t Engine::submit(const EngineRequest& r) {
  Impl& m = *impl_;
  auto bad = [](const std::string& msg) { fail(Status::InvalidArg, "Engine::submit", msg); };
  const int64_t n = int64_t(r.prompt.size()), V = m.model.vocab_size();
  if (n == 0) bad("empty prompt");
  if (n >= m.context)
    bad("a prompt of " + std::to_string(n) + " tokens does not fit the context of " + std::to_string(m.context) +
        " (prompt and output together)");
  for (int64_t i = 0; i < n; ++i)
    if (r.prompt[size_t(i)] < 0 || r.prompt[size_t(i)] >= V)
      bad("prompt[" + std::to_string(i) + "] = " + std::to_string(r.prompt[size_t(i)]) + " is outside the vocabulary [0, " +
          std::to_string(V) + ")");
  if (r.generation.max_new_tokens < 1)
    bad("max_new_tokens must be at least 1, got " + std::to_string(r.generation.max_new_tokens));
  if (r.top_logprobs < 0 || r.top_logprobs > 20) bad("top_logprobs must be in [0, 20], got " + std::to_string(r.top_logprobs));
  auto seq = std::make_unique<Sequence>(r);  // the sampler validates its parameters
  std::lock_guard<std::mutex> lock(m.mu);
  if (int64_t(m.inbox.size()) + m.shown.waiting >= m.opt.max_queue)
    fail(Status::Busy, "Engine::submit", "the queue is full (" + std::to_string(m.opt.max_queue) + " waiting requests)");
  seq->id = m.next_id++;
  m.live.insert(seq->id);
  m.inbox.push_back(std::move(seq));
  return m.next_id - 1;
}

void Engine::cancel(uint64_t id) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  if (!m.live.count(id)) fail(Status::InvalidArg, "Engine::cancel", "request " + std::to_string(id) + " is unknown or finished");
  m.cancels.insert(id);
}

std::vector<EngineEvent> Engine::step() {
  Impl& m = *impl_;
  std::vector<EngineEvent> events = std::move(m.carried);
  m.carried.clear();
  std::unordered_set<uint64_t> cancels;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    for (auto& s : m.inbox) m.waiting.push_back(std::move(s));
    m.inbox.clear();
    m.shown.waiting = int64_t(m.waiting.size());  // submit() counts the queue from here on
    cancels.swap(m.cancels);
  }
  if (!cancels.empty()) m.cancel(cancels, events);
  const std::vector<Chunk> plan = m.schedule();
  m.publish();  // the queue as admitted: what submit() sees while the forward runs
  if (!plan.empty()) {
    try {
      m.run(plan, events);
    } catch (...) {  // nothing was committed: the requests are as before; keep the events
      m.carried = std::move(events);
      m.publish();
      throw;
    }
  }
  m.publish();
  return events;
}

bool Engine::idle() const {
  const Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  return m.shown.running == 0 && m.shown.waiting == 0 && m.inbox.empty() && m.cancels.empty();
}

EngineStats Engine::stats() const {
  const Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  EngineStats s = m.shown;
  s.waiting += int64_t(m.inbox.size());
  return s;
}

int64_t Engine::max_context() const { return impl_->context; }
const EngineOptions& Engine::options() const { return impl_->opt; }

}  // namespace xla
