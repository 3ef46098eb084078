// metrics.hpp — the server's counters and latency histograms, written in Prometheus' text
// format for GET /metrics, beside the engine's own gauges (running, waiting, KV cache use).
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "xla/engine.hpp"

namespace xla::server {

class Metrics {
 public:
  Metrics();
  void count_request(const std::string& endpoint, int status);
  void add_prompt_tokens(int64_t n);
  void observe_time_to_first_token(double seconds);
  void observe_time_per_output_token(double seconds);
  void observe_step(double seconds);
  // Everything, with the engine's figures of this moment.
  std::string render(const EngineStats& engine) const;

 private:
  struct Histogram {
    std::vector<double> bounds;   // upper bounds of the buckets, ascending (+Inf implied)
    std::vector<int64_t> counts;  // per bucket, not cumulative
    double sum = 0;
    int64_t count = 0;
    void observe(double x);
  };
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, int64_t> requests_;  // (endpoint, status) -> count
  int64_t prompt_tokens_ = 0;
  Histogram ttft_, tpot_, step_;
};

}  // namespace xla::server
