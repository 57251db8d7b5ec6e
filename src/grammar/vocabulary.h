// Vocabulary: the token ids' byte strings, indexed once per tokenizer for token masks (matcher.h).
//
// Built from what any byte-level tokenizer gives (the bytes each id decodes to, e.g.
// tok::Tokenizer::token_bytes), which ids are special (control tokens the grammar never produces) and
// which ids stop generation (allowed exactly when the document is complete). Immutable once built: share
// one between all matchers of a tokenizer, across threads.
//
// The index: a byte trie of all ordinary tokens in depth-first order (a mask walks it with the matcher,
// skipping every subtree whose first byte the grammar refuses), and for the inside of JSON strings,
// where nearly every token is allowed, a split: tokens that are plain string text (whole UTF-8
// characters, no quote, backslash or control byte) are allowed by precomputed masks by their length in
// code points, and only the other tokens are walked, in a second trie.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace tachyon::grammar {

class Vocabulary {
 public:
  struct TrieNode {
    uint32_t subtree_end = 0;  // index of the first node after this one's subtree
    uint32_t ids_begin = 0;    // the ids whose bytes end here: ids()[ids_begin, ids_begin + n_ids)
    uint32_t n_ids = 0;
    uint16_t depth = 0;        // the root (index 0) has depth 0
    uint8_t byte = 0;
  };

  // `token_bytes[id]` are the bytes of id (an empty string: never allowed). Ids in `special_ids` are
  // never produced by a grammar; ids in `stop_ids` are allowed when the document is complete. Errors
  // name an id outside [0, size).
  static Result<std::shared_ptr<const Vocabulary>> build(std::vector<std::string> token_bytes,
                                                         std::span<const int32_t> special_ids,
                                                         std::span<const int32_t> stop_ids);

  int32_t size() const { return int32_t(bytes_.size()); }
  // 32-bit words of a token mask.
  size_t mask_words() const { return (bytes_.size() + 31) / 32; }
  std::string_view bytes(int32_t id) const { return bytes_[size_t(id)]; }
  bool is_special(int32_t id) const { return kind_[size_t(id)] != kOrdinary; }
  bool is_stop(int32_t id) const { return kind_[size_t(id)] == kStop; }
  const std::vector<int32_t>& stop_ids() const { return stop_ids_; }

  // Internals for Matcher.
  const std::vector<TrieNode>& trie(bool string_trie) const { return string_trie ? string_nodes_ : nodes_; }
  const std::vector<int32_t>& trie_ids(bool string_trie) const { return string_trie ? string_ids_ : ids_; }
  size_t max_depth() const { return max_depth_; }
  // The plain-string tokens of at most `max_code_points` code points (clamped to max_plain_code_points()).
  std::span<const uint32_t> plain_mask(uint64_t max_code_points) const;
  uint32_t max_plain_code_points() const { return max_plain_cps_; }

 private:
  enum Kind : uint8_t { kOrdinary, kSpecial, kStop };
  Vocabulary() = default;
  static void build_trie(const std::vector<std::string>& bytes, std::vector<int32_t> ids,
                         std::vector<TrieNode>* nodes, std::vector<int32_t>* out_ids);

  std::vector<std::string> bytes_;
  std::vector<Kind> kind_;
  std::vector<int32_t> stop_ids_;
  std::vector<TrieNode> nodes_, string_nodes_;
  std::vector<int32_t> ids_, string_ids_;
  size_t max_depth_ = 0;
  uint32_t max_plain_cps_ = 0;
  std::vector<uint32_t> plain_masks_;  // (max_plain_cps_ + 1) masks: [k] = plain tokens of <= k code points
};

// Mask helpers.
inline bool mask_test(std::span<const uint32_t> mask, int32_t id) {
  return (mask[size_t(id) >> 5] >> (uint32_t(id) & 31)) & 1;
}
inline void mask_set(std::span<uint32_t> mask, int32_t id) { mask[size_t(id) >> 5] |= 1u << (uint32_t(id) & 31); }

}  // namespace tachyon::grammar
