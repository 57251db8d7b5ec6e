// Grammar-constrained decoding in the engine, on the trained demo model: at temperature 1.0 over many
// seeds every output that finishes with `stop` is a document of the schema (checked by a hand-written
// validator, independent of the grammar layer), greedy and speculative decoding too, preemption leaves
// the matcher consistent (the same greedy tokens with and without it), thinking mode is free until
// `</think>` and may not stop before it, and what cannot be combined with a grammar is refused.
#include <cmath>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "collector.h"
#include "grammar/json_schema.h"
#include "grammar/vocabulary.h"
#include "runtime/engine.h"
#include "tokenizer/tokenizer.h"

namespace tachyon::runtime {
namespace {

const std::string kDemo = std::string(TACHYON_TEST_DATA) + "/../../assets/tachyon-demo-v4";

using test_support::Collected;
using test_support::collect;

struct Demo {
  std::unique_ptr<tok::Tokenizer> tokenizer;
  std::shared_ptr<const grammar::Vocabulary> vocab;
};

const Demo& demo() {
  static const Demo d = [] {
    Demo out;
    auto t = tok::Tokenizer::load(kDemo + "/tokenizer.json");
    EXPECT_TRUE(t.is_ok()) << t.status().message();
    out.tokenizer = std::move(t).value();
    std::vector<std::string> bytes;
    std::vector<int32_t> special, stop;
    for (int32_t id = 0; id < out.tokenizer->vocab_size(); ++id) {
      bytes.emplace_back(out.tokenizer->token_bytes(id));
      if (out.tokenizer->is_special(id)) special.push_back(id);
    }
    stop.push_back(*out.tokenizer->eos_id());
    auto v = grammar::Vocabulary::build(std::move(bytes), special, stop);
    EXPECT_TRUE(v.is_ok()) << v.status().message();
    out.vocab = v.value();
    return out;
  }();
  return d;
}

std::unique_ptr<Engine> engine(int spec = 0, int64_t cache = 64 << 20, const std::string& greedy_head = "int8",
                               bool prefix_caching = true) {
  EngineConfig cfg;
  cfg.model_dir = kDemo;
  cfg.threads = 2;
  cfg.cache_memory = cache;
  cfg.scheduler.max_num_seqs = 16;
  cfg.scheduler.max_num_batched_tokens = 64;
  cfg.scheduler.max_waiting = 1024;
  cfg.speculative_tokens = spec;
  cfg.greedy_head = greedy_head;
  cfg.prefix_caching = prefix_caching;
  cfg.kv_cache_dtype = "fp32";
  auto e = Engine::create(cfg);
  EXPECT_TRUE(e.is_ok()) << e.status().message();
  return e.is_ok() ? std::move(e).value() : nullptr;
}

// {"name": string of 1..12, "age": integer 0..120, "tags"?: up to 3 of "a"/"b"/"c", "ok"?: boolean}
const char* kSchema = R"({"type":"object","properties":{
  "name":{"type":"string","minLength":1,"maxLength":12},
  "age":{"type":"integer","minimum":0,"maximum":120},
  "tags":{"type":"array","items":{"enum":["a","b","c"]},"maxItems":3},
  "ok":{"type":"boolean"}},
  "required":["name","age"],"additionalProperties":false})";

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// The independent check of kSchema.
bool valid(const std::string& text, std::string* why) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  auto fail = [&](const char* w) {
    *why = std::string(w) + ": " + text;
    return false;
  };
  if (j.is_discarded() || !j.is_object()) return fail("not a JSON object");
  for (const auto& [k, v] : j.items())
    if (k != "name" && k != "age" && k != "tags" && k != "ok") return fail("unknown property");
  if (!j.contains("name") || !j["name"].is_string()) return fail("name");
  const size_t n = code_points(j["name"].get<std::string>());
  if (n < 1 || n > 12) return fail("name length");
  if (!j.contains("age") || !j["age"].is_number_integer()) return fail("age");
  if (j["age"].get<int64_t>() < 0 || j["age"].get<int64_t>() > 120) return fail("age range");
  if (j.contains("tags")) {
    if (!j["tags"].is_array() || j["tags"].size() > 3) return fail("tags");
    for (const auto& t : j["tags"])
      if (!t.is_string() || (t != "a" && t != "b" && t != "c")) return fail("tag value");
  }
  if (j.contains("ok") && !j["ok"].is_boolean()) return fail("ok");
  return true;
}

std::shared_ptr<const grammar::Grammar> schema_grammar() {
  auto g = grammar::compile_json_schema(grammar::Json::parse(kSchema));
  EXPECT_TRUE(g.is_ok()) << g.status().message();
  return g.value();
}

