#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace tachyon::runtime {

double Sampler::uniform() { return double(rng_() >> 11) * 0x1.0p-53; }

void Sampler::process(const float* logits, int64_t vocab, const std::vector<int32_t>& prompt,
                      const std::vector<int32_t>& output, int32_t banned) {
  work_.assign(logits, logits + vocab);
  for (const auto& [tok, bias] : p_.logit_bias)
    if (tok >= 0 && tok < vocab) work_[size_t(tok)] += bias;
  if (banned >= 0 && banned < vocab) work_[size_t(banned)] = -INFINITY;
  if (p_.repetition_penalty != 1.0f) {
    auto penalise = [&](int32_t t) {
      if (t < 0 || t >= vocab) return;
      float& v = work_[size_t(t)];
      v = v > 0 ? v / p_.repetition_penalty : v * p_.repetition_penalty;
    };
    std::vector<int32_t> seen(prompt);
    seen.insert(seen.end(), output.begin(), output.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int32_t t : seen) penalise(t);
  }
  if (p_.presence_penalty != 0.0f || p_.frequency_penalty != 0.0f) {
    std::unordered_map<int32_t, int> counts;
    for (int32_t t : output) counts[t]++;
    for (const auto& [t, n] : counts)
      if (t >= 0 && t < vocab) work_[size_t(t)] -= p_.frequency_penalty * float(n) + p_.presence_penalty;
  }
}

int32_t Sampler::sample(const float* logits, int64_t vocab, const std::vector<int32_t>& prompt,
                        const std::vector<int32_t>& output, int32_t banned) {
  process(logits, vocab, prompt, output, banned);
  if (p_.temperature <= 0.0f) {
    int64_t best = -1;  // the first largest logit; NaN and -inf are never chosen
    float best_v = -INFINITY;
    for (int64_t i = 0; i < vocab; ++i)
      if (work_[size_t(i)] > best_v) {
        best = i;
        best_v = work_[size_t(i)];
      }
    return int32_t(best);
  }
  double total = 0;
  const size_t keep = candidates(vocab, &total);
  if (keep == 0) return -1;
  const double u = uniform() * total;
  double run = 0;
  for (size_t i = 0; i < keep; ++i) {
    run += cand_[i].first;
    if (u < run) return cand_[i].second;
  }
  return cand_[keep - 1].second;
}

void Sampler::distribution(const float* logits, int64_t vocab, const std::vector<int32_t>& prompt,
                           const std::vector<int32_t>& output, int32_t banned, std::vector<float>& probs) {
  process(logits, vocab, prompt, output, banned);
  double total = 0;
  const size_t keep = candidates(vocab, &total);
  probs.assign(size_t(vocab), 0.0f);
  for (size_t i = 0; i < keep; ++i) probs[size_t(cand_[i].second)] = float(double(cand_[i].first) / total);
}

int32_t Sampler::draw(const std::vector<float>& probs) {
  double total = 0;
  for (float p : probs)
    if (p > 0.0f && p < INFINITY) total += p;  // NaN, infinite and non-positive entries are never drawn
  if (!(total > 0)) return -1;
  const double u = uniform() * total;
  double run = 0;
  int32_t last = -1;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (!(probs[i] > 0.0f && probs[i] < INFINITY)) continue;
    run += probs[i];
    last = int32_t(i);
    if (u < run) return last;
  }
  return last;
}

size_t Sampler::candidates(int64_t vocab, double* total_out) {
  cand_.clear();
  float mx = -INFINITY;
  for (int64_t i = 0; i < vocab; ++i) mx = std::max(mx, work_[size_t(i)]);
  for (int64_t i = 0; i < vocab; ++i) {
    const float w = std::exp((work_[size_t(i)] - mx) / p_.temperature);
    if (w > 0.0f) cand_.push_back({w, int32_t(i)});
  }
  std::sort(cand_.begin(), cand_.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  size_t keep = cand_.size();
  if (p_.top_k > 0) keep = std::min(keep, size_t(p_.top_k));
  if (p_.min_p > 0.0f && keep > 0) {  // drop tokens below min_p x the top probability
    const float floor = p_.min_p * cand_[0].first;
    while (keep > 1 && cand_[keep - 1].first < floor) --keep;
  }
  double total = 0;
  for (size_t i = 0; i < keep; ++i) total += cand_[i].first;
  if (p_.top_p < 1.0f) {
    double run = 0;
    for (size_t i = 0; i < keep; ++i) {
      run += cand_[i].first;
      if (run >= double(p_.top_p) * total) {
        keep = i + 1;
        break;
      }
    }
    total = 0;
    for (size_t i = 0; i < keep; ++i) total += cand_[i].first;
  }
  *total_out = total;
  return keep;
}

void Sampler::logprobs(const float* logits, int64_t vocab, int32_t token, int k, float* token_logprob,
                       std::vector<std::pair<int32_t, float>>* top) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < vocab; ++i) mx = std::max(mx, logits[i]);
  double z = 0;
  for (int64_t i = 0; i < vocab; ++i) z += std::exp(double(logits[i] - mx));
  const float lz = float(std::log(z)) + mx;
  *token_logprob = logits[token] - lz;
  top->clear();
  if (k <= 0) return;
  std::vector<int32_t> idx(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) idx[size_t(i)] = int32_t(i);
  const size_t kk = std::min<size_t>(size_t(k), idx.size());
  // NaN ranks below every number, so the order stays strict and weak on bad input.
  auto key = [&](int32_t i) { return std::isnan(logits[i]) ? -INFINITY : logits[i]; };
  std::partial_sort(idx.begin(), idx.begin() + int64_t(kk), idx.end(), [&](int32_t a, int32_t b) {
    const float ka = key(a), kb = key(b);
    return ka > kb || (ka == kb && a < b);
  });
  for (size_t i = 0; i < kk; ++i) top->push_back({idx[i], logits[idx[i]] - lz});
}

}  // namespace tachyon::runtime
