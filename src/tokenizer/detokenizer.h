// IncrementalDetokenizer: turns a stream of token ids into text deltas for streaming responses.
//
// Byte-level tokens can split a UTF-8 character, so each delta holds back an incomplete character
// until the bytes that finish it arrive. Deltas are always valid UTF-8, no byte is ever dropped, and
// the concatenation of all deltas plus finish() equals Tokenizer::decode of the whole sequence
// (invalid bytes become U+FFFD exactly as in the full decode; an unfinished tail is flushed as
// U+FFFD by finish()).
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace tachyon::tok {

class IncrementalDetokenizer {
 public:
  explicit IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special = false)
      : tokenizer_(&tokenizer), skip_special_(skip_special) {}

  // The text that `id` completes (possibly empty).
  std::string push(int32_t id);
  // Appends the text that `id` completes to `out`.
  void push(int32_t id, std::string* out);
  // Flushes a held incomplete character as U+FFFD; the detokenizer can then be reused.
  std::string finish();
  // Whether bytes of an unfinished character are being held.
  bool has_pending() const { return utf8_.has_pending(); }

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  Utf8StreamDecoder utf8_;
};

}  // namespace tachyon::tok
