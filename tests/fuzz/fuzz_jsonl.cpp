// fuzz_jsonl.cpp — the JSONL datasets of the trainers: supervised pairs (Dataset), preference
// pairs (PreferenceDataset, text or ids) and prompts (PromptDataset), plain or through the chat
// template, with the byte codec. Byte 0 picks the reader and the options; the rest is the file.
// Accepted datasets hold only ids of the codec's vocabulary.
#include <cstdint>

#include "fuzz_support.hpp"
#include "xla/data.hpp"
#include "xla/dpo_trainer.hpp"
#include "xla/grpo_trainer.hpp"

namespace {

void require_in_vocab(const std::vector<int32_t>& ids, int32_t vocab) {
  for (int32_t id : ids) xla::fuzz::require(id >= 0 && id < vocab, "dataset ids lie in the vocabulary");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xla;
  using namespace xla::train;
  if (size == 0) return 0;
  const int reader = (data[0] & 3) % 3;
  const bool chat = data[0] & 4;
  const int64_t seq_len = 1 + 4 * (data[0] >> 3);  // 1..125: short rows, so long lines are refused too
  const std::string path = fuzz::write_scratch("data.jsonl", fuzz::as_text(data + 1, size - 1));
  const TextCodec codec;  // bytes
  const int32_t vocab = codec.vocab_size();
  fuzz::refused_or_ok([&] {
    if (reader == 0) {
      const Dataset d = Dataset::from_jsonl(path, codec, seq_len, chat);
      for (size_t i = 0; i < d.size(); ++i) {
        fuzz::require(int64_t(d[i].inputs.size()) == seq_len && d[i].targets.size() == d[i].inputs.size(),
                      "a supervised row is seq_len long");
        require_in_vocab(d[i].inputs, vocab);
      }
    } else if (reader == 1) {
      const PreferenceDataset d = PreferenceDataset::from_jsonl(path, codec, seq_len, chat);
      for (size_t i = 0; i < d.size(); ++i) {
        require_in_vocab(d[i].prompt, vocab);
        require_in_vocab(d[i].chosen, vocab);
        require_in_vocab(d[i].rejected, vocab);
      }
    } else {
      const PromptDataset d = PromptDataset::from_jsonl(path, codec, chat);
      for (size_t i = 0; i < d.size(); ++i) {
        fuzz::require(!d[i].ids.empty(), "a prompt has at least one token");
        require_in_vocab(d[i].ids, vocab);
      }
    }
  });
  return 0;
}
