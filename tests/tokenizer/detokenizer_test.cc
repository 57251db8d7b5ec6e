// Lossy UTF-8 decoding and the incremental detokenizer: streamed output equals the full decode for
// any split, every delta is valid UTF-8, and nothing is dropped.
#include <gtest/gtest.h>

#include <random>

#include "tokenizer/byte_level.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/utf8.h"
#include "tokenizer_test_util.h"

namespace tachyon::tok {
namespace {

using testing::deepseek_tokenizer;

const std::string kR = std::string(kReplacementChar);

TEST(Utf8, LossyMatchesMaximalSubpartRule) {
  // Expected values are Python's bytes.decode("utf-8", "replace"), which uses the same rule as
  // Rust's from_utf8_lossy.
  EXPECT_EQ(to_valid_utf8("\xF0\x90\x80" "A"), kR + "A");
  EXPECT_EQ(to_valid_utf8("\xE0\x80"), kR + kR);
  EXPECT_EQ(to_valid_utf8("\xED\xA0\x80"), kR + kR + kR);  // surrogate
  EXPECT_EQ(to_valid_utf8("\xF4\x90"), kR + kR);           // above U+10FFFF
  EXPECT_EQ(to_valid_utf8("\xC0\xAF"), kR + kR);           // overlong
  EXPECT_EQ(to_valid_utf8("a\xFF" "b"), "a" + kR + "b");
  EXPECT_EQ(to_valid_utf8("\xE2\x82"), kR);                // truncated at the end
  EXPECT_EQ(to_valid_utf8("\xF0\x9F\x98\x80\x80"), "\xF0\x9F\x98\x80" + kR);
  EXPECT_EQ(to_valid_utf8(std::string("a\0b", 3)), std::string("a\0b", 3));
  EXPECT_TRUE(is_valid_utf8("\xF4\x8F\xBF\xBF"));
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));
}

TEST(Utf8, StreamingEqualsWholeForRandomBytesAndSplits) {
  std::mt19937 rng(7);
  const std::string pieces[] = {"a", "\xC3\xA9", "\xE4\xBD\xA0", "\xF0\x9F\x98\x80", "\x80", "\xFF", "\xE0", "\xF0\x9F", "\xED\xA0"};
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s;
    const int n = int(rng() % 12);
    for (int i = 0; i < n; ++i) s += (rng() % 3 == 0) ? std::string(1, char(rng() & 0xFF)) : pieces[rng() % 9];
    std::string streamed;
    Utf8StreamDecoder d;
    for (size_t i = 0; i < s.size();) {
      const size_t len = 1 + rng() % 4;
      std::string delta;
      d.push(std::string_view(s).substr(i, len), &delta);
      ASSERT_TRUE(is_valid_utf8(delta));
      streamed += delta;
      i += len;
    }
    d.finish(&streamed);
    ASSERT_EQ(streamed, to_valid_utf8(s));
  }
}

// Pushes ids one at a time and checks each delta and the total.
void check_stream(const Tokenizer& t, const std::vector<int32_t>& ids) {
  IncrementalDetokenizer d(t);
  std::string streamed;
  for (int32_t id : ids) {
    const std::string delta = d.push(id);
    ASSERT_TRUE(is_valid_utf8(delta));
    streamed += delta;
  }
  const std::string tail = d.finish();
  ASSERT_TRUE(is_valid_utf8(tail));
  streamed += tail;
  ASSERT_EQ(streamed, t.decode(ids));
}

TEST(IncrementalDetokenizer, MultiByteTextMatchesFullDecode) {
  const Tokenizer& t = deepseek_tokenizer();
  const std::string texts[] = {
      "Hello 👋🏽 world! 👨‍👩‍👧‍👦 🇯🇵 1️⃣",
      "你好，世界。深度求索的分词器。𠀋𪚥",
      "한국어 텍스트와 日本語のテキスト, ภาษาไทย, हिन्दी",
      "<｜User｜>写一首诗🦩<｜Assistant｜><think>嗯</think>好的",
      "Zalgo: Z̷̢͇̈́a̴̛͎l̸͙̓g̵̠̈o̶͇͒",
  };
  for (const std::string& text : texts) {
    const std::vector<int32_t> ids = t.encode(text);
    check_stream(t, ids);
    EXPECT_EQ(t.decode(ids), text);
    // Some tokens must end mid-character for this test to mean anything.
    bool split_char = false;
    for (int32_t id : ids) split_char |= !is_valid_utf8(t.token_bytes(id));
    if (text.find("🦩") != std::string::npos) {
      EXPECT_TRUE(split_char);
    }
  }
}

TEST(IncrementalDetokenizer, RandomIdSequencesMatchFullDecode) {
  const Tokenizer& t = deepseek_tokenizer();
  std::mt19937 rng(11);
  // Byte tokens (which often hold partial characters) and random vocabulary ids, mixed.
  std::vector<int32_t> byte_ids;
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    append_code_point(byte_to_code_point(uint8_t(b)), &ch);
    byte_ids.push_back(*t.token_to_id(ch));
  }
  for (int iter = 0; iter < 500; ++iter) {
    std::vector<int32_t> ids;
    const int n = 1 + int(rng() % 20);
    for (int i = 0; i < n; ++i)
      ids.push_back(rng() % 2 ? byte_ids[rng() % 256] : int32_t(rng() % uint32_t(t.vocab_size())));
    check_stream(t, ids);
  }
}

TEST(IncrementalDetokenizer, FlushesIncompleteTailAsReplacement) {
  const Tokenizer& t = deepseek_tokenizer();
  const std::vector<int32_t> ids = t.encode("🦩");  // three tokens, split inside the character
  ASSERT_GT(ids.size(), 1u);
  IncrementalDetokenizer d(t);
  EXPECT_EQ(d.push(ids[0]), "");
  EXPECT_TRUE(d.has_pending());
  EXPECT_EQ(d.finish(), kR);
  EXPECT_EQ(t.decode(std::vector<int32_t>{ids[0]}), kR);
}

TEST(IncrementalDetokenizer, SkipSpecial) {
  const Tokenizer& t = deepseek_tokenizer();
  IncrementalDetokenizer d(t, /*skip_special=*/true);
  std::string out = d.push(0);  // BOS is special
  out += d.push(*t.token_to_id("<｜User｜>"));  // not special in this tokenizer.json
  EXPECT_EQ(out, "<｜User｜>");
}

}  // namespace
}  // namespace tachyon::tok
