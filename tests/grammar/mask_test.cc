// Token masks: equal to trying every token by hand (sound and complete), no dead ends, random walks over
// masks give documents the oracle accepts, stop tokens only when complete, rollback restores the state.
#include <algorithm>
#include <functional>
#include <set>

#include "grammar_test_util.h"

namespace tachyon::grammar::testing {
namespace {

// A small byte-level vocabulary: single bytes of ASCII and UTF-8, and multi-byte tokens that cross
// grammar elements ("\":\"", "},{", "\xA9\"") or split characters ("\xC3" then "\xA9").
struct Small {
  std::shared_ptr<const Vocabulary> vocab;
  int32_t special = 0, stop = 0;
};

const Small& small_vocab() {
  static const Small s = [] {
    std::vector<std::string> t;
    // Every printable ASCII byte (so that any key can be spelled), some a second time under another id.
    for (char c = 0x20; c < 0x7F; ++c) t.emplace_back(1, c);
    for (const char c : std::string("{}[],:\"\\ 0123456789-+.eEabcdfnlrstuxyzADC/")) t.emplace_back(1, c);
    for (const char* x : {"\xC3", "\xA9", "\xE2", "\x82", "\xAC", "\xF0", "\x9F", "\x98", "\x80", "\x01", "\xFF"})
      t.emplace_back(x);
    for (const char* x : {"{\"", "\":", "\",\"", "\"}", "true", "false", "null", "12", "-1", "0.", "e+", "\\u", "00",
                          "D8", "DC", "é", "€", "name", "\":\"", "},{", "]}", "[]", "{}", "\n", "positive", "pos",
                          "\"pos", "\xA9\"", "a\"", "\",", "1}", "\"label\":\"", "\"items\":[", "\"title\":\"", "ab",
                          "\"b\":", "\"a\":", "\\n", "\\\"", "\"\"", "😀", "\xF0\x9F"})
      t.emplace_back(x);
    Small out;
    out.special = int32_t(t.size());
    t.emplace_back("<special>");
    out.stop = int32_t(t.size());
    t.emplace_back("<eos>");
    t.emplace_back("");  // an id with no bytes: never allowed
    const int32_t special[] = {out.special};
    const int32_t stop[] = {out.stop};
    auto v = Vocabulary::build(std::move(t), special, stop);
    EXPECT_TRUE(v.is_ok());
    out.vocab = v.value();
    return out;
  }();
  return s;
}

std::vector<uint32_t> mask_of(Matcher& m, const Vocabulary& v) {
  std::vector<uint32_t> mask(v.mask_words());
  m.fill_next_token_mask(v, mask);
  return mask;
}

// The mask the slow way: every id tried on a copy of the matcher.
std::vector<uint32_t> brute_mask(const Matcher& m, const Vocabulary& v) {
  std::vector<uint32_t> mask(v.mask_words());
  for (int32_t id = 0; id < v.size(); ++id) {
    Matcher c = m;
    if (c.accept_token(id, v)) mask_set(mask, id);
  }
  return mask;
}

std::vector<int32_t> allowed(const std::vector<uint32_t>& mask, const Vocabulary& v) {
  std::vector<int32_t> out;
  for (int32_t id = 0; id < v.size(); ++id) {
    if (mask_test(mask, id)) out.push_back(id);
  }
  return out;
}

// One random walk over masks: returns the bytes when it ended with a stop token.
std::optional<std::string> walk(const std::shared_ptr<const Grammar>& g, const Vocabulary& v, uint64_t seed,
                                 int max_steps, bool check_brute, const std::string& name) {
  DocGen rng(Json::object(), seed);
  Matcher m(g);
  std::string text;
  for (int step = 0; step < max_steps; ++step) {
    const std::vector<uint32_t> mask = mask_of(m, v);
    if (check_brute) {
      EXPECT_EQ(mask, brute_mask(m, v)) << name << " after " << text;
    }
    const std::vector<int32_t> ids = allowed(mask, v);
    EXPECT_FALSE(ids.empty()) << name << ": dead end after " << text;  // every prefix can be completed
    if (ids.empty()) return std::nullopt;
    EXPECT_EQ(m.is_complete(), std::any_of(ids.begin(), ids.end(), [&](int32_t id) { return v.is_stop(id); }));
    // Prefer ending, then closing tokens, so that walks finish.
    int32_t pick = ids[rng.below(ids.size())];
    if (m.is_complete() && rng.chance(60)) {
      pick = v.stop_ids()[0];
    } else if (rng.chance(35)) {
      std::vector<int32_t> closing;
      for (const int32_t id : ids) {
        if (v.bytes(id).find_first_of("\"]},") != std::string_view::npos) closing.push_back(id);
      }
      if (!closing.empty()) pick = closing[rng.below(closing.size())];
    }
    EXPECT_TRUE(m.accept_token(pick, v)) << name << ": allowed token " << pick << " refused after " << text;
    if (m.is_terminated()) return text;
    text += v.bytes(pick);
  }
  return std::nullopt;
}

TEST(GrammarMask, EqualsTryingEveryTokenAndWalksEndInValidDocuments) {
  const Small& s = small_vocab();
  size_t finished = 0;
  for (const Case& c : all_cases()) {
    const auto g = grammar_of(c);
    for (uint64_t seed = 1; seed <= 12; ++seed) {
      const auto doc = walk(g, *s.vocab, seed * 7919 + c.name.size(), 120, true, c.name);
      if (!doc) continue;
      ++finished;
      EXPECT_TRUE(oracle(c, *doc)) << c.name << ": walk produced " << *doc;
    }
  }
  EXPECT_GE(finished, 150u);
}

TEST(GrammarMask, FiniteSchemaExhaustively) {
  // Every document of a finite language is reached through masks, and nothing else.
  const Small& s = small_vocab();
  const Json schema = Json::parse(R"({"type":"object","properties":{"a":{"type":"boolean"},
      "b":{"enum":[1,12,"pos","positive"]}},"required":["b"],"additionalProperties":false})");
  const auto g = compile_json_schema(schema).value();
  std::set<std::string> docs, seen_prefixes;
  std::function<void(Matcher&, const std::string&)> dfs = [&](Matcher& m, const std::string& text) {
    if (!seen_prefixes.insert(text).second) return;  // the state depends on the bytes only
    const auto mask = mask_of(m, *s.vocab);
    ASSERT_EQ(mask, brute_mask(m, *s.vocab)) << text;
    const auto ids = allowed(mask, *s.vocab);
    ASSERT_FALSE(ids.empty()) << text;
    for (const int32_t id : ids) {
      if (s.vocab->is_stop(id)) {
        docs.insert(text);
        continue;
      }
      ASSERT_TRUE(m.accept_token(id, *s.vocab));
      dfs(m, text + std::string(s.vocab->bytes(id)));
      ASSERT_TRUE(m.rollback(1));
    }
  };
  Matcher m(g);
  dfs(m, "");
  std::set<std::string> expected;
  for (const std::string a : {"", "\"a\":true,", "\"a\":false,"}) {
    for (const std::string b : {"1", "12", "\"pos\"", "\"positive\""}) expected.insert("{" + a + "\"b\":" + b + "}");
  }
  EXPECT_EQ(docs, expected);
}

