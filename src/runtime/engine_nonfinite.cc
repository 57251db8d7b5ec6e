// Non-finite values in the forward pass (see Engine::fail_nonfinite). A NaN or infinity comes from the
// data (corrupt weights, an overflow). Rows never mix across the sequences of a batch (every op is per
// row or per sequence), so the requests whose cache entries, compressor states or logits rows hold one
// are failed and the others go on; the failed ones return their blocks and are never snapshotted.
#include "core/finite.h"
#include "io/value_scan.h"
#include "runtime/engine.h"

namespace tachyon::runtime {

bool Engine::rows_finite(const std::vector<float>& logits, int64_t row, int64_t n) const {
  const int64_t V = ck_->config.vocab_size;
  return all_finite(logits.data() + row * V, n * V);
}

void Engine::fail_nonfinite(Request& r, size_t i, StepOutcome& o) {
  o.why[i] = FinishReason::kError;
  o.nonfinite[i] = 1;
  r.draft.clear();
  if (auto it = live_.find(r.id); it != live_.end()) it->second->draft_probs.clear();
  cache_->state(r).spec = nullptr;
}

Status check_weight_values(const dsv4::Checkpoint& ck, const ThreadPool& pool) {
  const ValueScan v = scan_values(ck.store, &pool);
  if (v.bad.empty()) return Status::ok();
  std::string list;
  for (size_t i = 0; i < v.bad.size() && i < 4; ++i) list += (i ? "; " : "") + describe(v.bad[i]);
  if (v.bad.size() > 4) list += fmt::format("; and {} more", v.bad.size() - 4);
  return error("--check-values: {} tensor{} of the checkpoint hold{} NaN or infinity (corrupt weights): {}",
               v.bad.size(), v.bad.size() == 1 ? "" : "s", v.bad.size() == 1 ? "s" : "", list);
}

}  // namespace tachyon::runtime
