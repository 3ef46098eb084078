// test_text_file.cpp — io::read_text_file (bytes as stored, errors naming the file) and
// io::for_each_jsonl_line (blank lines skipped but counted, CRLF endings, no final newline).
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "text_file.hpp"

namespace {

TEST(TextFile, ReadsEveryByte) {
  const std::string path = ::testing::TempDir() + "/text_file_bytes.bin";
  std::string bytes = "line 1\r\nnul:";
  bytes += '\0';
  bytes += "\xff end";
  std::ofstream(path, std::ios::binary) << bytes;
  EXPECT_EQ(xla::io::read_text_file(path), bytes);
  std::ofstream(path, std::ios::binary | std::ios::trunc).flush();
  EXPECT_EQ(xla::io::read_text_file(path), "");
}

TEST(TextFile, MissingFileIsAnIOErrorNamingIt) {
  const std::string path = ::testing::TempDir() + "/no_such_dir/absent.json";
  try {
    xla::io::read_text_file(path, "the config");
    ADD_FAILURE() << "read";
  } catch (const xla::Error& e) {
    EXPECT_EQ(int(e.status()), int(xla::Status::IO));
    EXPECT_EQ(std::string(e.what()), "cannot open the config '" + path + "': No such file or directory");
  }
}

TEST(TextFile, JsonlLinesAndTheirNumbers) {
  std::vector<std::pair<std::string, std::string>> got;
  xla::io::for_each_jsonl_line("{\"a\": 1}\n\n  \t\r\n{\"b\": 2}\r\n\n{\"c\": 3}", "data.jsonl",
                               [&](std::string_view line, const std::string& where) {
                                 got.emplace_back(std::string(line), where);
                               });
  const std::vector<std::pair<std::string, std::string>> want = {
      {"{\"a\": 1}", "data.jsonl:1"}, {"{\"b\": 2}", "data.jsonl:4"}, {"{\"c\": 3}", "data.jsonl:6"}};
  EXPECT_EQ(got, want);
  int calls = 0;
  xla::io::for_each_jsonl_line("\n \n", "empty.jsonl", [&](std::string_view, const std::string&) { ++calls; });
  EXPECT_EQ(calls, 0);
}

}  // namespace
