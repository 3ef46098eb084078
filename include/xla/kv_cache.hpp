// kv_cache.hpp — the keys and values of past positions, per layer, for incremental decoding.
// Not a paged cache for many sequences (that is the serving engine's): one batch of
// sequences that advance together, as a Session or a training-free forward uses it.
//
// Design (written here because every reader of forward() needs it):
// - Buffers are allocated once, zeroed, and written in place: no concat per token, no
//   allocation per step. A global layer appends into [B, KVH, capacity, D] and grows by doubling only when a
//   sequence outlives the capacity it was made with (give the capacity up front to avoid it).
// - A sliding-window layer is a ring of `window` slots: the window - 1 positions a new token
//   can still see, plus that token. A long sequence costs those layers nothing more.
// - Each slot records its absolute position, so RoPE'd keys stay valid wherever they sit and
//   the attention mask comes from positions, not from slot order.
// - A forward extends the cache as a transaction: append() per layer puts the new keys where
//   attention reads them and returns what to attend over; commit() makes them part of the
//   cache; rollback() (a forward that failed half-way) leaves it as it was, copying nothing.
//   Ring writes that could destroy a visible entry wait for commit(); a single new token in a
//   ring overwrites only the slot of the position that just left the window.
#pragma once
#include <cstdint>
#include <vector>

#include "xla/model.hpp"
#include "xla/tensor.hpp"

namespace xla {

class KVCache : public ModelState {
 public:
  KVCache() = default;
  // windows: one entry per layer, 0 for a global layer, else the sliding window (the number
  // of positions a query sees, itself included; >= 1). capacity: the tokens a global layer
  // holds before it must grow (0: it starts with what the first forward needs).
  explicit KVCache(std::vector<int64_t> windows, int64_t capacity = 0);

  // The buffers are shared by copies of a handle, so copying a cache would alias it: move it,
  // or make a new one.
  KVCache(const KVCache&) = delete;
  KVCache& operator=(const KVCache&) = delete;
  KVCache(KVCache&&) = default;
  KVCache& operator=(KVCache&&) = default;

  int64_t length() const override { return length_; }  // committed tokens: the next position
  int64_t num_layers() const { return int64_t(layers_.size()); }
  int64_t window(int64_t layer) const { return layers_.at(size_t(layer)).window; }
  // Slots allocated for a layer (0 before the first forward): the ring size for a window
  // layer, the current capacity for a global one.
  int64_t slots(int64_t layer) const { return layers_.at(size_t(layer)).slots; }
  size_t nbytes() const override;  // memory held by the buffers
  // A copy with buffers of its own (nothing pending).
  std::unique_ptr<ModelState> clone() const override;

  // What one layer's attention reads for the new tokens.
  struct Span {
    Tensor k, v;     // [B, KVH, S, D]: the visible past and the new tokens, in some slot order
    Tensor allowed;  // u8 [T, S]: new token t may attend to key s (causal, within the window)
  };
  // k, v: the new tokens' keys and values [B, KVH, T, D] (after RoPE), at positions
  // length() … length() + T - 1. differentiable: gradients must flow back into k and v (and
  // into the queries that will read the result): the span is then built by concatenation,
  // never as a view of buffers that a later step overwrites. Every layer is appended once,
  // with the same T, before commit() or rollback(). Status::Shape when k and v disagree with
  // each other or with what the cache already holds.
  Span append(int64_t layer, const Tensor& k, const Tensor& v, bool differentiable = false);
  void commit();    // the pending tokens join the cache: length() grows by T
  void rollback();  // forgets the pending tokens: the cache is as before the appends
  int64_t pending() const { return pending_; }

  // A compiled one-token step (Model::compile_decode) writes the new token's keys and values
  // itself, with index_copy_ into keys()/values() at step_slot(), and attends over the
  // first `span` slots of a layer (of a window layer's ring, at most all of it: position p
  // sits in slot p % window) under step_mask(): one graph then serves every position below
  // span. begin_step() opens such a step for the token at length(), as append() would
  // (close it with commit() or rollback()); every global layer then has at least `span`
  // slots, all finite (unused slots hold zeros, which the mask hides). The cache must
  // already hold a token.
  void begin_step(int64_t span);
  int64_t step_slot(int64_t layer) const;
  // u8 [extent]: which of the layer's first `extent` slots the token at length() may see.
  void step_mask(int64_t layer, int64_t extent, uint8_t* out) const;
  // A layer's buffers [B, KVH, slots, D]; replaced (and generation() changed) when they grow.
  const Tensor& keys(int64_t layer) const { return layers_.at(size_t(layer)).k; }
  const Tensor& values(int64_t layer) const { return layers_.at(size_t(layer)).v; }
  uint64_t generation() const { return generation_; }

  // Commits on done(), rolls back if destroyed before: wrap a forward in one.
  class Transaction {
   public:
    explicit Transaction(KVCache* cache) : cache_(cache) {}
    ~Transaction() {
      if (cache_) cache_->rollback();
    }
    void done() {
      if (cache_) cache_->commit();
      cache_ = nullptr;
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

   private:
    KVCache* cache_;
  };

 private:
  struct Layer {
    int64_t window = 0;  // 0 = global
    int64_t slots = 0;   // allocated along the sequence axis
    Tensor k, v;         // [B, KVH, slots, D] f32
    std::vector<int64_t> pos;  // [slots]: the absolute position in each slot, -1 = empty
    bool appended = false;     // appended in the open transaction
    Tensor pending_k, pending_v;  // window layers, T > 1: the new tokens, written at commit
    int64_t saved_slot = -1, saved_pos = -1;  // window layers, T == 1: the slot overwritten
  };
  void reserve(Layer& L, int64_t needed);  // batch_heads_ known
  // The open transaction's masks: layers of one kind see the same key positions, so each
  // distinct mask is built once a step, not once a layer.
  struct StepMask {
    int64_t window, start, T;
    std::vector<int64_t> positions;
    Tensor allowed;
  };
  std::vector<StepMask> step_masks_;
  Tensor mask_for(const int64_t* kp, int64_t S, int64_t start, int64_t T, int64_t window);
  static void write(Layer& L, const Tensor& k, const Tensor& v, int64_t slot, int64_t from, int64_t count);

  std::vector<Layer> layers_;
  int64_t length_ = 0, pending_ = 0, capacity_ = 0;
  Shape batch_heads_;  // [B, KVH, D] fixed by the first append
  uint64_t generation_ = 0;
};

}  // namespace xla
