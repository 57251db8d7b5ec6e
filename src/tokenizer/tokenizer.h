// Tokenizer: loads a Hugging Face tokenizer.json of the byte-level BPE family (DeepSeek, GPT-2,
// Llama 3, Qwen 2, ...) and encodes text to ids and ids back to text, matching HF `tokenizers`.
//
// Pipeline (encode): added tokens are split out of the raw text (added_tokens.h), each remaining
// piece is normalized (only identity normalizers are supported), pre-tokenized (Split regexes and
// ByteLevel, regex.h), and run through the BPE model (bpe.h). No special tokens are added
// automatically: encode(text, add_bos=true) only prepends the BOS id.
// Decode concatenates the tokens' bytes (ByteLevel decoder: each token's characters mapped back to
// bytes; a token with characters outside the byte alphabet, like most added tokens, keeps its own
// UTF-8) and turns invalid UTF-8 into U+FFFD like HF's lossy decode. For streaming, see detokenizer.h.
//
// A Tokenizer is immutable after loading apart from its internal BPE cache, and is safe to use from
// many threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/regex.h"

namespace tachyon::tok {

class Tokenizer {
 public:
  // `path` is a tokenizer.json file or a folder holding one. A tokenizer_config.json next to it, if
  // present, supplies the BOS/EOS token names.
  static Result<std::unique_ptr<Tokenizer>> load(const std::string& path);
  // Parses tokenizer.json text; `source` names it in error messages.
  static Result<std::unique_ptr<Tokenizer>> from_json(std::string_view json_text, const std::string& source);

  // Ids of `text` (added tokens written in the text are recognised, special or not). Invalid UTF-8
  // in `text` is first replaced by U+FFFD. With add_bos, the BOS id is prepended (when known).
  std::vector<int32_t> encode(std::string_view text, bool add_bos = false) const;
  // Appends the ids of `text` to `out`. With a `limit`, encoding stops early once `out` holds more
  // than `limit` ids: the ids are then a prefix of the full encoding, and more than `limit` of them
  // says that the text is longer than `limit` (bounded work for a length check).
  void encode_append(std::string_view text, std::vector<int32_t>* out, size_t limit = SIZE_MAX) const;

  // Text of `ids`; ids outside the vocabulary are skipped (as HF does).
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  // The bytes a token decodes to (empty for unknown ids).
  std::string_view token_bytes(int32_t id) const;
  // The token's string as written in tokenizer.json (byte-level characters for BPE tokens).
  std::string_view id_to_token(int32_t id) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  bool is_valid_id(int32_t id) const { return id >= 0 && size_t(id) < tokens_.size() && has_id_[size_t(id)]; }
  bool is_special(int32_t id) const { return id >= 0 && size_t(id) < special_.size() && special_[size_t(id)]; }
  // The longest text one token stands for, in bytes. A text of n bytes encodes to at least
  // n / max_token_bytes() ids (the ids' bytes concatenate to the text), which bounds a length check.
  size_t max_token_bytes() const { return max_token_bytes_; }
  // One past the largest id (vocabulary and added tokens).
  int32_t vocab_size() const { return int32_t(tokens_.size()); }
  std::optional<int32_t> bos_id() const { return bos_id_; }
  std::optional<int32_t> eos_id() const { return eos_id_; }
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  const BpeModel& model() const { return *model_; }

  // Sets BOS/EOS by token string (used by load() with tokenizer_config.json).
  Status set_bos_eos(const std::optional<std::string>& bos, const std::optional<std::string>& eos);

 private:
  struct PreTokStep {
    enum class Kind { kSplit, kByteLevel } kind = Kind::kSplit;
    std::unique_ptr<Regex> regex;  // Split pattern, or the GPT-2 pattern for ByteLevel(use_regex)
    SplitBehavior behavior = SplitBehavior::kIsolated;
    bool invert = false;
    bool add_prefix_space = false;
  };
  friend class TokenizerJsonLoader;
  Tokenizer() = default;
  void encode_text(std::string_view piece, RegexScratch& scratch, std::vector<int32_t>* out, size_t limit) const;

  std::unique_ptr<BpeModel> model_;
  std::vector<PreTokStep> pre_tokenizer_;
  std::vector<AddedToken> added_;
  std::unique_ptr<AddedTokenMatcher> matcher_;
  Vocab added_by_content_;            // added token content -> id
  std::vector<std::string> tokens_;   // id -> token string
  std::vector<std::string> bytes_;    // id -> decoded bytes
  std::vector<bool> has_id_, special_;
  size_t max_token_bytes_ = 1;
  std::optional<int32_t> bos_id_, eos_id_;
};

}  // namespace tachyon::tok
