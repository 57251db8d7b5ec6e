#include "grammar/engine.h"

#include <cstring>

namespace tachyon::grammar::detail {

void StateSet::add(std::span<const Frame> s) {
  if (ends_.size() >= kMaxStacks) return;
  const size_t bytes = s.size() * sizeof(Frame);
  uint32_t b = 0;
  for (const uint32_t e : ends_) {
    if (e - b == s.size() && (bytes == 0 || std::memcmp(frames_.data() + b, s.data(), bytes) == 0)) return;
    b = e;
  }
  frames_.insert(frames_.end(), s.begin(), s.end());
  ends_.push_back(uint32_t(frames_.size()));
}

bool StateSet::operator==(const StateSet& o) const {
  return ends_ == o.ends_ &&
         (frames_.empty() || std::memcmp(frames_.data(), o.frames_.data(), frames_.size() * sizeof(Frame)) == 0);
}

bool Engine::complete(const StateSet& s) {
  for (size_t i = 0; i < s.num_stacks(); ++i) {
    if (s.stack(i).empty()) return true;
  }
  return false;
}

void Engine::start(StateSet* out) {
  out->clear();
  cur_.assign(1, Frame{g_->start_node()});
  expand(out);
}

void Engine::expand(StateSet* out) {
  // Queues a copy of cur_ whose top frame is replaced by `top` (or, with push, gains `top` above it).
  auto queue = [&](Frame top, bool push) {
    work_frames_.insert(work_frames_.end(), cur_.begin(), cur_.end());
    if (push) {
      work_frames_.push_back(top);
    } else {
      work_frames_.back() = top;
    }
    work_ends_.push_back(uint32_t(work_frames_.size()));
  };
  const size_t work_base = work_ends_.size();
  for (;;) {
    bool emit = false;
    for (bool more = true; more;) {
      if (cur_.empty()) {
        emit = true;
        break;
      }
      if (cur_.size() > kMaxStackDepth) break;
      const Frame f = cur_.back();
      const Elem& e = g_->elem(f.node);
      switch (e.kind) {
        case ElemKind::kEnd:
          cur_.pop_back();
          break;
        case ElemKind::kRule: {
          const uint32_t* ab = g_->alt_begin(e.a);
          const uint32_t* ae = g_->alt_end(e.a);
          const uint32_t next = f.node + 1;
          if (g_->elem(next).kind == ElemKind::kEnd) {
            cur_.pop_back();  // tail call: the caller has nothing left after this rule
          } else {
            cur_.back() = Frame{next};
          }
          if (ab == ae) {
            more = false;  // no alternatives survived pruning: a dead stack
            break;
          }
          for (const uint32_t* p = ab + 1; p < ae; ++p) queue(Frame{*p}, true);
          cur_.push_back(Frame{*ab});
          break;
        }
        case ElemKind::kRepeat: {
          const uint32_t count = f.a;
          const bool can_stop = count >= e.c;
          const bool can_more = count < e.d;
          if (!can_more) {
            cur_.back() = Frame{f.node + 1};
            break;
          }
          if (can_stop) queue(Frame{f.node + 1}, false);
          cur_.back().a = count + 1;
          cur_.push_back(Frame{count == 0 ? e.a : e.b});
          break;
        }
        default:  // a terminal
          emit = true;
          more = false;
          break;
      }
    }
    if (emit) out->add(cur_);
    if (work_ends_.size() == work_base) return;
    const uint32_t end = work_ends_.back();
    work_ends_.pop_back();
    const uint32_t begin = work_ends_.size() == 0 ? 0 : work_ends_.back();
    cur_.assign(work_frames_.begin() + begin, work_frames_.begin() + end);
    work_frames_.resize(begin);
  }
}

bool Engine::step(const StateSet& in, uint8_t byte, StateSet* out) {
  out->clear();
  for (size_t i = 0; i < in.num_stacks(); ++i) {
    const std::span<const Frame> s = in.stack(i);
    if (s.empty()) continue;
    Frame top = s.back();
    const TermStep r = consume_terminal(*g_, g_->elem(top.node), top, byte);
    if (r == TermStep::kReject) continue;
    if (r == TermStep::kMore || r == TermStep::kMoreOrDone) {
      cur_.assign(s.begin(), s.end());
      cur_.back() = top;
      out->add(cur_);
    }
    if (r == TermStep::kDone || r == TermStep::kMoreOrDone) {
      cur_.assign(s.begin(), s.end());
      cur_.back() = Frame{top.node + 1};
      expand(out);
    }
  }
  return !out->empty();
}

}  // namespace tachyon::grammar::detail
