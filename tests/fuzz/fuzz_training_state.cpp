// fuzz_training_state.cpp — a checkpoint's state.json (step, data position, trainer, optimizer
// section) as load_training_state reads it, beside a valid config, weights and AdamW moments of
// a tiny model. A state it accepts has counts that are never negative.
#include <cstdint>
#include <filesystem>

#include "fuzz_support.hpp"
#include "xla/gemma.hpp"
#include "xla/optim.hpp"
#include "xla/trainer.hpp"

namespace {

xla::GemmaConfig tiny_config() {
  xla::GemmaConfig c;
  c.version = 3;
  c.vocab_size = 16;
  c.hidden_size = 8;
  c.intermediate_size = 16;
  c.num_layers = 1;
  c.num_heads = 1;
  c.num_kv_heads = 1;
  c.head_dim = 8;
  c.query_pre_attn_scalar = 8;
  c.sliding_window = 4;
  c.sliding = {1};
  return c;
}

struct Fixture {
  xla::GemmaModel model = xla::GemmaModel::create(tiny_config(), 1);
  xla::train::Optimizer optimizer{model, xla::train::OptimizerOptions::defaults(xla::train::OptimizerKind::AdamW)};
  std::string dir;  // a complete checkpoint folder whose state.json each input replaces
  Fixture() {
    const std::string root = xla::fuzz::scratch_dir() + "/checkpoints";
    xla::train::TrainState s;
    s.step = 3;
    dir = xla::train::save_training_state(root, model, &optimizer, s);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xla;
  static Fixture f;
  fuzz::write_scratch(std::filesystem::relative(f.dir, fuzz::scratch_dir()).string() + "/state.json",
                      fuzz::as_text(data, size));
  fuzz::refused_or_ok([&] {
    const train::TrainState s = train::load_training_state(f.dir, f.model, &f.optimizer);
    fuzz::require(s.step >= 0 && s.data.epoch >= 0 && s.data.position >= 0, "loaded counts are not negative");
  });
  return 0;
}
