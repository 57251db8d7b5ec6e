// Stop-string matching over streamed text (see stop_matcher.h).
#include "server/stop_matcher.h"

#include <algorithm>

namespace tachyon::server {

StopMatcher::StopMatcher(std::vector<std::string> stops, bool include_stop) : include_stop_(include_stop) {
  for (auto& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

bool StopMatcher::push(std::string_view delta, std::string* out) {
  if (matched_) return true;
  if (stops_.empty()) {
    out->append(delta);
    return false;
  }
  pending_.append(delta);
  // Earliest match wins; among matches at the same place, the longest.
  size_t best = std::string::npos, best_len = 0;
  for (const std::string& s : stops_) {
    const size_t at = pending_.find(s);
    if (at == std::string::npos) continue;
    if (at < best || (at == best && s.size() > best_len)) {
      best = at;
      best_len = s.size();
      matched_string_ = s;
    }
  }
  if (best != std::string::npos) {
    out->append(pending_, 0, include_stop_ ? best + best_len : best);
    pending_.clear();
    matched_ = true;
    return true;
  }
  // Hold back the longest tail of pending_ that is a proper prefix of some stop string. Stop strings
  // are valid UTF-8, so such a tail starts on a character boundary.
  size_t hold = 0;
  for (const std::string& s : stops_) {
    const size_t max_k = std::min(s.size() - 1, pending_.size());
    for (size_t k = max_k; k > hold; --k) {
      if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  out->append(pending_, 0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return false;
}

void StopMatcher::flush(std::string* out) {
  if (!matched_) out->append(pending_);
  pending_.clear();
}

}  // namespace tachyon::server
