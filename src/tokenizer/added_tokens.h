// Added tokens (tokenizer.json "added_tokens"): found in the raw text before pre-tokenization.
//
// As in HF `tokenizers` (tokenizer/added_vocabulary.rs): tokens with normalized=false are matched
// first, on the raw text; tokens with normalized=true are then matched in the remaining pieces after
// normalization. Each pass is leftmost-longest over its set of tokens (HF uses an Aho-Corasick
// automaton with MatchKind::LeftmostLongest; a byte trie gives the same matches). Per token:
//   single_word: the match is dropped when a word character touches it on either side;
//   lstrip / rstrip: the match also swallows the whitespace on its left / right;
//   special: only affects decoding ("skip special tokens").
// Whitespace is Unicode White_Space and a word character is Rust regex `\w` (Alphabetic, marks,
// decimal digits, connector punctuation, ZWNJ/ZWJ; Alphabetic is approximated by \p{L} and \p{Nl}).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/regex.h"

namespace tachyon::tok {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool normalized = true;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

// A piece of the input: a matched added token (id >= 0) or text still to tokenize (id == -1).
struct Segment {
  size_t begin, end;
  int32_t id;
};

class AddedTokenMatcher {
 public:
  static Result<std::unique_ptr<AddedTokenMatcher>> build(const std::vector<AddedToken>& tokens);

  // Splits text[begin, end) with the tokens of one pass (`normalized` selects the set) and appends
  // the segments, in order, to `out`. Text segments are never empty.
  void split(std::string_view text, size_t begin, size_t end, bool normalized, RegexScratch& scratch,
             std::vector<Segment>* out) const;
  bool empty(bool normalized) const { return tries_[normalized ? 1 : 0].nodes.size() <= 1; }

 private:
  struct Trie {
    std::vector<int32_t> nodes{-1};               // node -> token index ending here, or -1
    std::unordered_map<uint64_t, int32_t> edges;  // (node << 8 | byte) -> child node
    int32_t root_child[256];
    std::vector<uint8_t> first_bytes;  // distinct first bytes of the tokens (memchr when few)
    Trie();
    void add(std::string_view s, int32_t token_index);
    // Leftmost-longest match in text[pos, end); false when none.
    bool find(std::string_view text, size_t pos, size_t end, size_t* m_begin, size_t* m_end, int32_t* token) const;
  };
  bool word_char_before(std::string_view text, size_t begin, size_t pos, RegexScratch& scratch) const;
  bool word_char_at(std::string_view text, size_t pos, size_t end, RegexScratch& scratch) const;

  std::vector<AddedToken> tokens_;
  Trie tries_[2];  // [0]: normalized=false, [1]: normalized=true
  std::unique_ptr<Regex> word_char_;
};

}  // namespace tachyon::tok
