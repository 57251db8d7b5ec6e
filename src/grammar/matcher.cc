#include "grammar/matcher.h"

#include <algorithm>
#include <utility>

#include "core/check.h"
#include "grammar/vocabulary.h"

namespace tachyon::grammar {

using detail::Frame;
using detail::StateSet;

Matcher::Matcher(std::shared_ptr<const Grammar> grammar, size_t max_history)
    : grammar_(std::move(grammar)), engine_(*grammar_), max_history_(max_history) {
  engine_.start(&state_);
}

void Matcher::reset() {
  engine_.start(&state_);
  terminated_ = false;
  history_.clear();
}

bool Matcher::is_complete() const { return !terminated_ && detail::Engine::complete(state_); }

bool Matcher::can_accept_byte(uint8_t byte) { return !terminated_ && engine_.step(state_, byte, &next_); }

void Matcher::push_history() {
  if (max_history_ == 0) return;
  if (history_.size() >= max_history_) history_.pop_front();
  history_.push_back(Snapshot{state_, terminated_});
}

bool Matcher::accept_bytes(std::string_view bytes) {
  if (terminated_) return false;
  StateSet cur = state_;
  for (const char ch : bytes) {
    if (!engine_.step(cur, uint8_t(ch), &next_)) return false;
    std::swap(cur, next_);
  }
  push_history();
  state_ = std::move(cur);
  return true;
}

bool Matcher::accept_token(int32_t id, const Vocabulary& vocab) {
  if (terminated_ || id < 0 || id >= vocab.size()) return false;
  if (vocab.is_stop(id)) {
    if (!is_complete()) return false;
    push_history();
    terminated_ = true;
    return true;
  }
  if (vocab.is_special(id) || vocab.bytes(id).empty()) return false;
  return accept_bytes(vocab.bytes(id));
}

size_t Matcher::accept_tokens(std::span<const int32_t> ids, const Vocabulary& vocab) {
  size_t n = 0;
  while (n < ids.size() && accept_token(ids[n], vocab)) ++n;
  return n;
}

bool Matcher::rollback(size_t n) {
  if (n > history_.size()) return false;
  if (n == 0) return true;
  Snapshot& s = history_[history_.size() - n];
  state_ = std::move(s.state);
  terminated_ = s.terminated;
  history_.resize(history_.size() - n);
  return true;
}

void Matcher::walk_trie(const Vocabulary& vocab, bool string_trie, const StateSet& from, uint32_t* mask) {
  const std::vector<Vocabulary::TrieNode>& nodes = vocab.trie(string_trie);
  const std::vector<int32_t>& ids = vocab.trie_ids(string_trie);
  if (walk_.size() < vocab.max_depth() + 1) walk_.resize(vocab.max_depth() + 1);
  walk_[0] = from;
  const size_t n = nodes.size();
  for (size_t i = 1; i < n;) {
    const Vocabulary::TrieNode& node = nodes[i];
    if (engine_.step(walk_[node.depth - 1], node.byte, &walk_[node.depth])) {
      for (uint32_t k = 0; k < node.n_ids; ++k) {
        const auto id = uint32_t(ids[node.ids_begin + k]);
        mask[id >> 5] |= 1u << (id & 31);
      }
      ++i;
    } else {
      i = node.subtree_end;
    }
  }
}

void Matcher::fill_next_token_mask(const Vocabulary& vocab, std::span<uint32_t> mask) {
  TACHYON_CHECK(mask.size() >= vocab.mask_words());
  std::fill(mask.begin(), mask.end(), 0u);
  if (terminated_) return;
  if (detail::Engine::complete(state_)) {
    for (const int32_t id : vocab.stop_ids()) mask_set(mask, id);
  }
  // Stacks inside a JSON string body, at a character boundary, take plain text tokens by length alone;
  // only the other tokens are walked for them.
  split_string_.clear();
  split_other_.clear();
  uint64_t room = 0;
  for (size_t i = 0; i < state_.num_stacks(); ++i) {
    const std::span<const Frame> s = state_.stack(i);
    if (s.empty()) continue;
    const Frame& top = s.back();
    const Elem& e = grammar_->elem(top.node);
    if (e.kind == ElemKind::kString && top.b == detail::kStrBody) {
      room = std::max<uint64_t>(room, e.d == kUnbounded ? UINT64_MAX : uint64_t(e.d - top.a));
      split_string_.add(s);
    } else {
      split_other_.add(s);
    }
  }
  if (!split_string_.empty()) {
    if (room > 0) {
      const std::span<const uint32_t> plain = vocab.plain_mask(room);
      for (size_t w = 0; w < plain.size(); ++w) mask[w] |= plain[w];
    }
    walk_trie(vocab, true, split_string_, mask.data());
  }
  if (!split_other_.empty()) walk_trie(vocab, false, split_other_, mask.data());
}

}  // namespace tachyon::grammar
