// engine_loop.cpp — the engine's thread: sleep while idle, else step and route the events.
#include "engine_loop.hpp"

#include <cstdio>

#include "xla/error.hpp"

namespace xla::server {

bool RequestEvents::wait(std::vector<EngineEvent>& out, std::chrono::milliseconds timeout) {
  out.clear();
  std::unique_lock lock(mutex_);
  if (!ready_.wait_for(lock, timeout, [&] { return !events_.empty() || !failure_.empty(); })) return false;
  out.swap(events_);
  return !out.empty();
}

std::string RequestEvents::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

EngineLoop::EngineLoop(const Model& model, const EngineOptions& options, Metrics& metrics)
    : engine_(model, options), metrics_(metrics), thread_([this] { run(); }) {}

EngineLoop::~EngineLoop() {
  close();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

EngineLoop::Ticket EngineLoop::submit(const EngineRequest& request, Clock::time_point arrival) {
  auto events = std::make_shared<RequestEvents>();
  events->arrival_ = arrival;
  uint64_t id;
  {
    std::lock_guard lock(mutex_);
    if (closed_) fail(Status::Aborted, "submit", "the server is shutting down");
    id = engine_.submit(request);
    routes_[id] = events;
  }
  wake_.notify_all();
  return {id, events};
}

void EngineLoop::cancel(uint64_t id) {
  {
    std::lock_guard lock(mutex_);
    if (!routes_.count(id)) return;  // finished: its last event is on its way or read
    try {
      engine_.cancel(id);
    } catch (const Error&) {
      return;  // it finished in the step under way
    }
  }
  wake_.notify_all();
}

void EngineLoop::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    cancel_all_locked();
  }
  wake_.notify_all();
}

void EngineLoop::cancel_all_locked() {
  for (const auto& [id, events] : routes_) {
    try {
      engine_.cancel(id);
    } catch (const Error&) {
    }
  }
}

void EngineLoop::run() {
  std::vector<EngineEvent> events;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !engine_.idle(); });
      if (stopping_ && engine_.idle()) return;
    }
    const auto start = Clock::now();
    try {
      events = engine_.step();
    } catch (const std::exception& e) {
      fail_all(e.what());
      continue;
    }
    bool forward = false;
    for (const EngineEvent& e : events) forward |= e.token >= 0;
    if (forward) metrics_.observe_step(std::chrono::duration<double>(Clock::now() - start).count());
    dispatch(events);
  }
}

void EngineLoop::dispatch(std::vector<EngineEvent>& events) {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  for (EngineEvent& e : events) {
    auto it = routes_.find(e.id);
    if (it == routes_.end()) continue;
    RequestEvents& r = *it->second;
    if (e.token >= 0 && r.tokens_++ == 0) {
      r.first_token_ = now;
      metrics_.observe_time_to_first_token(std::chrono::duration<double>(now - r.arrival_).count());
    }
    const bool last = e.finish != Finish::None;
    if (last && r.tokens_ > 1)
      metrics_.observe_time_per_output_token(std::chrono::duration<double>(now - r.first_token_).count() /
                                             double(r.tokens_ - 1));
    {
      std::lock_guard channel(r.mutex_);
      r.events_.push_back(std::move(e));
    }
    r.ready_.notify_all();
    if (last) routes_.erase(it);
  }
}

// A forward that throws leaves the requests as they were: stepping again would throw again.
// Every request ends instead, its handler answering with the engine's message.
void EngineLoop::fail_all(const std::string& why) {
  std::fprintf(stderr, "xla serve: the engine failed: %s\n", why.c_str());
  std::lock_guard lock(mutex_);
  for (auto& [id, r] : routes_) {
    {
      std::lock_guard channel(r->mutex_);
      r->failure_ = why;
    }
    r->ready_.notify_all();
  }
  cancel_all_locked();
}

}  // namespace xla::server
