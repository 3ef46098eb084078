// tokenizer.cpp — the Tokenizer's lookups: vocabulary size, piece <-> id, special flags and
// the special ids the loader found in the file.
#include "tokenizer_data.hpp"

namespace xla {

int32_t Tokenizer::vocab_size() const { return int32_t(data_->pieces.size()); }

const std::string& Tokenizer::piece(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    fail(Status::InvalidArg, "Tokenizer::piece: token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                 std::to_string(vocab_size()) + ")");
  return data_->pieces[id];
}

int32_t Tokenizer::id_of(std::string_view piece) const {
  int32_t id = data_->model_index.find(data_->pieces, piece);
  return id >= 0 ? id : data_->added_only_index.find(data_->pieces, piece);
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && (data_->flags[id] & tokenizer_detail::kSpecialToken);
}

int32_t Tokenizer::bos_id() const { return data_->bos; }
int32_t Tokenizer::eos_id() const { return data_->eos; }
int32_t Tokenizer::pad_id() const { return data_->pad; }
int32_t Tokenizer::unk_id() const { return data_->unk; }
int32_t Tokenizer::start_of_turn_id() const { return data_->start_of_turn; }
int32_t Tokenizer::end_of_turn_id() const { return data_->end_of_turn; }

}  // namespace xla
