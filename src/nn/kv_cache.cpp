// kv_cache.cpp — the per-layer KV cache: in-place appends into preallocated buffers, rings
// for sliding-window layers, masks from stored positions, commit and rollback. See
// kv_cache.hpp for the design.
#include "xla/kv_cache.hpp"

#include <algorithm>
#include <string>

#include "parallel.hpp"  // src/tensor/kernels
#include "xla/autograd.hpp"

namespace xla {

KVCache::KVCache(std::vector<int64_t> windows, int64_t capacity) : capacity_(capacity) {
  if (capacity < 0) fail(Status::InvalidArg, "kv cache: capacity must be >= 0, got " + std::to_string(capacity));
  layers_.resize(windows.size());
  for (size_t l = 0; l < windows.size(); ++l) {
    if (windows[l] < 0)
      fail(Status::InvalidArg, "kv cache: layer " + std::to_string(l) + " has window " + std::to_string(windows[l]));
    layers_[l].window = windows[l];
  }
}

size_t KVCache::nbytes() const {
  size_t n = 0;
  for (const Layer& L : layers_)
    if (L.k.defined()) n += L.k.nbytes() + L.v.nbytes();
  return n;
}

std::unique_ptr<ModelState> KVCache::clone() const {
  if (pending_) fail(Status::InvalidArg, "KVCache::clone: a forward is under way");
  auto copy = std::make_unique<KVCache>();
  copy->layers_ = layers_;
  for (Layer& L : copy->layers_)
    if (L.k.defined()) {
      L.k = L.k.clone();
      L.v = L.v.clone();
    }
  copy->length_ = length_;
  copy->capacity_ = capacity_;
  copy->batch_heads_ = batch_heads_;
  return copy;
}

// Makes room for `needed` slots (global layers: positions 0 … needed - 1). Growth doubles,
// so a sequence that outlives its capacity pays an amortised copy per token, not a copy
// per step.
void KVCache::reserve(Layer& L, int64_t needed) {
  const int64_t want = L.window > 0 ? L.window : needed;
  if (L.slots >= want) return;
  int64_t slots = want;
  if (L.window == 0) slots = std::max({want, capacity_, L.slots * 2});
  const int64_t B = batch_heads_[0], KVH = batch_heads_[1], D = batch_heads_[2];
  // The slots kept are copied, the new ones zeroed (each byte written once): a compiled
  // step attends over unused slots too (masked), and 0 · NaN would not vanish.
  Tensor k = Tensor::empty({B, KVH, slots, D}), v = Tensor::empty({B, KVH, slots, D});
  if (L.slots > 0) {
    k.slice(2, 0, L.slots).copy_(L.k);
    v.slice(2, 0, L.slots).copy_(L.v);
  }
  k.slice(2, L.slots, slots).zero_();
  v.slice(2, L.slots, slots).zero_();
  L.k = k;
  L.v = v;
  L.pos.resize(size_t(slots), -1);
  L.slots = slots;
  ++generation_;
}

// Tokens [from, from + count) of k/v [B, KVH, T, D] into slots [slot, slot + count).
void KVCache::write(Layer& L, const Tensor& k, const Tensor& v, int64_t slot, int64_t from, int64_t count) {
  L.k.slice(2, slot, slot + count).copy_(k.slice(2, from, from + count));
  L.v.slice(2, slot, slot + count).copy_(v.slice(2, from, from + count));
}

// u8 [T, S]: query at position start + t may see a key at position kp[s] when
// kp[s] <= start + t and, with a window, start + t - kp[s] < window. Empty slots (-1) never.
static Tensor mask_from_positions(const int64_t* kp, int64_t S, int64_t start, int64_t T, int64_t window) {
  Tensor allowed = Tensor::empty({T, S}, DType::U8);
  uint8_t* m = allowed.data<uint8_t>();
  detail::parallel_for(T, std::max<int64_t>(1, detail::kElementwiseGrain / std::max<int64_t>(S, 1)),
                       [=](int64_t t0, int64_t t1) {
                         for (int64_t t = t0; t < t1; ++t) {
                           const int64_t q = start + t;
                           for (int64_t s = 0; s < S; ++s) {
                             const int64_t p = kp[s];
                             m[t * S + s] = p >= 0 && p <= q && (window == 0 || q - p < window);
                           }
                         }
                       });
  return allowed;
}

Tensor KVCache::mask_for(const int64_t* kp, int64_t S, int64_t start, int64_t T, int64_t window) {
  for (const StepMask& m : step_masks_)
    if (m.window == window && m.start == start && m.T == T && int64_t(m.positions.size()) == S &&
        std::equal(m.positions.begin(), m.positions.end(), kp))
      return m.allowed;
  Tensor allowed = mask_from_positions(kp, S, start, T, window);
  step_masks_.push_back({window, start, T, std::vector<int64_t>(kp, kp + S), allowed});
  return allowed;
}

KVCache::Span KVCache::append(int64_t layer, const Tensor& k_in, const Tensor& v_in, bool differentiable) {
  if (layer < 0 || layer >= num_layers())
    fail(Status::InvalidArg, "kv cache: layer " + std::to_string(layer) + " of " + std::to_string(num_layers()));
  if (!k_in.defined() || !v_in.defined() || k_in.ndim() != 4 || !(k_in.shape() == v_in.shape()))
    fail(Status::Shape, "kv cache: k and v must be the same [B, KVH, T, D], got " +
                            (k_in.defined() ? k_in.shape().str() : "none") + " and " +
                            (v_in.defined() ? v_in.shape().str() : "none"));
  const Shape& s = k_in.shape();
  const Shape bhd{s[0], s[1], s[3]};
  if (batch_heads_.size() == 0) batch_heads_ = bhd;
  if (!(bhd == batch_heads_))
    fail(Status::Shape, "kv cache: new keys " + s.str() + " do not fit the cache's [B, KVH, D] " + batch_heads_.str());
  const int64_t T = s[2];
  if (T < 1) fail(Status::Shape, "kv cache: no new tokens");
  Layer& L = layers_[size_t(layer)];
  if (L.appended) fail(Status::InvalidArg, "kv cache: layer " + std::to_string(layer) + " appended twice before commit");
  if (pending_ != 0 && pending_ != T)
    fail(Status::Shape, "kv cache: layers appended with " + std::to_string(pending_) + " and " + std::to_string(T) +
                            " tokens in one step");

  const int64_t start = length_;
  reserve(L, start + T);
  const Tensor k = detach(k_in), v = detach(v_in);  // what the buffers keep: values, no history
  Span span;
  if (L.window == 0) {
    // Global: the new tokens go to their own slots past the committed ones (rollback only
    // has to leave length_ where it is).
    write(L, k, v, start, 0, T);
    for (int64_t t = 0; t < T; ++t) L.pos[size_t(start + t)] = start + t;
    if (differentiable) {
      span.k = start == 0 ? k_in : ag::concat({L.k.slice(2, 0, start), k_in}, 2);
      span.v = start == 0 ? v_in : ag::concat({L.v.slice(2, 0, start), v_in}, 2);
    } else {
      span.k = L.k.slice(2, 0, start + T);
      span.v = L.v.slice(2, 0, start + T);
    }
    span.allowed = mask_for(L.pos.data(), start + T, start, T, 0);
  } else if (T == 1 && !differentiable) {
    // One token into a ring: its slot holds position start - window, which no query from
    // now on can see, so writing before commit loses nothing even if the step fails.
    const int64_t slot = start % L.window, used = std::min(start + 1, L.window);
    L.saved_slot = slot;
    L.saved_pos = L.pos[size_t(slot)];
    write(L, k, v, slot, 0, 1);
    L.pos[size_t(slot)] = start;
    span.k = L.k.slice(2, 0, used);
    span.v = L.v.slice(2, 0, used);
    span.allowed = mask_for(L.pos.data(), used, start, 1, L.window);
  } else {
    // Several tokens into a ring: the early ones must still see entries the later ones
    // would overwrite, so attention reads the ring and the new tokens side by side and the
    // ring is written at commit.
    const int64_t used = std::min(start, L.window);
    span.k = used == 0 ? k_in : ag::concat({L.k.slice(2, 0, used), k_in}, 2);
    span.v = used == 0 ? v_in : ag::concat({L.v.slice(2, 0, used), v_in}, 2);
    std::vector<int64_t> kp(L.pos.begin(), L.pos.begin() + used);
    for (int64_t t = 0; t < T; ++t) kp.push_back(start + t);
    span.allowed = mask_for(kp.data(), int64_t(kp.size()), start, T, L.window);
    L.pending_k = k;
    L.pending_v = v;
  }
  L.appended = true;
  pending_ = T;
  return span;
}

void KVCache::begin_step(int64_t span) {
  if (length_ == 0 || batch_heads_.size() == 0)
    fail(Status::InvalidArg, "kv cache: a compiled step needs a cache holding a token");
  if (pending_ != 0) fail(Status::InvalidArg, "kv cache: a step is already under way");
  const int64_t start = length_;
  if (span <= start)
    fail(Status::InvalidArg, "kv cache: a step at position " + std::to_string(start) + " needs a span past it, got " +
                                 std::to_string(span));
  pending_ = 1;  // first: a rollback then undoes whatever of the loop ran
  for (Layer& L : layers_) {
    reserve(L, span);
    if (L.window == 0) {
      L.pos[size_t(start)] = start;
    } else {  // the slot of the position that just left the window, as append() of one token
      const int64_t slot = start % L.window;
      L.saved_slot = slot;
      L.saved_pos = L.pos[size_t(slot)];
      L.pos[size_t(slot)] = start;
    }
    L.appended = true;
  }
}

int64_t KVCache::step_slot(int64_t layer) const {
  const Layer& L = layers_.at(size_t(layer));
  return L.window == 0 ? length_ : length_ % L.window;
}

void KVCache::step_mask(int64_t layer, int64_t extent, uint8_t* out) const {
  const Layer& L = layers_.at(size_t(layer));
  if (extent > L.slots)
    fail(Status::InvalidArg,
         "kv cache: a mask over " + std::to_string(extent) + " slots of a layer holding " + std::to_string(L.slots));
  const int64_t q = length_;
  for (int64_t s = 0; s < extent; ++s) {
    const int64_t p = L.pos[size_t(s)];
    out[s] = p >= 0 && p <= q && (L.window == 0 || q - p < L.window);
  }
}

void KVCache::commit() {
  if (pending_ == 0) return;
  for (size_t l = 0; l < layers_.size(); ++l)
    if (!layers_[l].appended)
      fail(Status::InvalidArg, "kv cache: commit with layer " + std::to_string(l) + " not appended");
  const int64_t T = pending_, end = length_ + T;
  for (Layer& L : layers_) {
    if (L.pending_k.defined()) {
      // The last min(T, window) tokens stay; position p lives in slot p % window, written in
      // at most two runs (before and after the ring wraps).
      const int64_t keep = std::min(T, L.window);
      for (int64_t p = end - keep; p < end;) {
        const int64_t slot = p % L.window, run = std::min(end - p, L.window - slot);
        write(L, L.pending_k, L.pending_v, slot, p - length_, run);
        for (int64_t i = 0; i < run; ++i) L.pos[size_t(slot + i)] = p + i;
        p += run;
      }
    }
    L.pending_k = L.pending_v = Tensor();
    L.saved_slot = L.saved_pos = -1;
    L.appended = false;
  }
  length_ = end;
  pending_ = 0;
  step_masks_.clear();
}

void KVCache::rollback() {
  for (Layer& L : layers_) {
    if (L.appended && L.window == 0)
      for (int64_t p = length_; p < length_ + pending_ && p < L.slots; ++p) L.pos[size_t(p)] = -1;
    if (L.saved_slot >= 0) L.pos[size_t(L.saved_slot)] = L.saved_pos;  // that position is out of every window
    L.pending_k = L.pending_v = Tensor();
    L.saved_slot = L.saved_pos = -1;
    L.appended = false;
  }
  pending_ = 0;
  step_masks_.clear();
  if (length_ == 0) batch_heads_ = Shape{};  // nothing kept: the next forward may bring another shape
}

}  // namespace xla
