// Added-token matching. See added_tokens.h.
#include "tokenizer/added_tokens.h"

#include <algorithm>
#include <cstring>

#include "tokenizer/utf8.h"

namespace tachyon::tok {

AddedTokenMatcher::Trie::Trie() { std::fill(std::begin(root_child), std::end(root_child), -1); }

void AddedTokenMatcher::Trie::add(std::string_view s, int32_t token_index) {
  int32_t node = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const uint8_t b = uint8_t(s[i]);
    int32_t child = -1;
    if (node == 0) {
      child = root_child[b];
    } else if (auto it = edges.find((uint64_t(node) << 8) | b); it != edges.end()) {
      child = it->second;
    }
    if (child < 0) {
      child = int32_t(nodes.size());
      nodes.push_back(-1);
      if (node == 0) first_bytes.push_back(b);
      if (node == 0) root_child[b] = child;
      else edges.emplace((uint64_t(node) << 8) | b, child);
    }
    node = child;
  }
  if (nodes[size_t(node)] < 0) nodes[size_t(node)] = token_index;  // first of duplicates wins
}

bool AddedTokenMatcher::Trie::find(std::string_view text, size_t pos, size_t end, size_t* m_begin,
                                   size_t* m_end, int32_t* token) const {
  if (nodes.size() <= 1) return false;
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  // With few distinct first bytes, jump between their occurrences with memchr.
  const size_t n_first = first_bytes.size();
  size_t next[3] = {0, 0, 0};
  auto next_occurrence = [&](size_t k, size_t from) {
    const void* q = from < end ? std::memchr(p + from, first_bytes[k], end - from) : nullptr;
    next[k] = q ? size_t(static_cast<const uint8_t*>(q) - p) : end;
  };
  if (n_first <= 3)
    for (size_t k = 0; k < n_first; ++k) next_occurrence(k, pos);
  for (size_t i = pos; i < end; ++i) {
    if (n_first <= 3) {
      i = end;
      for (size_t k = 0; k < n_first; ++k) i = std::min(i, next[k]);
      if (i >= end) break;
      for (size_t k = 0; k < n_first; ++k)
        if (next[k] == i) next_occurrence(k, i + 1);
    }
    int32_t node = root_child[p[i]];
    if (node < 0) continue;
    int32_t best = -1;
    size_t best_end = 0;
    for (size_t j = i + 1;; ++j) {
      if (nodes[size_t(node)] >= 0) {
        best = nodes[size_t(node)];
        best_end = j;
      }
      if (j >= end) break;
      auto it = edges.find((uint64_t(node) << 8) | p[j]);
      if (it == edges.end()) break;
      node = it->second;
    }
    if (best >= 0) {
      *m_begin = i;
      *m_end = best_end;
      *token = best;
      return true;
    }
  }
  return false;
}

Result<std::unique_ptr<AddedTokenMatcher>> AddedTokenMatcher::build(const std::vector<AddedToken>& tokens) {
  auto m = std::make_unique<AddedTokenMatcher>();
  m->tokens_ = tokens;
  bool any_single_word = false;
  // HF order: special tokens first, then the others.
  for (int pass = 0; pass < 2; ++pass)
    for (size_t i = 0; i < tokens.size(); ++i) {
      const AddedToken& t = tokens[i];
      if (t.content.empty() || t.special != (pass == 0)) continue;
      m->tries_[t.normalized ? 1 : 0].add(t.content, int32_t(i));
      any_single_word |= t.single_word;
    }
  if (any_single_word) {
    TACHYON_ASSIGN_OR_RETURN(m->word_char_, Regex::compile("[\\p{L}\\p{Nl}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}]"));
  }
  return m;
}

bool AddedTokenMatcher::word_char_before(std::string_view text, size_t begin, size_t pos,
                                         RegexScratch& scratch) const {
  if (pos <= begin) return false;
  size_t i = pos - 1;
  while (i > begin && (uint8_t(text[i]) & 0xC0) == 0x80) --i;
  return word_char_->matches_at(text.substr(0, pos), i, scratch);
}

bool AddedTokenMatcher::word_char_at(std::string_view text, size_t pos, size_t end, RegexScratch& scratch) const {
  return pos < end && word_char_->matches_at(text.substr(0, end), pos, scratch);
}

void AddedTokenMatcher::split(std::string_view text, size_t begin, size_t end, bool normalized,
                              RegexScratch& scratch, std::vector<Segment>* out) const {
  const Trie& trie = tries_[normalized ? 1 : 0];
  size_t start_offset = begin;  // end of what has been emitted
  size_t search = begin;        // where the automaton resumes (after the last raw match)
  size_t mb = 0, me = 0;
  int32_t ti = -1;
  while (search < end && trie.find(text, search, end, &mb, &me, &ti)) {
    search = me;
    const AddedToken& t = tokens_[size_t(ti)];
    if (t.single_word && (word_char_before(text, begin, mb, scratch) || word_char_at(text, me, end, scratch)))
      continue;
    size_t start = mb, stop = me;
    if (t.lstrip) {
      size_t s = start;
      while (s > begin) {
        size_t i = s - 1;
        while (i > begin && (uint8_t(text[i]) & 0xC0) == 0x80) --i;
        size_t len = 0;
        if (!is_unicode_whitespace(decode_code_point(text, i, &len))) break;
        s = i;
      }
      start = std::max(s, start_offset);
    }
    if (t.rstrip) {
      while (stop < end) {
        size_t len = 0;
        if (!is_unicode_whitespace(decode_code_point(text, stop, &len))) break;
        stop += len;
      }
    }
    // A match inside whitespace that an rstrip token already swallowed would overlap it (HF emits
    // overlapping pieces there); such a match is skipped instead.
    if (start < start_offset) continue;
    if (start_offset < start) out->push_back({start_offset, start, -1});
    out->push_back({start, stop, t.id});
    start_offset = stop;
  }
  if (start_offset < end) out->push_back({start_offset, end, -1});
}

}  // namespace tachyon::tok
