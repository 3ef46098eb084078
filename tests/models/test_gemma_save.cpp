// test_gemma_save.cpp — GemmaModel::save on a failing disk: a full disk while the config is
// written (a config.json.tmp that leads to /dev/full) and a full disk while the weights are
// written (RLIMIT_FSIZE, SIGXFSZ ignored, in a forked child) are IO errors, and neither leaves
// a config.json nor a temporary file behind; a good save after them loads again.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "xla/gemma.hpp"

namespace fs = std::filesystem;

namespace {

xla::GemmaModel tiny_model() {
  return xla::GemmaModel::create(xla::GemmaConfig::from_json(R"({"model_type": "gemma3_text", "vocab_size": 64,
      "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
      "num_key_value_heads": 1, "head_dim": 8, "sliding_window": 4, "sliding_window_pattern": 2})"), 5);
}

std::vector<std::string> leftovers(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp") != std::string::npos) out.push_back(e.path().filename().string());
  return out;
}

std::string fresh(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/" + name + "_" + std::to_string(::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(GemmaSave, FullDiskWhileWritingTheConfigIsAnError) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const std::string dir = fresh("gemma_save_config_full");
  xla::GemmaModel m = tiny_model();
  fs::create_symlink("/dev/full", dir + "/config.json.tmp");  // every write: ENOSPC
  try {
    m.save(dir);
    ADD_FAILURE() << "save reported success on a full disk";
  } catch (const xla::Error& e) {
    EXPECT_EQ(int(e.status()), int(xla::Status::IO));
    EXPECT_NE(std::string(e.what()).find("the model config '" + dir + "/config.json'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir + "/config.json"));
  EXPECT_EQ(leftovers(dir), std::vector<std::string>{});
  m.save(dir);  // the disk has room again: the folder loads, with the same weights
  EXPECT_EQ(xla::GemmaModel::load(dir).embed_tokens.to_vector(), m.embed_tokens.to_vector());
  fs::remove_all(dir);
}

// A save over an earlier one that runs out of room midway: an error, and no config.json left
// to describe weights that are not the ones beside it.
TEST(GemmaSave, FullDiskWhileWritingTheWeightsIsAnError) {
  const std::string dir = fresh("gemma_save_weights_full");
  xla::GemmaModel m = tiny_model();
  m.save(dir);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::alarm(60);
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim {};
    ::getrlimit(RLIMIT_FSIZE, &lim);
    lim.rlim_cur = 4096;  // less than the weights (about 20 KB)
    ::setrlimit(RLIMIT_FSIZE, &lim);
    try {
      m.save(dir);
    } catch (const xla::Error& e) {
      std::_Exit(e.status() == xla::Status::IO ? 0 : 2);
    }
    std::_Exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: save reported success; 2: an error other than IO";
  EXPECT_FALSE(fs::exists(dir + "/config.json"));
  EXPECT_EQ(leftovers(dir), std::vector<std::string>{});
  fs::remove_all(dir);
}

}  // namespace
