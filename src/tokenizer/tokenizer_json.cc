// Loading a Hugging Face tokenizer.json (and the bos/eos names of a neighbouring
// tokenizer_config.json) into a Tokenizer.
//
// Supported, as HF `tokenizers` defines them:
//   model:          BPE (vocab; merges as "a b" strings or ["a", "b"] pairs; unk_token, fuse_unk,
//                   byte_fallback, continuing_subword_prefix, end_of_word_suffix, ignore_merges)
//   normalizer:     null, or a Sequence of supported normalizers (i.e. the identity)
//   pre_tokenizer:  null, Sequence, Split (Regex or String pattern, all five behaviours, invert),
//                   ByteLevel (add_prefix_space, use_regex with the GPT-2 pattern; must come last)
//   decoder:        ByteLevel (or a Sequence of ByteLevel)
//   post_processor: ignored, since special tokens are never added automatically
// Anything else is a load error that names the file, the field and the unsupported type.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/file_read.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/json_sax.h"
#include "tokenizer/tokenizer.h"

namespace tachyon::tok {

using nlohmann::json;

namespace {

// The GPT-2 pre-tokenizer pattern, used by ByteLevel with use_regex=true.
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

constexpr int64_t kMaxTokenId = int64_t(1) << 26;

// j[key], or null when absent (never copies).
const json& field(const json& j, const char* key) {
  static const json kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string type_of(const json& j) {
  if (!j.is_object()) return "";
  auto it = j.find("type");
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool get_bool(const json& j, const char* key, bool dflt) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : dflt;
}

std::optional<std::string> get_string(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

Status check_normalizer(const json& j) {
  if (j.is_null()) return Status::ok();
  const std::string type = type_of(j);
  if (type == "Sequence") {
    auto it = j.find("normalizers");
    if (it == j.end() || !it->is_array()) return error("normalizer: Sequence without a 'normalizers' array");
    for (const json& n : *it) TACHYON_RETURN_IF_ERROR(check_normalizer(n));
    return Status::ok();
  }
  return error("normalizer: type '{}' is not supported (only null and Sequence)", type.empty() ? j.dump() : type);
}

}  // namespace

class TokenizerJsonLoader {
 public:
  static Result<std::unique_ptr<Tokenizer>> load(ParsedTokenizerJson& p);

 private:
  static Status add_pre_tokenizer(const json& j, Tokenizer* t);
  static Status load_model(ParsedTokenizerJson& p, bool byte_level, Tokenizer* t);
  static Status load_added_tokens(const json& j, Tokenizer* t);
};

Status TokenizerJsonLoader::add_pre_tokenizer(const json& j, Tokenizer* t) {
  if (j.is_null()) return Status::ok();
  const std::string type = type_of(j);
  if (!t->pre_tokenizer_.empty() && t->pre_tokenizer_.back().kind == Tokenizer::PreTokStep::Kind::kByteLevel)
    return error("pre_tokenizer: '{}' after ByteLevel is not supported", type);
  if (type == "Sequence") {
    auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array()) return error("pre_tokenizer: Sequence without a 'pretokenizers' array");
    for (const json& p : *it) TACHYON_RETURN_IF_ERROR(add_pre_tokenizer(p, t));
    return Status::ok();
  }
  Tokenizer::PreTokStep step;
  if (type == "Split") {
    auto pat = j.find("pattern");
    if (pat == j.end() || !pat->is_object()) return error("pre_tokenizer: Split without a 'pattern' object");
    bool literal = false;
    std::string pattern;
    if (auto r = get_string(*pat, "Regex")) pattern = *r;
    else if (auto s = get_string(*pat, "String")) pattern = *s, literal = true;
    else return error("pre_tokenizer: Split pattern must be {{\"Regex\": ...}} or {{\"String\": ...}}");
    auto re = Regex::compile(pattern, literal);
    if (!re.is_ok()) return re.status().with_context("pre_tokenizer: Split");
    step.regex = std::move(*re);
    const std::string behavior = get_string(j, "behavior").value_or("");
    if (behavior == "Removed") step.behavior = SplitBehavior::kRemoved;
    else if (behavior == "Isolated") step.behavior = SplitBehavior::kIsolated;
    else if (behavior == "MergedWithPrevious") step.behavior = SplitBehavior::kMergedWithPrevious;
    else if (behavior == "MergedWithNext") step.behavior = SplitBehavior::kMergedWithNext;
    else if (behavior == "Contiguous") step.behavior = SplitBehavior::kContiguous;
    else return error("pre_tokenizer: Split behavior '{}' is not known", behavior);
    step.invert = get_bool(j, "invert", false);
  } else if (type == "ByteLevel") {
    step.kind = Tokenizer::PreTokStep::Kind::kByteLevel;
    step.add_prefix_space = get_bool(j, "add_prefix_space", true);
    if (get_bool(j, "use_regex", true)) {
      auto re = Regex::compile(kGpt2Pattern);
      if (!re.is_ok()) return re.status();
      step.regex = std::move(*re);
    }
  } else {
    return error("pre_tokenizer: type '{}' is not supported (only Sequence, Split, ByteLevel)",
                 type.empty() ? j.dump() : type);
  }
  t->pre_tokenizer_.push_back(std::move(step));
  return Status::ok();
}

Status TokenizerJsonLoader::load_model(ParsedTokenizerJson& p, bool byte_level, Tokenizer* t) {
  const json& m = field(p.dom, "model");
  if (!m.is_object()) return error("model: missing or not an object");
  const std::string type = type_of(m);
  if (type != "BPE" && !(type.empty() && m.contains("merges")))
    return error("model: type '{}' is not supported (only BPE)", type);
  if (auto d = m.find("dropout"); d != m.end() && d->is_number() && d->get<double>() > 0)
    return error("model: BPE dropout is not supported");
  if (!p.vocab_streamed) return error("model: 'vocab' must be an object");
  if (!p.merges_streamed) return error("model: 'merges' must be an array");
  Vocab vocab;
  vocab.reserve(p.vocab.size());
  for (auto& [tok, id] : p.vocab) {
    if (id < 0 || id >= kMaxTokenId) return error("model.vocab: '{}' has a bad id {}", tok, id);
    vocab.emplace(std::move(tok), int32_t(id));
  }
  p.vocab = {};
  const auto& merges = p.merges;
  BpeOptions opt;
  opt.unk_token = get_string(m, "unk_token");
  opt.continuing_subword_prefix = get_string(m, "continuing_subword_prefix").value_or("");
  opt.end_of_word_suffix = get_string(m, "end_of_word_suffix").value_or("");
  opt.fuse_unk = get_bool(m, "fuse_unk", false);
  opt.byte_fallback = get_bool(m, "byte_fallback", false);
  opt.ignore_merges = get_bool(m, "ignore_merges", false);
  auto model = BpeModel::build(std::move(vocab), merges, std::move(opt), byte_level);
  if (!model.is_ok()) return model.status().with_context("model");
  t->model_ = std::move(*model);
  return Status::ok();
}

Status TokenizerJsonLoader::load_added_tokens(const json& j, Tokenizer* t) {
  if (j.is_null()) return Status::ok();
  if (!j.is_array()) return error("added_tokens: must be an array");
  for (size_t i = 0; i < j.size(); ++i) {
    const json& e = j[i];
    auto id = e.is_object() ? e.find("id") : e.end();
    auto content = get_string(e, "content");
    if (!e.is_object() || id == e.end() || !id->is_number_integer() || !content)
      return error("added_tokens[{}]: needs an integer 'id' and a string 'content'", i);
    if (id->get<int64_t>() < 0 || id->get<int64_t>() >= kMaxTokenId)
      return error("added_tokens[{}]: bad id {}", i, id->dump());
    AddedToken a;
    a.id = int32_t(id->get<int64_t>());
    a.content = *content;
    a.special = get_bool(e, "special", false);
    a.normalized = get_bool(e, "normalized", !a.special);
    a.lstrip = get_bool(e, "lstrip", false);
    a.rstrip = get_bool(e, "rstrip", false);
    a.single_word = get_bool(e, "single_word", false);
    t->added_.push_back(std::move(a));
  }
  return Status::ok();
}

Result<std::unique_ptr<Tokenizer>> TokenizerJsonLoader::load(ParsedTokenizerJson& p) {
  const json& j = p.dom;
  if (!j.is_object()) return error("top level is not a JSON object");
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  TACHYON_RETURN_IF_ERROR(check_normalizer(field(j, "normalizer")));
  TACHYON_RETURN_IF_ERROR(add_pre_tokenizer(field(j, "pre_tokenizer"), t.get()));
  bool byte_level = false;
  for (const auto& s : t->pre_tokenizer_) byte_level |= s.kind == Tokenizer::PreTokStep::Kind::kByteLevel;

  // Decoder: ByteLevel, possibly inside a Sequence.
  const json& dec = field(j, "decoder");
  bool decoder_ok = type_of(dec) == "ByteLevel";
  if (type_of(dec) == "Sequence" && dec.contains("decoders") && dec["decoders"].is_array()) {
    decoder_ok = !dec["decoders"].empty();
    for (const json& d : dec["decoders"]) decoder_ok = decoder_ok && type_of(d) == "ByteLevel";
  }
  if (!decoder_ok)
    return error("decoder: '{}' is not supported (only ByteLevel)", dec.is_null() ? std::string("null") : type_of(dec));

  TACHYON_RETURN_IF_ERROR(load_model(p, byte_level, t.get()));
  TACHYON_RETURN_IF_ERROR(load_added_tokens(field(j, "added_tokens"), t.get()));

  // Id tables: vocabulary entries, then added tokens (which take precedence, as in HF).
  int32_t n = 0;
  for (const auto& [tok, id] : t->model_->vocab()) n = std::max(n, id + 1);
  for (const AddedToken& a : t->added_) n = std::max(n, a.id + 1);
  t->tokens_.assign(size_t(n), std::string());
  t->bytes_.assign(size_t(n), std::string());
  t->has_id_.assign(size_t(n), false);
  t->special_.assign(size_t(n), false);
  auto set_token = [&](int32_t id, const std::string& s) {
    t->tokens_[size_t(id)] = s;
    std::string& b = t->bytes_[size_t(id)];
    b.clear();
    if (!byte_level_to_bytes(s, &b)) b = s;  // HF ByteLevel decoder keeps such tokens as they are
    t->max_token_bytes_ = std::max(t->max_token_bytes_, b.size());
    t->has_id_[size_t(id)] = true;
  };
  for (const auto& [tok, id] : t->model_->vocab()) set_token(id, tok);
  for (const AddedToken& a : t->added_) {
    set_token(a.id, a.content);
    t->special_[size_t(a.id)] = a.special;
    t->added_by_content_.try_emplace(a.content, a.id);
  }
  auto matcher = AddedTokenMatcher::build(t->added_);
  if (!matcher.is_ok()) return matcher.status().with_context("added_tokens");
  t->matcher_ = std::move(*matcher);
  return t;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_json(std::string_view json_text, const std::string& source) {
  ParsedTokenizerJson parsed;
  if (Status st = parse_tokenizer_json(json_text, &parsed); !st.is_ok()) return st.with_context(source);
  auto t = TokenizerJsonLoader::load(parsed);
  if (!t.is_ok()) return t.status().with_context(source);
  return t;
}

namespace {

// Size limits, checked before reading (with the file type: a FIFO or a device is refused). Real
// tokenizer.json files are up to a few tens of MiB (DeepSeek-V4's is 7.5 MiB).
constexpr uint64_t kMaxTokenizerJsonBytes = 128ull << 20;
constexpr uint64_t kMaxTokenizerConfigBytes = 16ull << 20;

// bos_token / eos_token may be a string or an object with "content".
std::optional<std::string> config_token(const json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) return get_string(*it, "content");
  return std::nullopt;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::load(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path file = path;
  if (fs::is_directory(file, ec)) file /= "tokenizer.json";
  TACHYON_ASSIGN_OR_RETURN(std::string text, read_regular_file(file.string(), kMaxTokenizerJsonBytes));
  TACHYON_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> t, from_json(text, file.string()));
  const fs::path cfg_path = file.parent_path() / "tokenizer_config.json";
  if (fs::exists(cfg_path, ec)) {
    TACHYON_ASSIGN_OR_RETURN(std::string cfg_text, read_regular_file(cfg_path.string(), kMaxTokenizerConfigBytes));
    json cfg;
    try {
      cfg = json::parse(cfg_text);
    } catch (const json::exception& e) {
      return error("{}: malformed JSON: {}", cfg_path.string(), e.what());
    }
    if (!cfg.is_object()) return error("{}: top level is not a JSON object", cfg_path.string());
    Status st = t->set_bos_eos(config_token(cfg, "bos_token"), config_token(cfg, "eos_token"));
    if (!st.is_ok()) return st.with_context(cfg_path.string());
  }
  return t;
}

}  // namespace tachyon::tok
