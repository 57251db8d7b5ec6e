// Shared helpers of the grammar tests: schema cases, compiled grammars, vocabularies.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "grammar/json_schema.h"
#include "grammar/matcher.h"
#include "grammar/vocabulary.h"
#include "oracle.h"
#include "tokenizer/tokenizer.h"

namespace tachyon::grammar::testing {

inline constexpr const char* kV4TokenizerPath = TACHYON_TEST_DATA "/../../assets/tokenizer/deepseek-v4/tokenizer.json";
inline constexpr const char* kDemoTokenizerPath = TACHYON_TEST_DATA "/../../assets/tachyon-demo-v4/tokenizer.json";

// A structured-output case: {"name", "schema"} or {"name", "json_object": true}, optionally with
// "valid" and "invalid" example documents.
struct Case {
  std::string name;
  Json schema;  // null for json_object
  bool json_object = false;
  std::vector<std::string> valid, invalid;
};

inline std::vector<Case> load_cases(const std::string& file) {
  std::vector<Case> out;
  std::ifstream in(std::string(TACHYON_TEST_DATA) + "/structured/" + file);
  EXPECT_TRUE(in.good()) << "missing test data structured/" << file;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const Json j = Json::parse(line);
    Case c;
    c.name = j.at("name");
    c.json_object = j.value("json_object", false);
    if (!c.json_object) c.schema = j.at("schema");
    for (const Json& v : j.value("valid", Json::array())) c.valid.push_back(v.get<std::string>());
    for (const Json& v : j.value("invalid", Json::array())) c.invalid.push_back(v.get<std::string>());
    out.push_back(std::move(c));
  }
  return out;
}

inline std::vector<Case> all_cases() {
  std::vector<Case> out = load_cases("schemas.jsonl");
  for (Case& c : load_cases("more_schemas.jsonl")) out.push_back(std::move(c));
  return out;
}

inline std::shared_ptr<const Grammar> grammar_of(const Case& c) {
  if (c.json_object) {
    GrammarBuilder b;
    auto g = b.build(add_json_any(b).object);
    EXPECT_TRUE(g.is_ok());
    return g.value();
  }
  auto g = compile_json_schema(c.schema);
  EXPECT_TRUE(g.is_ok()) << c.name << ": " << g.status().message();
  return g.is_ok() ? g.value() : nullptr;
}

inline std::shared_ptr<const Grammar> grammar_of(const char* schema_text) {
  auto g = compile_json_schema(Json::parse(schema_text));
  EXPECT_TRUE(g.is_ok()) << schema_text << ": " << g.status().message();
  return g.is_ok() ? g.value() : nullptr;
}

inline bool oracle(const Case& c, std::string_view doc) {
  return c.json_object ? oracle_accepts_json_object(doc) : oracle_accepts(doc, c.schema);
}

// The whole of `doc` is accepted and complete.
inline bool matches(const std::shared_ptr<const Grammar>& g, std::string_view doc) {
  Matcher m(g);
  return m.accept_bytes(doc) && m.is_complete();
}

// A vocabulary loaded from a tokenizer.json: every id's bytes, its special ids, and EOS as the stop id.
inline std::shared_ptr<const Vocabulary> vocabulary_of(const tok::Tokenizer& t) {
  std::vector<std::string> bytes;
  std::vector<int32_t> special, stop;
  for (int32_t id = 0; id < t.vocab_size(); ++id) {
    bytes.emplace_back(t.token_bytes(id));
    if (t.is_special(id)) special.push_back(id);
  }
  if (t.eos_id()) stop.push_back(*t.eos_id());
  auto v = Vocabulary::build(std::move(bytes), special, stop);
  EXPECT_TRUE(v.is_ok()) << v.status().message();
  return v.value();
}

struct LoadedVocab {
  std::unique_ptr<tok::Tokenizer> tokenizer;
  std::shared_ptr<const Vocabulary> vocab;
};

inline const LoadedVocab& v4_vocab() {
  static const LoadedVocab v = [] {
    auto r = tok::Tokenizer::load(kV4TokenizerPath);
    if (!r.is_ok()) {
      std::fprintf(stderr, "cannot load the V4 tokenizer: %s\n", r.status().message().c_str());
      std::abort();
    }
    LoadedVocab out{std::move(r).value(), nullptr};
    out.vocab = vocabulary_of(*out.tokenizer);
    return out;
  }();
  return v;
}

}  // namespace tachyon::grammar::testing
