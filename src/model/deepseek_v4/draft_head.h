// The MTP module's draft logits at a fraction of the BF16 head's cost (speculative decoding).
//
// An int8 copy of the head (one scale per row) screens every row: an approximate logit per row with a
// rigorous bound on its distance from the exact BF16 logit (quantisation of x and of the row, plus fp32
// rounding of the exact sum). Only the rows whose interval reaches the largest lower bound, the rows
// that can still hold the largest logit, get the exact dot product, through the same ops::linear as
// the full head and so with the same bits. The largest output is therefore the exact head's, at the
// same (lowest) index: greedy drafts are the tokens the exact head drafts. The other rows keep their
// approximate logits, each strictly below that maximum; they only shape the distribution that sampled
// drafts come from, which exact acceptance corrects for.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/ops.h"

namespace tachyon::dsv4 {

class DraftHead {
 public:
  // head: bf16 [n, k], row-major.
  DraftHead(const ops::OpContext& ctx, const uint16_t* head, int64_t n, int64_t k);

  // out [rows, n] for x [rows, k]; `exact` is a view of the same BF16 head [n, k]. Returns the number of
  // logits computed exactly (summed over rows).
  int64_t logits(const ops::OpContext& ctx, const WeightView& exact, const float* x, int64_t rows,
                 float* out) const;

 private:
  int64_t n_, k_, kp_;         // kp_: k rounded up to 32 (zero padding)
  std::vector<int8_t> q_;      // [n, kp]
  std::vector<float> scale_;   // [n]
  std::vector<float> l1_;      // [n] sum_j |scale * q[j]|
};

}  // namespace tachyon::dsv4
