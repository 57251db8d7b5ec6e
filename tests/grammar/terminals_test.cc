// Byte-level edge cases of the JSON terminals, each checked against the oracle as well.
#include "grammar_test_util.h"

namespace tachyon::grammar::testing {
namespace {

void expect(const char* schema_text, const std::vector<std::string>& yes, const std::vector<std::string>& no) {
  const Json schema = Json::parse(schema_text);
  const auto g = grammar_of(schema_text);
  for (const std::string& d : yes) {
    EXPECT_TRUE(matches(g, d)) << schema_text << ": refused " << d;
    EXPECT_TRUE(oracle_accepts(d, schema)) << "oracle refuses " << d;
  }
  for (const std::string& d : no) {
    EXPECT_FALSE(matches(g, d)) << schema_text << ": accepted " << d;
    EXPECT_FALSE(oracle_accepts(d, schema)) << "oracle accepts " << d;
  }
}

TEST(GrammarTerminals, StringsAreStrictUtf8WithEscapesCountedInCodePoints) {
  expect(R"({"type":"string","maxLength":1})",
         {"\"\"", "\"\\ud83d\\ude00\"", "\"\\uD83D\\uDE00\"", "\"\xF4\x8F\xBF\xBF\"", "\"\x7F\"", "\"\\u0000\"",
          "\"\xE0\xA0\x80\"", "\"\xED\x9F\xBF\""},
         {"\"ab\"", "\"a\\ud83d\\ude00\"", "\"\\ud83d\"", "\"\\ude00\"", "\"\\ud83d\\u0041\"", "\"\xC0\x80\"",
          "\"\xE0\x80\x80\"", "\"\xED\xA0\x80\"", "\"\xF4\x90\x80\x80\"", "\"\xF5\x80\x80\x80\"", "\"\x80\"",
          "\"\xC3\"", "\"\x1F\"", "\"\\a\"", "\"\\u00g0\"", "\"\\U0041\""});
  expect(R"({"type":"string","minLength":3})", {"\"\\n\\t\\\\\"", "\"é€😀\""}, {"\"ab\"", "\"\\ud83d\\ude00a\""});
}

TEST(GrammarTerminals, IntegersExactAtEveryLength) {
  expect(R"({"type":"integer","minimum":-100,"maximum":-7})", {"-7", "-100", "-42"},
         {"-6", "-101", "0", "-0", "7", "-1000", "-0100"});
  expect(R"({"type":"integer","minimum":10,"maximum":20})", {"10", "20", "15"}, {"9", "21", "1", "2", "100"});
  expect(R"({"type":"integer","minimum":0})", {"0", "-0", "99999999999999999999999999"}, {"-1", "-99999999999999999999"});
  expect(R"({"type":"integer","maximum":-1})", {"-1", "-99999999999999999999"}, {"0", "-0", "1"});
  // A prefix that can no longer reach the range is refused at its byte.
  const auto g = grammar_of(R"({"type":"integer","minimum":10,"maximum":20})");
  Matcher m(g);
  EXPECT_FALSE(m.can_accept_byte('3'));
  EXPECT_FALSE(m.can_accept_byte('-'));
  EXPECT_FALSE(m.can_accept_byte('0'));
  ASSERT_TRUE(m.accept_bytes("2"));
  EXPECT_TRUE(m.can_accept_byte('0'));
  EXPECT_FALSE(m.can_accept_byte('1'));
  EXPECT_FALSE(m.is_complete());
}

TEST(GrammarTerminals, NumbersFollowJsonSyntax) {
  expect(R"({"type":"number"})", {"0", "-0", "0.5", "10", "1e9", "1E-9", "1e+09", "-12.50e3", "0e0"},
         {"00", "01", "+1", ".5", "1.", "-", "1e", "1e+", "--1", "0x10", "1.2.3", "Infinity", "-.1", "1 "});
}

}  // namespace
}  // namespace tachyon::grammar::testing
