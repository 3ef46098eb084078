// text_file.hpp — the one whole-file reader, the one small-file writer (temporary file,
// fsync, rename, fsync of the folder) and the one JSONL line walker of libxla, its tests'
// helpers aside. Header-only, standard library + POSIX, so that every layer can use it: the
// tokenizer links nothing else of libxla's, tools/ and src/train read JSONL too.
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "xla/error.hpp"

namespace xla::io {

// Opens `path` for reading, regular files only: O_NONBLOCK so that a FIFO cannot hang the
// open, then fstat. Returns the fd; Status::IO "cannot open <named>: <reason>", "<named> is a
// directory" or "<named> is not a regular file" (no fd left open). Used by every reader.
inline int open_regular_file(const std::string& path, const std::string& named) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail(Status::IO, "cannot open " + named + ": " + std::strerror(errno));
  struct stat st {};
  const bool got = ::fstat(fd, &st) == 0;
  const int err = errno;
  if (!got || !S_ISREG(st.st_mode)) {
    ::close(fd);
    if (!got) fail(Status::IO, "cannot stat " + named + ": " + std::strerror(err));
    fail(Status::IO, named + (S_ISDIR(st.st_mode) ? " is a directory" : " is not a regular file"));
  }
  // a regular file never blocks, but reads should not see EAGAIN semantics either
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

// The whole of `path` (bytes as stored). `what` names the file in errors ("the tokenizer
// file"): Status::IO "cannot open <what> 'path': <reason>", "<what> 'path' is a directory",
// "... is not a regular file" (a FIFO, a device) or "cannot read <what> 'path'".
inline std::string read_text_file(const std::string& path, const std::string& what = "") {
  const std::string named = (what.empty() ? "" : what + " ") + "'" + path + "'";
  const int fd = open_regular_file(path, named);
  std::string text;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {  // one allocation when the size is known
    try {
      text.reserve(size_t(st.st_size));
    } catch (...) {
      ::close(fd);
      throw;
    }
  }
  char buffer[1 << 16];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      const bool failed = got < 0;
      ::close(fd);
      if (failed) fail(Status::IO, "cannot read " + named + ": " + std::strerror(errno));
      return text;
    }
    try {
      text.append(buffer, size_t(got));
    } catch (...) {
      ::close(fd);
      throw;
    }
  }
}

// fsync of a folder, so that a rename inside it survives a power cut. Best effort: some file
// systems refuse fsync on folders, and the data itself is already synced by then.
inline void sync_folder(const std::string& dir) {
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return;
  (void)::fsync(dfd);
  ::close(dfd);
}

// Writes `text` to `path` through "path.tmp": write, fsync, close (each checked: a full disk
// shows at any of them), rename, fsync of the folder. On failure the temporary is removed,
// `path` is left as it was, and Status::IO names `what` and the reason.
inline void write_file_durably(const std::string& path, const std::string& text, const std::string& what = "") {
  const std::string named = (what.empty() ? "" : what + " ") + "'" + path + "'";
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(Status::IO, "cannot write " + named + ": cannot create '" + tmp + "': " + std::strerror(errno));
  auto give_up = [&](const char* step) {
    const std::string msg = "cannot write " + named + ": " + step + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    fail(Status::IO, msg);
  };
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) give_up("write failed");
    done += size_t(n);
  }
  if (::fsync(fd) != 0) give_up("fsync failed");
  const int rc = ::close(fd);
  fd = -1;
  if (rc != 0) give_up("close failed");
  if (::rename(tmp.c_str(), path.c_str()) != 0) give_up("rename failed");
  const size_t slash = path.find_last_of('/');
  sync_folder(slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash));
}

// Calls on_line(line, where) for each non-blank line of a JSONL text, in order; `where` is
// "source:N" (N from 1, blank lines counted) for the caller's error messages. A trailing
// '\r' is dropped (files written on Windows); parsing the line is the caller's.
template <typename F>
void for_each_jsonl_line(std::string_view text, const std::string& source, F&& on_line) {
  size_t lineno = 0, pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    on_line(line, source + ":" + std::to_string(lineno));
  }
}

}  // namespace xla::io
