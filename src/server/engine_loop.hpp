// engine_loop.hpp — the one thread that drives the engine, and the hand-off of its events to
// the HTTP threads. A handler submits a request and gets its own RequestEvents; the loop
// thread steps the engine whenever it has work and appends each event to the request it
// belongs to; the handler waits on that and turns events into its response.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "metrics.hpp"
#include "xla/engine.hpp"

namespace xla::server {

using Clock = std::chrono::steady_clock;

// One request's events, in order. Filled by the loop thread, drained by the request's handler.
class RequestEvents {
 public:
  // Moves the events that arrived into `out` (cleared first); waits up to `timeout` for one.
  // Returns false when none came.
  bool wait(std::vector<EngineEvent>& out, std::chrono::milliseconds timeout);
  std::string failure() const;  // set when the engine failed: the request ends, unanswered

 private:
  friend class EngineLoop;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<EngineEvent> events_;
  std::string failure_;
  // the loop thread's own bookkeeping, for the latency histograms
  Clock::time_point arrival_, first_token_;
  int64_t tokens_ = 0;
};

class EngineLoop {
 public:
  EngineLoop(const Model& model, const EngineOptions& options, Metrics& metrics);
  ~EngineLoop();  // cancels what is left, steps until the engine is idle, joins the thread

  struct Ticket {
    uint64_t id = 0;
    std::shared_ptr<RequestEvents> events;
  };
  // Engine::submit's errors pass through (Status::Busy, Status::InvalidArg); Status::Aborted
  // once the loop is closed.
  Ticket submit(const EngineRequest& request, Clock::time_point arrival);
  void cancel(uint64_t id);  // a request already finished is left alone
  void close();              // shutting down: every request ends (Finish::Cancelled), none starts

  EngineStats stats() const { return engine_.stats(); }
  int64_t max_context() const { return engine_.max_context(); }

 private:
  void run();
  void dispatch(std::vector<EngineEvent>& events);
  void fail_all(const std::string& why);
  void cancel_all_locked();

  Engine engine_;
  Metrics& metrics_;
  std::mutex mutex_;  // routes_, closed_, stopping_; held while submitting so no event outruns its route
  std::condition_variable wake_;
  std::unordered_map<uint64_t, std::shared_ptr<RequestEvents>> routes_;
  bool closed_ = false, stopping_ = false;
  std::thread thread_;
};

}  // namespace xla::server
