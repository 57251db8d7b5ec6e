// Shared helpers for the tokenizer tests: the DeepSeek-V4 tokenizer (loaded once) and file reading.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"

namespace tachyon::tok::testing {

// The reference tokenizer.json ships in assets/; tests/data is two levels below the repository root.
inline constexpr const char* kDeepSeekTokenizerPath = TACHYON_TEST_DATA "/../../assets/tokenizer/deepseek-v4/tokenizer.json";
inline constexpr const char* kCasesPath = TACHYON_TEST_DATA "/tokenizer/cases.jsonl";

inline const Tokenizer& deepseek_tokenizer() {
  static const std::unique_ptr<Tokenizer> tok = [] {
    auto r = Tokenizer::load(kDeepSeekTokenizerPath);
    if (!r.is_ok()) {
      std::fprintf(stderr, "cannot load the reference tokenizer: %s\n", r.status().message().c_str());
      std::abort();
    }
    return std::move(*r);
  }();
  return *tok;
}

inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace tachyon::tok::testing
