// Teacher-forced scoring of one token sequence: logits after every token, optionally MTP logits, under
// a chosen prefill chunking and decode split. Used by `tachyon logits` and the golden tests.
#pragma once

#include <cstdint>
#include <vector>

#include "model/deepseek_v4/model.h"

namespace tachyon::dsv4 {

struct ScoringPlan {
  int64_t prefill_chunk = 0;  // tokens per prefill call (0 = all at once)
  int64_t decode_from = -1;   // tokens [decode_from, n) are fed one at a time (-1 = none)
  bool mtp = false;           // also compute MTP logits
};

struct ScoringResult {
  std::vector<float> logits;      // [n, vocab]
  std::vector<float> mtp_logits;  // [n - 1, vocab]: row i predicts token i + 2 from position i and token i + 1
};

// Splits [0, n) into the calls the plan describes.
std::vector<std::pair<int64_t, int64_t>> plan_chunks(int64_t n, const ScoringPlan& plan);

ScoringResult score_tokens(Model& model, const ModelContext& ctx, const std::vector<int32_t>& tokens,
                           const ScoringPlan& plan);

}  // namespace tachyon::dsv4
