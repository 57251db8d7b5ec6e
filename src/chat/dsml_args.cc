// DSML parameters -> arguments JSON, with vLLM-style schema coercion of malformed values (see
// dsml_args.h). The conversions follow Python's int(), float() and str.lower/strip, which the
// recovery rules were defined with.
#include "chat/dsml_args.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

namespace tachyon::chat {
namespace {

bool py_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f'); }

std::string_view py_strip(std::string_view s) {
  while (!s.empty() && py_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && py_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Digits with single underscores between them (Python numeric literal rules); appends the digits.
// Returns the number of characters consumed, 0 if there is no digit at `s[i]`.
size_t scan_digits(std::string_view s, size_t i, std::string& digits) {
  const size_t start = i;
  if (i >= s.size() || !is_digit(s[i])) return 0;
  while (i < s.size()) {
    if (is_digit(s[i])) {
      digits += s[i++];
    } else if (s[i] == '_' && i + 1 < s.size() && is_digit(s[i + 1])) {
      ++i;
    } else {
      break;
    }
  }
  return i - start;
}

// Python int(text): the canonical decimal text, or "" if int() would raise.
std::string py_int(std::string_view text) {
  std::string_view s = py_strip(text);
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  std::string digits;
  const size_t n = scan_digits(s, 0, digits);
  if (n == 0 || n != s.size()) return "";
  const size_t nz = digits.find_first_not_of('0');
  if (nz == std::string::npos) return "0";
  std::string out = neg ? "-" : "";
  out.append(digits, nz, std::string::npos);
  return out;
}

// Python float(text) for finite decimal input; false if float() would raise or give inf/nan.
bool py_float(std::string_view text, double* out) {
  std::string_view s = py_strip(text);
  std::string clean;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) clean += s[i++];
  const size_t int_len = scan_digits(s, i, clean);
  i += int_len;
  size_t frac_len = 0;
  if (i < s.size() && s[i] == '.') {
    clean += s[i++];
    frac_len = scan_digits(s, i, clean);
    i += frac_len;
  }
  if (int_len == 0 && frac_len == 0) return false;  // also rejects inf / nan spellings
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    clean += s[i++];
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) clean += s[i++];
    const size_t exp_len = scan_digits(s, i, clean);
    if (exp_len == 0) return false;
    i += exp_len;
  }
  if (i != s.size()) return false;
  const double d = std::strtod(clean.c_str(), nullptr);
  if (!std::isfinite(d)) return false;
  *out = d;
  return true;
}

std::string normalize_type(std::string_view t) {
  static const std::pair<std::string_view, std::string_view> kAliases[] = {
      {"str", "string"},     {"text", "string"},     {"varchar", "string"}, {"char", "string"},
      {"enum", "string"},    {"int", "integer"},     {"int32", "integer"},  {"int64", "integer"},
      {"uint", "integer"},   {"uint32", "integer"},  {"uint64", "integer"}, {"long", "integer"},
      {"short", "integer"},  {"unsigned", "integer"}, {"float", "number"},  {"float32", "number"},
      {"float64", "number"}, {"double", "number"},   {"bool", "boolean"},   {"dict", "object"},
      {"arr", "array"},      {"list", "array"},      {"sequence", "array"},
  };
  const std::string key = ascii_lower(py_strip(t));
  for (const auto& [from, to] : kAliases)
    if (key == from) return std::string(to);
  return key;
}

void collect_types(const Json& schema, std::set<std::string>& types) {
  if (!schema.is_object()) return;
  if (const auto t = schema.find("type"); t != schema.end()) {
    if (t->is_string()) {
      types.insert(t->get<std::string>());
    } else if (t->is_array()) {
      for (const Json& v : *t)
        if (v.is_string()) types.insert(v.get<std::string>());
    }
  }
  if (const auto e = schema.find("enum"); e != schema.end() && e->is_array()) {
    for (const Json& v : *e) {
      if (v.is_null()) types.insert("null");
      else if (v.is_boolean()) types.insert("boolean");
      else if (v.is_number_integer() || is_big_int(v)) types.insert("integer");
      else if (v.is_number_float()) types.insert("number");
      else if (v.is_string()) types.insert("string");
      else if (v.is_array()) types.insert("array");
      else if (v.is_object()) types.insert("object");
    }
  }
  for (const char* key : {"anyOf", "oneOf", "allOf"}) {
    const auto c = schema.find(key);
    if (c == schema.end() || !c->is_array()) continue;
    for (const Json& choice : *c)
      for (std::string& t : schema_types(choice)) types.insert(std::move(t));
  }
}

}  // namespace

