// progress.hpp — what the training loops (Trainer, DpoTrainer) share for reporting: the
// clock, resident memory, the metrics JSONL file, and the progress bar or plain lines.
// Internal to src/train; not an installed header.
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace xla::train::detail {

double now_s();        // a monotonic clock, in seconds
double resident_mb();  // resident memory of this process now, MiB
std::string duration_text(double s);  // "42s", "3m07s", "2h05m"; "?" when unknown

// One JSON object per line, appended and flushed as written. reopen_at(step) drops the
// lines whose "step" is after `step` (a resumed run redoes them) and lines cut short.
class MetricsFile {
 public:
  MetricsFile() = default;
  explicit MetricsFile(const std::string& path, const char* who);  // "" = no file
  ~MetricsFile();
  MetricsFile(const MetricsFile&) = delete;
  MetricsFile& operator=(const MetricsFile&) = delete;
  bool open() const { return f_ != nullptr; }
  void write(const std::string& json_line);
  void reopen_at(int64_t step);

 private:
  std::string path_, who_;
  std::FILE* f_ = nullptr;
};

// Progress on stderr. progress: -1 a bar on a terminal and plain lines otherwise, 0 silent,
// 1 a bar. A bar redraws one line:
//   "\r\033[K  step/total [####....] <bar_fields>  eta <eta><extra>"
// ending it with a newline at the last step or when `keep` (a validation result); plain
// lines "step s/total <line_fields> eta <eta><extra>" come every total/20 steps, at the
// last one, and when `keep`.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(int progress);
  void print(int64_t step, int64_t total, double seconds_per_step, const std::string& bar_fields,
             const std::string& line_fields, const std::string& extra, bool keep) const;

 private:
  int mode_;
  bool bar_;
};

// The loop both trainers run: step, report, let the callbacks stop it, save a checkpoint
// every `every` steps (0 = never) and once at the end when `saving` and the last step was
// not just saved. current() is the steps done so far; returns the steps this call ran.
template <typename M>
int64_t run_steps(const std::function<int64_t()>& current, int64_t total, const std::function<M()>& step,
                  const std::function<void(const M&)>& report, const std::function<bool(const M&)>& on_step,
                  const std::function<bool(const M&)>& also, int64_t every, bool saving,
                  const std::function<void()>& save) {
  int64_t done = 0;
  while (current() < total) {
    const M m = step();
    ++done;
    report(m);
    bool stop = on_step && !on_step(m);
    if (!stop && also) stop = !also(m);
    if (every > 0 && current() % every == 0) save();
    if (stop) return done;
  }
  if (saving && done > 0 && (every == 0 || current() % every != 0)) save();
  return done;
}

}  // namespace xla::train::detail
