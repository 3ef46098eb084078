// text_file.hpp — the one whole-file reader and the one JSONL line walker of libxla, its
// tests' helpers aside. Header-only and standard-library-only, so that every layer can use
// it: the tokenizer links nothing else of libxla's, tools/ and src/train read JSONL too.
#pragma once
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "xla/error.hpp"

namespace xla::io {

// The whole of `path` (bytes as stored). `what` names the file in errors ("the tokenizer
// file"): Status::IO "cannot open <what> 'path': <reason>" or "cannot read <what> 'path'".
inline std::string read_text_file(const std::string& path, const std::string& what = "") {
  const std::string named = (what.empty() ? "" : what + " ") + "'" + path + "'";
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(Status::IO, "cannot open " + named + ": " + std::strerror(errno));
  std::string text;
  if (std::fseek(f, 0, SEEK_END) == 0) {  // one allocation when the size is known
    const long size = std::ftell(f);
    if (size > 0) text.reserve(size_t(size));
    std::rewind(f);
  }
  char buffer[1 << 16];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, f)) > 0) text.append(buffer, got);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) fail(Status::IO, "cannot read " + named);
  return text;
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
