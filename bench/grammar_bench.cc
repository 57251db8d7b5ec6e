// Cost of a grammar token mask (src/grammar): microseconds per generated token to compute the allowed-token
// bitmask, walking the tokenizer's own encoding of a realistic JSON document, on the DeepSeek-V4
// vocabulary (129K ids) and the demo model's (8K). Each benchmark reports us_per_token (mean over the
// document, mask plus accepting the token) and slowest_us (the position whose mask is slowest, its median
// time over the iterations).
//
//   build/bin/grammar_bench [--benchmark_filter=v4]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "grammar/json_schema.h"
#include "grammar/matcher.h"
#include "grammar/vocabulary.h"
#include "tokenizer/tokenizer.h"

namespace {

using tachyon::grammar::Json;

struct Loaded {
  std::unique_ptr<tachyon::tok::Tokenizer> tok;
  std::shared_ptr<const tachyon::grammar::Vocabulary> vocab;
};

const Loaded& load(const std::string& which) {
  static std::map<std::string, Loaded> cache;
  auto it = cache.find(which);
  if (it != cache.end()) return it->second;
  const std::string path = std::string(TACHYON_SOURCE_DIR) +
                           (which == "v4" ? "/assets/tokenizer/deepseek-v4" : "/assets/tachyon-demo-v4");
  auto t = tachyon::tok::Tokenizer::load(path);
  if (!t.is_ok()) {
    std::fprintf(stderr, "%s\n", t.status().message().c_str());
    std::exit(1);
  }
  std::vector<std::string> bytes;
  std::vector<int32_t> special, stop;
  for (int32_t id = 0; id < (*t)->vocab_size(); ++id) {
    bytes.emplace_back((*t)->token_bytes(id));
    if ((*t)->is_special(id)) special.push_back(id);
  }
  if ((*t)->eos_id()) stop.push_back(*(*t)->eos_id());
  auto v = tachyon::grammar::Vocabulary::build(std::move(bytes), special, stop);
  return cache.emplace(which, Loaded{std::move(t).value(), v.value()}).first->second;
}

struct Doc {
  const char* schema;  // nullptr: json_object
  const char* text;
};

const std::map<std::string, Doc>& docs() {
  static const std::map<std::string, Doc> d = {
      {"event",
       {R"({"$defs":{"person":{"type":"object","properties":{"name":{"type":"string","maxLength":40},
          "email":{"type":["string","null"]},"role":{"enum":["organizer","speaker","guest"]}},
          "required":["name","role"],"additionalProperties":false}},
          "type":"object","properties":{"title":{"type":"string","maxLength":80},"day":{"type":"integer","minimum":1,"maximum":31},
          "hour":{"type":"integer","minimum":0,"maximum":23},"online":{"type":"boolean"},
          "attendees":{"type":"array","items":{"$ref":"#/$defs/person"},"maxItems":8},"budget":{"type":"number"}},
          "required":["title","day","hour","online","attendees"],"additionalProperties":false})",
        R"({"title":"Quarterly planning — Berlin office","day":14,"hour":9,"online":false,"attendees":[{"name":"Ada Lovelace","email":"ada@example.com","role":"organizer"},{"name":"Zhang Wei 张伟","email":null,"role":"speaker"},{"name":"Grace Hopper","role":"guest"}],"budget":1250.5})"}},
      {"free_text",
       {R"({"type":"object","properties":{"summary":{"type":"string"},"sentiment":{"enum":["positive","negative","neutral"]},
          "keywords":{"type":"array","items":{"type":"string","maxLength":24},"maxItems":6}},
          "required":["summary","sentiment","keywords"]})",
        R"({"summary":"The reviewer liked the library's speed and its clear error messages, but found the documentation of the streaming API thin: \"I had to read the tests to see how rollback works.\" Overall they would recommend it to teams that need structured output with strict schemas.","sentiment":"positive","keywords":["speed","errors","docs","streaming","rollback"]})"}},
      {"json_object",
       {nullptr,
        R"({"id":"call_42","tool":"search","arguments":{"query":"weather in Paris tomorrow","limit":5,"filters":{"units":"metric","lang":"fr"}},"ok":true,"scores":[0.91,0.5,-1.25e-3]})"}},
  };
  return d;
}

void BM_Mask(benchmark::State& state, std::string vocab_name, std::string doc_name) {
  const Loaded& l = load(vocab_name);
  const Doc& doc = docs().at(doc_name);
  tachyon::grammar::SchemaCompiler compiler;
  std::shared_ptr<const tachyon::grammar::Grammar> g;
  if (doc.schema) {
    auto r = compiler.compile(Json::parse(doc.schema));
    if (!r.is_ok()) {
      state.SkipWithError(r.status().message().c_str());
      return;
    }
    g = r.value();
  } else {
    g = compiler.json_object();
  }
  const std::vector<int32_t> ids = l.tok->encode(doc.text);
  std::vector<uint32_t> mask(l.vocab->mask_words());
  tachyon::grammar::Matcher m(g);
  // The slowest position: the median over iterations of each position's time, then the maximum.
  std::vector<std::vector<double>> times(ids.size());
  for (auto _ : state) {
    m.reset();
    for (size_t i = 0; i < ids.size(); ++i) {
      const int32_t id = ids[i];
      const auto t0 = std::chrono::steady_clock::now();
      m.fill_next_token_mask(*l.vocab, mask);
      const auto t1 = std::chrono::steady_clock::now();
      times[i].push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      if (!m.accept_token(id, *l.vocab)) {
        state.SkipWithError("the document's tokens are not accepted");
        return;
      }
    }
    m.fill_next_token_mask(*l.vocab, mask);  // the final mask (stop allowed)
    benchmark::DoNotOptimize(mask.data());
  }
  double max_us = 0;
  for (std::vector<double>& t : times) {
    std::nth_element(t.begin(), t.begin() + long(t.size() / 2), t.end());
    max_us = std::max(max_us, t[t.size() / 2]);
  }
  const double per_iter = double(ids.size() + 1);
  state.counters["tokens"] = per_iter;
  // Seconds per token (printed with an SI prefix: 20u is 20 microseconds).
  state.counters["per_token"] =
      benchmark::Counter(per_iter * double(state.iterations()), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["slowest_us"] = max_us;
}

const bool registered = [] {
  for (const char* v : {"v4", "demo"}) {
    for (const char* d : {"event", "free_text", "json_object"}) {
      benchmark::RegisterBenchmark((std::string("BM_Mask/") + v + "/" + d).c_str(), BM_Mask, v, d)
          ->Unit(benchmark::kMillisecond);
    }
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
