// fuzz_shard_index.cpp — model.safetensors.index.json of a sharded Hugging Face folder, beside
// two valid shards, as Checkpoint::open reads it: names, shard file names (paths, "..",
// absolute names, missing shards) and duplicate or inconsistent weight maps.
#include <cstdint>
#include <filesystem>

#include "fuzz_support.hpp"
#include "xla/safetensors.hpp"

namespace {

// The two shards the index may name, written once.
const std::string& model_dir() {
  static const std::string dir = [] {
    using namespace xla;
    const std::string d = fuzz::scratch_dir() + "/sharded";
    std::filesystem::create_directories(d);
    io::save_safetensors(d + "/a.safetensors", {{"x", Tensor::zeros(Shape{2, 3})}, {"y", Tensor::zeros(Shape{4})}});
    io::save_safetensors(d + "/b.safetensors", {{"z", Tensor::zeros(Shape{1})}});
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xla;
  const std::string dir = model_dir();
  fuzz::write_scratch("sharded/model.safetensors.index.json", fuzz::as_text(data, size));
  fuzz::refused_or_ok([&] {
    io::Checkpoint c = io::Checkpoint::open(dir);
    for (const std::string& name : c.names()) {
      Tensor t = c.tensor(name);
      fuzz::require(t.shape() == c.info(name).shape, "a tensor reads back with its declared shape");
    }
  });
  return 0;
}
