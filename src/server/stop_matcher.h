// StopMatcher: finds OpenAI `stop` strings in streamed text, even when one spans several tokens.
//
// Text arrives in deltas (already valid UTF-8). The matcher releases text as soon as it can no longer
// be the start of a stop string and holds back the longest tail that still could be. On a match the
// output ends right before the stop string (or right after it with include_stop_str_in_output), and
// matched() reports which string ended it. The released text never contains a stop string.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tachyon::server {

class StopMatcher {
 public:
  StopMatcher() = default;
  StopMatcher(std::vector<std::string> stops, bool include_stop);

  // Appends the text that became final to `out`. Returns true when a stop string matched (further
  // pushes are ignored).
  bool push(std::string_view delta, std::string* out);
  // End of generation: releases the held tail (no stop string can complete any more).
  void flush(std::string* out);

  bool matched() const { return matched_; }
  const std::string& matched_string() const { return matched_string_; }
  bool empty() const { return stops_.empty(); }

 private:
  std::vector<std::string> stops_;
  bool include_stop_ = false;
  std::string pending_;  // text not released yet
  bool matched_ = false;
  std::string matched_string_;
};

}  // namespace tachyon::server
