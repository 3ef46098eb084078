// engine.hpp — the serving engine: many generation requests over one model, batched into
// one forward per step (continuous batching), over a paged KV cache with prefix caching and
// chunked prefill. docs/ chapter "Serving many users" explains the design with a diagram.
//
// Threads: submit() and cancel() may be called from any thread at any time; step() drives
// the engine and is called from one thread at a time (a server's loop, a test).
//
// Exactness: a request's greedy tokens are what generate() gives for it alone, whatever
// else shares its steps, however its prompt was cut into chunks and whether its prefix came
// from the cache; its logits equal the single-sequence forward's to float noise (the GEMM's
// rounding depends on how many rows a step has), or to the bit with
// EngineOptions::batch_invariant. Seeded sampling gives the same tokens where the logits are
// bit-identical, so always with batch_invariant; without it the noise can move a draw (top_p
// orders near-equal probabilities), as it can move a greedy choice between two logits closer
// than the noise.
#pragma once
#include <cmath>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "xla/generate.hpp"

namespace xla {

struct EngineOptions {
  int32_t max_seqs = 8;            // sequences running at once
  int32_t max_batch_tokens = 512;  // tokens in one step's forward: one per decoding sequence, then prefill chunks
  int64_t kv_tokens = 0;           // KV capacity in tokens, all sequences together (global layers);
                                   // 0 = enough for max_seqs full contexts
  bool prefix_cache = true;        // reuse the KV of identical prompt prefixes
  int32_t max_queue = 256;         // waiting requests beyond which submit() throws Status::Busy
  int32_t block_tokens = 16;       // tokens per KV block
  int64_t max_context = 0;         // tokens per sequence, prompt and output; 0 = the model's
                                   // context_length() (never more than kv_tokens)
  DType kv_dtype = DType::F32;     // F32, or BF16 to halve the cache (keys and values rounded)
  // Every matrix row summed in one order whatever the step holds: a request's logits are then
  // bit-identical however it is batched or chunked (attention and norms always are). Prefill
  // is slower without the packed GEMM: see benchmarks/README.md.
  bool batch_invariant = false;
};

struct EngineRequest {
  std::vector<int32_t> prompt;   // at least one token, fewer than max_context
  GenerateOptions generation;    // sampler (and its seed), max_new_tokens (>= 1), stop_ids
  int32_t top_logprobs = 0;      // 0..20: with each token, the most likely tokens and their log-probs
  bool logprobs = false;         // with each token, its log-prob (implied by top_logprobs > 0)
  bool keep_logits = false;      // with each token, the logits row it was drawn from (for checks)
};

enum class Finish : int32_t { None = 0, Stop = 1, Length = 2, Cancelled = 3 };  // = XLA_FINISH_*

struct EngineEvent {
  uint64_t id = 0;
  int32_t token = -1;             // -1 with Finish::Cancelled
  Finish finish = Finish::None;
  float logprob = NAN;            // log-softmax of the logits at `token` (when asked for)
  std::vector<std::pair<int32_t, float>> top;  // the top_logprobs most likely (id, log-prob), best first
  std::vector<float> logits;      // keep_logits: the row `token` was drawn from
};

struct EngineStats {
  int64_t running = 0, waiting = 0;                  // requests
  int64_t kv_tokens_used = 0, kv_tokens_capacity = 0;  // global-layer blocks held, in tokens
  int64_t prefix_tokens_reused = 0;                  // prompt tokens served from the prefix cache
  int64_t steps = 0, tokens_generated = 0;
  int64_t preemptions = 0;                           // sequences sent back to wait for lack of blocks
  size_t kv_bytes = 0;                               // memory reserved for the KV cache (state
                                                     // slots: the memory the running ones hold)
};

class Engine {
 public:
  // The model must outlive the engine. An attention model (Gemma) gets the paged KV cache
  // above; a model without attention (Mamba) a state slot per running sequence, and no
  // prefix cache. Status::InvalidArg names a bad option.
  Engine(const Model& model, const EngineOptions& options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request (copied) and returns its id: ids start at 1 and are never reused.
  // Status::Busy when max_queue requests are already waiting; Status::InvalidArg for an
  // empty prompt, one that does not fit the context, an id outside the vocabulary, a bad
  // sampler parameter or max_new_tokens < 1. Thread-safe.
  uint64_t submit(const EngineRequest& request);
  // Ends a request: its Finish::Cancelled event comes with the next step, which frees its
  // blocks. Status::InvalidArg for an id that is unknown or already finished. Thread-safe.
  // A request that finishes in the step under way keeps that ending (Stop or Length): every
  // request gets exactly one finishing event.
  void cancel(uint64_t id);

  // One scheduling step: one batched forward over the running sequences (and prefill chunks
  // of admitted ones); returns an event for every token produced, in order, and for every
  // request cancelled. Empty when there is nothing to do. A forward that throws leaves every
  // request as it was before the step.
  std::vector<EngineEvent> step();
  bool idle() const;  // nothing running, waiting or to cancel; thread-safe

  EngineStats stats() const;  // thread-safe
  int64_t max_context() const;
  const EngineOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xla
