// The grammar tests' oracle: an independent check that a byte string is a document the grammar of a
// schema must accept (compact JSON that validates against the schema, in the fixed form json_schema.h
// documents). It shares no code with the grammar layer: structure is split here, and every scalar
// (string, number) is checked and decoded by nlohmann's parser.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tachyon::grammar::testing {

using Json = nlohmann::ordered_json;

struct Node {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  std::string raw;  // the value's exact text
  std::string str;  // kString: the decoded string
  std::vector<Node> items;
  std::vector<std::pair<std::string, Node>> members;  // decoded key, value
  std::vector<std::string> raw_keys;                  // each key's exact text
};

// Parses compact JSON (no whitespace outside strings); nullopt when it is not.
std::optional<Node> parse_compact(std::string_view text);

// Whether `text` is a document of `schema` (json_object: any JSON object) in the fixed form.
bool oracle_accepts(std::string_view text, const Json& schema);
bool oracle_accepts_json_object(std::string_view text);

// Random documents for a schema: mostly valid, and with `wild` often breaking one rule (a wrong type, a
// bound passed, a property out of order, a malformed scalar).
class DocGen {
 public:
  DocGen(const Json& root, uint64_t seed) : root_(root), rng_(seed) {}
  std::string gen(bool wild) { return value(root_, wild, 0); }
  std::string any_value(bool wild, int depth);
  uint64_t next() {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_;
  }
  size_t below(size_t n) { return n == 0 ? 0 : size_t(next() % n); }
  bool chance(int percent) { return below(100) < size_t(percent); }
  std::string string_text(uint32_t min_cp, uint32_t max_cp, bool wild);
  std::string integer_text(std::optional<int64_t> lo, std::optional<int64_t> hi, bool wild);
  std::string number_text(bool wild);

 private:
  std::string value(const Json& s, bool wild, int depth);
  const Json& root_;
  uint64_t rng_;
};

// Mutations of a document: one byte inserted, deleted or replaced, or a cut.
std::string mutate(std::string doc, DocGen& g);

}  // namespace tachyon::grammar::testing
