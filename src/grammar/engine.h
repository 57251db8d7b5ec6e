// The byte-level pushdown automaton behind Matcher (internal to the grammar layer).
//
// A matcher state is a set of stacks (the grammar may be ambiguous until a later byte, e.g. two enum
// values with a common prefix, or which optional property comes next). Each stack is a list of frames;
// a frame is a position in one alternative (a node of Grammar::elems) plus the progress of the element
// there (bytes of a literal matched, items of a repeat begun, the sub-state of a string or number).
// Stacks are kept normalised: the top frame sits on a terminal element (literal, byte set, string,
// integer, number), or the stack is empty, which means the document is complete. A step feeds one byte to
// every stack's top terminal; those that accept it survive, and a finished terminal pops and expands
// (rule references push one stack per alternative). Identical stacks are merged.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "grammar/grammar.h"

namespace tachyon::grammar::detail {

// Plain data: compared and copied as bytes (no padding).
struct Frame {
  uint32_t node = 0;
  uint32_t a = 0;  // literal: bytes matched; repeat: items begun; string: code points so far
  uint32_t b = 0;  // string / integer / number: phase
  uint32_t c = 0;  // string: UTF-8 or \u progress; integer: sign
  uint64_t v = 0;  // integer: magnitude so far (saturated)
};
static_assert(sizeof(Frame) == 24);

// String phases (Frame::b when the top element is kString).
enum StringPhase : uint32_t { kStrOpen, kStrBody, kStrEscape, kStrHex, kStrUtf8, kStrLowBackslash, kStrLowU };

// Limits that keep a state bounded; a byte that would exceed them is rejected (the mask stays sound).
inline constexpr size_t kMaxStackDepth = 2048;
inline constexpr size_t kMaxStacks = 256;

class StateSet {
 public:
  size_t num_stacks() const { return ends_.size(); }
  bool empty() const { return ends_.empty(); }
  std::span<const Frame> stack(size_t i) const {
    const uint32_t b = i == 0 ? 0 : ends_[i - 1];
    return {frames_.data() + b, frames_.data() + ends_[i]};
  }
  void clear() {
    frames_.clear();
    ends_.clear();
  }
  // Adds a stack unless an identical one is present (or the set is full).
  void add(std::span<const Frame> s);
  bool operator==(const StateSet& o) const;
  size_t num_frames() const { return frames_.size(); }

 private:
  std::vector<Frame> frames_;
  std::vector<uint32_t> ends_;
};

// Result of feeding a byte to a terminal.
enum class TermStep : uint8_t { kReject, kMore, kMoreOrDone, kDone };
TermStep consume_terminal(const Grammar& g, const Elem& e, Frame& f, uint8_t byte);

class Engine {
 public:
  explicit Engine(const Grammar& g) : g_(&g) {}
  const Grammar& grammar() const { return *g_; }
  // The state before any byte.
  void start(StateSet* out);
  // The state after `byte`; false (and `out` empty) when no stack accepts it.
  bool step(const StateSet& in, uint8_t byte, StateSet* out);
  // Some stack is empty: the bytes so far are a whole document.
  static bool complete(const StateSet& s);

 private:
  // Normalises `cur_` (a stack whose top frame was just pushed or advanced) into `out`.
  void expand(StateSet* out);
  const Grammar* g_;
  std::vector<Frame> cur_;
  std::vector<Frame> work_frames_;
  std::vector<uint32_t> work_ends_;
};

}  // namespace tachyon::grammar::detail
