// PCRE2 wrapper and HF Split behaviours (tokenizers/src/tokenizer/normalizer.rs `split`).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

namespace tachyon::tok {

RegexScratch::RegexScratch() : md_(pcre2_match_data_create(1, nullptr)) {}
RegexScratch::~RegexScratch() { pcre2_match_data_free(md_); }

Result<std::unique_ptr<Regex>> Regex::compile(std::string_view pattern, bool literal) {
  uint32_t opts = PCRE2_UTF | PCRE2_UCP;
  if (literal) opts = PCRE2_UTF | PCRE2_LITERAL;  // PCRE2_LITERAL does not allow PCRE2_UCP
  int err = 0;
  PCRE2_SIZE err_off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), opts, &err,
                                   &err_off, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof(buf));
    return error("invalid regex /{}/ at offset {}: {}", pattern, size_t(err_off), reinterpret_cast<char*>(buf));
  }
  std::unique_ptr<Regex> re(new Regex());
  re->code_ = code;
  re->jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return re;
}

Regex::~Regex() { pcre2_code_free(code_); }

bool Regex::find(std::string_view subject, size_t offset, RegexScratch& scratch, size_t* start,
                 size_t* end) const {
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  int rc = jit_ ? pcre2_jit_match(code_, s, subject.size(), offset, 0, scratch.get(), nullptr)
                : pcre2_match(code_, s, subject.size(), offset, PCRE2_NO_UTF_CHECK, scratch.get(), nullptr);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT)  // pathological input: retry with the interpreter
    rc = pcre2_match(code_, s, subject.size(), offset, PCRE2_NO_UTF_CHECK, scratch.get(), nullptr);
  if (rc < 0) return false;  // no match (or a resource limit: treat the rest as unmatched)
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(scratch.get());
  *start = ov[0];
  *end = ov[1];
  return true;
}

bool Regex::matches_at(std::string_view subject, size_t offset, RegexScratch& scratch) const {
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  return pcre2_match(code_, s, subject.size(), offset, PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, scratch.get(),
                     nullptr) >= 0;
}

void Regex::find_all(std::string_view subject, RegexScratch& scratch,
                     std::vector<std::pair<size_t, size_t>>* out) const {
  size_t pos = 0;
  size_t last_match_end = std::string_view::npos;
  while (pos <= subject.size()) {
    size_t s = 0, e = 0;
    if (!find(subject, pos, scratch, &s, &e)) break;
    if (s == e && e == last_match_end) {  // Oniguruma's "no empty match right after a match"
      if (pos >= subject.size()) break;
      ++pos;
      while (pos < subject.size() && (uint8_t(subject[pos]) & 0xC0) == 0x80) ++pos;
      continue;
    }
    out->emplace_back(s, e);
    pos = e;
    last_match_end = e;
  }
}

void split_with_behavior(const Regex& re, SplitBehavior behavior, bool invert, std::string_view piece,
                         RegexScratch& scratch, std::vector<std::pair<size_t, size_t>>* out) {
  if (piece.empty()) return;
  const size_t out_begin = out->size();
  // 1. Cover the piece with (range, is_match) runs, as HF `Pattern::find_matches` does.
  struct Run {
    size_t b, e;
    bool match;
  };
  thread_local std::vector<std::pair<size_t, size_t>> matches;
  thread_local std::vector<Run> runs;
  matches.clear();
  runs.clear();
  re.find_all(piece, scratch, &matches);
  size_t prev = 0;
  for (auto [s, e] : matches) {
    if (prev != s) runs.push_back({prev, s, false});
    runs.push_back({s, e, true});
    prev = e;
  }
  if (prev != piece.size()) runs.push_back({prev, piece.size(), false});
  if (invert)
    for (Run& r : runs) r.match = !r.match;

  // 2. Apply the behaviour. Empty pieces are dropped at the end.
  auto emit = [out](size_t b, size_t e) {
    if (b < e) out->emplace_back(b, e);
  };
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const Run& r : runs)
        if (!r.match) emit(r.b, r.e);
      break;
    case SplitBehavior::kIsolated:
      for (const Run& r : runs) emit(r.b, r.e);
      break;
    case SplitBehavior::kMergedWithPrevious: {
      const size_t first = out_begin;
      bool prev_match = false;
      for (const Run& r : runs) {
        if (r.match && !prev_match && out->size() > first) out->back().second = r.e;
        else out->emplace_back(r.b, r.e);
        prev_match = r.match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      // Walk backwards: a match joins the piece after it.
      std::vector<std::pair<size_t, size_t>> rev;
      bool prev_match = false;
      for (size_t k = runs.size(); k-- > 0;) {
        const Run& r = runs[k];
        if (r.match && !prev_match && !rev.empty()) rev.back().first = r.b;
        else rev.emplace_back(r.b, r.e);
        prev_match = r.match;
      }
      for (size_t k = rev.size(); k-- > 0;) out->push_back(rev[k]);
      break;
    }
    case SplitBehavior::kContiguous: {
      const size_t first = out_begin;
      bool prev_match = false;
      for (const Run& r : runs) {
        if (r.match == prev_match && out->size() > first) out->back().second = r.e;
        else out->emplace_back(r.b, r.e);
        prev_match = r.match;
      }
      break;
    }
  }
  // Drop any empty ranges the merges above may have kept.
  size_t w = out_begin;
  for (size_t r = out_begin; r < out->size(); ++r)
    if ((*out)[r].first < (*out)[r].second) (*out)[w++] = (*out)[r];
  out->resize(w);
}

}  // namespace tachyon::tok
