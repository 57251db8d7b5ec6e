// response_format on /v1/chat/completions and /v1/completions: {"type": "text"} (the default),
// {"type": "json_object"} (any JSON object) or {"type": "json_schema", "json_schema": {"name": ...,
// "schema": {...}, "strict": ..., "description": ...}}. The JSON modes compile to a grammar
// (grammar::SchemaCompiler, cached by schema text) that the engine enforces while decoding; a schema
// keyword the compiler does not enforce is a 400 naming it and its path, never silently ignored.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "grammar/json_schema.h"
#include "grammar/vocabulary.h"
#include "runtime/engine.h"
#include "server/api_error.h"
#include "tokenizer/tokenizer.h"

namespace tachyon::server {

struct ResponseFormat {
  enum class Type : uint8_t { kText, kJsonObject, kJsonSchema };
  Type type = Type::kText;
  std::string name;  // json_schema.name
  Json schema;       // json_schema.schema
  bool constrained() const { return type != Type::kText; }
};

// Reads body.response_format (absent or null: text); throws ApiException (param "response_format") for a
// malformed one.
ResponseFormat read_response_format(const Json& body);

// The grammar constraint of a JSON format: compiled through `schemas`; an unsupported keyword or a
// malformed schema throws ApiException naming it. `start_after`: the token after which the constraint
// starts (</think> in thinking mode), or -1.
runtime::GrammarConstraint compile_response_format(const ResponseFormat& rf, grammar::SchemaCompiler& schemas,
                                                   std::shared_ptr<const grammar::Vocabulary> vocab,
                                                   int32_t start_after);

// The tokenizer's vocabulary for token masks: every id's bytes, its special ids, and `stop_id` (EOS) as
// the id that ends a document.
Result<std::shared_ptr<const grammar::Vocabulary>> grammar_vocabulary(const tok::Tokenizer& t, int32_t stop_id);

struct ServerContext;
// Sets gen.grammar from the request's response_format (a no-op for text). `thinking`: the constraint
// starts after </think>. `prefix_tokens` (a forced tool-call opening) and the server's testing-only forced
// output cannot be combined with a JSON format (400).
void apply_response_format(ServerContext& ctx, const ResponseFormat& rf, bool thinking, runtime::GenerationParams& gen);

}  // namespace tachyon::server
