// SAX parsing of tokenizer.json. See json_sax.h.
#include "tokenizer/json_sax.h"

namespace tachyon::tok {
namespace {

using nlohmann::json;
using DomParser = nlohmann::detail::json_sax_dom_parser<json>;

class TokenizerSax {
 public:
  explicit TokenizerSax(ParsedTokenizerJson* out) : out_(out), dom_(out->dom, /*allow_exceptions=*/false) {}

  bool null() { return value([&] { return dom_.null(); }); }
  bool boolean(bool v) { return value([&] { return dom_.boolean(v); }); }
  bool number_float(double v, const std::string& s) { return value([&] { return dom_.number_float(v, s); }); }
  bool binary(json::binary_t& v) { return value([&] { return dom_.binary(v); }); }
  bool number_integer(int64_t v) {
    if (mode_ == Mode::kVocab) return vocab_id(v);
    return value([&] { return dom_.number_integer(v); });
  }
  bool number_unsigned(uint64_t v) {
    if (mode_ == Mode::kVocab) return vocab_id(v > uint64_t(INT64_MAX) ? -1 : int64_t(v));
    return value([&] { return dom_.number_unsigned(v); });
  }
  bool string(std::string& s) {
    if (mode_ == Mode::kMerges) {
      if (merge_depth_ == 0) {
        const size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
          return fail(fmt::format("model.merges[{}]: '{}' is not two tokens separated by one space",
                                  out_->merges.size(), s));
        out_->merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
        return true;
      }
      if (merge_parts_.size() >= 2) return bad_merge();
      merge_parts_.push_back(std::move(s));
      return true;
    }
    if (mode_ == Mode::kVocab) return fail(fmt::format("model.vocab: '{}' has a bad id \"{}\"", key_, s));
    return value([&] { return dom_.string(s); });
  }
  bool start_object(size_t n) {
    if (mode_ == Mode::kVocab) return fail(fmt::format("model.vocab: '{}' has a bad id (an object)", key_));
    if (mode_ == Mode::kMerges) return bad_merge();
    ++depth_;
    if (pending_ == Pending::kVocab && depth_ == 3) {
      pending_ = Pending::kNone;
      mode_ = Mode::kVocab;
      out_->vocab_streamed = true;
      out_->vocab.reserve(1 << 17);
      return dom_.null();
    }
    if (pending_ == Pending::kModel && depth_ == 2) in_model_ = true;
    pending_ = Pending::kNone;
    return dom_.start_object(n);
  }
  bool end_object() {
    if (mode_ == Mode::kVocab) {
      mode_ = Mode::kNone;
      --depth_;
      return true;
    }
    if (depth_ == 2) in_model_ = false;
    --depth_;
    return dom_.end_object();
  }
  bool start_array(size_t n) {
    if (mode_ == Mode::kVocab) return fail(fmt::format("model.vocab: '{}' has a bad id (an array)", key_));
    if (mode_ == Mode::kMerges) {
      if (merge_depth_ > 0) return bad_merge();
      merge_depth_ = 1;
      merge_parts_.clear();
      return true;
    }
    ++depth_;
    if (pending_ == Pending::kMerges && depth_ == 3) {
      pending_ = Pending::kNone;
      mode_ = Mode::kMerges;
      out_->merges_streamed = true;
      out_->merges.reserve(1 << 17);
      return dom_.null();
    }
    pending_ = Pending::kNone;
    return dom_.start_array(n);
  }
  bool end_array() {
    if (mode_ == Mode::kMerges) {
      if (merge_depth_ == 1) {
        if (merge_parts_.size() != 2) return bad_merge();
        out_->merges.emplace_back(std::move(merge_parts_[0]), std::move(merge_parts_[1]));
        merge_depth_ = 0;
        return true;
      }
      mode_ = Mode::kNone;
      --depth_;
      return true;
    }
    --depth_;
    return dom_.end_array();
  }
  bool key(std::string& k) {
    if (mode_ == Mode::kVocab) {
      key_ = std::move(k);
      return true;
    }
    if (depth_ == 1 && k == "model") pending_ = Pending::kModel;
    else if (depth_ == 2 && in_model_ && k == "vocab") pending_ = Pending::kVocab;
    else if (depth_ == 2 && in_model_ && k == "merges") pending_ = Pending::kMerges;
    else pending_ = Pending::kNone;
    return dom_.key(k);
  }
  bool parse_error(size_t pos, const std::string& token, const nlohmann::detail::exception& e) {
    if (error_.empty()) error_ = fmt::format("malformed JSON: {}", e.what());
    return false;
  }
  const std::string& error() const { return error_; }

 private:
  enum class Mode { kNone, kVocab, kMerges };
  enum class Pending { kNone, kModel, kVocab, kMerges };

  template <typename Fn>
  bool value(Fn&& fn) {
    if (mode_ == Mode::kVocab) return fail(fmt::format("model.vocab: '{}' has a bad id", key_));
    if (mode_ == Mode::kMerges) return bad_merge();
    pending_ = Pending::kNone;
    return fn();
  }
  bool vocab_id(int64_t v) {
    out_->vocab.emplace_back(std::move(key_), v);
    return true;
  }
  bool bad_merge() { return fail(fmt::format("model.merges[{}]: expected \"a b\" or [\"a\", \"b\"]", out_->merges.size())); }
  bool fail(std::string msg) {
    if (error_.empty()) error_ = std::move(msg);
    return false;
  }

  ParsedTokenizerJson* out_;
  DomParser dom_;
  int depth_ = 0;
  bool in_model_ = false;
  Pending pending_ = Pending::kNone;
  Mode mode_ = Mode::kNone;
  int merge_depth_ = 0;
  std::vector<std::string> merge_parts_;
  std::string key_;
  std::string error_;
};

}  // namespace

Status parse_tokenizer_json(std::string_view text, ParsedTokenizerJson* out) {
  TokenizerSax sax(out);
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &sax);
  } catch (const json::exception& e) {
    return error("malformed JSON: {}", e.what());
  }
  if (!ok || !sax.error().empty()) return Status::error(sax.error().empty() ? "malformed JSON" : sax.error());
  return Status::ok();
}

}  // namespace tachyon::tok
