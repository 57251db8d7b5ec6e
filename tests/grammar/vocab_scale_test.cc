// Masks over real vocabularies: DeepSeek-V4's 129K tokens and the demo model's. The tokenizer's own
// encoding of a valid document is allowed token by token; masks equal trying every id; random walks over
// masks end in documents the oracle accepts.
#include <algorithm>

#include "grammar_test_util.h"

namespace tachyon::grammar::testing {
namespace {

std::vector<uint32_t> mask_of(Matcher& m, const Vocabulary& v) {
  std::vector<uint32_t> mask(v.mask_words());
  m.fill_next_token_mask(v, mask);
  return mask;
}

void check_encodings(const tok::Tokenizer& t, const Vocabulary& v, int docs_per_case) {
  size_t checked = 0;
  for (const Case& c : all_cases()) {
    const auto g = grammar_of(c);
    const Json root = c.json_object ? Json::object() : c.schema;
    DocGen gen(root, 5);
    int done = 0;
    for (int i = 0; i < 400 && done < docs_per_case; ++i) {
      const std::string doc = c.json_object ? fmt::format("{{\"a\":{}}}", gen.any_value(false, 0)) : gen.gen(false);
      if (!oracle(c, doc)) continue;
      Matcher m(g);
      for (const int32_t id : t.encode(doc)) {
        ASSERT_TRUE(mask_test(mask_of(m, v), id)) << c.name << ": token " << id << " of " << doc;
        ASSERT_TRUE(m.accept_token(id, v));
      }
      ASSERT_TRUE(m.is_complete()) << doc;
      EXPECT_TRUE(mask_test(mask_of(m, v), v.stop_ids().at(0)));
      ++done;
      ++checked;
    }
  }
  EXPECT_GE(checked, all_cases().size());
}

TEST(GrammarVocab, V4EncodingsOfValidDocumentsAreAllowed) {
  const LoadedVocab& lv = v4_vocab();
  ASSERT_GT(lv.vocab->size(), 128000);
  check_encodings(*lv.tokenizer, *lv.vocab, 3);
}

TEST(GrammarVocab, DemoEncodingsOfValidDocumentsAreAllowed) {
  auto t = tok::Tokenizer::load(kDemoTokenizerPath);
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  const auto v = vocabulary_of(**t);
  check_encodings(**t, *v, 3);
}

TEST(GrammarVocab, V4MaskEqualsTryingEveryToken) {
  const LoadedVocab& lv = v4_vocab();
  const Vocabulary& v = *lv.vocab;
  // Positions: the start, inside a key, inside a string (ASCII and mid-character), after a value, in a
  // number, and complete.
  const auto g = grammar_of(R"({"type":"object","properties":{"name":{"type":"string","maxLength":5},
      "n":{"type":"integer","minimum":-40,"maximum":2000},"tags":{"type":"array","items":{"enum":["ab","abc"]}}},
      "required":["name"]})");
  for (const std::string prefix : {"", "{\"na", "{\"name\":\"ab", "{\"name\":\"\xE4\xB8", "{\"name\":\"abcd",
                                   "{\"name\":\"a\",\"n\":1", "{\"name\":\"a\",\"n\":-", "{\"name\":\"a\",\"tags\":[\"ab",
                                   "{\"name\":\"a\"}"}) {
    Matcher m(g);
    ASSERT_TRUE(m.accept_bytes(prefix)) << prefix;
    const auto mask = mask_of(m, v);
    size_t n = 0;
    for (int32_t id = 0; id < v.size(); ++id) {
      Matcher c = m;
      const bool want = c.accept_token(id, v);
      n += want;
      ASSERT_EQ(mask_test(mask, id), want) << "after " << prefix << ": token " << id << " '" << v.bytes(id) << "'";
    }
    EXPECT_GT(n, 0u) << prefix;
  }
}

TEST(GrammarVocab, V4RandomWalksEndInValidDocuments) {
  const LoadedVocab& lv = v4_vocab();
  const Vocabulary& v = *lv.vocab;
  size_t finished = 0;
  for (const Case& c : all_cases()) {
    const auto g = grammar_of(c);
    DocGen rng(Json::object(), 11);
    for (int walk = 0; walk < 3; ++walk) {
      Matcher m(g);
      std::string text;
      for (int step = 0; step < 150 && !m.is_terminated(); ++step) {
        const auto mask = mask_of(m, v);
        std::vector<int32_t> ids, closing;
        for (int32_t id = 0; id < v.size(); ++id) {
          if (!mask_test(mask, id)) continue;
          ids.push_back(id);
          if (v.bytes(id).find_first_of("\"]},") != std::string_view::npos) closing.push_back(id);
        }
        ASSERT_FALSE(ids.empty()) << c.name << ": dead end after " << text;
        int32_t pick = ids[rng.below(ids.size())];
        if (m.is_complete() && rng.chance(70)) {
          pick = v.stop_ids()[0];
        } else if (!closing.empty() && rng.chance(50)) {
          pick = closing[rng.below(closing.size())];
        }
        ASSERT_TRUE(m.accept_token(pick, v));
        if (!m.is_terminated()) text += v.bytes(pick);
      }
      if (!m.is_terminated()) continue;
      ++finished;
      EXPECT_TRUE(oracle(c, text)) << c.name << ": " << text;
    }
  }
  EXPECT_GE(finished, all_cases().size());
}

}  // namespace
}  // namespace tachyon::grammar::testing
