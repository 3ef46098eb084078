// fuzz_safetensors.cpp — a .safetensors file (8-byte header length, JSON header, data) as a
// user hands it to SafetensorsFile::open. Accepted files must hold what they claim: every
// tensor readable in its own dtype and as f32, with the byte count its shape and dtype give.
#include <cstdint>

#include "fuzz_support.hpp"
#include "xla/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xla;
  const std::string path = fuzz::write_scratch("model.safetensors", fuzz::as_text(data, size));
  fuzz::refused_or_ok([&] {
    io::SafetensorsFile f = io::SafetensorsFile::open(path);
    for (const std::string& name : f.names()) {
      const io::TensorInfo& info = f.info(name);
      fuzz::require(info.end - info.begin == uint64_t(info.shape.numel()) * dtype_size(info.dtype),
                    "a tensor's byte span matches its shape and dtype");
      fuzz::require(info.end <= size, "a tensor's bytes lie inside the file");
      Tensor t = f.tensor(name);
      fuzz::require(t.shape() == info.shape && t.dtype() == info.dtype, "a tensor reads back as declared");
      if (info.dtype != DType::I32 && info.dtype != DType::I64 && info.dtype != DType::U8) f.tensor(name, DType::F32);
    }
  });
  return 0;
}
