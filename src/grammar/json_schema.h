// JSON Schema -> Grammar, and a cache of compiled schemas.
//
// Supported (a superset of OpenAI's strict structured-output subset): `type` (object, array, string,
// number, integer, boolean, null, or an array of these), `properties`, `required`,
// `additionalProperties` (false or true), `enum`, `const`, `anyOf`, `$ref` to a local JSON pointer
// ("#", "#/$defs/x", "#/definitions/x", ...) including recursion, `$defs`/`definitions`, `items`,
// `minItems`/`maxItems`, `minLength`/`maxLength` (code points), and on integers `minimum`/`maximum`/
// `exclusiveMinimum`/`exclusiveMaximum` (numbers, within int64 once rounded inwards). The annotations
// `title`, `description`, `$schema`, `$id`, `default`, `examples`, `$comment`, `deprecated`, `readOnly`
// and `writeOnly` are accepted and have no effect. Every other keyword is refused with an error that
// names it and its path ("unsupported JSON Schema keyword 'pattern' at $.properties.zip"), as are
// malformed values, unresolvable `$ref`s and empty ranges.
//
// The generated text has one fixed form, a subset of what the schema allows:
// - compact JSON: no whitespace outside strings;
// - an object has its declared properties in the order of `properties`, each required one present,
//   optional ones present or omitted; no other property (whether `additionalProperties` is false, true
//   or absent: extra properties are never needed to satisfy a schema). An object schema without
//   `properties` allows any JSON object, or only `{}` with `additionalProperties: false`;
// - integers have no fraction or exponent (`-0` is 0); numbers are any JSON number;
// - strings are any JSON string (escapes included, `\u` surrogates only in valid pairs, raw UTF-8
//   well-formed);
// - `enum`/`const` values are written exactly as their compact JSON text (object keys as in the schema);
//   with `type` beside them, every value must have one of the types;
// - a schema without `type` takes its types from its keywords (`properties` -> object, `items` -> array,
//   `maxLength` -> string, `minimum` -> integer, ...), or allows any JSON value when it has none;
// - `anyOf` and `$ref` may sit only beside annotations and `$defs`.
// The json_object grammar is any JSON object in the same compact form (duplicate keys are not checked).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "grammar/grammar.h"

namespace tachyon::grammar {

using Json = nlohmann::ordered_json;

// Adds the rules of `schema` to `b` and returns the rule of its value: the piece to compose into larger
// grammars (a tool call's arguments inside DSML markup, for instance).
Result<uint32_t> add_json_schema(GrammarBuilder& b, const Json& schema);

// Adds the rules of any JSON value and any JSON object (compact form) to `b`.
struct JsonAnyRules {
  uint32_t value = 0, object = 0;
};
JsonAnyRules add_json_any(GrammarBuilder& b);

// Compiles schemas once: a cache keyed by the schema's compact text (key order kept, as it orders the
// properties), holding up to `capacity` grammars, least recently used evicted first. Refusals are cached
// too. Thread-safe.
class SchemaCompiler {
 public:
  explicit SchemaCompiler(size_t capacity = 64);
  Result<std::shared_ptr<const Grammar>> compile(const Json& schema);
  // Parses `schema_text` first (an error says where the JSON is malformed).
  Result<std::shared_ptr<const Grammar>> compile_text(std::string_view schema_text);
  // Any JSON object (response_format json_object).
  std::shared_ptr<const Grammar> json_object();

  size_t cache_size() const;
  size_t hits() const;
  size_t misses() const;

 private:
  using Entry = std::pair<std::string, Result<std::shared_ptr<const Grammar>>>;
  mutable std::mutex mu_;
  size_t capacity_;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  std::shared_ptr<const Grammar> json_object_;
  size_t hits_ = 0, misses_ = 0;
};

// A grammar of `schema` alone (no cache).
Result<std::shared_ptr<const Grammar>> compile_json_schema(const Json& schema);

}  // namespace tachyon::grammar
