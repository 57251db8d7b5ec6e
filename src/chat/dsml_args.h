// DSML tool-call parameters -> OpenAI `arguments` JSON string, with the schema-driven recovery of
// malformed values (chat README rules R5-R7).
//
//   string="true"  -> the raw text as a JSON string;
//   string="false" -> the text itself when it is valid JSON (spliced verbatim, as the official parser
//                     does), otherwise coerced by the parameter's JSON-schema types in the order
//                     null, integer, number, boolean, object/array, string (vLLM's recovery), and
//                     failing all of those, the raw text as a JSON string.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "chat/py_json.h"

namespace tachyon::chat {

struct DsmlParam {
  std::string name;
  std::string value;
  bool is_string = true;  // string="true"
};

// The request's tools, indexed for value coercion: function name -> parameters.properties.
class ToolSchemas {
 public:
  ToolSchemas() = default;
  // `tools` is the request's OpenAI tool list (null or anything malformed gives no schemas).
  explicit ToolSchemas(const Json& tools);
  // The schema types of parameter `param` of function `fn` (["string"] when unknown).
  std::vector<std::string> param_types(std::string_view fn, std::string_view param) const;
  // Whether `fn` is the name of one of the tools.
  bool declares(std::string_view fn) const { return properties_.count(std::string(fn)) != 0; }
  bool empty() const { return properties_.empty(); }

 private:
  std::unordered_map<std::string, Json> properties_;
};

// Adds a parameter; a repeated name keeps its first position and takes the new value (R7).
void add_dsml_param(std::vector<DsmlParam>& params, DsmlParam p);
// One parameter's value as JSON text (what follows `"name": ` in the arguments).
std::string dsml_value_json(std::string_view fn, const DsmlParam& p, const ToolSchemas& schemas);
// The arguments JSON string of one invoke of function `fn`.
std::string dsml_arguments_json(std::string_view fn, const std::vector<DsmlParam>& params,
                                const ToolSchemas& schemas);
// R6: coerces a non-JSON string="false" value by schema types; returns JSON text.
std::string coerce_value(std::string_view raw, const std::vector<std::string>& types);
// The types a JSON schema allows (type, enum values, anyOf/oneOf/allOf), ["string"] if none.
std::vector<std::string> schema_types(const Json& schema);

}  // namespace tachyon::chat
