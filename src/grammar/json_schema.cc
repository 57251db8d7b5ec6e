// JSON Schema -> grammar rules (the rules of the generated form are described in json_schema.h).
#include "grammar/json_schema.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <vector>

namespace tachyon::grammar {
namespace {

constexpr int kMaxNesting = 64;

const std::set<std::string, std::less<>> kAnnotations = {
    "title", "description", "$schema", "$id", "default", "examples", "$comment", "deprecated", "readOnly", "writeOnly"};

enum Group { kNone, kObjectKw, kArrayKw, kStringKw, kIntegerKw, kGeneralKw, kDefsKw };

Group keyword_group(std::string_view k) {
  static const std::map<std::string, Group, std::less<>> groups = {
      {"type", kGeneralKw},           {"enum", kGeneralKw},        {"const", kGeneralKw},
      {"anyOf", kGeneralKw},          {"$ref", kGeneralKw},        {"$defs", kDefsKw},
      {"definitions", kDefsKw},       {"properties", kObjectKw},   {"required", kObjectKw},
      {"additionalProperties", kObjectKw}, {"items", kArrayKw},    {"minItems", kArrayKw},
      {"maxItems", kArrayKw},         {"minLength", kStringKw},    {"maxLength", kStringKw},
      {"minimum", kIntegerKw},        {"maximum", kIntegerKw},     {"exclusiveMinimum", kIntegerKw},
      {"exclusiveMaximum", kIntegerKw}};
  const auto it = groups.find(k);
  return it == groups.end() ? kNone : it->second;
}

const std::vector<std::string> kTypeNames = {"null", "boolean", "object", "array", "string", "integer", "number"};

bool has_type(const Json& v, std::string_view t) {
  if (t == "null") return v.is_null();
  if (t == "boolean") return v.is_boolean();
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "string") return v.is_string();
  if (t == "integer") return v.is_number_integer();
  return v.is_number();  // number
}

std::string type_name(const Json& v) {
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  return v.type_name();
}

class Compiler {
 public:
  Compiler(GrammarBuilder& b, const Json& root) : b_(b), root_(root) {}

  Result<uint32_t> compile_root() { return by_pointer({}, {}); }

 private:
  // The location of the node being compiled: pointer tokens and the matching display pieces.
  struct Where {
    std::vector<std::string> ptr;
    std::vector<std::string> shown;
  };
  std::string path() const {
    std::string p = "$";
    for (const std::string& s : at_.shown) p += s;
    return p;
  }
  std::string pointer_key(const std::vector<std::string>& ptr) const {
    std::string k = "#";
    for (const std::string& t : ptr) k += "/" + t;
    return k;
  }
  void enter(const std::string& key) {
    at_.ptr.push_back(key);
    at_.shown.push_back("." + key);
  }
  void enter_index(size_t i) {
    at_.ptr.push_back(std::to_string(i));
    at_.shown.push_back(fmt::format("[{}]", i));
  }
  void leave() {
    at_.ptr.pop_back();
    at_.shown.pop_back();
  }
  Status err(std::string_view what) const { return error("{} at {}", what, path()); }

  // The rule of the schema at pointer `ptr` (memoised: this is what makes recursion terminate).
  Result<uint32_t> by_pointer(std::vector<std::string> ptr, std::vector<std::string> shown) {
    const std::string key = pointer_key(ptr);
    if (const auto it = memo_.find(key); it != memo_.end()) return it->second;
    const Json* node = &root_;
    for (const std::string& t : ptr) {
      if (node->is_object() && node->contains(t)) {
        node = &(*node)[t];
      } else if (node->is_array() && !t.empty() && std::all_of(t.begin(), t.end(), ::isdigit) && t.size() < 10 &&
                 std::stoul(t) < node->size()) {
        node = &(*node)[std::stoul(t)];
      } else {
        return err(fmt::format("$ref '{}' does not resolve", key));
      }
    }
    Where saved = at_;
    at_ = Where{std::move(ptr), std::move(shown)};
    const uint32_t rule = b_.add_rule(path());
    memo_.emplace(key, rule);
    auto seqs = alternatives(*node);
    at_ = std::move(saved);
    if (!seqs.is_ok()) return seqs.status();
    b_.define(rule, std::move(seqs).value());
    return rule;
  }

