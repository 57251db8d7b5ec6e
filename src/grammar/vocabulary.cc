#include "grammar/vocabulary.h"

#include <algorithm>
#include <optional>

namespace tachyon::grammar {
namespace {

// Code points of `s` when it is plain JSON string text: whole, well-formed UTF-8 characters with no
// quote, backslash or control byte (any such text is allowed anywhere inside a JSON string).
std::optional<uint32_t> plain_code_points(std::string_view s) {
  uint32_t n = 0;
  for (size_t i = 0; i < s.size();) {
    const auto b = uint8_t(s[i]);
    size_t len = 0;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b < 0x80) {
      if (b < 0x20 || b == '"' || b == '\\') return std::nullopt;
      len = 1;
    } else if (b >= 0xC2 && b <= 0xDF) {
      len = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      return std::nullopt;
    }
    if (i + len > s.size()) return std::nullopt;
    for (size_t k = 1; k < len; ++k) {
      const auto c = uint8_t(s[i + k]);
      if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) return std::nullopt;
    }
    i += len;
    ++n;
  }
  return n;
}

}  // namespace

void Vocabulary::build_trie(const std::vector<std::string>& bytes, std::vector<int32_t> ids,
                            std::vector<TrieNode>* nodes, std::vector<int32_t>* out_ids) {
  std::sort(ids.begin(), ids.end(), [&](int32_t x, int32_t y) {
    const int c = bytes[size_t(x)].compare(bytes[size_t(y)]);
    return c != 0 ? c < 0 : x < y;
  });
  nodes->assign(1, TrieNode{});
  out_ids->clear();
  std::vector<uint32_t> path{0};  // node index at each depth of the current string
  std::string_view prev;
  for (const int32_t id : ids) {
    const std::string_view s = bytes[size_t(id)];
    size_t common = 0;
    while (common < prev.size() && common < s.size() && prev[common] == s[common]) ++common;
    while (path.size() > common + 1) {
      (*nodes)[path.back()].subtree_end = uint32_t(nodes->size());
      path.pop_back();
    }
    for (size_t d = common; d < s.size(); ++d) {
      TrieNode n;
      n.depth = uint16_t(d + 1);
      n.byte = uint8_t(s[d]);
      path.push_back(uint32_t(nodes->size()));
      nodes->push_back(n);
    }
    TrieNode& last = (*nodes)[path.back()];
    if (last.n_ids == 0) last.ids_begin = uint32_t(out_ids->size());
    ++last.n_ids;
    out_ids->push_back(id);
    prev = s;
  }
  while (!path.empty()) {
    (*nodes)[path.back()].subtree_end = uint32_t(nodes->size());
    path.pop_back();
  }
}

Result<std::shared_ptr<const Vocabulary>> Vocabulary::build(std::vector<std::string> token_bytes,
                                                            std::span<const int32_t> special_ids,
                                                            std::span<const int32_t> stop_ids) {
  std::shared_ptr<Vocabulary> v(new Vocabulary());
  const auto n = int32_t(token_bytes.size());
  if (token_bytes.size() > size_t(INT32_MAX)) return error("vocabulary of {} tokens is too large", token_bytes.size());
  v->bytes_ = std::move(token_bytes);
  v->kind_.assign(v->bytes_.size(), kOrdinary);
  for (const int32_t id : special_ids) {
    if (id < 0 || id >= n) return error("special token id {} is outside the vocabulary [0, {})", id, n);
    v->kind_[size_t(id)] = kSpecial;
  }
  for (const int32_t id : stop_ids) {
    if (id < 0 || id >= n) return error("stop token id {} is outside the vocabulary [0, {})", id, n);
    if (v->kind_[size_t(id)] != kStop) v->stop_ids_.push_back(id);
    v->kind_[size_t(id)] = kStop;
  }
  for (const std::string& b : v->bytes_) {
    if (b.size() > 60000) return error("a token of {} bytes is longer than the 60000 supported", b.size());
  }

  std::vector<int32_t> all, string_special;
  std::vector<std::pair<uint32_t, int32_t>> plain;  // (code points, id)
  for (int32_t id = 0; id < n; ++id) {
    const std::string& b = v->bytes_[size_t(id)];
    if (v->kind_[size_t(id)] != kOrdinary || b.empty()) continue;
    all.push_back(id);
    v->max_depth_ = std::max(v->max_depth_, b.size());
    if (const auto cps = plain_code_points(b)) {
      plain.emplace_back(*cps, id);
      v->max_plain_cps_ = std::max(v->max_plain_cps_, *cps);
    } else {
      string_special.push_back(id);
    }
  }
  build_trie(v->bytes_, std::move(all), &v->nodes_, &v->ids_);
  build_trie(v->bytes_, std::move(string_special), &v->string_nodes_, &v->string_ids_);

  const size_t words = v->mask_words();
  v->plain_masks_.assign((size_t(v->max_plain_cps_) + 1) * words, 0);
  for (const auto& [cps, id] : plain) {
    v->plain_masks_[size_t(cps) * words + (size_t(id) >> 5)] |= 1u << (uint32_t(id) & 31);
  }
  for (uint32_t k = 1; k <= v->max_plain_cps_; ++k) {  // cumulative: <= k code points
    for (size_t w = 0; w < words; ++w) v->plain_masks_[k * words + w] |= v->plain_masks_[(k - 1) * words + w];
  }
  return std::shared_ptr<const Vocabulary>(std::move(v));
}

std::span<const uint32_t> Vocabulary::plain_mask(uint64_t max_code_points) const {
  const size_t k = size_t(std::min<uint64_t>(max_code_points, max_plain_cps_));
  const size_t words = mask_words();
  return {plain_masks_.data() + k * words, words};
}

}  // namespace tachyon::grammar
