// response_format (server/response_format.h): the shapes accepted and refused, each refusal a 400 with
// param response_format and a message naming the field; schemas compile through the cache, and a keyword
// the compiler does not enforce is refused by name and path.
#include <gtest/gtest.h>

#include <string>

#include "grammar/matcher.h"
#include "server/request_params.h"
#include "server/response_format.h"

namespace tachyon::server {
namespace {

// Parsed as the server parses request bodies (integers stored as signed numbers).
Json rf_body(const std::string& rf) { return parse_body(R"({"response_format": )" + rf + "}"); }

// The message of the 400 that reading (and compiling) `rf` throws; empty when it is accepted.
std::string refusal(const std::string& rf) {
  grammar::SchemaCompiler schemas;
  try {
    const ResponseFormat f = read_response_format(rf_body(rf));
    compile_response_format(f, schemas, nullptr, -1);
  } catch (const ApiException& e) {
    EXPECT_EQ(e.error.status, 400) << rf;
    EXPECT_EQ(e.error.type, "invalid_request_error") << rf;
    EXPECT_EQ(e.error.param, "response_format") << rf;
    return e.error.message;
  }
  return {};
}

void expect_refused(const std::string& rf, const std::string& says) {
  const std::string m = refusal(rf);
  EXPECT_NE(m.find(says), std::string::npos) << rf << " -> '" << m << "'";
}

TEST(ResponseFormat, Types) {
  EXPECT_EQ(read_response_format(Json::parse("{}")).type, ResponseFormat::Type::kText);
  EXPECT_EQ(read_response_format(rf_body("null")).type, ResponseFormat::Type::kText);
  EXPECT_EQ(read_response_format(rf_body(R"({"type": "text"})")).type, ResponseFormat::Type::kText);
  EXPECT_EQ(read_response_format(rf_body(R"({"type": "json_object"})")).type, ResponseFormat::Type::kJsonObject);
  const ResponseFormat f = read_response_format(
      rf_body(R"({"type": "json_schema", "json_schema": {"name": "p-1", "description": "d", "strict": false,
                 "schema": {"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "integer"}}}}})"));
  EXPECT_EQ(f.type, ResponseFormat::Type::kJsonSchema);
  EXPECT_EQ(f.name, "p-1");
  // Key order is kept: it orders the generated properties.
  EXPECT_EQ(f.schema["properties"].begin().key(), "b");
}

TEST(ResponseFormat, MalformedShapesAreRefusedByName) {
  expect_refused(R"("json")", "must be an object");
  expect_refused(R"({})", "'response_format.type' must be a string");
  expect_refused(R"({"type": "regex"})", "must be one of text, json_object, json_schema");
  expect_refused(R"({"type": "text", "json_schema": {}})", "'response_format.json_schema' is not a field");
  expect_refused(R"({"type": "json_object", "schema": {}})", "'response_format.schema' is not a field");
  expect_refused(R"({"type": "json_schema"})", "'response_format.json_schema' must be an object");
  expect_refused(R"({"type": "json_schema", "json_schema": {"schema": {}}})", "name' is required");
  expect_refused(R"({"type": "json_schema", "json_schema": {"name": "a b", "schema": {}}})", "1 to 64 characters");
  expect_refused(R"({"type": "json_schema", "json_schema": {"name": "x"}})", "schema' is required");
  expect_refused(R"({"type": "json_schema", "json_schema": {"name": "x", "schema": true}})", "must be an object");
  expect_refused(R"({"type": "json_schema", "json_schema": {"name": "x", "schema": {}, "strict": "yes"}})",
                 "strict' must be a boolean");
  expect_refused(R"({"type": "json_schema", "json_schema": {"name": "x", "schema": {}, "extra": 1}})",
                 "'response_format.json_schema.extra' is not a field");
}

TEST(ResponseFormat, UnsupportedKeywordsAreRefusedWithTheirPath) {
  expect_refused(R"({"type": "json_schema", "json_schema": {"name": "x", "schema":
      {"type": "object", "properties": {"zip": {"type": "string", "pattern": "^[0-9]+$"}}}}})",
                 "unsupported JSON Schema keyword 'pattern' at $.properties.zip");
  expect_refused(R"({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "format": "date"}}})",
                 "'format'");
  expect_refused(R"({"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "#/$defs/missing"}}})",
                 "response_format.json_schema.schema: ");
}

TEST(ResponseFormat, CompiledGrammarsFollowTheSchemaAndAreCached) {
  grammar::SchemaCompiler schemas;
  const ResponseFormat f = read_response_format(rf_body(
      R"({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "properties":
          {"n": {"type": "integer", "minimum": 0, "maximum": 9}, "s": {"type": "string", "minLength": 1, "maxLength": 2},
           "a": {"type": "array", "minItems": 1, "maxItems": 2}}, "required": ["n"], "additionalProperties": false}}})"));
  const runtime::GrammarConstraint c = compile_response_format(f, schemas, nullptr, 6);
  ASSERT_TRUE(c.grammar);
  EXPECT_EQ(c.start_after, 6);
  grammar::Matcher ok(c.grammar), bad(c.grammar);
  EXPECT_TRUE(ok.accept_bytes(R"({"n":7})") && ok.is_complete());
  EXPECT_FALSE(bad.accept_bytes(R"({"n":12})") && bad.is_complete());
  grammar::Matcher s_ok(c.grammar), s_long(c.grammar), a_empty(c.grammar);
  EXPECT_TRUE(s_ok.accept_bytes(R"({"n":1,"s":"ab","a":[true]})") && s_ok.is_complete());
  EXPECT_FALSE(s_long.accept_bytes(R"({"n":1,"s":"abc")"));
  EXPECT_FALSE(a_empty.accept_bytes(R"({"n":1,"a":[])"));
  compile_response_format(f, schemas, nullptr, -1);
  EXPECT_EQ(schemas.misses(), 1u);
  EXPECT_EQ(schemas.hits(), 1u);
  // json_object: any object, not an array.
  const runtime::GrammarConstraint o =
      compile_response_format(read_response_format(rf_body(R"({"type": "json_object"})")), schemas, nullptr, -1);
  grammar::Matcher obj(o.grammar), arr(o.grammar);
  EXPECT_TRUE(obj.accept_bytes(R"({"a":[1,{"b":null}]})") && obj.is_complete());
  EXPECT_FALSE(arr.accept_bytes("[1]"));
  // Text is unconstrained.
  EXPECT_FALSE(compile_response_format(ResponseFormat{}, schemas, nullptr, -1).grammar);
}

}  // namespace
}  // namespace tachyon::server
