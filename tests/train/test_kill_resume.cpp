// kill -9 during training, then resume: the losses, step by step, are those of a run that
// was never interrupted. The run to kill is this test program itself, started again with
// the worker's folder in its environment: a fresh process, as after a real crash, and no
// fork of a process whose OpenMP threads are running.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "tiny.hpp"
#include "xla/gemma.hpp"
#include "xla/trainer.hpp"

extern char** environ;

using namespace xla;
namespace fs = std::filesystem;
namespace {

constexpr int64_t kSteps = 14;
constexpr const char* kWorkerDir = "XLA_TEST_KILL_WORKER_DIR";

// One training run's setup, the same in every process: model, data, optimizer and options
// from fixed seeds; a checkpoint every 2 steps and a metrics line every step.
struct TrainingRun {
  explicit TrainingRun(const std::string& dir, std::function<bool(const train::StepMetrics&)> on_step = nullptr)
      : data(make_data()),
        model(GemmaModel::create(tiny_config(), 11)),
        opt(model, train::OptimizerOptions::defaults(train::OptimizerKind::AdamW, 3e-3)),
        trainer(model, opt, data, nullptr, options(dir, std::move(on_step))) {}
  static train::Dataset make_data() {
    std::string text;
    for (int i = 0; i < 60; ++i) text += "pack my box with " + std::to_string(i % 9) + " dozen liquor jugs\n\n";
    return train::Dataset::from_text(text, train::TextCodec{}, 16);
  }
  static train::TrainerOptions options(const std::string& dir, std::function<bool(const train::StepMetrics&)> on_step) {
    train::TrainerOptions o;
    o.batch_size = 4;
    o.steps = kSteps;
    o.progress = 0;
    o.seed = 5;
    o.schedule = {train::ScheduleKind::Cosine, 3, 0, 0.1};
    o.checkpoint_dir = dir + "/ckpt";
    o.checkpoint_every = 2;
    o.metrics_path = dir + "/metrics.jsonl";
    o.on_step = std::move(on_step);
    return o;
  }
  train::Dataset data;
  GemmaModel model;
  train::Optimizer opt;
  train::Trainer trainer;
};

// step -> (loss, grad_norm, lr) from a metrics file; every line must parse
std::map<int, std::array<double, 3>> losses(const std::string& path) {
  std::map<int, std::array<double, 3>> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    const int step = j["step"].get<int>();
    EXPECT_EQ(out.count(step), 0u) << "step " << step << " twice in " << path;
    out[step] = {j["loss"].get<double>(), j["grad_norm"].get<double>(), j["lr"].get<double>()};
  }
  return out;
}

// Whole lines in a metrics file so far.
int metrics_lines(const std::string& path) {
  std::ifstream f(path);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return int(std::count(text.begin(), text.end(), '\n'));
}

// The step `latest` names, 0 when there is none yet (or it is being replaced).
int latest_step(const std::string& ckpt) {
  std::ifstream f(ckpt + "/latest");
  std::string name;
  if (!std::getline(f, name) || name.rfind("step-", 0) != 0) return 0;
  return std::atoi(name.c_str() + 5);
}

// The worker: trains in the folder the parent names. After step 7 (its metrics line written,
// its checkpoint not: they come every 2 steps) it waits a second, in which the parent kills it.
void worker(const std::string& dir) {
  TrainingRun run(dir, [](const train::StepMetrics& m) {
    if (m.step == 7) std::this_thread::sleep_for(std::chrono::seconds(1));
    return true;
  });
  run.trainer.run();
}

TEST(TrainerKill, KillNineThenResumeGivesTheSameLosses) {
  if (const char* dir = std::getenv(kWorkerDir)) return worker(dir);  // this program, started below

  // the uninterrupted run, in this process
  const std::string straight = scratch_dir("kill_straight");
  TrainingRun a(straight);
  a.trainer.run();
  const auto want = losses(straight + "/metrics.jsonl");
  ASSERT_EQ(want.size(), size_t(kSteps));

  // the worker, killed with SIGKILL once its metrics line of step 7 is written: after its
  // checkpoint of step 6, so the resumed run must drop that line and redo step 7
  const std::string dir = scratch_dir("kill_resumed");
  std::vector<std::string> env_text;
  for (char** e = environ; *e; ++e) env_text.emplace_back(*e);
  env_text.push_back(std::string(kWorkerDir) + "=" + dir);
  std::vector<char*> envp;
  for (std::string& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string exe = fs::read_symlink("/proc/self/exe").string(), filter = "--gtest_filter=TrainerKill.KillNine*";
  char* argv[] = {exe.data(), filter.data(), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, (dir + "/worker.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv, envp.data()), 0);
  posix_spawn_file_actions_destroy(&fa);
  const auto start = std::chrono::steady_clock::now();
  while (metrics_lines(dir + "/metrics.jsonl") < 7 && std::chrono::steady_clock::now() - start < std::chrono::seconds(60)) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) FAIL() << "the worker ended by itself (status " << status << ")";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  const int killed_after = latest_step(dir + "/ckpt");
  const size_t lines_before = losses(dir + "/metrics.jsonl").size();
  ASSERT_EQ(killed_after, 6);
  ASSERT_EQ(lines_before, 7u);

  // resumed in this process, to the end
  TrainingRun resumed(dir);
  ASSERT_TRUE(resumed.trainer.resume());
  EXPECT_EQ(resumed.trainer.current_step(), killed_after);
  EXPECT_EQ(resumed.trainer.run(), kSteps - killed_after);
  const auto got = losses(dir + "/metrics.jsonl");
  std::printf("killed after the checkpoint of step %d, %zu metrics lines written by then; resumed to %lld\n",
              killed_after, lines_before, static_cast<long long>(kSteps));

  // loss by loss: bit for bit (the same thread count in both processes, reductions in a fixed
  // order), the killed process's lines up to its checkpoint kept, the rest redone
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [step, w] : want) {
    ASSERT_EQ(got.count(step), 1u) << "step " << step;
    EXPECT_EQ(got.at(step)[0], w[0]) << "loss at step " << step;
    EXPECT_EQ(got.at(step)[1], w[1]) << "grad norm at step " << step;
    EXPECT_EQ(got.at(step)[2], w[2]) << "lr at step " << step;
  }
  auto all_weights = [](GemmaModel& m) {
    std::vector<std::vector<float>> w;
    for (auto& [name, p] : m.named_parameters()) w.push_back(p->to_vector());
    return w;
  };
  EXPECT_EQ(all_weights(resumed.model), all_weights(a.model));
}

}  // namespace