  // A fresh rule for the schema at the current location.
  Result<uint32_t> rule_for(const Json& s) {
    const uint32_t rule = b_.add_rule(path());
    TACHYON_ASSIGN_OR_RETURN(auto seqs, alternatives(s));
    b_.define(rule, std::move(seqs));
    return rule;
  }
  Result<uint32_t> child(const Json& s, const std::string& key) {
    enter(key);
    auto r = rule_for(s);
    leave();
    return r;
  }

  uint32_t any_rule(bool object) {
    if (!any_) any_ = add_json_any(b_);
    return object ? any_->object : any_->value;
  }

  Result<uint32_t> count(const Json& s, const char* kw) {
    const Json& v = s[kw];
    // Parsers store a non-negative integer as unsigned or as signed (the server's exact parser does the latter).
    const bool non_negative = v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
    if (!non_negative || v.get<uint64_t>() >= kUnbounded)
      return err(fmt::format("'{}' must be a non-negative integer below {}, got {}", kw, kUnbounded, v.dump()));
    return uint32_t(v.get<uint64_t>());
  }

  Result<std::vector<Sequence>> alternatives(const Json& s) {
    if (++depth_ > kMaxNesting) {
      --depth_;
      return err(fmt::format("schema nested deeper than {} levels", kMaxNesting));
    }
    auto r = alternatives_inner(s);
    --depth_;
    return r;
  }

  Result<std::vector<Sequence>> alternatives_inner(const Json& s) {
    if (s.is_boolean()) {
      if (!s.get<bool>()) return err("schema 'false' allows no value");
      return std::vector<Sequence>{{Element::ref(any_rule(false))}};
    }
    if (!s.is_object()) return err(fmt::format("a schema must be an object or a boolean, got {}", type_name(s)));
    std::vector<std::string> general;
    std::set<Group> groups;
    for (const auto& [k, v] : s.items()) {
      if (kAnnotations.count(k)) continue;
      const Group g = keyword_group(k);
      if (g == kNone) return err(fmt::format("unsupported JSON Schema keyword '{}'", k));
      groups.insert(g);
      if (g != kDefsKw) general.push_back(k);
    }
    for (const char* defs : {"$defs", "definitions"}) {
      if (!s.contains(defs)) continue;
      if (!s[defs].is_object()) return err(fmt::format("'{}' must be an object", defs));
      for (const auto& [name, sub] : s[defs].items()) {
        std::vector<std::string> ptr = at_.ptr, shown = at_.shown;
        ptr.push_back(defs);
        ptr.push_back(name);
        shown.push_back(std::string(".") + defs);
        shown.push_back("." + name);
        TACHYON_RETURN_IF_ERROR(by_pointer(std::move(ptr), std::move(shown)).status());
      }
    }
    // $ref and anyOf stand alone (beside annotations and $defs).
    for (const char* kw : {"$ref", "anyOf"}) {
      if (!s.contains(kw)) continue;
      for (const std::string& other : general) {
        if (other != kw) return err(fmt::format("keyword '{}' beside '{}' is not supported", other, kw));
      }
      if (std::string_view(kw) == "$ref") return ref(s["$ref"]);
      return any_of(s["anyOf"]);
    }
    if (s.contains("enum") || s.contains("const")) return literals(s);

    std::vector<std::string> types;
    if (s.contains("type")) {
      TACHYON_ASSIGN_OR_RETURN(types, parse_types(s["type"]));
    } else {
      if (groups.count(kObjectKw)) types.push_back("object");
      if (groups.count(kArrayKw)) types.push_back("array");
      if (groups.count(kStringKw)) types.push_back("string");
      if (groups.count(kIntegerKw)) types.push_back("integer");
      if (types.empty()) return std::vector<Sequence>{{Element::ref(any_rule(false))}};
    }
    auto has = [&](std::string_view t) { return std::find(types.begin(), types.end(), t) != types.end(); };
    for (const auto& [k, v] : s.items()) {
      const Group g = keyword_group(k);
      const char* needs = g == kObjectKw ? "object" : g == kArrayKw ? "array" : g == kStringKw ? "string" : nullptr;
      if (needs && !has(needs)) return err(fmt::format("keyword '{}' needs type '{}' in 'type'", k, needs));
      if (g == kIntegerKw) {
        if (has("number")) return err(fmt::format("keyword '{}' is supported on integers only, not on 'number'", k));
        if (!has("integer")) return err(fmt::format("keyword '{}' needs type 'integer' in 'type'", k));
      }
    }
    std::vector<Sequence> out;
    for (const std::string& t : types) {
      if (t == "null") {
        out.push_back({Element::literal("null")});
      } else if (t == "boolean") {
        out.push_back({Element::literal("true")});
        out.push_back({Element::literal("false")});
      } else if (t == "number") {
        out.push_back({Element::json_number()});
      } else if (t == "integer") {
        if (has("number")) continue;  // number covers it
        TACHYON_ASSIGN_OR_RETURN(IntRange range, integer_range(s));
        out.push_back({Element::json_integer(range)});
      } else if (t == "string") {
        uint32_t lo = 0, hi = kUnbounded;
        if (s.contains("minLength")) {
          TACHYON_ASSIGN_OR_RETURN(lo, count(s, "minLength"));
        }
        if (s.contains("maxLength")) {
          TACHYON_ASSIGN_OR_RETURN(hi, count(s, "maxLength"));
        }
        if (lo > hi) return err(fmt::format("minLength {} is greater than maxLength {}", lo, hi));
        out.push_back({Element::json_string(lo, hi)});
      } else if (t == "array") {
        TACHYON_ASSIGN_OR_RETURN(Sequence seq, array(s));
        out.push_back(std::move(seq));
      } else {
        TACHYON_ASSIGN_OR_RETURN(Sequence seq, object(s));
        out.push_back(std::move(seq));
      }
    }
    return out;
  }

