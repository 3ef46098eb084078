// fuzz_tokenizer.cpp — a tokenizer.json as Tokenizer::load reads it (vocabulary, merges, added
// tokens, normalizer, pre-tokenizer and decoder sections). An accepted tokenizer then encodes
// and decodes a few texts: every id it produces lies inside its vocabulary.
#include <cstdint>

#include "fuzz_support.hpp"
#include "xla/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xla;
  const std::string path = fuzz::write_scratch("tokenizer.json", fuzz::as_text(data, size));
  fuzz::refused_or_ok([&] {
    const Tokenizer tok = Tokenizer::load(path);
    for (std::string_view text : {"", "hello world", "  a\n\nb\t", "<start_of_turn>user\nhi<end_of_turn>",
                                  "\xc3\xa9\xe2\x96\x81\xf0\x9f\x98\x80", "\xff\xfe broken utf-8 \xc3"}) {
      const std::vector<int32_t> ids = tok.encode(text, true);
      for (int32_t id : ids) fuzz::require(id >= 0 && id < tok.vocab_size(), "encoded ids are in the vocabulary");
      tok.decode(ids, false);
      tok.decode(ids, true);
    }
    for (int32_t id : {-1, 0, 1, tok.vocab_size() - 1, tok.vocab_size()}) {
      fuzz::refused_or_ok([&] { tok.piece(id); });
      tok.is_special(id);
    }
  });
  return 0;
}
