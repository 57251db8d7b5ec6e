// The matcher against the independent oracle (oracle.h): for every case in tests/data/structured, the
// listed examples and thousands of random documents (valid ones, ones breaking a rule, and byte-level
// mutations of both) are accepted by the matcher exactly when the oracle accepts them.
#include <cctype>

#include "grammar_test_util.h"

namespace tachyon::grammar::testing {
namespace {

std::string printable(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (uint8_t(c) < 0x20 || uint8_t(c) >= 0x7F) {
      out += fmt::format("\\x{:02x}", uint8_t(c));
    } else {
      out += c;
    }
  }
  return out;
}

TEST(GrammarOracle, ListedExamplesAgreeWithTheOracle) {
  for (const Case& c : all_cases()) {
    const auto g = grammar_of(c);
    ASSERT_TRUE(g) << c.name;
    for (const std::string& doc : c.valid) {
      EXPECT_TRUE(oracle(c, doc)) << c.name << ": the oracle refuses the listed valid " << doc;
      EXPECT_TRUE(matches(g, doc)) << c.name << ": refused " << doc;
    }
    for (const std::string& doc : c.invalid) {
      EXPECT_FALSE(oracle(c, doc)) << c.name << ": the oracle accepts the listed invalid " << doc;
      EXPECT_FALSE(matches(g, doc)) << c.name << ": accepted " << doc;
    }
  }
}

TEST(GrammarOracle, RandomDocumentsAgreeWithTheOracle) {
  const std::vector<Case> cases = all_cases();
  ASSERT_GE(cases.size(), 20u);
  for (const Case& c : cases) {
    const auto g = grammar_of(c);
    ASSERT_TRUE(g) << c.name;
    const Json root = c.json_object ? Json::object() : c.schema;
    DocGen gen(root, std::hash<std::string>{}(c.name) | 1);
    size_t valid = 0, invalid = 0, mismatches = 0;
    for (int i = 0; i < 1500; ++i) {
      std::string doc = c.json_object ? fmt::format("{{{}:{}}}", gen.string_text(0, 3, i % 2), gen.any_value(i % 2, 0))
                                      : gen.gen(i % 2 == 1);
      if (i % 3 == 2) doc = mutate(doc, gen);
      const bool want = oracle(c, doc);
      Matcher m(g);
      const bool got = m.accept_bytes(doc) && m.is_complete();
      (want ? valid : invalid)++;
      bool exponent = false;
      for (size_t k = 1; k < doc.size(); ++k) exponent |= (doc[k] == 'e' || doc[k] == 'E') && std::isdigit(doc[k - 1]);
      if (want && !exponent) {
        // What the oracle accepts is strict JSON to nlohmann too (the oracle's own sanity; nlohmann
        // refuses numbers beyond double range, which JSON allows).
        EXPECT_FALSE(Json::parse(doc, nullptr, false).is_discarded()) << doc;
      }
      if (got != want && ++mismatches <= 5) {
        ADD_FAILURE() << c.name << ": matcher " << (got ? "accepts" : "refuses") << " " << printable(doc)
                      << ", the oracle " << (want ? "accepts" : "refuses") << " it";
      }
    }
    // Both outcomes are exercised for every case.
    EXPECT_GE(valid, 100u) << c.name;
    EXPECT_GE(invalid, 100u) << c.name;
  }
}

TEST(GrammarOracle, EveryPrefixOfAValidDocumentIsAcceptedByteByByte) {
  for (const Case& c : all_cases()) {
    const auto g = grammar_of(c);
    const Json root = c.json_object ? Json::object() : c.schema;
    DocGen gen(root, 7);
    for (int i = 0; i < 50; ++i) {
      const std::string doc = c.json_object ? fmt::format("{{\"k\":{}}}", gen.any_value(false, 0)) : gen.gen(false);
      if (!oracle(c, doc)) continue;
      Matcher m(g);
      for (size_t k = 0; k < doc.size(); ++k) {
        ASSERT_TRUE(m.can_accept_byte(uint8_t(doc[k]))) << c.name << ": " << printable(doc) << " at " << k;
        ASSERT_TRUE(m.accept_bytes(doc.substr(k, 1)));
      }
      EXPECT_TRUE(m.is_complete()) << c.name << ": " << printable(doc);
    }
  }
}

}  // namespace
}  // namespace tachyon::grammar::testing
