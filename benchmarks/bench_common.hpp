// bench_common.hpp — what the benchmarks share: bench_roofline's ceilings read back from its
// --context file (make bench writes it), the demo's model (examples/c/demo.c) as a config, the
// bytes of weights a decode step reads, and the median of a benchmark's turns.
#pragma once
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "xla/gemma.hpp"

namespace bench {

// bench_roofline's figures of this sitting.
struct Ceilings {
  double fma_gflops = 0, read_gbs = 0;
  std::string cpu = "unknown", flags = "unknown", commit = "unknown";
  bool known() const { return fma_gflops > 0 && read_gbs > 0; }
};

// Its key=value,... file; a file that cannot be read ends the program (exit 2), naming `who`.
inline Ceilings read_context(const std::string& path, const char* who) {
  Ceilings c;
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "%s: cannot read %s (run `make bench`, or bench_roofline --context FILE)\n", who, path.c_str());
    std::exit(2);
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) continue;
    std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    if (key == "roof_f32_fma_gflops") c.fma_gflops = std::atof(value.c_str());
    if (key == "roof_read_gbs") c.read_gbs = std::atof(value.c_str());
    if (key == "cpu") c.cpu = value;
    if (key == "cpu_flags") c.flags = value;
    if (key == "commit") c.commit = value;
  }
  return c;
}

// The demo's Gemma 3: 4 layers over bytes, ~0.8M weights.
inline xla::GemmaConfig demo_config() {
  xla::GemmaConfig c;
  c.version = 3;
  c.vocab_size = 259;
  c.hidden_size = 128;
  c.intermediate_size = 384;
  c.num_layers = 4;
  c.num_heads = 4;
  c.num_kv_heads = 1;
  c.head_dim = 32;
  c.query_pre_attn_scalar = 32;
  c.sliding_window = 8;
  c.rope_theta = 1e6;
  c.sliding = {1, 0, 1, 0};
  return c;
}

// The bytes of weights a decode step reads: every base weight once (a tied embedding is read
// whole as the head, one row of it as the embedding), Q8 weights with their f16 scales.
inline double weight_bytes(xla::Model& m) {
  double total = 0;
  for (auto& [name, w] : m.named_parameters()) {
    const double values = double(w->numel());
    total += w->dtype() == xla::DType::Q8 ? values + values / 32 * 2 : values * double(xla::dtype_size(w->dtype()));
  }
  return total;
}

// The middle of the turns' figures (the upper of the two middle ones for an even count; 0
// for none): a figure that one slow minute of the machine cannot drag.
inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace bench