  Result<std::vector<std::string>> parse_types(const Json& t) {
    std::vector<std::string> out;
    const bool single = t.is_string();
    if (!single && !(t.is_array() && !t.empty())) return err("'type' must be a type name or a non-empty array of them");
    for (const Json& x : single ? Json::array({t}) : t) {
      if (!x.is_string() || std::find(kTypeNames.begin(), kTypeNames.end(), x.get<std::string>()) == kTypeNames.end())
        return err(fmt::format("unknown type {} in 'type' (expected one of null, boolean, object, array, string, "
                               "integer, number)", x.dump()));
      if (std::find(out.begin(), out.end(), x.get<std::string>()) != out.end())
        return err(fmt::format("type {} appears twice in 'type'", x.dump()));
      out.push_back(x.get<std::string>());
    }
    return out;
  }

  Result<std::vector<Sequence>> ref(const Json& r) {
    if (!r.is_string()) return err("'$ref' must be a string");
    const std::string target = r.get<std::string>();
    if (target.empty() || target[0] != '#' || (target.size() > 1 && target[1] != '/'))
      return err(fmt::format("unsupported $ref '{}' (only local JSON pointers '#/...' are supported)", target));
    std::vector<std::string> ptr, shown;
    for (size_t i = 1; i < target.size();) {
      const size_t next = std::min(target.find('/', i + 1), target.size());
      std::string tok = target.substr(i + 1, next - i - 1), dec;
      for (size_t k = 0; k < tok.size(); ++k) {
        if (tok[k] == '~' && k + 1 < tok.size() && (tok[k + 1] == '0' || tok[k + 1] == '1')) {
          dec += tok[k + 1] == '0' ? '~' : '/';
          ++k;
        } else if (tok[k] == '~') {
          return err(fmt::format("$ref '{}' has a bad '~' escape", target));
        } else {
          dec += tok[k];
        }
      }
      shown.push_back("." + dec);
      ptr.push_back(std::move(dec));
      i = next;
    }
    TACHYON_ASSIGN_OR_RETURN(uint32_t rule, by_pointer(std::move(ptr), std::move(shown)));
    return std::vector<Sequence>{{Element::ref(rule)}};
  }

  Result<std::vector<Sequence>> any_of(const Json& branches) {
    if (!branches.is_array() || branches.empty()) return err("'anyOf' must be a non-empty array of schemas");
    std::vector<Sequence> out;
    std::set<std::string> seen;  // identical branches would only make the matcher ambiguous
    enter("anyOf");
    for (size_t i = 0; i < branches.size(); ++i) {
      if (!seen.insert(branches[i].dump()).second) continue;
      enter_index(i);
      auto r = rule_for(branches[i]);
      leave();
      if (!r.is_ok()) {
        leave();
        return r.status();
      }
      out.push_back({Element::ref(r.value())});
    }
    leave();
    return out;
  }

