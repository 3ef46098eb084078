// progress.cpp — the clock, memory, metrics file and progress display shared by the
// training loops (see progress.hpp).
#include "progress.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "text_file.hpp"
#include "xla/error.hpp"

namespace xla::train::detail {

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

double resident_mb() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  if (f >> pages >> resident) return double(resident) * double(sysconf(_SC_PAGESIZE)) / (1 << 20);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;
}

std::string duration_text(double s) {
  char buf[32];
  if (!(s >= 0) || !std::isfinite(s)) return "?";
  if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, int(s) % 3600 / 60);
  return buf;
}

namespace {

// Opens `path` to append, creating it: a regular file only (O_NONBLOCK so that a FIFO cannot
// hang the open; fstat before any line is written).
std::FILE* open_for_append(const std::string& path, const std::string& named) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0644);
  if (fd < 0) fail(Status::IO, "cannot open " + named + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(Status::IO, named + (S_ISDIR(st.st_mode) ? " is a directory" : " is not a regular file"));
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  std::FILE* f = ::fdopen(fd, "a");
  if (!f) {
    ::close(fd);
    fail(Status::IO, "cannot open " + named + ": " + std::strerror(errno));
  }
  return f;
}

}  // namespace

MetricsFile::MetricsFile(const std::string& path, const char* who) : path_(path), who_(who) {
  if (path_.empty()) return;
  f_ = open_for_append(path_, named());
}

MetricsFile::~MetricsFile() {
  if (f_) std::fclose(f_);
}

std::string MetricsFile::named() const { return who_ + ": the metrics file '" + path_ + "'"; }

// Each line reaches the kernel before the step returns: a full disk (ENOSPC, EFBIG) stops
// the run with the reason rather than losing lines quietly.
void MetricsFile::write(const std::string& json_line) {
  if (!f_) return;
  errno = 0;
  const bool written = std::fprintf(f_, "%s\n", json_line.c_str()) >= 0;
  if (!written || std::fflush(f_) != 0 || std::ferror(f_)) {
    const int err = errno;
    std::clearerr(f_);
    fail(Status::IO, "cannot write " + named() + ": " + (err ? std::strerror(err) : "write failed"));
  }
}

void MetricsFile::reopen_at(int64_t step) {
  if (!f_) return;
  std::fclose(f_);
  f_ = nullptr;
  std::ostringstream kept;
  std::error_code ec;
  const bool read = std::filesystem::exists(path_, ec);
  if (read) {
    io::for_each_jsonl_line(io::read_text_file(path_, "the metrics file"), path_,
                            [&](std::string_view line, const std::string&) {
      try {
        if (nlohmann::json::parse(line).value("step", int64_t(0)) > step) return;
      } catch (const nlohmann::json::exception&) {
        return;  // a line cut short by the kill
      }
      kept << line << "\n";
    });
  }
  if (read) io::write_file_durably(path_, kept.str(), "the metrics file");
  f_ = open_for_append(path_, named());
}

ProgressPrinter::ProgressPrinter(int progress)
    : mode_(progress), bar_(progress == 1 || (progress < 0 && isatty(STDERR_FILENO))) {}

void ProgressPrinter::print(int64_t step, int64_t total, double seconds_per_step, const std::string& bar_fields,
                            const std::string& line_fields, const std::string& extra, bool keep) const {
  if (mode_ == 0) return;
  const std::string eta = duration_text(seconds_per_step * double(total - step));
  if (bar_) {
    constexpr int kWidth = 24;
    const int filled = total > 0 ? int(kWidth * std::min<int64_t>(step, total) / total) : kWidth;
    std::string bar(size_t(filled), '#');
    bar.append(size_t(kWidth - filled), '.');
    std::fprintf(stderr, "\r\033[K%6lld/%lld [%s] %s  eta %s%s", static_cast<long long>(step),
                 static_cast<long long>(total), bar.c_str(), bar_fields.c_str(), eta.c_str(), extra.c_str());
    if (step >= total || keep) std::fputc('\n', stderr);
    std::fflush(stderr);
  } else {
    const int64_t every = std::max<int64_t>(1, total / 20);
    if (step % every == 0 || step == total || keep)
      std::fprintf(stderr, "step %lld/%lld %s eta %s%s\n", static_cast<long long>(step), static_cast<long long>(total),
                   line_fields.c_str(), eta.c_str(), extra.c_str());
  }
}

}  // namespace xla::train::detail
