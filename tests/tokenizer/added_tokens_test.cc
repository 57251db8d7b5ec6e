// Added-token semantics (lstrip, rstrip, single_word, normalized passes, leftmost-longest) and the
// Split behaviours, on a small synthetic byte-level tokenizer whose byte tokens have id == byte.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace tachyon::tok {
namespace {

using Ids = std::vector<int32_t>;

// Vocabulary: the 256 byte characters (id = byte value) plus "ab" (256) from the merge "a b".
nlohmann::json tiny_tokenizer_json(const nlohmann::json& added, const nlohmann::json& pre_tokenizer) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    append_code_point(byte_to_code_point(uint8_t(b)), &ch);
    vocab[ch] = b;
  }
  vocab["ab"] = 256;
  return {{"version", "1.0"},
          {"normalizer", nullptr},
          {"pre_tokenizer", pre_tokenizer},
          {"decoder", {{"type", "ByteLevel"}}},
          {"added_tokens", added},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"a b"}}}}};
}

nlohmann::json added_token(int id, const std::string& content, bool lstrip, bool rstrip, bool single_word,
                           bool special = true) {
  return {{"id", id},           {"content", content}, {"lstrip", lstrip},    {"rstrip", rstrip},
          {"single_word", single_word}, {"normalized", false}, {"special", special}};
}

std::unique_ptr<Tokenizer> make(const nlohmann::json& added,
                                const nlohmann::json& pre = {{"type", "ByteLevel"}, {"add_prefix_space", false}}) {
  // A braced list holding one token object collapses to that object in nlohmann::json.
  const nlohmann::json list = added.is_array() ? added : nlohmann::json::array({added});
  auto t = Tokenizer::from_json(tiny_tokenizer_json(list, pre).dump(), "tiny.json");
  EXPECT_TRUE(t.is_ok()) << t.status().message();
  return t.is_ok() ? std::move(*t) : nullptr;
}

TEST(AddedTokens, PlainMatchAndBpe) {
  auto t = make({added_token(300, "<m>", false, false, false)});
  EXPECT_EQ(t->encode("ab<m>ab"), (Ids{256, 300, 256}));
  EXPECT_EQ(t->encode("a <m> b"), (Ids{'a', ' ', 300, ' ', 'b'}));
  EXPECT_EQ(t->decode(Ids{256, 300, 32}), "ab<m> ");
  EXPECT_EQ(t->decode(Ids{256, 300, 32}, /*skip_special=*/true), "ab ");
}

TEST(AddedTokens, Lstrip) {
  auto t = make({added_token(300, "<m>", true, false, false)});
  EXPECT_EQ(t->encode("a <m> b"), (Ids{'a', 300, ' ', 'b'}));
  // Any Unicode whitespace, not just spaces; U+3000 is three bytes.
  EXPECT_EQ(t->encode("a\t\xE3\x80\x80 <m>"), (Ids{'a', 300}));
  // Stripping never reaches back into a previous match.
  EXPECT_EQ(t->encode("<m> <m>"), (Ids{300, 300}));
  EXPECT_EQ(t->encode("   <m>"), (Ids{300}));
}

TEST(AddedTokens, Rstrip) {
  auto t = make({added_token(301, "[R]", false, true, false)});
  EXPECT_EQ(t->encode("a [R]  b"), (Ids{'a', ' ', 301, 'b'}));
  EXPECT_EQ(t->encode("[R]\n\n"), (Ids{301}));
  EXPECT_EQ(t->encode("[R]x"), (Ids{301, 'x'}));
}

TEST(AddedTokens, LstripAndRstrip) {
  auto t = make({added_token(302, "<b>", true, true, false)});
  EXPECT_EQ(t->encode("x  <b>  y"), (Ids{'x', 302, 'y'}));
}

TEST(AddedTokens, SingleWord) {
  auto t = make({added_token(303, "sw", false, false, true)});
  EXPECT_EQ(t->encode("sw"), (Ids{303}));
  EXPECT_EQ(t->encode("a sw b"), (Ids{'a', ' ', 303, ' ', 'b'}));
  EXPECT_EQ(t->encode("xsw"), (Ids{'x', 's', 'w'}));    // word character before
  EXPECT_EQ(t->encode("sw1"), (Ids{'s', 'w', '1'}));    // digit after
  EXPECT_EQ(t->encode("_sw"), (Ids{'_', 's', 'w'}));    // connector punctuation counts as a word character
  EXPECT_EQ(t->encode("(sw)"), (Ids{'(', 303, ')'}));
  EXPECT_EQ(t->encode("\xC3\xA9sw"), (Ids{0xC3, 0xA9, 's', 'w'}));  // é is a letter
}