GenerationParams constrained(float temperature, uint64_t seed, int64_t max_tokens = 96) {
  GenerationParams gp;
  gp.sampling.temperature = temperature;
  gp.sampling.seed = seed;
  gp.max_tokens = max_tokens;
  gp.grammar.grammar = schema_grammar();
  gp.grammar.vocab = demo().vocab;
  return gp;
}

std::vector<int32_t> prompt() {
  return demo().tokenizer->encode("<｜User｜>Describe a person as JSON.<｜Assistant｜></think>", true);
}

// The text of the generated tokens from `from` on, without a final stop token.
std::string text_of(const std::vector<int32_t>& tokens, size_t from = 0) {
  std::string s;
  for (size_t i = from; i < tokens.size(); ++i)
    if (!demo().vocab->is_stop(tokens[i])) s += demo().vocab->bytes(tokens[i]);
  return s;
}

// Runs the requests together; returns their collectors.
std::vector<std::shared_ptr<Collected>> run(Engine& e, const std::vector<GenerationParams>& params,
                                            const std::vector<int32_t>& p = prompt()) {
  std::vector<std::shared_ptr<Collected>> c;
  for (const GenerationParams& gp : params) {
    c.push_back(std::make_shared<Collected>());
    auto r = e.submit(p, gp, collect(c.back()));
    EXPECT_EQ(r.code, SubmitCode::kOk) << r.message;
    if (r.code != SubmitCode::kOk) return {};
  }
  for (auto& x : c) EXPECT_TRUE(x->wait(300));
  return c;
}

// The tokens of one request run alone.
std::vector<int32_t> tokens_of(Engine& e, const GenerationParams& gp) {
  const auto c = run(e, {gp});
  return c.empty() ? std::vector<int32_t>{} : c[0]->tokens;
}

// Every `stop` output validates; returns how many stopped.
int check_all(const std::vector<std::shared_ptr<Collected>>& c, size_t from = 0) {
  int stopped = 0;
  for (const auto& x : c) {
    if (x->reason != FinishReason::kStop) {
      EXPECT_EQ(x->reason, FinishReason::kLength);
      continue;
    }
    ++stopped;
    std::string why;
    EXPECT_TRUE(valid(text_of(x->tokens, from), &why)) << why;
    EXPECT_TRUE(demo().vocab->is_stop(x->tokens.back()));
  }
  return stopped;
}

TEST(GrammarEngine, SampledOutputsAtTemperatureOneValidate) {
  auto e = engine();
  ASSERT_TRUE(e);
  std::vector<GenerationParams> ps;
  for (uint64_t seed = 1; seed <= 24; ++seed) ps.push_back(constrained(1.0f, seed));
  const auto c = run(*e, ps);
  EXPECT_GE(check_all(c), 12);  // most finish within 96 tokens
  // Unconstrained, the same seeds give no valid document at all (the check above can fail).
  std::vector<GenerationParams> free_ps = ps;
  for (auto& gp : free_ps) gp.grammar = {};
  int free_valid = 0;
  for (const auto& x : run(*e, free_ps)) {
    std::string why;
    free_valid += valid(text_of(x->tokens), &why);
  }
  EXPECT_LT(free_valid, 3);
}

TEST(GrammarEngine, GreedyOutputValidatesWithEitherHead) {
  for (const char* head : {"int8", "bf16"}) {
    auto e = engine(0, 64 << 20, head);
    ASSERT_TRUE(e);
    const auto c = run(*e, {constrained(0.0f, 0, 160)});
    ASSERT_EQ(c.size(), 1u);
    ASSERT_EQ(c[0]->reason, FinishReason::kStop) << head;
    check_all(c);
    EXPECT_EQ(e->stats().greedy_screened_rows, 0) << head;  // constrained rows are never screened
  }
}

TEST(GrammarEngine, LogprobsAreOverTheMaskedDistribution) {
  auto e = engine();
  ASSERT_TRUE(e);
  GenerationParams gp = constrained(1.0f, 7);
  gp.top_logprobs = 5;
  std::vector<RequestEvent> evs;
  std::mutex mu;
  std::promise<void> done;
  auto r = e->submit(prompt(), gp, [&](const RequestEvent& ev) {
    std::lock_guard<std::mutex> g(mu);
    evs.push_back(ev);
    if (ev.finished) done.set_value();
    return true;
  });
  ASSERT_EQ(r.code, SubmitCode::kOk);
  done.get_future().wait();
  ASSERT_GT(evs.size(), 1u);
  // The first token must open the object: '{' is the only allowed one-byte start, so its logprob is the
  // sum over few tokens, and every listed alternative starts with '{' too.
  const TokenOutput& first = *evs[0].token;
  EXPECT_TRUE(std::isfinite(first.logprob));
  for (const auto& [id, lp] : first.top) {
    EXPECT_TRUE(std::isfinite(lp));
    EXPECT_EQ(demo().vocab->bytes(id).substr(0, 1), "{") << id;
  }
}

