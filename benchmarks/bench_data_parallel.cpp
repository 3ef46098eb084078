// bench_data_parallel.cpp — data-parallel training steps of the Gemma 3 270M architecture
// (../shared/bench/gemma3-270m.config.json, random weights, f32, AdamW) through the Trainer,
// run under an MPI launcher or alone, so that W ranks × T threads can be set against one
// process with W·T threads at the same global batch:
//   mpirun -np 2 -x OMP_NUM_THREADS=1 bench_data_parallel --batch 2     (2 ranks × 1 thread)
//   OMP_NUM_THREADS=2 bench_data_parallel --batch 4                     (1 rank × 2 threads)
// Rank 0 prints one JSON line: tokens/s (global), seconds per step, the share of a step in the
// gradient all-reduce (waiting for the slowest rank included), peak memory per rank, and the
// fraction of the f32 FMA peak (--context FILE: bench_roofline's ceilings of the same sitting,
// as `make bench-dp` writes them) that 6·N FLOPs per token make. --quick: a 2-layer model, 2 steps, checks that the
// replicas agree.
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "bench_common.hpp"
#include "xla/gemma.hpp"
#include "xla/mpi.hpp"
#include "xla/trainer.hpp"

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "../shared"
#endif

namespace {

struct Options {
  int64_t batch = 2, seq = 128, steps = 3;
  bench::Ceilings roof;
  bool quick = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_data_parallel: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--batch") o.batch = std::atoll(next());
    else if (a == "--seq") o.seq = std::atoll(next());
    else if (a == "--steps") o.steps = std::atoll(next());
    else if (a == "--context") o.roof = bench::read_context(next(), "bench_data_parallel");
    else if (a == "--quick") o.quick = true;
    else {
      std::fprintf(stderr, "usage: bench_data_parallel [--batch B] [--seq T] [--steps N] [--context FILE] [--quick]\n");
      std::exit(2);
    }
  }
  if (o.quick) o.batch = 2, o.seq = 16, o.steps = 2;
  return o;
}

xla::GemmaConfig config(bool quick) {
  std::ifstream f(std::string(XLA_SHARED_DIR) + "/bench/gemma3-270m.config.json");
  std::stringstream ss;
  ss << f.rdbuf();
  xla::GemmaConfig c = xla::GemmaConfig::from_json(ss.str());
  if (quick) {
    c.num_layers = 2, c.sliding = {1, 0}, c.vocab_size = 512, c.hidden_size = 64, c.intermediate_size = 128;
    c.head_dim = 16, c.query_pre_attn_scalar = 16;
  }
  return c;
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<xla::mpi::WorldCollective> world;
  if (xla::mpi::launched()) {
    xla::mpi::init(&argc, &argv);
    world = std::make_unique<xla::mpi::WorldCollective>();
  }
  const int rank = world ? world->rank() : 0, ranks = world ? world->world_size() : 1;
  const Options o = parse(argc, argv);
  try {
    const xla::GemmaConfig cfg = config(o.quick);
    xla::GemmaModel model = xla::GemmaModel::create(cfg, 1);
    int64_t params = 0;
    for (auto& [name, t] : model.named_parameters()) params += t->numel();
    // a token stream of ranks × batch rows per step, every step new rows
    std::vector<int32_t> stream(size_t((o.steps + 1) * ranks * o.batch * (o.seq + 1) + 1));
    for (size_t i = 0; i < stream.size(); ++i) stream[i] = int32_t((i * 7919 + 2) % uint64_t(cfg.vocab_size));
    const xla::train::Dataset data = xla::train::Dataset::packed(stream, o.seq);
    xla::train::Optimizer opt(model, xla::train::OptimizerOptions::defaults(xla::train::OptimizerKind::AdamW, 1e-4));
    xla::train::TrainerOptions to;
    to.batch_size = o.batch;
    to.steps = o.steps + 1;
    to.progress = 0;
    to.collective = world.get();
    xla::train::Trainer trainer(model, opt, data, nullptr, to);
    trainer.step();  // warm-up: first-touch allocations, the optimizer's moments
    double seconds = 0, reduce = 0, loss = 0;
    for (int64_t s = 0; s < o.steps; ++s) {
      const xla::train::StepMetrics m = trainer.step();
      seconds += 1.0 / m.tokens_per_s * double(ranks * o.batch * o.seq);
      reduce += m.allreduce_s;
      loss = m.loss;
    }
    double rss = peak_rss_mib();
    if (world) world->all_reduce(std::span<double>(&rss, 1), xla::ReduceOp::Max);
    // the replicas must agree: rank 0's weights, bit for bit (a max-reduce of the difference)
    double differ = 0;
    if (world)
      for (auto& [name, t] : model.named_parameters()) {
        xla::Tensor first = t->clone();
        world->broadcast({static_cast<std::byte*>(first.raw_data()), first.nbytes()}, 0);
        differ = std::max(differ, std::memcmp(first.raw_data(), t->raw_data(), t->nbytes()) != 0 ? 1.0 : 0.0);
      }
    if (world) world->all_reduce(std::span<double>(&differ, 1), xla::ReduceOp::Max);
    const double per_step = seconds / double(o.steps);
    const double tokens_s = double(ranks * o.batch * o.seq) / per_step;
    const double gflops = 6.0 * double(params) * tokens_s / 1e9;
    if (rank == 0) {
      std::printf(
          "{\"bench\": \"data_parallel\", \"ranks\": %d, \"threads_per_rank\": %d, \"global_batch\": %lld, "
          "\"seq\": %lld, \"params\": %lld, \"s_per_step\": %.3f, \"tokens_per_s\": %.2f, "
          "\"allreduce_share\": %.4f, \"gflops\": %.1f, \"fma_peak_gflops\": %.1f, \"fma_fraction\": %s, "
          "\"peak_rss_mib_per_rank\": %.0f, \"loss\": %.4f, \"cpu_flags\": \"%s\", \"commit\": \"%s\"}\n",
          ranks, xla::num_threads(), (long long)(ranks * o.batch), (long long)o.seq, (long long)params, per_step,
          tokens_s, reduce / seconds, gflops, o.roof.fma_gflops,
          o.roof.fma_gflops > 0 ? std::to_string(gflops / o.roof.fma_gflops).c_str() : "null", rss, loss,
          o.roof.flags.c_str(), o.roof.commit.c_str());
      if (!(std::isfinite(loss) && differ == 0)) {
        std::printf("bench_data_parallel: checks FAILED (loss %g, replicas differ %g)\n", loss, differ);
        return 1;
      }
      std::printf("bench_data_parallel: checks passed\n");
    }
  } catch (const std::exception& e) {
    if (world) xla::mpi::abort(std::string("bench_data_parallel: ") + e.what());
    std::fprintf(stderr, "bench_data_parallel: %s\n", e.what());
    return 1;
  }
  world.reset();
  xla::mpi::finalize();
  return 0;
}
