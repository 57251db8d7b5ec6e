#include "oracle.h"

#include <algorithm>

namespace tachyon::grammar::testing {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view t) : t_(t) {}
  std::optional<Node> all() {
    auto n = value(0);
    if (!n || pos_ != t_.size()) return std::nullopt;
    return n;
  }

 private:
  bool eat(char c) {
    if (pos_ < t_.size() && t_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  // A string's span is cut at the first unescaped quote; nlohmann checks and decodes it.
  std::optional<std::string> string_at() {
    const size_t start = pos_;
    if (!eat('"')) return std::nullopt;
    while (pos_ < t_.size() && t_[pos_] != '"') pos_ += t_[pos_] == '\\' ? 2 : 1;
    if (pos_ >= t_.size()) return std::nullopt;
    ++pos_;
    const Json j = Json::parse(t_.substr(start, pos_ - start), nullptr, false);
    if (!j.is_string()) return std::nullopt;
    return j.get<std::string>();
  }
  std::optional<Node> value(int depth) {
    if (depth > 400 || pos_ >= t_.size()) return std::nullopt;
    const size_t start = pos_;
    Node n;
    const char c = t_[pos_];
    if (c == '{') {
      n.kind = Node::kObject;
      ++pos_;
      if (!eat('}')) {
        do {
          const size_t key_start = pos_;
          auto key = string_at();
          if (!key || !eat(':')) return std::nullopt;
          n.raw_keys.emplace_back(t_.substr(key_start, pos_ - 1 - key_start));
          auto v = value(depth + 1);
          if (!v) return std::nullopt;
          n.members.emplace_back(std::move(*key), std::move(*v));
        } while (eat(','));
        if (!eat('}')) return std::nullopt;
      }
    } else if (c == '[') {
      n.kind = Node::kArray;
      ++pos_;
      if (!eat(']')) {
        do {
          auto v = value(depth + 1);
          if (!v) return std::nullopt;
          n.items.push_back(std::move(*v));
        } while (eat(','));
        if (!eat(']')) return std::nullopt;
      }
    } else if (c == '"') {
      auto s = string_at();
      if (!s) return std::nullopt;
      n.kind = Node::kString;
      n.str = std::move(*s);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      while (pos_ < t_.size() && std::string_view("+-.eE0123456789").find(t_[pos_]) != std::string_view::npos) ++pos_;
      // nlohmann refuses numbers beyond double range (1e400), which JSON allows: the exponent's digits
      // are replaced by one digit, which keeps the syntax.
      std::string lexeme(t_.substr(start, pos_ - start));
      const size_t e = lexeme.find_first_of("eE");
      if (e != std::string::npos) {
        size_t d = e + 1;
        if (d < lexeme.size() && (lexeme[d] == '+' || lexeme[d] == '-')) ++d;
        if (d < lexeme.size() && lexeme.find_first_not_of("0123456789", d) == std::string::npos) lexeme.replace(d, std::string::npos, "1");
      }
      const Json j = Json::parse(lexeme, nullptr, false);
      if (!j.is_number()) return std::nullopt;
      n.kind = Node::kNumber;
    } else {
      for (const std::string_view lit : {"true", "false", "null"}) {
        if (t_.substr(pos_, lit.size()) == lit) {
          pos_ += lit.size();
          n.kind = lit == "null" ? Node::kNull : Node::kBool;
          break;
        }
      }
      if (pos_ == start) return std::nullopt;
    }
    n.raw = std::string(t_.substr(start, pos_ - start));
    return n;
  }
  std::string_view t_;
  size_t pos_ = 0;
};

const Json* resolve(const Json& root, const std::string& ref) {
  const Json* at = &root;
  size_t i = 1;
  while (i < ref.size()) {
    const size_t next = std::min(ref.find('/', i + 1), ref.size());
    std::string tok = ref.substr(i + 1, next - i - 1), dec;
    for (size_t k = 0; k < tok.size(); ++k) {
      if (tok[k] == '~' && k + 1 < tok.size()) {
        dec += tok[k + 1] == '1' ? '/' : '~';
        ++k;
      } else {
        dec += tok[k];
      }
    }
    if (at->is_object() && at->contains(dec)) {
      at = &(*at)[dec];
    } else if (at->is_array()) {
      at = &(*at)[std::stoul(dec)];
    } else {
      return nullptr;
    }
    i = next;
  }
  return at;
}

size_t code_points(const std::string& s) {
  return size_t(std::count_if(s.begin(), s.end(), [](char c) { return (uint8_t(c) & 0xC0) != 0x80; }));
}

// -1, 0, 1: the integer text `raw` against the schema bound `b` (a JSON number).
int compare(const std::string& raw, const Json& b) {
  const bool neg = raw[0] == '-';
  const std::string digits = neg ? raw.substr(1) : raw;
  if (digits.size() > 30) return neg ? -1 : 1;
  __int128 v = 0;
  for (const char d : digits) v = v * 10 + (d - '0');
  if (neg) v = -v;
  if (b.is_number_integer()) {
    const __int128 x = b.is_number_unsigned() ? __int128(b.get<uint64_t>()) : __int128(b.get<int64_t>());
    return v < x ? -1 : v > x ? 1 : 0;
  }
  const long double lv = (long double)v, x = b.get<double>();
  return lv < x ? -1 : lv > x ? 1 : 0;
}

bool valid(const Node& n, const Json& s, const Json& root, int depth);

bool type_ok(const Node& n, const std::string& t, const Json& s, const Json& root, int depth) {
  auto count = [&](const char* kw, size_t dflt) { return s.contains(kw) ? s[kw].get<size_t>() : dflt; };
  if (t == "null") return n.kind == Node::kNull;
  if (t == "boolean") return n.kind == Node::kBool;
  if (t == "number") return n.kind == Node::kNumber;
  if (t == "string") {
    const size_t cp = code_points(n.str);
    return n.kind == Node::kString && cp >= count("minLength", 0) && cp <= count("maxLength", SIZE_MAX);
  }
  if (t == "integer") {
    if (n.kind != Node::kNumber || n.raw.find_first_of(".eE") != std::string::npos) return false;
    if (s.contains("minimum") && compare(n.raw, s["minimum"]) < 0) return false;
    if (s.contains("maximum") && compare(n.raw, s["maximum"]) > 0) return false;
    if (s.contains("exclusiveMinimum") && compare(n.raw, s["exclusiveMinimum"]) <= 0) return false;
    if (s.contains("exclusiveMaximum") && compare(n.raw, s["exclusiveMaximum"]) >= 0) return false;
    return true;
  }
  if (t == "array") {
    if (n.kind != Node::kArray) return false;
    if (n.items.size() < count("minItems", 0) || n.items.size() > count("maxItems", SIZE_MAX)) return false;
    const Json item = s.contains("items") ? s["items"] : Json(true);
    return std::all_of(n.items.begin(), n.items.end(), [&](const Node& x) { return valid(x, item, root, depth + 1); });
  }
  // object
  if (n.kind != Node::kObject) return false;
  if (!s.contains("properties")) {
    if (s.contains("additionalProperties") && !s["additionalProperties"].get<bool>()) return n.members.empty();
    return true;
  }
  std::vector<std::string> order;
  for (const auto& [k, v] : s["properties"].items()) order.push_back(k);
  size_t next = 0;  // members must follow the declared order, each at most once, keys as compact JSON
  for (size_t i = 0; i < n.members.size(); ++i) {
    const auto& [k, v] = n.members[i];
    const auto it = std::find(order.begin() + long(next), order.end(), k);
    if (it == order.end() || n.raw_keys[i] != Json(k).dump()) return false;
    next = size_t(it - order.begin()) + 1;
    if (!valid(v, s["properties"][k], root, depth + 1)) return false;
  }
  for (const Json& r : s.value("required", Json::array())) {
    const std::string k = r.get<std::string>();
    if (std::none_of(n.members.begin(), n.members.end(), [&](const auto& m) { return m.first == k; })) return false;
  }
  return true;
}

bool valid(const Node& n, const Json& s, const Json& root, int depth) {
  if (depth > 300) return false;
  if (s.is_boolean()) return s.get<bool>();
  if (s.contains("$ref")) {
    const Json* target = resolve(root, s["$ref"].get<std::string>());
    return target && valid(n, *target, root, depth + 1);
  }
  if (s.contains("anyOf")) {
    const Json& b = s["anyOf"];
    return std::any_of(b.begin(), b.end(), [&](const Json& x) { return valid(n, x, root, depth + 1); });
  }
  if (s.contains("const")) return s["const"].dump() == n.raw;
  if (s.contains("enum")) {
    const Json& e = s["enum"];
    return std::any_of(e.begin(), e.end(), [&](const Json& x) { return x.dump() == n.raw; });
  }
  std::vector<std::string> types;
  if (s.contains("type")) {
    if (s["type"].is_string()) {
      types.push_back(s["type"].get<std::string>());
    } else {
      for (const Json& t : s["type"]) types.push_back(t.get<std::string>());
    }
  } else {
    for (const auto& [k, v] : s.items()) {
      std::string t;
      if (k == "properties" || k == "required" || k == "additionalProperties") t = "object";
      if (k == "items" || k == "minItems" || k == "maxItems") t = "array";
      if (k == "minLength" || k == "maxLength") t = "string";
      if (k == "minimum" || k == "maximum" || k == "exclusiveMinimum" || k == "exclusiveMaximum") t = "integer";
      if (!t.empty() && std::find(types.begin(), types.end(), t) == types.end()) types.push_back(t);
    }
    if (types.empty()) return true;
  }
  return std::any_of(types.begin(), types.end(), [&](const std::string& t) { return type_ok(n, t, s, root, depth); });
}

}  // namespace

std::optional<Node> parse_compact(std::string_view text) { return Parser(text).all(); }

bool oracle_accepts(std::string_view text, const Json& schema) {
  const auto n = parse_compact(text);
  return n && valid(*n, schema, schema, 0);
}

bool oracle_accepts_json_object(std::string_view text) {
  const auto n = parse_compact(text);
  return n && n->kind == Node::kObject;
}

}  // namespace tachyon::grammar::testing
