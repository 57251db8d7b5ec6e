// Loading the copied chat goldens (tests/data/chat/*.jsonl) for the chat tests.
#pragma once

#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "chat/py_json.h"

namespace tachyon::chat::testing {

// Each line parsed with the exact parser, so key order and big integers survive as in Python.
inline std::vector<Json> load_jsonl(const std::string& name) {
  std::vector<Json> out;
  std::ifstream in(std::string(TACHYON_TEST_DATA) + "/chat/" + name);
  EXPECT_TRUE(in.good()) << "missing test data chat/" << name;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = parse_json_exact(line);
    EXPECT_TRUE(j.is_ok()) << name << ": " << j.status().message();
    if (j.is_ok()) out.push_back(std::move(j).value());
  }
  return out;
}

// DSML pieces for parser tests: the block tags, EOS, an invoke and a parameter.
inline const std::string kEos = "<｜end▁of▁sentence｜>";
inline const std::string kOpen = "<｜DSML｜tool_calls>";
inline const std::string kClose = "</｜DSML｜tool_calls>";

inline std::string invoke(const std::string& name, const std::string& params) {
  return "<｜DSML｜invoke name=\"" + name + "\">\n" + params + "</｜DSML｜invoke>\n";
}
inline std::string param(const std::string& name, bool is_string, const std::string& value) {
  return "<｜DSML｜parameter name=\"" + name + "\" string=\"" + (is_string ? "true" : "false") + "\">" + value +
         "</｜DSML｜parameter>\n";
}

// gtest parameter names allow only [A-Za-z0-9_].
inline std::string test_name(std::string s) {
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

}  // namespace tachyon::chat::testing