TEST(GrammarMask, StopAndSpecialTokens) {
  const Small& s = small_vocab();
  const auto g = grammar_of(R"({"type":"integer","minimum":1,"maximum":125})");
  Matcher m(g);
  EXPECT_FALSE(m.accept_token(s.stop, *s.vocab));  // nothing written yet
  EXPECT_FALSE(m.accept_token(s.special, *s.vocab));
  EXPECT_FALSE(m.accept_token(s.vocab->size() - 1, *s.vocab));  // no bytes
  EXPECT_FALSE(m.accept_token(-1, *s.vocab));
  EXPECT_FALSE(m.accept_token(s.vocab->size(), *s.vocab));
  ASSERT_TRUE(m.accept_bytes("12"));
  auto mask = mask_of(m, *s.vocab);
  EXPECT_TRUE(mask_test(mask, s.stop));  // 12 is complete, and 120-125 may follow
  auto id_of = [&](std::string_view b) {
    for (int32_t id = 0; id < s.vocab->size(); ++id) {
      if (s.vocab->bytes(id) == b) return id;
    }
    return -1;
  };
  EXPECT_TRUE(mask_test(mask, id_of("5")));
  EXPECT_FALSE(mask_test(mask, id_of("6")));
  EXPECT_FALSE(mask_test(mask, id_of("12")));
  EXPECT_FALSE(mask_test(mask, s.special));
  ASSERT_TRUE(m.accept_bytes("5"));
  mask = mask_of(m, *s.vocab);
  EXPECT_EQ(allowed(mask, *s.vocab), std::vector<int32_t>{s.stop});  // 125: only the end
  ASSERT_TRUE(m.accept_token(s.stop, *s.vocab));
  EXPECT_TRUE(m.is_terminated());
  EXPECT_FALSE(m.is_complete());
  EXPECT_TRUE(allowed(mask_of(m, *s.vocab), *s.vocab).empty());
  EXPECT_FALSE(m.accept_bytes("0"));
  ASSERT_TRUE(m.rollback(1));  // the stop token is one history entry
  EXPECT_FALSE(m.is_terminated());
  EXPECT_TRUE(m.is_complete());
}