std::vector<std::string> schema_types(const Json& schema) {
  std::set<std::string> types;
  collect_types(schema, types);
  if (types.empty()) return {"string"};
  return {types.begin(), types.end()};
}

ToolSchemas::ToolSchemas(const Json& tools) {
  if (!tools.is_array()) return;
  for (const Json& t : tools) {
    if (!t.is_object()) continue;
    const auto fn = t.find("function");
    if (fn == t.end() || !fn->is_object()) continue;
    const auto name = fn->find("name");
    if (name == fn->end() || !name->is_string()) continue;
    Json props = Json::object();
    if (const auto params = fn->find("parameters"); params != fn->end() && params->is_object()) {
      const auto p = params->find("properties");
      if (p != params->end() && p->is_object()) props = *p;
    }
    properties_.emplace(name->get<std::string>(), std::move(props));  // the first tool of a name wins
  }
}

std::vector<std::string> ToolSchemas::param_types(std::string_view fn, std::string_view param) const {
  const auto it = properties_.find(std::string(fn));
  if (it == properties_.end()) return {"string"};
  const auto p = it->second.find(std::string(param));
  if (p == it->second.end()) return {"string"};
  return schema_types(*p);
}

std::string coerce_value(std::string_view raw, const std::vector<std::string>& types) {
  std::set<std::string> allowed;
  for (const std::string& t : types) allowed.insert(normalize_type(t));
  for (std::string_view cand : {"null", "integer", "number", "boolean", "object", "array", "string"}) {
    if (!allowed.count(std::string(cand))) continue;
    if (cand == "null") {
      if (ascii_lower(raw) == "null") return "null";
    } else if (cand == "integer") {
      if (std::string v = py_int(raw); !v.empty()) return v;
    } else if (cand == "number") {
      double d;
      if (py_float(raw, &d)) return d == std::floor(d) ? exact_integer_text(d) : py_float_repr(d);
    } else if (cand == "boolean") {
      const std::string v = ascii_lower(py_strip(raw));
      if (v == "true" || v == "1") return "true";
      if (v == "false" || v == "0") return "false";
    } else if (cand == "object" || cand == "array") {
      // Only malformed JSON reaches here, so parsing it as JSON cannot succeed.
    } else {  // string
      break;
    }
  }
  return py_quote(raw);
}

void add_dsml_param(std::vector<DsmlParam>& params, DsmlParam p) {
  for (DsmlParam& q : params) {
    if (q.name == p.name) {
      q.value = std::move(p.value);
      q.is_string = p.is_string;
      return;
    }
  }
  params.push_back(std::move(p));
}

std::string dsml_value_json(std::string_view fn, const DsmlParam& p, const ToolSchemas& schemas) {
  if (p.is_string) return py_quote(p.value);
  if (is_valid_json(p.value)) return p.value;
  return coerce_value(p.value, schemas.param_types(fn, p.name));
}

std::string dsml_arguments_json(std::string_view fn, const std::vector<DsmlParam>& params,
                                const ToolSchemas& schemas) {
  std::string out = "{";
  for (size_t k = 0; k < params.size(); ++k) {
    const DsmlParam& p = params[k];
    if (k > 0) out += ", ";
    py_quote_to(p.name, out);
    out += ": ";
    out += dsml_value_json(fn, p, schemas);
  }
  out += '}';
  return out;
}

}  // namespace tachyon::chat
