// Conformance with Hugging Face `tokenizers` on the DeepSeek-V4 golden cases (tests/data/tokenizer/
// cases.jsonl, copied from the shared tokenizer data; see its README for how the ids were produced
// and cross-checked). Every case must encode to exactly its ids and decode back to exactly its text.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tokenizer/detokenizer.h"
#include "tokenizer_test_util.h"

namespace tachyon::tok {
namespace {

using testing::deepseek_tokenizer;

struct Case {
  std::string text, category;
  std::vector<int32_t> ids;
  bool add_bos = false;
};

std::vector<Case> load_cases() {
  std::vector<Case> cases;
  std::istringstream in(testing::read_text_file(testing::kCasesPath));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    cases.push_back({j.at("text").get<std::string>(), j.value("category", ""), j.at("ids").get<std::vector<int32_t>>(),
                     j.value("add_bos", false)});
  }
  return cases;
}

TEST(TokenizerConformance, LoadsDeepSeekV4) {
  const Tokenizer& t = deepseek_tokenizer();
  EXPECT_EQ(t.vocab_size(), 129280);
  EXPECT_EQ(t.bos_id(), 0);
  EXPECT_EQ(t.eos_id(), 1);
  EXPECT_EQ(t.token_to_id("<｜User｜>"), 128803);
  EXPECT_EQ(t.token_to_id("<think>"), 128821);
  EXPECT_EQ(t.token_to_id("｜DSML｜"), 128825);
  EXPECT_EQ(t.id_to_token(128804), "<｜Assistant｜>");
  EXPECT_TRUE(t.is_special(0));
  EXPECT_FALSE(t.is_special(128803));
}

TEST(TokenizerConformance, Anchors) {
  const Tokenizer& t = deepseek_tokenizer();
  EXPECT_EQ(t.encode("<｜User｜>你好<｜Assistant｜><think>推理</think>答案<｜end▁of▁sentence｜>"),
            (std::vector<int32_t>{128803, 30594, 128804, 128821, 36101, 128822, 7624, 1}));
  EXPECT_EQ(t.encode("<｜User｜>hi<｜Assistant｜>"), (std::vector<int32_t>{128803, 6366, 128804}));
  EXPECT_EQ(t.encode("", true), (std::vector<int32_t>{0}));
  EXPECT_TRUE(t.encode("").empty());
}

TEST(TokenizerConformance, AllGoldenCases) {
  const Tokenizer& t = deepseek_tokenizer();
  const std::vector<Case> cases = load_cases();
  ASSERT_EQ(cases.size(), 402u);
  int encode_ok = 0, decode_ok = 0, stream_ok = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const std::vector<int32_t> ids = t.encode(c.text, c.add_bos);
    if (ids == c.ids) ++encode_ok;
    else ADD_FAILURE() << "encode mismatch, case " << i << " (" << c.category << "): " << nlohmann::json(c.text).dump()
                       << "\n  got  " << nlohmann::json(ids).dump() << "\n  want " << nlohmann::json(c.ids).dump();
    const std::string want_text = (c.add_bos ? std::string("<｜begin▁of▁sentence｜>") : std::string()) + c.text;
    const std::string text = t.decode(c.ids);
    if (text == want_text) ++decode_ok;
    else ADD_FAILURE() << "decode mismatch, case " << i << " (" << c.category << "): got "
                       << nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    IncrementalDetokenizer d(t);
    std::string streamed;
    for (int32_t id : c.ids) d.push(id, &streamed);
    streamed += d.finish();
    if (streamed == want_text) ++stream_ok;
    else ADD_FAILURE() << "streamed decode mismatch, case " << i;
  }
  EXPECT_EQ(encode_ok, 402);
  EXPECT_EQ(decode_ok, 402);
  EXPECT_EQ(stream_ok, 402);
  std::printf("golden cases: encode %d/402, decode %d/402, streamed decode %d/402\n", encode_ok, decode_ok, stream_ok);
}

}  // namespace
}  // namespace tachyon::tok
