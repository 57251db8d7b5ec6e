// libFuzzer target for the tokenizer. Each input is used three ways:
//   1. as text for the DeepSeek-V4 tokenizer: decode(encode(text)) must equal the lossy UTF-8 repair
//      of the text (exact round trip), and every id must be valid;
//   2. as a sequence of token ids (little-endian 16/32-bit values, in and out of range): decode and
//      the incremental detokenizer must agree and produce valid UTF-8;
//   3. as text for a small synthetic tokenizer whose added tokens use lstrip/rstrip/single_word and
//      whose pre-tokenizer uses every Split behaviour: it must not crash and must decode to valid UTF-8.
// The DeepSeek-V4 tokenizer.json path is compiled in and can be overridden with
// TACHYON_FUZZ_TOKENIZER.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/byte_level.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

using tachyon::tok::Tokenizer;

std::unique_ptr<Tokenizer> g_deepseek;
std::unique_ptr<Tokenizer> g_synthetic;

std::unique_ptr<Tokenizer> make_synthetic() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    tachyon::tok::append_code_point(tachyon::tok::byte_to_code_point(uint8_t(b)), &ch);
    vocab[ch] = b;
  }
  vocab["ab"] = 256;
  vocab["abab"] = 257;
  auto tok = [](int id, const char* s, bool l, bool r, bool w, bool norm) {
    return nlohmann::json{{"id", id}, {"content", s}, {"lstrip", l}, {"rstrip", r},
                          {"single_word", w}, {"normalized", norm}, {"special", !norm}};
  };
  auto split = [](const char* re, const char* behavior, bool invert) {
    return nlohmann::json{{"type", "Split"}, {"pattern", {{"Regex", re}}}, {"behavior", behavior}, {"invert", invert}};
  };
  nlohmann::json j = {
      {"normalizer", {{"type", "Sequence"}, {"normalizers", nlohmann::json::array()}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {split("\\d", "MergedWithPrevious", false), split("-", "MergedWithNext", false),
          split("\\s+", "Contiguous", true), split("x*", "Removed", false), split("\\p{Lu}", "Isolated", false),
          {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"added_tokens",
       {tok(300, "<L>", true, false, false, false), tok(301, "<R>", false, true, false, false),
        tok(302, "<LR>", true, true, false, true), tok(303, "w", false, false, true, true),
        tok(304, " ", false, true, false, false), tok(305, "<L><R>", false, false, false, true)}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"a b", "ab ab"}}, {"ignore_merges", true}}}};
  auto t = Tokenizer::from_json(j.dump(), "synthetic");
  if (!t.is_ok()) {
    std::fprintf(stderr, "synthetic tokenizer: %s\n", t.status().message().c_str());
    std::abort();
  }
  return std::move(*t);
}

void check_decode(const Tokenizer& t, const std::vector<int32_t>& ids) {
  const std::string full = t.decode(ids);
  if (!tachyon::tok::is_valid_utf8(full)) __builtin_trap();
  tachyon::tok::IncrementalDetokenizer d(t);
  std::string streamed;
  for (int32_t id : ids) {
    const size_t before = streamed.size();
    d.push(id, &streamed);
    if (!tachyon::tok::is_valid_utf8(std::string_view(streamed).substr(before))) __builtin_trap();
  }
  streamed += d.finish();
  if (streamed != full) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* path = std::getenv("TACHYON_FUZZ_TOKENIZER");
  auto t = Tokenizer::load(path != nullptr ? path : TACHYON_FUZZ_TOKENIZER);
  if (!t.is_ok()) {
    std::fprintf(stderr, "tokenizer_fuzz: %s\n", t.status().message().c_str());
    std::abort();
  }
  g_deepseek = std::move(*t);
  g_synthetic = make_synthetic();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const Tokenizer& t = *g_deepseek;

  // 1. Exact round trip of the (repaired) text.
  const std::vector<int32_t> ids = t.encode(text);
  for (int32_t id : ids)
    if (!t.is_valid_id(id)) __builtin_trap();
  if (t.decode(ids) != tachyon::tok::to_valid_utf8(text)) __builtin_trap();
  check_decode(t, ids);

  // 2. Arbitrary ids: 16-bit values hit the byte and merge range often, 32-bit ones go out of range.
  std::vector<int32_t> raw;
  for (size_t i = 0; i + 2 <= size; i += 2) {
    uint16_t v;
    std::memcpy(&v, data + i, 2);
    raw.push_back(v % 4 == 0 ? int32_t(v) * 3 : int32_t(v));
  }
  if (size >= 4) {
    int32_t v;
    std::memcpy(&v, data, 4);
    raw.push_back(v);
  }
  check_decode(t, raw);

  // 3. Added-token strip rules and all Split behaviours.
  const std::vector<int32_t> syn = g_synthetic->encode(text);
  check_decode(*g_synthetic, syn);
  return 0;
}
