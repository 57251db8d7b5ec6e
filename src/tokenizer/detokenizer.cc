// Incremental detokenization. See detokenizer.h.
#include "tokenizer/detokenizer.h"

namespace tachyon::tok {

void IncrementalDetokenizer::push(int32_t id, std::string* out) {
  if (!tokenizer_->is_valid_id(id) || (skip_special_ && tokenizer_->is_special(id))) return;
  utf8_.push(tokenizer_->token_bytes(id), out);
}

std::string IncrementalDetokenizer::push(int32_t id) {
  std::string out;
  push(id, &out);
  return out;
}

std::string IncrementalDetokenizer::finish() {
  std::string out;
  utf8_.finish(&out);
  return out;
}

}  // namespace tachyon::tok
