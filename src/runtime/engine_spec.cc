// Speculative decoding with the MTP module: the MTP pass that follows each verification step, chained
// drafting, and exact-distribution acceptance of drafts.
#include <algorithm>
#include <cmath>
#include <memory>
#include <span>

#include "core/check.h"
#include "runtime/engine.h"

namespace tachyon::runtime {

std::vector<Engine::DraftChain> Engine::mtp_step(const StepPlan& plan, StepOutcome& o) {
  const int64_t V = ck_->config.vocab_size, hcD = int64_t(ck_->config.hc_mult) * ck_->config.hidden_size;
  const size_t nc = plan.chunks.size();
  // The MTP layer follows the main model over every committed position whose next token is known.
  std::vector<dsv4::MtpInput> mins;
  std::vector<size_t> mchunk;
  std::vector<std::vector<int32_t>> nexts(nc);
  for (size_t i = 0; i < nc; ++i) {
    const ScheduledChunk& c = plan.chunks[i];
    if (o.why[i] != FinishReason::kNone) continue;
    dsv4::SequenceState& st = cache_->state(*c.req);
    TACHYON_CHECK(st.mtp_pos == c.start, "MTP layer out of step with the main model");
    for (int64_t t = c.start + 1; t <= c.start + o.committed[i]; ++t) nexts[i].push_back(c.req->token_at(t));
    // Only requests that sampled draft from this pass; the others need no logits row.
    mins.push_back({&st, o.out.final_streams.data() + o.stream_row[i] * hcD, nexts[i], false, !o.sampled[i]});
    mchunk.push_back(i);
  }
  if (mins.empty()) return {};
  std::vector<float> mlogits, mstreams;
  model_->mtp_forward(ctx_, mins, mlogits, &mstreams, draft_logits_);
  // The first draft of each request that goes on decoding comes from this pass; chains take more.
  std::vector<DraftChain> chains;
  int64_t srow = 0, lrow = 0;
  for (size_t m = 0; m < mins.size(); ++m) {
    const ScheduledChunk& c = plan.chunks[mchunk[m]];
    srow += int64_t(mins[m].next_tokens.size());
    const int64_t row = lrow;
    if (!mins[m].no_logits) ++lrow;
    // A NaN or infinity in the MTP layer's state or its draft logits fails the request, as in the main pass.
    if (mins[m].state->nonfinite || (!mins[m].no_logits && !rows_finite(mlogits, row, 1))) {
      fail_nonfinite(*c.req, mchunk[m], o);
      continue;
    }
    if (mins[m].no_logits) continue;
    float* row_logits = mlogits.data() + row * V;
    Live& l = *live_.at(c.req->id);
    const Request& r = l.req;
    const int64_t room = std::min<int64_t>(cfg_.speculative_tokens, r.max_new_tokens - int64_t(r.output.size()) - 1);
    if (room <= 0) continue;
    const DraftResult dr = add_draft(l, row_logits);
    if (dr == DraftResult::kFailed) {
      fail_nonfinite(*c.req, mchunk[m], o);
      continue;
    }
    if (dr == DraftResult::kNone) continue;
    if (room > 1)
      chains.push_back({&l, mchunk[m], room,
                        std::vector<float>(mstreams.begin() + (srow - 1) * hcD, mstreams.begin() + srow * hcD),
                        std::make_unique<dsv4::SpecLog>(), cache_->state(r).mtp_pos});
  }
  return chains;
}

// Chained drafting: the MTP layer runs again on its own output streams and last draft, one position per
// round for every chain that still has room; those positions are rolled back once the chain is done.
void Engine::draft_chains(std::vector<DraftChain> chains, StepOutcome& o) {
  const int64_t V = ck_->config.vocab_size, hcD = int64_t(ck_->config.hc_mult) * ck_->config.hidden_size;
  while (!chains.empty()) {
    std::vector<dsv4::MtpInput> cin;
    for (DraftChain& ch : chains) {
      dsv4::SequenceState& st = cache_->state(ch.l->req);
      st.spec = ch.log.get();
      cin.push_back({&st, ch.streams.data(), std::span<const int32_t>(&ch.l->req.draft.back(), 1), true});
    }
    std::vector<float> cl, cs;
    model_->mtp_forward(ctx_, cin, cl, &cs, draft_logits_);
    std::vector<DraftChain> next;
    for (size_t m = 0; m < chains.size(); ++m) {
      DraftChain& ch = chains[m];
      const bool bad = cache_->state(ch.l->req).nonfinite || !rows_finite(cl, int64_t(m), 1);
      const DraftResult dr = bad ? DraftResult::kFailed : add_draft(*ch.l, cl.data() + int64_t(m) * V);
      const bool failed = dr == DraftResult::kFailed;
      if (dr == DraftResult::kAdded && int64_t(ch.l->req.draft.size()) < ch.room) {
        ch.streams.assign(cs.begin() + int64_t(m) * hcD, cs.begin() + int64_t(m + 1) * hcD);
        next.push_back(std::move(ch));
      } else {
        dsv4::SequenceState& st = cache_->state(ch.l->req);
        model_->pools().rollback(st, ch.base, true);
        st.spec = nullptr;
        if (failed) fail_nonfinite(ch.l->req, ch.chunk, o);
      }
    }
    chains = std::move(next);
  }
}

bool Engine::resolve_draft(Live& l, const float* logits, int32_t x, const std::vector<float>& q, TokenOutput& tok) {
  // Exact-distribution acceptance: keep the draft with probability min(1, p/q), else resample from the
  // residual max(0, p - q). q is the distribution the draft was drawn from (same processing as p).
  const int64_t V = ck_->config.vocab_size;
  const Request& r = l.req;
  std::vector<float> pt;
  l.sampler->distribution(logits, V, r.prompt, r.output, banned_token(l, r.output.size()), pt);
  if (q[size_t(x)] > 0 && l.sampler->accept(double(pt[size_t(x)]) / double(q[size_t(x)]))) {
    tok.token = x;
    return true;
  }
  std::vector<float> res(static_cast<size_t>(V));
  double sum = 0;
  for (int64_t v = 0; v < V; ++v) sum += res[size_t(v)] = std::max(0.0f, pt[size_t(v)] - q[size_t(v)]);
  tok.token = l.sampler->draw(sum > 0 ? res : pt);
  return false;
}

Engine::DraftResult Engine::add_draft(Live& l, float* mtp_logits) {
  const int64_t V = ck_->config.vocab_size;
  Request& r = l.req;
  // The draft stands at output index output.size() + draft.size(); penalties see the drafts before it.
  std::vector<int32_t> seen(r.output);
  seen.insert(seen.end(), r.draft.begin(), r.draft.end());
  const size_t k = seen.size();
  const int32_t banned = banned_token(l, k);
  // Under a grammar the draft comes from the masked logits (the matcher holds the drafts before it), so
  // a draft the grammar forbids is never verified.
  const bool grammar = constrained_at(l, k) && !chosen_without_logits(l, k);
  if (grammar && l.matcher->is_terminated()) return DraftResult::kNone;
  if (!apply_grammar(l, k, mtp_logits)) return DraftResult::kNone;
  if (deterministic(l, k)) {
    // Greedy draft: the most likely token after the same processing (no random numbers drawn).
    float best = -INFINITY;
    int32_t arg = -1;
    for (int64_t i = 0; i < V; ++i)
      if (mtp_logits[i] > best && int32_t(i) != banned) best = mtp_logits[i], arg = int32_t(i);
    if (arg < 0) {
      if (l.matcher) return DraftResult::kNone;  // the grammar allows only a banned token
      arg = 0;
    }
    if (!advance_grammar(l, arg, k, true)) return DraftResult::kNone;
    r.draft.push_back(arg);
    l.draft_probs.emplace_back();
    return DraftResult::kAdded;
  }
  std::vector<float> q;
  l.sampler->distribution(mtp_logits, V, r.prompt, seen, banned, q);
  const int32_t x = l.sampler->draw(q);
  if (x < 0) return l.matcher ? DraftResult::kNone : DraftResult::kFailed;
  if (!advance_grammar(l, x, k, true)) return DraftResult::kNone;
  r.draft.push_back(x);
  l.draft_probs.push_back(std::move(q));
  return DraftResult::kAdded;
}

}  // namespace tachyon::runtime