TEST(GrammarMask, RollbackRestoresTheState) {
  const Small& s = small_vocab();
  for (const Case& c : all_cases()) {
    const auto g = grammar_of(c);
    DocGen rng(Json::object(), 99);
    Matcher m(g);
    std::vector<std::vector<uint32_t>> masks;
    std::vector<bool> complete;
    std::vector<int32_t> taken;
    for (int step = 0; step < 40; ++step) {
      masks.push_back(mask_of(m, *s.vocab));
      complete.push_back(m.is_complete());
      auto ids = allowed(masks.back(), *s.vocab);
      std::erase_if(ids, [&](int32_t id) { return s.vocab->is_stop(id); });
      if (ids.empty()) break;
      taken.push_back(ids[rng.below(ids.size())]);
      ASSERT_TRUE(m.accept_token(taken.back(), *s.vocab));
      if (rng.chance(30)) {  // a rejected draft: undo up to 3 tokens, then take the same ones again
        const size_t k = std::min<size_t>(taken.size(), 1 + rng.below(3));
        ASSERT_TRUE(m.rollback(k));
        EXPECT_EQ(mask_of(m, *s.vocab), masks[taken.size() - k]) << c.name;
        EXPECT_EQ(m.is_complete(), complete[taken.size() - k]) << c.name;
        EXPECT_EQ(m.accept_tokens(std::span(taken).last(k), *s.vocab), k);
      }
    }
    EXPECT_FALSE(m.rollback(m.history_size() + 1));
    ASSERT_TRUE(m.rollback(m.history_size()));
    EXPECT_EQ(mask_of(m, *s.vocab), masks[0]) << c.name;
  }
}

TEST(GrammarMask, BoundedHistory) {
  const auto g = grammar_of(R"({"type":"array","items":{"type":"integer"}})");
  Matcher m(g, 2);
  for (const char* b : {"[", "1", ",", "2"}) ASSERT_TRUE(m.accept_bytes(b));
  EXPECT_EQ(m.history_size(), 2u);
  EXPECT_FALSE(m.rollback(3));
  ASSERT_TRUE(m.rollback(2));
  EXPECT_TRUE(m.accept_bytes("]"));  // back after "[1"
  EXPECT_TRUE(m.is_complete());
}

}  // namespace
}  // namespace tachyon::grammar::testing
