// DeepSeek-V4 forward pass over a batch of sequences (spec §2). Each batch entry appends its new tokens
// to that sequence's paged state; sequences may be at different positions and have different lengths.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/deepseek_v4/context.h"
#include "model/deepseek_v4/draft_head.h"
#include "model/deepseek_v4/rope.h"
#include "model/deepseek_v4/state.h"
#include "model/deepseek_v4/weights.h"

namespace tachyon::dsv4 {

struct SeqInput {
  SequenceState* state = nullptr;
  std::span<const int32_t> tokens;  // new tokens, at positions state->pos ...
  bool all_logits = false;          // logits for every new token, else only for the last one
  // The caller needs only each row's largest logit and its index (greedy sampling without logprobs,
  // penalties or bias). With the draft head enabled, these rows come from it (DraftHead): that maximum
  // and its lowest index are exact, every other entry is below it.
  bool argmax_only = false;
  // No logits rows at all for this sequence (a prefill chunk that does not sample); overrides all_logits.
  bool no_logits = false;
};

struct ForwardOutput {
  std::vector<float> logits;         // [rows, vocab]: per sequence, all its tokens, the last one or none
  std::vector<float> final_streams;  // [T, hc, D] for every new token (input of the MTP module)
};

// MTP input for one sequence: main-model final streams of positions state->mtp_pos ... and, for each,
// the token that follows it.
struct MtpInput {
  SequenceState* state = nullptr;
  const float* streams = nullptr;       // [n, hc, D]
  std::span<const int32_t> next_tokens; // [n]
  bool all_logits = true;               // logits for every row, else only for the last one
  bool no_logits = false;               // no logits rows for this sequence; overrides all_logits
};

// How many of a sequence's n new rows get logits (SeqInput or MtpInput): none (no_logits), all
// (all_logits) or the last one. The logits rows of a pass follow the batch in this count.
template <typename Input>
int64_t n_logit_rows(const Input& in, int64_t n) {
  return in.no_logits ? 0 : in.all_logits ? n : 1;
}

// Logits of the MTP module: exact, or for drafting (DraftHead: the same largest logit, the others
// approximate) once enable_draft_head() has run.
enum class MtpLogits { kExact, kDraft };

class Model {
 public:
  // `cache` is the storage format of the attention cache; kCompact requires official numerics.
  explicit Model(const Checkpoint& ck, CacheFormat cache = CacheFormat::kF32);

  const ModelConfig& config() const { return cfg_; }
  CachePools& pools() { return pools_; }

  // Runs the main model over the batch; logits are fp32.
  void forward(const ModelContext& ctx, std::span<const SeqInput> batch, ForwardOutput& out);
  // Runs the MTP module (spec §2.9); writes [rows, vocab] logits (per sequence all its rows, the last
  // one or none, as in forward()). With `streams`, also the
  // MTP block's output streams [sum n, hc, D] (a chained draft feeds them back in place of the main
  // model's streams of the next position).
  void mtp_forward(const ModelContext& ctx, std::span<const MtpInput> batch, std::vector<float>& logits,
                   std::vector<float>* streams = nullptr, MtpLogits mode = MtpLogits::kExact);
  // Builds the int8 draft head (vocab x hidden bytes) that MtpLogits::kDraft and SeqInput::argmax_only
  // use.
  void enable_draft_head(const ModelContext& ctx);

 private:
  void block(const ModelContext& ctx, const LayerWeights& w, int layer, std::span<const struct TokenSpan> spans,
             const int32_t* token_ids, int64_t T, std::vector<float>& streams, const std::string& prefix);
  // Logits of `rows` final streams. Rows with screen[r] != 0 (all rows when screen is empty) come from
  // `draft` when it is given; the others from the exact head.
  void head(const ModelContext& ctx, const HcHeadWeights& hc, const TensorRef& norm, const float* streams,
            int64_t rows, float* logits, const std::string& prefix, const DraftHead* draft = nullptr,
            std::span<const char> screen = {});

  const Checkpoint& ck_;
  const ModelConfig& cfg_;
  const ModelWeights& w_;
  CachePools pools_;
  RopeTable rope_window_;      // ratio-0 layers and MTP: rope_theta, no YaRN
  RopeTable rope_compressed_;  // ratio > 0 layers: compress_rope_theta with YaRN
  std::unique_ptr<DraftHead> draft_head_;  // enable_draft_head()
};

}  // namespace tachyon::dsv4
