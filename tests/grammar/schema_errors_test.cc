// Refusals: every keyword the compiler does not enforce, and every malformed schema, is an error that
// names the keyword and where it is; the builder's own checks; the schema cache.
#include <thread>

#include "grammar_test_util.h"

namespace tachyon::grammar::testing {
namespace {

std::string compile_error(const std::string& schema_text) {
  auto g = compile_json_schema(Json::parse(schema_text));
  return g.is_ok() ? "<compiled>" : g.status().message();
}

TEST(GrammarSchemaErrors, UnsupportedKeywordsAreNamedWithTheirPath) {
  EXPECT_EQ(compile_error(R"({"type":"object","properties":{"zip":{"type":"string","pattern":"^[0-9]{5}$"}}})"),
            "unsupported JSON Schema keyword 'pattern' at $.properties.zip");
  for (const char* kw : {"oneOf", "allOf", "not", "format", "prefixItems", "uniqueItems", "contains", "if",
                         "patternProperties", "propertyNames", "minProperties", "multipleOf", "dependentRequired",
                         "unevaluatedProperties", "nullable", "$anchor", "$dynamicRef", "minContains"}) {
    const std::string schema = fmt::format(R"({{"type":"array","items":{{"anyOf":[{{"type":"null"}},{{"{}":1}}]}}}})", kw);
    EXPECT_EQ(compile_error(schema), fmt::format("unsupported JSON Schema keyword '{}' at $.items.anyOf[1]", kw));
  }
  EXPECT_EQ(compile_error(R"({"$defs":{"x":{"type":"string","format":"date"}},"type":"null"})"),
            "unsupported JSON Schema keyword 'format' at $.$defs.x");
}

TEST(GrammarSchemaErrors, MalformedSchemas) {
  const std::pair<const char*, const char*> cases[] = {
      {R"("string")", "a schema must be an object or a boolean, got string at $"},
      {R"(false)", "schema 'false' allows no value at $"},
      {R"({"type":"strin"})", "unknown type \"strin\" in 'type' (expected one of null, boolean, object, array, string, integer, number) at $"},
      {R"({"type":[]})", "'type' must be a type name or a non-empty array of them at $"},
      {R"({"type":["null","null"]})", "type \"null\" appears twice in 'type' at $"},
      {R"({"type":"string","minLength":5,"maxLength":2})", "minLength 5 is greater than maxLength 2 at $"},
      {R"({"type":"string","maxLength":-1})", "'maxLength' must be a non-negative integer below 4294967295, got -1 at $"},
      {R"({"type":"string","maxLength":2.5})", "'maxLength' must be a non-negative integer below 4294967295, got 2.5 at $"},
      {R"({"type":"array","minItems":3,"maxItems":2})", "minItems 3 is greater than maxItems 2 at $"},
      {R"({"type":"integer","minimum":5,"maximum":4})", "the integer range is empty (lowest 5 > highest 4) at $"},
      {R"({"type":"integer","exclusiveMinimum":4,"exclusiveMaximum":5})", "the integer range is empty (lowest 5 > highest 4) at $"},
      {R"({"type":"integer","minimum":"1"})", "'minimum' must be a number, got \"1\" at $"},
      {R"({"type":"integer","maximum":1e30})", "'maximum' 1e+30 is outside the supported 64-bit integer range at $"},
      {R"({"type":"number","minimum":0})", "keyword 'minimum' is supported on integers only, not on 'number' at $"},
      {R"({"type":"string","minimum":0})", "keyword 'minimum' needs type 'integer' in 'type' at $"},
      {R"({"type":"string","items":{}})", "keyword 'items' needs type 'array' in 'type' at $"},
      {R"({"enum":[]})", "'enum' must be a non-empty array at $"},
      {R"({"enum":[1],"const":1})", "'enum' and 'const' together are not supported at $"},
      {R"({"type":"string","enum":["a",1]})", "enum value 1 (1) does not have a type listed in 'type' at $"},
      {R"({"enum":["a"],"maxLength":3})", "keyword 'maxLength' beside 'enum' is not supported at $"},
      {R"({"$ref":"#/$defs/missing"})", "$ref '#/$defs/missing' does not resolve at $"},
      {R"({"$ref":"https://example.com/s.json"})", "unsupported $ref 'https://example.com/s.json' (only local JSON pointers '#/...' are supported) at $"},
      {R"({"$ref":5})", "'$ref' must be a string at $"},
      {R"({"$ref":"#","type":"object"})", "keyword 'type' beside '$ref' is not supported at $"},
      {R"({"anyOf":[]})", "'anyOf' must be a non-empty array of schemas at $"},
      {R"({"anyOf":[{"type":"null"}],"type":"null"})", "keyword 'type' beside 'anyOf' is not supported at $"},
      {R"({"type":"object","properties":{"a":{}},"required":["b"]})", "required property 'b' is not declared in 'properties' at $"},
      {R"({"type":"object","properties":{"a":{}},"required":["a","a"]})", "'required' lists 'a' twice at $"},
      {R"({"type":"object","properties":{"a":{}},"additionalProperties":{"type":"string"}})", "'additionalProperties' must be false or true (schemas are not supported) at $"},
      {R"({"type":"object","properties":[]})", "'properties' must be an object at $"},
      {R"({"$defs":[]})", "'$defs' must be an object at $"},
      {R"({"type":"array","items":[{"type":"string"}]})", "'items' must be a schema (object or boolean) at $"},
      {R"({"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})",
       "the schema has no usable grammar: grammar rule '$.$defs.a' reaches itself without consuming input (left recursion)"},
      {R"({"$defs":{"n":{"type":"object","properties":{"n":{"$ref":"#/$defs/n"}},"required":["n"]}},"$ref":"#/$defs/n"})",
       "the schema has no usable grammar: grammar rule '$' matches no finite byte string"},
  };
  for (const auto& [schema, want] : cases) EXPECT_EQ(compile_error(schema), want) << schema;
}

TEST(GrammarSchemaErrors, DeepNestingIsRefusedNotACrash) {
  std::string s;
  for (int i = 0; i < 200; ++i) s += R"({"type":"array","items":)";
  s += "{}";
  for (int i = 0; i < 200; ++i) s += "}";
  EXPECT_NE(compile_error(s).find("schema nested deeper than 64 levels at $.items.items"), std::string::npos);
}

TEST(GrammarSchemaErrors, NonFiniteAlternativesArePruned) {
  // The first branch never ends (a required property that recurses); only the second can be written.
  const auto g = grammar_of(R"({"anyOf":[{"$ref":"#/$defs/n"},{"type":"null"}],
      "$defs":{"n":{"type":"object","properties":{"n":{"$ref":"#/$defs/n"}},"required":["n"]}}})");
  ASSERT_TRUE(g);
  Matcher m(g);
  EXPECT_FALSE(m.can_accept_byte('{'));
  EXPECT_TRUE(matches(g, "null"));
}

TEST(GrammarBuilderTest, ChecksRules) {
  {
    GrammarBuilder b;
    const uint32_t r = b.add_rule("r");
    const uint32_t s = b.add_rule("s");
    b.define(r, {{Element::literal("a"), Element::ref(s)}});
    EXPECT_EQ(b.build(r).status().message(), "grammar rule 's' is used but never defined");
  }
  {
    GrammarBuilder b;
    const uint32_t e = b.add_rule("maybe", {{Element::literal("x")}, {}});
    const uint32_t r = b.add_rule("list", {{Element::repeat(e, 0, kUnbounded, ",")}});
    EXPECT_EQ(b.build(r).status().message(), "grammar rule 'list' repeats rule 'maybe', which can match nothing");
  }
  {
    GrammarBuilder b;
    const uint32_t r = b.add_rule("r", {{Element::literal("")}});
    EXPECT_EQ(b.build(r).status().message(), "grammar rule 'r' has an empty literal");
    EXPECT_EQ(b.build(7).status().message(), "grammar root rule 7 does not exist (1 rules)");
  }
}

TEST(GrammarBuilderTest, ComposesLiteralsSchemasAndAlternatives) {
  // What a tool-call grammar looks like: markup literals around schema-constrained arguments, one of
  // several tools, repeated.
  GrammarBuilder b;
  const uint32_t args_a = add_json_schema(b, Json::parse(R"({"type":"object","properties":{"x":{"type":"integer"}},
      "required":["x"]})")).value();
  const uint32_t args_b = add_json_schema(b, Json::parse(R"({"type":"object","properties":{"q":{"type":"string"}}})")).value();
  const uint32_t call = b.add_rule("call", {{Element::literal("<call a>"), Element::ref(args_a), Element::literal("</call>")},
                                            {Element::literal("<call b>"), Element::ref(args_b), Element::literal("</call>")}});
  const uint32_t root = b.add_rule("calls", {{Element::literal("<calls>"), Element::repeat(call, 1, 2, "\n"),
                                              Element::literal("</calls>")}});
  const auto g = b.build(root);
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  EXPECT_TRUE(matches(g.value(), "<calls><call a>{\"x\":-3}</call>\n<call b>{}</call></calls>"));
  EXPECT_TRUE(matches(g.value(), "<calls><call b>{\"q\":\"é\"}</call></calls>"));
  EXPECT_FALSE(matches(g.value(), "<calls><call a>{}</call></calls>"));
  EXPECT_FALSE(matches(g.value(), "<calls></calls>"));
  EXPECT_FALSE(matches(g.value(), "<calls><call b>{}</call>\n<call b>{}</call>\n<call b>{}</call></calls>"));
}

TEST(GrammarSchemaCache, CachesByTextAndEvictsTheLeastRecentlyUsed) {
  SchemaCompiler c(2);
  const auto a = c.compile_text(R"({"type":"string"})");
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(c.compile_text(R"( {"type" : "string"} )").value(), a.value());  // same compact text
  EXPECT_EQ(c.hits(), 1u);
  // Key order is part of the key: it orders the properties.
  const auto p1 = c.compile_text(R"({"properties":{"a":{},"b":{}}})");
  const auto p2 = c.compile_text(R"({"properties":{"b":{},"a":{}}})");
  EXPECT_NE(p1.value(), p2.value());
  EXPECT_TRUE(matches(p1.value(), R"({"a":1,"b":2})"));
  EXPECT_TRUE(matches(p2.value(), R"({"b":1,"a":2})"));
  EXPECT_EQ(c.cache_size(), 2u);  // the string schema was evicted
  EXPECT_NE(c.compile_text(R"({"type":"string"})").value(), a.value());
  EXPECT_EQ(c.misses(), 4u);
  // Refusals are cached too, and bad JSON says so.
  EXPECT_EQ(c.compile_text(R"({"pattern":"x"})").status().message(), "unsupported JSON Schema keyword 'pattern' at $");
  EXPECT_EQ(c.compile_text(R"({"pattern":"x"})").status().message(), "unsupported JSON Schema keyword 'pattern' at $");
  EXPECT_NE(c.compile_text("{\"type\":").status().message().find("the JSON schema is not valid JSON"), std::string::npos);
  EXPECT_TRUE(matches(c.json_object(), R"({"a":[1,{"b":null}]})"));
  EXPECT_FALSE(matches(c.json_object(), "[]"));
  EXPECT_EQ(c.json_object(), c.json_object());
}

TEST(GrammarSchemaCache, ThreadSafe) {
  SchemaCompiler c(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 50; ++i) {
        auto g = c.compile_text(fmt::format(R"({{"type":"string","maxLength":{}}})", (i + t) % 6));
        EXPECT_TRUE(g.is_ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(c.cache_size(), 4u);
}

}  // namespace
}  // namespace tachyon::grammar::testing
