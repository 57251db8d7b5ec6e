// Token sampling from a row of logits, in vLLM's order: logit_bias, the min_tokens EOS mask,
// repetition / frequency / presence penalties, then greedy (temperature 0) or temperature softmax with
// top-k, top-p and min-p. The random stream is the request's own seeded generator, so a seed
// reproduces a generation whatever else is in the batch.
#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace tachyon::runtime {

struct SamplingParams {
  float temperature = 0.0f;  // 0 = greedy
  float top_p = 1.0f;
  int top_k = 0;             // 0 = off
  float min_p = 0.0f;
  uint64_t seed = 0;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  float repetition_penalty = 1.0f;
  std::vector<std::pair<int32_t, float>> logit_bias;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) {}
  // Samples from `logits` [vocab]; `banned` (>= 0) is a token that must not be chosen (EOS before
  // min_tokens). prompt/output feed the penalties. NaN logits are never chosen; returns -1 when no token
  // can be (every logit NaN or -inf after processing). Callers check logits for NaN first (the engine
  // fails such requests); this only keeps bad input defined.
  int32_t sample(const float* logits, int64_t vocab, const std::vector<int32_t>& prompt = {},
                 const std::vector<int32_t>& output = {}, int32_t banned = -1);
  // Speculative decoding. distribution() writes to probs [vocab] the distribution sample() draws from
  // (after bias, mask, penalties, temperature, top-k, min-p, top-p); it requires temperature > 0. All
  // zero when nothing can be drawn.
  void distribution(const float* logits, int64_t vocab, const std::vector<int32_t>& prompt,
                    const std::vector<int32_t>& output, int32_t banned, std::vector<float>& probs);
  // Draws a token from probs [vocab] (need not be normalised) among its positive finite entries; -1 when
  // there is none.
  int32_t draw(const std::vector<float>& probs);
  // True with probability p (p >= 1: always), from the request's random stream.
  bool accept(double p) { return uniform() < p; }
  bool greedy() const { return p_.temperature <= 0.0f; }
  // Greedy with nothing that changes logits first (no bias or penalties): the token is the raw argmax.
  bool plain_greedy() const {
    return greedy() && p_.logit_bias.empty() && p_.presence_penalty == 0.0f && p_.frequency_penalty == 0.0f &&
           p_.repetition_penalty == 1.0f;
  }

  // Log-probability of `token` under the model's distribution (raw logits), and the k most likely.
  static void logprobs(const float* logits, int64_t vocab, int32_t token, int k, float* token_logprob,
                       std::vector<std::pair<int32_t, float>>* top);

 private:
  double uniform();  // in [0, 1), from the raw 64-bit stream (portable, unlike std::uniform_*_distribution)
  // Applies bias, mask and penalties to work_, then (temperature > 0) fills cand_ with the kept
  // candidates, most likely first; returns how many are kept and their total weight.
  void process(const float* logits, int64_t vocab, const std::vector<int32_t>& prompt,
               const std::vector<int32_t>& output, int32_t banned);
  size_t candidates(int64_t vocab, double* total);
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<float> work_;
  std::vector<std::pair<float, int32_t>> cand_;
};

}  // namespace tachyon::runtime
