#include "model/deepseek_v4/scoring.h"

#include "core/check.h"

namespace tachyon::dsv4 {

std::vector<std::pair<int64_t, int64_t>> plan_chunks(int64_t n, const ScoringPlan& plan) {
  std::vector<std::pair<int64_t, int64_t>> chunks;
  const int64_t prefill_end = plan.decode_from >= 0 ? std::min(plan.decode_from, n) : n;
  const int64_t step = plan.prefill_chunk > 0 ? plan.prefill_chunk : std::max<int64_t>(prefill_end, 1);
  for (int64_t b = 0; b < prefill_end; b += step) chunks.push_back({b, std::min(prefill_end, b + step)});
  for (int64_t b = prefill_end; b < n; ++b) chunks.push_back({b, b + 1});
  return chunks;
}

ScoringResult score_tokens(Model& model, const ModelContext& ctx, const std::vector<int32_t>& tokens,
                           const ScoringPlan& plan) {
  const ModelConfig& cfg = model.config();
  const int64_t n = int64_t(tokens.size()), V = cfg.vocab_size;
  TACHYON_CHECK(n > 0);
  ScoringResult r;
  r.logits.reserve(size_t(n * V));
  SequenceState seq = model.pools().new_sequence();
  ForwardOutput out;
  std::vector<float> mtp_rows;
  for (auto [b, e] : plan_chunks(n, plan)) {
    SeqInput in{&seq, std::span<const int32_t>(tokens.data() + b, size_t(e - b)), true};
    model.forward(ctx, std::span<const SeqInput>(&in, 1), out);
    r.logits.insert(r.logits.end(), out.logits.begin(), out.logits.end());
    if (plan.mtp) {
      // Rows whose next token is known: all but the sequence's last.
      const int64_t m = std::min(e, n - 1) - b;
      if (m > 0) {
        MtpInput mi{&seq, out.final_streams.data(), std::span<const int32_t>(tokens.data() + b + 1, size_t(m))};
        model.mtp_forward(ctx, std::span<const MtpInput>(&mi, 1), mtp_rows);
        r.mtp_logits.insert(r.mtp_logits.end(), mtp_rows.begin(), mtp_rows.end());
      }
    }
  }
  model.pools().release(seq);
  return r;
}

}  // namespace tachyon::dsv4
