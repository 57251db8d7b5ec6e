// Random documents for the oracle tests (see oracle.h).
#include <fmt/format.h>

#include "oracle.h"

namespace tachyon::grammar::testing {
namespace {

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else if (cp < 0x800) {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += char(0xE0 | (cp >> 12));
    s += char(0x80 | ((cp >> 6) & 0x3F));
    s += char(0x80 | (cp & 0x3F));
  } else {
    s += char(0xF0 | (cp >> 18));
    s += char(0x80 | ((cp >> 12) & 0x3F));
    s += char(0x80 | ((cp >> 6) & 0x3F));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

const Json* resolve_ref(const Json& root, const std::string& ref) {
  if (ref == "#") return &root;
  try {
    return &root.at(Json::json_pointer(ref.substr(1)));
  } catch (const std::exception&) {
    return nullptr;
  }
}

}  // namespace

std::string DocGen::string_text(uint32_t min_cp, uint32_t max_cp, bool wild) {
  size_t n = min_cp + below(std::min<size_t>(size_t(max_cp) - min_cp, 12) + 1);
  if (max_cp < 40 && chance(20)) n = max_cp;
  if (wild && chance(15)) n = chance(50) ? size_t(max_cp) + 1 : (min_cp > 0 ? min_cp - 1 : 0);
  std::string s = "\"";
  for (size_t i = 0; i < n; ++i) {
    if (wild && chance(4)) {  // something a JSON string may not hold
      static const char* bad[] = {"\x01", "\\x", "\\uDC00", "\\uD800a", "\xFF", "\xC0\x80", "\xE2\x82" "a",
                                  "\xED\xA0\x80", "\xF4\x90\x80\x80", "\\u12g4", "\\", "\x1F", "\\uD83D\\u0041"};
      s += bad[below(std::size(bad))];
      continue;
    }
    switch (below(10)) {
      case 0: case 1: case 2:
        s += char("abcXYZ019 _-.,:;{}[]~"[below(21)]);
        break;
      case 3: {
        static const char* esc[] = {"\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"};
        s += esc[below(std::size(esc))];
        break;
      }
      case 4: {
        uint32_t cp = uint32_t(below(0x10000));
        if (cp >= 0xD800 && cp < 0xE000) cp = 0x41;
        if (chance(40)) cp = uint32_t(below(0x20));
        s += chance(50) ? fmt::format("\\u{:04x}", cp) : fmt::format("\\u{:04X}", cp);
        break;
      }
      case 5:
        s += fmt::format("\\u{:04X}\\u{:04x}", 0xD800 + below(0x400), 0xDC00 + below(0x400));
        break;
      case 6:
        s += utf8(0x80 + uint32_t(below(0x800 - 0x80)));
        break;
      case 7: {
        uint32_t cp = 0x800 + uint32_t(below(0x10000 - 0x800));
        if (cp >= 0xD800 && cp < 0xE000) cp = 0x4E2D;
        s += utf8(cp);
        break;
      }
      case 8:
        s += utf8(0x10000 + uint32_t(below(0x110000 - 0x10000)));
        break;
      default:
        s += chance(30) ? "\x7F" : "é";
        break;
    }
  }
  return s + "\"";
}

std::string DocGen::integer_text(std::optional<int64_t> lo, std::optional<int64_t> hi, bool wild) {
  std::vector<std::string> c = {"0", "-0", "7", "-7", "42", "123456789", "-98765", "9223372036854775807",
                                "-9223372036854775808", "12345678901234567890123"};
  for (const auto& b : {lo, hi}) {
    if (!b) continue;
    for (const __int128 d : {-1, 0, 1}) {
      const __int128 x = __int128(*b) + d;
      const bool neg = x < 0;
      unsigned __int128 m = neg ? (unsigned __int128)(-x) : (unsigned __int128)x;
      std::string digits;
      do {
        digits.insert(digits.begin(), char('0' + int(m % 10)));
        m /= 10;
      } while (m);
      c.push_back((neg ? "-" : "") + digits);
    }
  }
  if (lo && hi && *hi - *lo < 1000) c.push_back(std::to_string(*lo + int64_t(below(size_t(*hi - *lo) + 1))));
  if (wild) {
    for (const char* w : {"01", "+1", "1.0", "1e2", "-", "00", "--1", "-01", "1.5", "0x1"}) c.push_back(w);
  }
  return c[below(c.size())];
}

std::string DocGen::number_text(bool wild) {
  std::vector<std::string> c = {"0",      "-0",     "12",        "-3.25", "1e5",      "1E+5",
                                "2.5e-3", "-0.0",   "0.000001",  "1e400", "-1.5E-07", "123456789012345678901234567890"};
  if (wild) {
    for (const char* w : {"01", "+1", ".5", "1.", "1e", "-", "1.e5", "0x1", "1e+", "-.5", "00.1", "NaN", "1E"})
      c.push_back(w);
  }
  return c[below(c.size())];
}

std::string DocGen::any_value(bool wild, int depth) {
  switch (below(depth > 3 ? 5 : 7)) {
    case 0: return "null";
    case 1: return chance(50) ? "true" : "false";
    case 2: return number_text(wild);
    case 3: case 4: return string_text(0, 6, wild);
    case 5: {
      std::string s = "[";
      for (size_t i = 0, n = below(4); i < n; ++i) {
        if (i) s += ',';
        s += any_value(wild, depth + 1);
      }
      return s + "]";
    }
    default: {
      std::string s = "{";
      for (size_t i = 0, n = below(4); i < n; ++i) {
        if (i) s += ',';
        s += string_text(0, 4, wild);
        s += ':';
        s += any_value(wild, depth + 1);
      }
      return s + "}";
    }
  }
}

std::string DocGen::value(const Json& s, bool wild, int depth) {
  if (s.is_boolean()) return any_value(wild, depth);
  if (s.contains("$ref")) {
    const Json* t = resolve_ref(root_, s["$ref"].get<std::string>());
    return t ? value(*t, wild, depth + 1) : "null";
  }
  if (s.contains("anyOf")) return value(s["anyOf"][below(s["anyOf"].size())], wild, depth + 1);
  if (s.contains("const") || s.contains("enum")) {
    const Json v = s.contains("const") ? s["const"] : s["enum"][below(s["enum"].size())];
    if (wild && chance(30)) {  // the same value written another way, or another value
      if (!v.is_string() || v.get<std::string>().empty()) return "\"zz\"";
      return fmt::format("\"\\u{:04x}{}", uint8_t(v.get<std::string>()[0]), v.dump().substr(2));
    }
    return v.dump();
  }
  std::vector<std::string> types;
  if (s.contains("type")) {
    if (s["type"].is_string()) types.push_back(s["type"]);
    for (const Json& t : s["type"].is_array() ? s["type"] : Json::array()) types.push_back(t);
  }
  if (types.empty()) {
    if (s.contains("properties")) types.push_back("object");
    else if (s.contains("items") || s.contains("maxItems") || s.contains("minItems")) types.push_back("array");
    else if (s.contains("maxLength") || s.contains("minLength")) types.push_back("string");
    else if (s.contains("minimum") || s.contains("maximum")) types.push_back("integer");
    else return any_value(wild, depth);
  }
  std::string t = types[below(types.size())];
  if (wild && chance(5)) t = std::vector<std::string>{"null", "boolean", "object", "array", "string", "integer", "number"}[below(7)];
  auto bound = [&](const char* kw) -> std::optional<int64_t> {
    if (!s.contains(kw) || !s[kw].is_number()) return std::nullopt;
    return s[kw].is_number_integer() ? s[kw].get<int64_t>() : int64_t(s[kw].get<double>());
  };
  if (t == "null") return "null";
  if (t == "boolean") return chance(50) ? "true" : "false";
  if (t == "number") return number_text(wild);
  if (t == "integer") {
    auto lo = bound("minimum"), hi = bound("maximum");
    if (!lo) lo = bound("exclusiveMinimum");
    if (!hi) hi = bound("exclusiveMaximum");
    return integer_text(lo, hi, wild);
  }
  if (t == "string")
    return string_text(s.value("minLength", 0u), s.value("maxLength", 1000u), wild);
  if (t == "array") {
    const uint32_t lo = s.value("minItems", 0u), hi = s.value("maxItems", 1000u);
    size_t n = depth > 4 ? lo : lo + below(std::min<size_t>(hi - lo, 3) + 1);
    if (wild && chance(10)) n = chance(50) ? hi + 1 : (lo ? lo - 1 : 0);
    std::string out = "[";
    for (size_t i = 0; i < n; ++i) {
      if (i) out += ',';
      out += s.contains("items") ? value(s["items"], wild, depth + 1) : any_value(wild, depth + 1);
    }
    return out + "]";
  }
  // object
  if (!s.contains("properties")) {
    if (s.value("additionalProperties", true) && chance(50))
      return fmt::format("{{{}:{}}}", string_text(0, 4, wild), any_value(wild, depth + 1));
    return wild && chance(50) ? "{\"x\":1}" : "{}";
  }
  std::vector<std::string> req;
  for (const Json& r : s.value("required", Json::array())) req.push_back(r);
  std::vector<std::string> members;
  for (const auto& [k, v] : s["properties"].items()) {
    const bool is_req = std::find(req.begin(), req.end(), k) != req.end();
    bool include = is_req || (depth <= 4 && chance(50));
    if (wild && chance(5)) include = !include;
    if (include) members.push_back(fmt::format("{}:{}", Json(k).dump(), value(v, wild, depth + 1)));
  }
  if (wild && members.size() >= 2 && chance(10)) std::swap(members[0], members[1]);
  if (wild && chance(5)) members.push_back("\"zz_extra\":1");
  if (wild && !members.empty() && chance(5)) members.push_back(members[0]);
  std::string out = "{";
  for (size_t i = 0; i < members.size(); ++i) {
    if (i) out += ',';
    out += members[i];
  }
  return out + "}";
}

std::string mutate(std::string doc, DocGen& g) {
  static const char interesting[] = "\"{}[],:\\0123-.eE+ tfn\x80\xC3\xFF";
  const size_t pos = g.below(doc.size() + 1);
  switch (g.below(5)) {
    case 0:
      doc.insert(doc.begin() + long(pos), g.chance(70) ? interesting[g.below(sizeof(interesting) - 1)] : char(g.below(256)));
      break;
    case 1:
      if (pos < doc.size()) doc.erase(pos, 1);
      break;
    case 2:
      if (pos < doc.size()) doc[pos] = interesting[g.below(sizeof(interesting) - 1)];
      break;
    case 3:
      doc.resize(pos);
      break;
    default:
      doc += doc.substr(pos, 3);
      break;
  }
  return doc;
}

}  // namespace tachyon::grammar::testing
