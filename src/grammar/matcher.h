// Matcher: follows one generated sequence through a compiled Grammar, byte by byte or token by token.
//
//   auto m = Matcher(grammar);              // one per request (cheap: the grammar is shared)
//   m.fill_next_token_mask(vocab, mask);    // which token ids may come next (vocabulary.h)
//   m.accept_token(id, vocab);              // the sampled token; false if the grammar forbids it
//   m.rollback(n);                          // undo the last n accepted tokens (rejected drafts, preemption)
//
// A stop token (Vocabulary::stop_ids) is accepted only when the bytes so far are a complete document; it
// terminates the matcher, after which nothing more is accepted. Every accepted token, stop tokens
// included, is one history entry for rollback. A Matcher is not thread-safe; distinct matchers over one
// grammar and one vocabulary may run on different threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "grammar/engine.h"
#include "grammar/grammar.h"

namespace tachyon::grammar {

class Vocabulary;

class Matcher {
 public:
  // `max_history` bounds the tokens kept for rollback (the oldest are forgotten beyond it).
  explicit Matcher(std::shared_ptr<const Grammar> grammar, size_t max_history = SIZE_MAX);

  // Whether `byte` may come next.
  bool can_accept_byte(uint8_t byte);
  // Feeds bytes as one history entry; on a forbidden byte nothing changes and false is returned.
  bool accept_bytes(std::string_view bytes);
  // Feeds token `id`'s bytes (a stop id: ends the document, only when complete). Special tokens that are
  // not stop ids, ids outside the vocabulary, and anything after termination are refused.
  bool accept_token(int32_t id, const Vocabulary& vocab);
  // Feeds several tokens; stops at the first refused one and returns how many were accepted.
  size_t accept_tokens(std::span<const int32_t> ids, const Vocabulary& vocab);

  // The bytes so far form a complete document (a stop token would be accepted).
  bool is_complete() const;
  // A stop token was accepted.
  bool is_terminated() const { return terminated_; }
  // Undoes the last `n` history entries; false (and no change) when fewer are kept.
  bool rollback(size_t n);
  size_t history_size() const { return history_.size(); }
  // Back to the start, history cleared.
  void reset();

  // The allowed next tokens as a bitmask over ids: bit (id % 32) of word id / 32, with
  // vocab.mask_words() words. Stop ids are allowed exactly when is_complete(); nothing is allowed after
  // termination.
  void fill_next_token_mask(const Vocabulary& vocab, std::span<uint32_t> mask);

  const Grammar& grammar() const { return *grammar_; }

 private:
  struct Snapshot {
    detail::StateSet state;
    bool terminated;
  };
  void push_history();
  void walk_trie(const Vocabulary& vocab, bool string_trie, const detail::StateSet& from, uint32_t* mask);

  std::shared_ptr<const Grammar> grammar_;
  detail::Engine engine_;
  detail::StateSet state_, next_;
  bool terminated_ = false;
  size_t max_history_;
  std::deque<Snapshot> history_;  // the state before each entry, oldest first
  std::vector<detail::StateSet> walk_;  // scratch for fill_next_token_mask, one per trie depth
  detail::StateSet split_string_, split_other_;
};

}  // namespace tachyon::grammar
