// fuzz_gemma_config.cpp — a Hugging Face config.json as GemmaConfig::from_json reads it. An
// accepted config must round-trip: what to_json writes, from_json reads back to the same text.
#include <cstdint>

#include "fuzz_support.hpp"
#include "xla/gemma.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xla;
  const std::string text(fuzz::as_text(data, size));
  fuzz::refused_or_ok([&] {
    const GemmaConfig c = GemmaConfig::from_json(text);
    const std::string written = c.to_json();
    fuzz::require(GemmaConfig::from_json(written).to_json() == written, "config.json round trip");
  });
  return 0;
}
