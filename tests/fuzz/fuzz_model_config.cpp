// fuzz_model_config.cpp — a config.json as libxla's model registry reads it, whatever its
// model_type: an accepted config must round-trip through its family's to_json (a Mamba one
// through MambaConfig, a Gemma one through GemmaConfig), and the registry's canonical text
// must be that same text.
#include <cstdint>

#include "fuzz_support.hpp"
#include "xla/gemma.hpp"
#include "xla/mamba.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xla;
  const std::string text(fuzz::as_text(data, size));
  fuzz::refused_or_ok([&] {
    const std::string canonical = canonical_config_json(text);
    const std::string written = model_type_of(text) == "mamba" ? MambaConfig::from_json(text).to_json()
                                                              : GemmaConfig::from_json(text).to_json();
    fuzz::require(canonical == written, "canonical_config_json is the family's to_json");
    fuzz::require(canonical_config_json(written) == written, "config.json round trip");
  });
  return 0;
}
