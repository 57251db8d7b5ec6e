// Grammar: a context-free grammar over bytes, the form every constraint of the grammar layer compiles to
// (JSON Schema, json_object, and later the DSML tool-call block composed from literals and schemas).
//
// A grammar is a list of rules; a rule is a list of alternatives; an alternative is a sequence of
// elements. Elements are byte literals, byte sets, references to rules, counted repetitions of a rule
// with a separator, and three JSON terminals that would be large as plain rules: a JSON string with a
// length range in code points, a JSON integer with an optional int64 range, and any JSON number.
//
// GrammarBuilder assembles rules and checks them in build(): every rule defined, no left recursion (a
// rule that reaches itself without consuming a byte), no repetition of an item that can be empty.
// Alternatives that can never finish (a rule that derives no finite byte string, e.g. a required
// property that recurses forever) are pruned, so every prefix the matcher accepts can still be completed;
// a root that derives nothing finite is an error. The built Grammar is immutable and shared by matchers.
#pragma once

#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace tachyon::grammar {

inline constexpr uint32_t kUnbounded = UINT32_MAX;

// Element kinds of the flat form (Grammar::elems): every sequence ends in kEnd.
enum class ElemKind : uint8_t { kEnd, kLiteral, kByteSet, kRule, kRepeat, kString, kInteger, kNumber };

// One element of the flat form. Fields by kind:
//   kLiteral: a = offset in literals(), b = length (>= 1)
//   kByteSet: a = index in byte_sets()
//   kRule:    a = rule id
//   kRepeat:  a = node of [item, end], b = node of [separator, item, end], c = min, d = max (kUnbounded)
//   kString:  c = min code points, d = max code points (kUnbounded)
//   kInteger: a = index in int_ranges()
struct Elem {
  ElemKind kind = ElemKind::kEnd;
  uint32_t a = 0, b = 0, c = 0, d = 0;
};

struct IntRange {
  std::optional<int64_t> min, max;  // inclusive
};

class Grammar {
 public:
  const std::vector<Elem>& elems() const { return elems_; }
  const Elem& elem(uint32_t node) const { return elems_[node]; }
  // The first node of each alternative of rule `r`.
  const uint32_t* alt_begin(uint32_t r) const { return alt_nodes_.data() + rule_alts_[r]; }
  const uint32_t* alt_end(uint32_t r) const { return alt_nodes_.data() + rule_alts_[r + 1]; }
  const std::string& literals() const { return literals_; }
  const std::bitset<256>& byte_set(uint32_t i) const { return byte_sets_[i]; }
  const IntRange& int_range(uint32_t i) const { return int_ranges_[i]; }
  // The node a matcher starts at: a sequence [root rule, end].
  uint32_t start_node() const { return start_node_; }
  size_t num_rules() const { return rule_alts_.size() - 1; }
  const std::string& rule_name(uint32_t r) const { return rule_names_[r]; }

 private:
  friend class GrammarBuilder;
  std::vector<Elem> elems_;
  std::vector<uint32_t> rule_alts_;  // rule r's alternatives: alt_nodes_[rule_alts_[r] .. rule_alts_[r+1])
  std::vector<uint32_t> alt_nodes_;
  std::vector<std::string> rule_names_;
  std::string literals_;
  std::vector<std::bitset<256>> byte_sets_;
  std::vector<IntRange> int_ranges_;
  uint32_t start_node_ = 0;
};

// One element of a rule's alternative, as the builder takes it.
struct Element {
  ElemKind kind = ElemKind::kLiteral;
  std::string bytes;       // kLiteral: the bytes; kRepeat: the separator (may be empty)
  std::bitset<256> set;    // kByteSet
  uint32_t rule = 0;       // kRule, kRepeat: the rule
  uint32_t min = 0, max = kUnbounded;  // kRepeat: item count; kString: code points
  IntRange range;          // kInteger

  static Element literal(std::string b);
  static Element byte_set(std::bitset<256> s);
  static Element ref(uint32_t rule_id);
  static Element repeat(uint32_t rule_id, uint32_t min_count, uint32_t max_count, std::string separator);
  static Element json_string(uint32_t min_code_points = 0, uint32_t max_code_points = kUnbounded);
  static Element json_integer(IntRange r = {});
  static Element json_number();
};
using Sequence = std::vector<Element>;

class GrammarBuilder {
 public:
  // A new rule with no alternatives yet (define it later: this is how recursion is written). The name
  // appears in build() errors.
  uint32_t add_rule(std::string name);
  // Sets the alternatives of `rule` (replacing any).
  void define(uint32_t rule, std::vector<Sequence> alternatives);
  // add_rule + define.
  uint32_t add_rule(std::string name, std::vector<Sequence> alternatives);
  size_t num_rules() const { return rules_.size(); }

  // Checks the rules and flattens them; `root` is the rule a document must match.
  Result<std::shared_ptr<const Grammar>> build(uint32_t root) const;

 private:
  struct Rule {
    std::string name;
    std::vector<Sequence> alts;
    bool defined = false;
  };
  std::vector<Rule> rules_;
};

}  // namespace tachyon::grammar