TEST(GrammarEngine, SpeculativeDecodingGivesValidOutputs) {
  auto e = engine(2);
  ASSERT_TRUE(e);
  std::vector<GenerationParams> ps;
  for (uint64_t seed = 1; seed <= 12; ++seed) ps.push_back(constrained(1.0f, seed));
  ps.push_back(constrained(0.0f, 0, 160));
  const auto c = run(*e, ps);
  EXPECT_GE(check_all(c), 6);
  EXPECT_EQ(c.back()->reason, FinishReason::kStop);
  EXPECT_GT(e->stats().spec_draft_tokens, 0);
  // Greedy speculation keeps the greedy tokens of plain decoding.
  auto plain = engine(0, 64 << 20, "bf16");
  ASSERT_TRUE(plain);
  EXPECT_EQ(tokens_of(*plain, constrained(0.0f, 0, 160)), c.back()->tokens);
}

TEST(GrammarEngine, PreemptionKeepsTheMatcherConsistent) {
  // A cache that admits a few of these sequences (a 293-token prompt) but cannot grow them all: some are
  // preempted and recomputed (the size is tuned to the demo model's cache layout).
  auto small = engine(0, 1500 << 10, "bf16", false);
  ASSERT_TRUE(small);
  std::vector<GenerationParams> ps;
  for (int i = 0; i < 8; ++i) {
    GenerationParams gp = constrained(0.0f, 0, 64);
    gp.sampling.presence_penalty = 0.1f * float(i);  // distinct outputs
    ps.push_back(gp);
  }
  std::string words;
  for (int i = 0; i < 40; ++i) words += "The person is kind. ";
  const std::vector<int32_t> p =
      demo().tokenizer->encode("<｜User｜>" + words + "Describe a person as JSON.<｜Assistant｜></think>", true);
  const auto c = run(*small, ps, p);
  ASSERT_EQ(c.size(), ps.size());
  EXPECT_GT(small->stats().preemptions, 0);
  check_all(c);
  auto big = engine(0, 64 << 20, "bf16");
  ASSERT_TRUE(big);
  for (size_t i = 0; i < ps.size(); ++i) EXPECT_EQ(run(*big, {ps[i]}, p).at(0)->tokens, c[i]->tokens) << i;
}

TEST(GrammarEngine, ThinkingIsFreeUntilItsEndToken) {
  const int32_t end_think = *demo().tokenizer->token_to_id("</think>");
  auto e = engine();
  ASSERT_TRUE(e);
  const std::vector<int32_t> p =
      demo().tokenizer->encode("<｜User｜>Describe a person as JSON.<｜Assistant｜><think>", true);
  // The reasoning ends (here forced through prefix tokens) with </think>; the JSON follows it.
  std::vector<GenerationParams> ps;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    GenerationParams gp = constrained(1.0f, seed);
    gp.grammar.start_after = end_think;
    gp.prefix_tokens = demo().tokenizer->encode("Let me think. Some text, not JSON.");
    gp.prefix_tokens.push_back(end_think);
    ps.push_back(gp);
  }
  const size_t from = ps[0].prefix_tokens.size();
  EXPECT_GE(check_all(run(*e, ps, p), from), 4);
  // Before </think> the text is free but may not stop: with a start token that never comes, no request
  // ends with EOS.
  std::vector<GenerationParams> never;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    GenerationParams gp = constrained(1.0f, seed, 48);
    gp.grammar.start_after = *demo().tokenizer->token_to_id("<｜User｜>");
    gp.sampling.logit_bias = {{gp.grammar.start_after, -1e9f}};
    never.push_back(gp);
  }
  for (const auto& x : run(*e, never, p)) {
    EXPECT_EQ(x->reason, FinishReason::kLength);
    for (int32_t t : x->tokens) EXPECT_FALSE(demo().vocab->is_stop(t));
  }
}

TEST(GrammarEngine, RefusesWhatCannotCombineWithAGrammar) {
  auto e = engine();
  ASSERT_TRUE(e);
  GenerationParams gp = constrained(0.0f, 0);
  gp.forced_tokens = {10, 11};
  auto r = e->submit(prompt(), gp, [](const RequestEvent&) { return true; });
  EXPECT_EQ(r.code, SubmitCode::kInvalid);
  EXPECT_NE(r.message.find("forced_tokens"), std::string::npos) << r.message;
  gp = constrained(0.0f, 0);
  gp.grammar.vocab = nullptr;
  r = e->submit(prompt(), gp, [](const RequestEvent&) { return true; });
  EXPECT_EQ(r.code, SubmitCode::kInvalid);
  EXPECT_NE(r.message.find("vocabulary"), std::string::npos) << r.message;
}

}  // namespace
}  // namespace tachyon::runtime