  Result<std::vector<Sequence>> literals(const Json& s) {
    if (s.contains("enum") && s.contains("const")) return err("'enum' and 'const' together are not supported");
    for (const auto& [k, v] : s.items()) {
      if (k != "enum" && k != "const" && k != "type" && keyword_group(k) != kDefsKw && !kAnnotations.count(k))
        return err(fmt::format("keyword '{}' beside '{}' is not supported", k, s.contains("enum") ? "enum" : "const"));
    }
    std::vector<std::string> types;
    if (s.contains("type")) {
      TACHYON_ASSIGN_OR_RETURN(types, parse_types(s["type"]));
    }
    const bool is_enum = s.contains("enum");
    const Json values = is_enum ? s["enum"] : Json::array({s["const"]});
    if (is_enum && (!values.is_array() || values.empty())) return err("'enum' must be a non-empty array");
    std::vector<Sequence> out;
    std::set<std::string> seen;
    for (size_t i = 0; i < values.size(); ++i) {
      const Json& v = values[i];
      if (!types.empty() &&
          std::none_of(types.begin(), types.end(), [&](const std::string& t) { return has_type(v, t); })) {
        const std::string where = is_enum ? fmt::format("enum value {} ({})", i, v.dump()) : "'const' value";
        return err(fmt::format("{} does not have a type listed in 'type'", where));
      }
      std::string text = v.dump();
      if (seen.insert(text).second) out.push_back({Element::literal(std::move(text))});
    }
    return out;
  }