TEST(AddedTokens, LeftmostLongest) {
  auto t = make({added_token(310, "<a>", false, false, false), added_token(311, "<a><b>", false, false, false),
                 added_token(312, "a><", false, false, false)});
  EXPECT_EQ(t->encode("<a><b>"), (Ids{311}));            // longest at the leftmost position
  EXPECT_EQ(t->encode("<a><c>"), (Ids{310, '<', 'c', '>'}));
  EXPECT_EQ(t->encode("x<a><b"), (Ids{'x', 310, '<', 'b'}));  // leftmost wins over a later, longer one
}

TEST(AddedTokens, NonNormalizedPassFirst) {
  // "<x>" (normalized) would match first by position, but the non-normalized pass runs first (HF).
  nlohmann::json added = {added_token(320, "<x>", false, false, false, false), added_token(321, "x>y", false, false, false)};
  added[0]["normalized"] = true;
  auto t = make(added);
  EXPECT_EQ(t->encode("<x>y"), (Ids{'<', 321}));
}

TEST(AddedTokens, PrefixSpaceAfterAddedToken) {
  // ByteLevel(add_prefix_space) adds a space to every text piece that does not start with one.
  auto t = make({added_token(300, "<m>", false, false, false)},
                {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}});
  EXPECT_EQ(t->encode("ab<m>ab"), (Ids{' ', 256, 300, ' ', 256}));
  EXPECT_EQ(t->encode(" ab"), (Ids{' ', 256}));
}

std::vector<std::string> split_all(const char* behavior, bool invert, const std::string& pattern, const std::string& text) {
  auto re = Regex::compile(pattern);
  EXPECT_TRUE(re.is_ok());
  SplitBehavior b = SplitBehavior::kIsolated;
  std::string s = behavior;
  if (s == "Removed") b = SplitBehavior::kRemoved;
  if (s == "MergedWithPrevious") b = SplitBehavior::kMergedWithPrevious;
  if (s == "MergedWithNext") b = SplitBehavior::kMergedWithNext;
  if (s == "Contiguous") b = SplitBehavior::kContiguous;
  RegexScratch scratch;
  std::vector<std::pair<size_t, size_t>> r;
  split_with_behavior(**re, b, invert, text, scratch, &r);
  std::vector<std::string> out;
  for (auto [x, y] : r) out.push_back(text.substr(x, y - x));
  return out;
}

using Strs = std::vector<std::string>;

TEST(SplitBehaviors, AsHuggingFaceDefinesThem) {
  const std::string t = "The-final--countdown";
  EXPECT_EQ(split_all("Removed", false, "-", t), (Strs{"The", "final", "countdown"}));
  EXPECT_EQ(split_all("Isolated", false, "-", t), (Strs{"The", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split_all("MergedWithPrevious", false, "-", t), (Strs{"The-", "final-", "-", "countdown"}));
  EXPECT_EQ(split_all("MergedWithNext", false, "-", t), (Strs{"The", "-final", "-", "-countdown"}));
  EXPECT_EQ(split_all("Contiguous", false, "-", t), (Strs{"The", "-", "final", "--", "countdown"}));
  // invert: matches and non-matches swap roles, so Removed drops what the pattern does not match.
  EXPECT_EQ(split_all("Removed", true, "[a-z]+", "ab12cd"), (Strs{"ab", "cd"}));
  EXPECT_EQ(split_all("MergedWithNext", true, "-", "a-b"), (Strs{"a-", "b"}));
  EXPECT_EQ(split_all("Isolated", false, "\\s+(?!\\S)|\\s+", "a   b"), (Strs{"a", "  ", " ", "b"}));
  // Empty matches split nothing (Oniguruma skips an empty match right after a match).
  EXPECT_EQ(split_all("Isolated", false, "x*", "axxb"), (Strs{"a", "xx", "b"}));
}

TEST(SplitBehaviors, StringPatternIsLiteral) {
  auto re = Regex::compile("a.b", /*literal=*/true);
  ASSERT_TRUE(re.is_ok());
  RegexScratch scratch;
  size_t s = 0, e = 0;
  EXPECT_FALSE((*re)->find("axb", 0, scratch, &s, &e));
  EXPECT_TRUE((*re)->find("xa.b", 0, scratch, &s, &e));
  EXPECT_EQ(s, 1u);
}

}  // namespace
}  // namespace tachyon::tok
