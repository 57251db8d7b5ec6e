// Grammar-constrained decoding: the allowed-token mask applied to a request's logits rows before any
// token is chosen from them (sampled, greedy, drafted or verified), and the matcher that follows the
// request's output. Drafts are fed to the matcher tentatively, so that each draft is drawn from the
// masked MTP logits after the drafts before it; they are undone before verification, which then feeds
// the tokens it keeps. A preempted request keeps its output and so its matcher; its drafts are undone.
#include <cmath>

#include "runtime/engine.h"

namespace tachyon::runtime {

std::string Engine::check_grammar(const GenerationParams& p) const {
  const GrammarConstraint& g = p.grammar;
  if (!g.grammar) return {};
  if (!g.vocab) return "a grammar constraint needs the tokenizer's vocabulary";
  if (g.vocab->size() > ck_->config.vocab_size)
    return fmt::format("the grammar's vocabulary has {} tokens, more than the model's {}", g.vocab->size(),
                       ck_->config.vocab_size);
  if (!p.forced_tokens.empty()) return "forced_tokens cannot be combined with a grammar constraint";
  if (g.start_after >= ck_->config.vocab_size)
    return fmt::format("the grammar's start token {} is outside the vocabulary", g.start_after);
  return {};
}

bool Engine::constrained_at(const Live& l, size_t k) {
  return l.matcher && l.grammar_from >= 0 && int64_t(k) >= l.grammar_from && k >= l.params.prefix_tokens.size();
}

bool Engine::apply_grammar(Live& l, size_t k, float* logits) {
  if (!l.matcher) return true;
  const int64_t V = ck_->config.vocab_size;
  const grammar::Vocabulary& vocab = *l.params.grammar.vocab;
  if (!constrained_at(l, k)) {
    // Free text before the constraint starts, but the request may not end before its document.
    for (int32_t id : vocab.stop_ids()) logits[id] = -INFINITY;
    return true;
  }
  l.mask.assign(vocab.mask_words(), 0);
  l.matcher->fill_next_token_mask(vocab, l.mask);
  bool any = false;
  const int64_t n = vocab.size();
  for (int64_t w = 0; w < int64_t(l.mask.size()); ++w) {
    const uint32_t bits = l.mask[size_t(w)];
    if (bits == ~0u && (w + 1) * 32 <= n) {
      any = true;
      continue;
    }
    for (int64_t b = 0; b < 32 && w * 32 + b < n; ++b) {
      if ((bits >> b) & 1u) any = true;
      else logits[w * 32 + b] = -INFINITY;
    }
  }
  for (int64_t id = n; id < V; ++id) logits[id] = -INFINITY;  // ids the tokenizer does not have
  return any;
}

bool Engine::advance_grammar(Live& l, int32_t token, size_t k, bool is_draft) {
  if (!l.matcher) return true;
  if (l.grammar_from < 0) {
    if (token == l.params.grammar.start_after) l.grammar_from = int64_t(k) + 1;
    return true;
  }
  if (!constrained_at(l, k)) return true;
  if (!l.matcher->accept_token(token, *l.params.grammar.vocab)) return false;
  if (is_draft) ++l.matcher_drafts;
  return true;
}

void Engine::undo_grammar_drafts(Live& l) {
  if (!l.matcher) return;
  if (l.matcher_drafts > 0) l.matcher->rollback(l.matcher_drafts);
  l.matcher_drafts = 0;
  // A start token among the drafts is forgotten with them.
  if (l.params.grammar.start_after >= 0 && l.grammar_from > int64_t(l.req.output.size())) l.grammar_from = -1;
}

}  // namespace tachyon::runtime
