// test_text_file.cpp — io::read_text_file (bytes as stored, errors naming the file, FIFOs and
// folders refused without hanging or leaking a descriptor), io::write_file_durably (a full
// disk is an error and leaves nothing behind) and io::for_each_jsonl_line (blank lines skipped
// but counted, CRLF endings, no final newline).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
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

int open_fds() {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) n += e.path().empty() ? 0 : 1;
  return n;
}

// The read runs in a child under alarm(): a reader that blocks on the FIFO dies by SIGALRM
// and fails the test instead of hanging it.
TEST(TextFile, FifoIsRefusedWithoutBlocking) {
  const std::string path = ::testing::TempDir() + "/text_file_fifo.json";
  ::unlink(path.c_str());
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  EXPECT_EXIT(
      {
        ::alarm(10);
        try {
          xla::io::read_text_file(path, "the config");
        } catch (const xla::Error& e) {
          std::fprintf(stderr, "%d %s\n", int(e.status()), e.what());
          std::_Exit(0);
        }
        std::_Exit(1);
      },
      ::testing::ExitedWithCode(0), std::to_string(int(xla::Status::IO)) + " the config '.*' is not a regular file");
  ::unlink(path.c_str());
}

TEST(TextFile, FolderIsAnIOErrorAndLeaksNoDescriptor) {
  const std::string path = ::testing::TempDir() + "/text_file_folder";
  std::filesystem::create_directories(path);
  const int before = open_fds();
  for (int i = 0; i < 3; ++i) {
    try {
      xla::io::read_text_file(path, "the tokenizer file");
      ADD_FAILURE() << "read a folder";
    } catch (const xla::Error& e) {
      EXPECT_EQ(int(e.status()), int(xla::Status::IO));
      EXPECT_EQ(std::string(e.what()), "the tokenizer file '" + path + "' is a directory");
    }
  }
  EXPECT_EQ(open_fds(), before);
}

TEST(TextFile, WriteDurablyReplacesTheFile) {
  const std::string path = ::testing::TempDir() + "/text_file_durable.json";
  xla::io::write_file_durably(path, "old");
  xla::io::write_file_durably(path, "{\"a\": 1}\n");
  EXPECT_EQ(xla::io::read_text_file(path), "{\"a\": 1}\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

// A full disk without root: RLIMIT_FSIZE caps every file at 4 bytes and SIGXFSZ is ignored,
// so write() fails with EFBIG. In a child, so that the limit stays there.
TEST(TextFile, WriteDurablyReportsAFullDiskAndKeepsTheOldFile) {
  const std::string path = ::testing::TempDir() + "/text_file_full.json";
  xla::io::write_file_durably(path, "old");
  EXPECT_EXIT(
      {
        ::signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim {};
        ::getrlimit(RLIMIT_FSIZE, &lim);
        const rlim_t soft = lim.rlim_cur;
        lim.rlim_cur = 4;  // the soft limit only, lifted again to report (stderr is a file too)
        ::setrlimit(RLIMIT_FSIZE, &lim);
        try {
          xla::io::write_file_durably(path, std::string(4096, 'x'), "the config");
        } catch (const xla::Error& e) {
          lim.rlim_cur = soft;
          ::setrlimit(RLIMIT_FSIZE, &lim);
          std::fprintf(stderr, "%d %s\n", int(e.status()), e.what());
          std::_Exit(0);
        }
        std::_Exit(1);
      },
      ::testing::ExitedWithCode(0), std::to_string(int(xla::Status::IO)) + " cannot write the config '.*': write failed");
  EXPECT_EQ(xla::io::read_text_file(path), "old");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
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
