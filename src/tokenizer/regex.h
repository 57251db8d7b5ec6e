// A PCRE2 pattern compiled once (UTF | UCP, JIT when available), with Hugging Face / Oniguruma
// find-all semantics, and the Split pre-tokenizer behaviours built on it.
//
// Hugging Face `tokenizers` runs its Split regexes with Oniguruma. PCRE2 with PCRE2_UCP gives the same
// \p{..} classes and supports the lookahead `\s+(?!\S)` that GPT-style patterns need. Subjects must be
// valid UTF-8 (the tokenizer validates its input once), so matching skips PCRE2's UTF check.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

struct pcre2_real_code_8;
struct pcre2_real_match_data_8;

namespace tachyon::tok {

// Per-thread match scratch: one pcre2_match_data, reusable with any Regex.
class RegexScratch {
 public:
  RegexScratch();
  ~RegexScratch();
  RegexScratch(const RegexScratch&) = delete;
  RegexScratch& operator=(const RegexScratch&) = delete;
  pcre2_real_match_data_8* get() const { return md_; }

 private:
  pcre2_real_match_data_8* md_;
};

class Regex {
 public:
  // `literal`: the pattern is a plain string (HF `{"String": ...}`), not a regex.
  static Result<std::unique_ptr<Regex>> compile(std::string_view pattern, bool literal = false);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Finds the first match at or after byte `offset` of `subject`; false when none.
  bool find(std::string_view subject, size_t offset, RegexScratch& scratch, size_t* start, size_t* end) const;
  // Whether the pattern matches at exactly byte `offset` (used for single-character class tests).
  bool matches_at(std::string_view subject, size_t offset, RegexScratch& scratch) const;
  // All matches, non-overlapping, left to right, as Oniguruma's find_iter yields them: an empty
  // match directly after the previous match is skipped by advancing one character.
  void find_all(std::string_view subject, RegexScratch& scratch, std::vector<std::pair<size_t, size_t>>* out) const;

 private:
  Regex() = default;
  pcre2_real_code_8* code_ = nullptr;
  bool jit_ = false;
};

// How a Split pre-tokenizer treats the pieces its pattern matches (HF SplitDelimiterBehavior).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Splits `piece` on `re` with `behavior` (matches flipped first when `invert`) and appends the
// resulting non-empty sub-pieces, as byte ranges [begin, end) of `piece`, to `out`.
void split_with_behavior(const Regex& re, SplitBehavior behavior, bool invert, std::string_view piece,
                         RegexScratch& scratch, std::vector<std::pair<size_t, size_t>>* out);

}  // namespace tachyon::tok
