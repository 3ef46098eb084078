// progress.hpp — what the training loops (Trainer, DpoTrainer) share for reporting: the
// clock, resident memory, the metrics JSONL file, and the progress bar or plain lines.
// Internal to src/train; not an installed header.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

namespace xla::train::detail {

double now_s();        // a monotonic clock, in seconds
double resident_mb();  // resident memory of this process now, MiB
std::string duration_text(double s);  // "42s", "3m07s", "2h05m"; "?" when unknown

// One JSON object per line, appended and flushed as written; a line that cannot be written
// (a full disk) is Status::IO naming the file. reopen_at(step) drops the lines whose "step"
// is after `step` (a resumed run redoes them) and lines cut short, rewriting the file durably.
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
  std::string named() const;  // "<who>: the metrics file '<path>'", for errors
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

}  // namespace xla::train::detail
