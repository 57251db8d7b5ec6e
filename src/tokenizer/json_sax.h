// Fast parsing of tokenizer.json: a SAX handler that streams model.vocab and model.merges (99% of
// the file) straight into flat arrays and builds an ordinary nlohmann::json DOM for everything else.
// Building a DOM for a 128k-entry vocabulary (a std::map) and then copying it out took most of the
// load time; this cuts loading the DeepSeek-V4 file by more than half.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace tachyon::tok {

struct ParsedTokenizerJson {
  nlohmann::json dom;  // the whole file, except that model.vocab / model.merges are null when streamed
  bool vocab_streamed = false, merges_streamed = false;
  std::vector<std::pair<std::string, int64_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;  // both formats; "a b" split at its space
};

// Parses tokenizer.json text. Errors say what is wrong (malformed JSON, a bad vocab or merges entry).
Status parse_tokenizer_json(std::string_view text, ParsedTokenizerJson* out);

}  // namespace tachyon::tok
