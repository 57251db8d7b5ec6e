// Property tests on the DeepSeek-V4 tokenizer: random Unicode text (with added tokens mixed in)
// round-trips exactly through encode and decode, invalid UTF-8 input is encoded as its lossy
// repair, and encoding is deterministic with or without the BPE cache.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "tokenizer/utf8.h"
#include "tokenizer_test_util.h"

namespace tachyon::tok {
namespace {

using testing::deepseek_tokenizer;

uint32_t random_code_point(std::mt19937& rng) {
  static const std::pair<uint32_t, uint32_t> kRanges[] = {
      {0x20, 0x7E},       {0x00, 0x1F},       {0x80, 0x24F},     {0x300, 0x36F},   {0x370, 0x52F},
      {0x590, 0x6FF},     {0x900, 0x9FF},     {0xE00, 0xE7F},    {0x1100, 0x11FF}, {0x2000, 0x206F},
      {0x3000, 0x30FF},   {0x4E00, 0x9FFF},   {0xAC00, 0xD7A3},  {0xE000, 0xF8FF}, {0xFE00, 0xFFFF},
      {0x1F300, 0x1FAFF}, {0x20000, 0x2A6DF}, {0xE0000, 0xE007F}, {0x10000, 0x10FFFF}};
  const auto& [lo, hi] = kRanges[rng() % std::size(kRanges)];
  uint32_t cp = lo + rng() % (hi - lo + 1);
  if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
  return cp;
}

std::string random_text(std::mt19937& rng, const Tokenizer& t) {
  static const char* kPieces[] = {" ", "  ", "\n", "\r\n", "\t", "don't", "123456", "<｜User｜>", "<think>",
                                  "<｜end▁of▁sentence｜>", "<｜User", "｜DSML｜", "<｜", "｜>", "\xC2\xA0"};
  std::string s;
  const int n = int(rng() % 40);
  for (int i = 0; i < n; ++i) {
    if (rng() % 4 == 0) s += kPieces[rng() % std::size(kPieces)];
    else append_code_point(random_code_point(rng), &s);
  }
  return s;
}

TEST(TokenizerRoundTrip, RandomUnicode) {
  const Tokenizer& t = deepseek_tokenizer();
  std::mt19937 rng(20260221);
  for (int iter = 0; iter < 3000; ++iter) {
    const std::string text = random_text(rng, t);
    const std::vector<int32_t> ids = t.encode(text);
    for (int32_t id : ids) ASSERT_TRUE(t.is_valid_id(id));
    ASSERT_EQ(t.decode(ids), text) << "iteration " << iter;
  }
}

TEST(TokenizerRoundTrip, InvalidUtf8IsRepairedFirst) {
  const Tokenizer& t = deepseek_tokenizer();
  std::mt19937 rng(5);
  for (int iter = 0; iter < 1000; ++iter) {
    std::string bytes;
    const int n = int(rng() % 24);
    for (int i = 0; i < n; ++i) bytes.push_back(char(rng() & 0xFF));
    const std::string fixed = to_valid_utf8(bytes);
    ASSERT_EQ(t.encode(bytes), t.encode(fixed));
    ASSERT_EQ(t.decode(t.encode(bytes)), fixed);
  }
}

TEST(TokenizerRoundTrip, CacheDoesNotChangeResults) {
  const Tokenizer& t = deepseek_tokenizer();
  std::mt19937 rng(3);
  for (int iter = 0; iter < 300; ++iter) {
    const std::string text = random_text(rng, t);
    const std::vector<int32_t> first = t.encode(text);
    ASSERT_EQ(t.encode(text), first);
  }
  // The merge loop alone on a long word (the heap path) agrees with the cached path.
  std::string word(5000, 'a');
  std::vector<int32_t> a, b;
  t.model().tokenize_uncached(word, &a);
  t.model().tokenize(word, &b);
  EXPECT_EQ(a, b);
  EXPECT_EQ(t.decode(a), word);
}

TEST(TokenizerRoundTrip, LongInputs) {
  const Tokenizer& t = deepseek_tokenizer();
  const std::string spaces(100000, ' ');
  EXPECT_EQ(t.decode(t.encode(spaces)), spaces);
  std::string mixed;
  for (int i = 0; i < 20000; ++i) mixed += "ab1 ";
  EXPECT_EQ(t.decode(t.encode(mixed)), mixed);
}

TEST(TokenizerRoundTrip, ConcurrentEncodeMatchesSerial) {
  const Tokenizer& t = deepseek_tokenizer();
  std::mt19937 rng(9);
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back(random_text(rng, t));
  std::vector<std::vector<int32_t>> want;
  for (const std::string& s : texts) want.push_back(t.encode(s));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      for (int rep = 0; rep < 5; ++rep)
        for (size_t i = 0; i < texts.size(); ++i) {
          const size_t j = (i * 7 + size_t(k)) % texts.size();
          mismatches[size_t(k)] += t.encode(texts[j]) != want[j];
        }
    });
  for (auto& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

}  // namespace
}  // namespace tachyon::tok