  Result<IntRange> integer_range(const Json& s) {
    IntRange r;
    for (const char* kw : {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"}) {
      if (!s.contains(kw)) continue;
      const Json& v = s[kw];
      if (!v.is_number()) return err(fmt::format("'{}' must be a number, got {}", kw, v.dump()));
      const std::string_view k = kw;
      const bool lower = k == "minimum" || k == "exclusiveMinimum";
      const bool exclusive = k[0] == 'e';
      // The lowest / highest integer allowed, as a long double (exact for every int64).
      long double x;
      if (v.is_number_integer()) {
        x = v.is_number_unsigned() ? (long double)v.get<uint64_t>() : (long double)v.get<int64_t>();
        if (exclusive) x += lower ? 1 : -1;
      } else {
        const double d = v.get<double>();
        if (!std::isfinite(d)) return err(fmt::format("'{}' must be finite", kw));
        if (lower) {
          x = exclusive ? std::floor((long double)d) + 1 : std::ceil((long double)d);
        } else {
          x = exclusive ? std::ceil((long double)d) - 1 : std::floor((long double)d);
        }
      }
      if (x < (long double)INT64_MIN || x > (long double)INT64_MAX)
        return err(fmt::format("'{}' {} is outside the supported 64-bit integer range", kw, v.dump()));
      const auto b = int64_t(x);
      if (lower) {
        r.min = r.min ? std::max(*r.min, b) : b;
      } else {
        r.max = r.max ? std::min(*r.max, b) : b;
      }
    }
    if (r.min && r.max && *r.min > *r.max)
      return err(fmt::format("the integer range is empty (lowest {} > highest {})", *r.min, *r.max));
    return r;
  }

  Result<Sequence> array(const Json& s) {
    uint32_t lo = 0, hi = kUnbounded;
    if (s.contains("minItems")) {
      TACHYON_ASSIGN_OR_RETURN(lo, count(s, "minItems"));
    }
    if (s.contains("maxItems")) {
      TACHYON_ASSIGN_OR_RETURN(hi, count(s, "maxItems"));
    }
    if (lo > hi) return err(fmt::format("minItems {} is greater than maxItems {}", lo, hi));
    uint32_t item = 0;
    if (s.contains("items")) {
      if (!s["items"].is_object() && !s["items"].is_boolean()) return err("'items' must be a schema (object or boolean)");
      if (s["items"].is_boolean() && !s["items"].get<bool>()) {
        if (lo > 0) return err("'items: false' with minItems > 0 allows no value");
        return Sequence{Element::literal("[]")};
      }
      TACHYON_ASSIGN_OR_RETURN(item, child(s["items"], "items"));
    } else {
      item = any_rule(false);
    }
    return Sequence{Element::literal("["), Element::repeat(item, lo, hi, ","), Element::literal("]")};
  }

  Result<Sequence> object(const Json& s) {
    bool extra = true;
    if (s.contains("additionalProperties")) {
      const Json& a = s["additionalProperties"];
      if (!a.is_boolean()) return err("'additionalProperties' must be false or true (schemas are not supported)");
      extra = a.get<bool>();
    }
    std::set<std::string> required;
    if (s.contains("required")) {
      const Json& r = s["required"];
      if (!r.is_array()) return err("'required' must be an array of property names");
      for (const Json& name : r) {
        if (!name.is_string()) return err(fmt::format("'required' holds {}, not a property name", name.dump()));
        if (!required.insert(name.get<std::string>()).second)
          return err(fmt::format("'required' lists '{}' twice", name.get<std::string>()));
        if (!s.contains("properties") || !s["properties"].is_object() || !s["properties"].contains(name.get<std::string>()))
          return err(fmt::format("required property '{}' is not declared in 'properties'", name.get<std::string>()));
      }
    }
    if (!s.contains("properties")) {
      if (!extra) return Sequence{Element::literal("{}")};
      return Sequence{Element::ref(any_rule(true))};
    }
    const Json& props = s["properties"];
    if (!props.is_object()) return err("'properties' must be an object");
    struct Field {
      std::string name, key;  // key: the name as JSON text and a colon
      uint32_t value;
    };
    std::vector<Field> fields;
    enter("properties");
    for (const auto& [name, sub] : props.items()) {
      auto r = child(sub, name);
      if (!r.is_ok()) {
        leave();
        return r.status();
      }
      fields.push_back(Field{name, Json(name).dump() + ":", r.value()});
    }
    const std::string base = path();
    leave();
    // first[i] / rest[i]: the properties from i on, before / after one has been written.
    const size_t n = fields.size();
    uint32_t first_next = b_.add_rule(base + "}", {{Element::literal("}")}});
    uint32_t rest_next = first_next;
    for (size_t i = n; i-- > 0;) {
      const auto& [field, key, value] = fields[i];
      const bool req = required.count(field) != 0;
      std::vector<Sequence> rest{{Element::literal("," + key), Element::ref(value), Element::ref(rest_next)}};
      std::vector<Sequence> first{{Element::literal(key), Element::ref(value), Element::ref(rest_next)}};
      if (!req) {
        rest.push_back({Element::ref(rest_next)});
        first.push_back({Element::ref(first_next)});
      }
      const std::string name = base + "[" + std::to_string(i) + "]";
      const uint32_t r = b_.add_rule(name + ",", std::move(rest));
      first_next = b_.add_rule(name, std::move(first));
      rest_next = r;
    }
    return Sequence{Element::literal("{"), Element::ref(first_next)};
  }

  GrammarBuilder& b_;
  const Json& root_;
  Where at_;
  std::map<std::string, uint32_t> memo_;
  std::optional<JsonAnyRules> any_;
  int depth_ = 0;
};

}  // namespace

JsonAnyRules add_json_any(GrammarBuilder& b) {
  JsonAnyRules r;
  r.value = b.add_rule("json value");
  r.object = b.add_rule("json object");
  const uint32_t array = b.add_rule("json array");
  const uint32_t member = b.add_rule("json member", {{Element::json_string(), Element::literal(":"), Element::ref(r.value)}});
  b.define(r.object, {{Element::literal("{"), Element::repeat(member, 0, kUnbounded, ","), Element::literal("}")}});
  b.define(array, {{Element::literal("["), Element::repeat(r.value, 0, kUnbounded, ","), Element::literal("]")}});
  b.define(r.value, {{Element::ref(r.object)},
                     {Element::ref(array)},
                     {Element::json_string()},
                     {Element::json_number()},
                     {Element::literal("true")},
                     {Element::literal("false")},
                     {Element::literal("null")}});
  return r;
}

Result<uint32_t> add_json_schema(GrammarBuilder& b, const Json& schema) { return Compiler(b, schema).compile_root(); }

Result<std::shared_ptr<const Grammar>> compile_json_schema(const Json& schema) {
  GrammarBuilder b;
  TACHYON_ASSIGN_OR_RETURN(uint32_t root, add_json_schema(b, schema));
  auto g = b.build(root);
  if (!g.is_ok()) return g.status().with_context("the schema has no usable grammar");
  return g;
}

}  // namespace tachyon::grammar
