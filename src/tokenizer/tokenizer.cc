// Encode / decode. Loading lives in tokenizer_json.cc.
#include "tokenizer/tokenizer.h"

#include <deque>

#include "tokenizer/utf8.h"

namespace tachyon::tok {

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 2);
  if (add_bos && bos_id_) ids.push_back(*bos_id_);
  encode_append(text, &ids);
  return ids;
}

void Tokenizer::encode_append(std::string_view text, std::vector<int32_t>* out, size_t limit) const {
  std::string fixed;
  if (!is_valid_utf8(text)) {
    fixed = to_valid_utf8(text);
    text = fixed;
  }
  if (text.empty()) return;
  RegexScratch scratch;
  // Pass 1: added tokens that match the raw text.
  std::vector<Segment> raw, segs;
  matcher_->split(text, 0, text.size(), /*normalized=*/false, scratch, &raw);
  // Pass 2: in the remaining pieces, added tokens that match normalized text. The supported
  // normalizers are all the identity, so this is the same text.
  for (const Segment& s : raw) {
    if (s.id >= 0 || matcher_->empty(/*normalized=*/true)) segs.push_back(s);
    else matcher_->split(text, s.begin, s.end, /*normalized=*/true, scratch, &segs);
  }
  for (const Segment& s : segs) {
    if (out->size() > limit) return;
    if (s.id >= 0) out->push_back(s.id);
    else encode_text(text.substr(s.begin, s.end - s.begin), scratch, out, limit);
  }
}

// Pre-tokenizes one text piece step by step, then BPE-encodes the final pieces.
void Tokenizer::encode_text(std::string_view piece, RegexScratch& scratch, std::vector<int32_t>* out,
                            size_t limit) const {
  std::vector<std::string_view> cur{piece}, next;
  std::deque<std::string> owned;  // pieces with a prefix space added (stable addresses)
  std::vector<std::pair<size_t, size_t>> ranges;
  for (const PreTokStep& step : pre_tokenizer_) {
    next.clear();
    for (std::string_view p : cur) {
      if (step.kind == PreTokStep::Kind::kByteLevel) {
        if (step.add_prefix_space && p.front() != ' ') {
          std::string& q = owned.emplace_back(1, ' ');
          q.append(p);
          p = q;
        }
        if (!step.regex) {
          next.push_back(p);
          continue;
        }
      }
      ranges.clear();
      split_with_behavior(*step.regex, step.behavior, step.invert, p, scratch, &ranges);
      for (auto [b, e] : ranges) next.push_back(p.substr(b, e - b));
    }
    std::swap(cur, next);
  }
  for (std::string_view p : cur) {
    if (out->size() > limit) return;
    model_->tokenize(p, out);
  }
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (!is_valid_id(id) || (skip_special && is_special(id))) continue;
    bytes += bytes_[size_t(id)];
  }
  return is_valid_utf8(bytes) ? bytes : to_valid_utf8(bytes);
}

std::string_view Tokenizer::token_bytes(int32_t id) const {
  return is_valid_id(id) ? std::string_view(bytes_[size_t(id)]) : std::string_view();
}

std::string_view Tokenizer::id_to_token(int32_t id) const {
  return is_valid_id(id) ? std::string_view(tokens_[size_t(id)]) : std::string_view();
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto it = added_by_content_.find(token); it != added_by_content_.end()) return it->second;
  if (auto it = model_->vocab().find(token); it != model_->vocab().end()) return it->second;
  return std::nullopt;
}

Status Tokenizer::set_bos_eos(const std::optional<std::string>& bos, const std::optional<std::string>& eos) {
  if (bos) {
    bos_id_ = token_to_id(*bos);
    if (!bos_id_) return error("bos_token '{}' is not a token", *bos);
  }
  if (eos) {
    eos_id_ = token_to_id(*eos);
    if (!eos_id_) return error("eos_token '{}' is not a token", *eos);
  }
  return Status::ok();
}

}  // namespace tachyon::tok
