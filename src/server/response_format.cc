#include "server/response_format.h"

#include <cctype>
#include <vector>

#include <fmt/format.h>

#include "server/server.h"

namespace tachyon::server {

namespace {

[[noreturn]] void refuse(const std::string& message) {
  throw ApiException{invalid_request(message, "response_format")};
}

const char* json_type(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::string: return "a string";
    case Json::value_t::array: return "an array";
    case Json::value_t::object: return "an object";
    default: return "a number";
  }
}

}  // namespace

ResponseFormat read_response_format(const Json& body) {
  ResponseFormat rf;
  const auto it = body.find("response_format");
  if (it == body.end() || it->is_null()) return rf;
  const Json& f = *it;
  if (!f.is_object()) refuse(fmt::format("'response_format' must be an object, got {}", json_type(f)));
  const auto type = f.find("type");
  if (type == f.end() || !type->is_string()) refuse("'response_format.type' must be a string");
  const std::string t = type->get<std::string>();
  const bool schema = t == "json_schema";
  if (t != "text" && t != "json_object" && !schema)
    refuse(fmt::format("'response_format.type' must be one of text, json_object, json_schema; got '{}'", t));
  for (const auto& [k, v] : f.items())
    if (k != "type" && !(schema && k == "json_schema"))
      refuse(fmt::format("'response_format.{}' is not a field of response_format type '{}'", k, t));
  if (t == "text") return rf;
  if (!schema) {
    rf.type = ResponseFormat::Type::kJsonObject;
    return rf;
  }
  rf.type = ResponseFormat::Type::kJsonSchema;
  const auto js = f.find("json_schema");
  if (js == f.end() || !js->is_object()) refuse("'response_format.json_schema' must be an object");
  for (const auto& [k, v] : js->items()) {
    if (k == "name") {
      if (!v.is_string()) refuse("'response_format.json_schema.name' must be a string");
      rf.name = v.get<std::string>();
      if (rf.name.empty() || rf.name.size() > 64)
        refuse("'response_format.json_schema.name' must have 1 to 64 characters (a-z, A-Z, 0-9, _ and -)");
      for (char c : rf.name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
          refuse("'response_format.json_schema.name' must have 1 to 64 characters (a-z, A-Z, 0-9, _ and -)");
    } else if (k == "schema") {
      if (!v.is_object()) refuse(fmt::format("'response_format.json_schema.schema' must be an object, got {}", json_type(v)));
      rf.schema = v;
    } else if (k == "strict") {
      // Every schema is enforced strictly; false is accepted too (it only allows less).
      if (!v.is_boolean() && !v.is_null()) refuse("'response_format.json_schema.strict' must be a boolean");
    } else if (k == "description") {
      if (!v.is_string()) refuse("'response_format.json_schema.description' must be a string");
    } else {
      refuse(fmt::format("'response_format.json_schema.{}' is not a field of json_schema (name, schema, strict, "
                         "description)",
                         k));
    }
  }
  if (rf.name.empty()) refuse("'response_format.json_schema.name' is required");
  if (rf.schema.is_null()) refuse("'response_format.json_schema.schema' is required");
  return rf;
}

runtime::GrammarConstraint compile_response_format(const ResponseFormat& rf, grammar::SchemaCompiler& schemas,
                                                   std::shared_ptr<const grammar::Vocabulary> vocab,
                                                   int32_t start_after) {
  runtime::GrammarConstraint c;
  if (!rf.constrained()) return c;
  if (rf.type == ResponseFormat::Type::kJsonObject) {
    c.grammar = schemas.json_object();
  } else {
    auto g = schemas.compile(rf.schema);
    if (!g.is_ok()) refuse(fmt::format("response_format.json_schema.schema: {}", g.status().message()));
    c.grammar = std::move(g).value();
  }
  c.vocab = std::move(vocab);
  c.start_after = start_after;
  return c;
}

Result<std::shared_ptr<const grammar::Vocabulary>> grammar_vocabulary(const tok::Tokenizer& t, int32_t stop_id) {
  std::vector<std::string> bytes;
  std::vector<int32_t> special, stop;
  bytes.reserve(size_t(t.vocab_size()));
  for (int32_t id = 0; id < t.vocab_size(); ++id) {
    bytes.emplace_back(t.is_valid_id(id) ? t.token_bytes(id) : std::string_view());
    if (t.is_special(id)) special.push_back(id);
  }
  if (stop_id >= 0 && stop_id < t.vocab_size()) stop.push_back(stop_id);
  return grammar::Vocabulary::build(std::move(bytes), special, stop);
}

void apply_response_format(ServerContext& ctx, const ResponseFormat& rf, bool thinking, runtime::GenerationParams& gen) {
  if (!rf.constrained()) return;
  if (!gen.prefix_tokens.empty())
    refuse("a JSON 'response_format' cannot be combined with a 'tool_choice' that forces a tool call");
  if (!ctx.forced_tokens.empty())
    refuse("a JSON 'response_format' cannot be used while the server forces its output (--debug-forced-output)");
  if (!ctx.grammar_vocab) refuse("a JSON 'response_format' needs a tokenizer whose vocabulary could be indexed");
  if (thinking && ctx.end_think_id < 0) refuse("thinking mode with a JSON 'response_format' needs a </think> token");
  gen.grammar = compile_response_format(rf, ctx.schemas, ctx.grammar_vocab, thinking ? ctx.end_think_id : -1);
}

}  // namespace tachyon::server
