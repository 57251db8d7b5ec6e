#include "tools/accuracy.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "model/deepseek_v4/scoring.h"

namespace tachyon::runtime {

namespace {

// log-sum-exp of a row, in double.
double log_sum_exp(const float* x, int64_t n, double max) {
  double s = 0;
  for (int64_t j = 0; j < n; ++j) s += std::exp(double(x[j]) - max);
  return max + std::log(s);
}

int64_t argmax(const float* x, int64_t n) { return int64_t(std::max_element(x, x + n) - x); }

}  // namespace

void DeviationSum::add(const float* ref, const float* got, int64_t rows, int64_t vocab) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* a = ref + r * vocab;  // [vocab] exact
    const float* b = got + r * vocab;  // [vocab] mode
    const int64_t ia = argmax(a, vocab), ib = argmax(b, vocab);
    const double la = log_sum_exp(a, vocab, a[ia]), lb = log_sum_exp(b, vocab, b[ib]);
    double kl = 0;
    for (int64_t j = 0; j < vocab; ++j) {
      const double d = double(b[j]) - double(a[j]);
      diff2_ += d * d;
      ref2_ += double(a[j]) * double(a[j]);
      const double lpa = double(a[j]) - la, lpb = double(b[j]) - lb;  // log-probabilities
      kl += std::exp(lpa) * (lpa - lpb);
    }
    kl_ += std::max(kl, 0.0);  // rounding can leave a tiny negative for identical rows
    agree_ += ia == ib;
    ++rows_;
  }
}

LogitDeviation DeviationSum::result() const {
  LogitDeviation d;
  d.rows = rows_;
  if (rows_ == 0) return d;
  d.rel_l2 = ref2_ > 0 ? std::sqrt(diff2_ / ref2_) : std::sqrt(diff2_);
  d.mean_kl = kl_ / double(rows_);
  d.top1 = double(agree_) / double(rows_);
  return d;
}

bool AccuracyReport::within_official(const ModeAccuracy& m) const {
  const ModeAccuracy* off = nullptr;
  for (const ModeAccuracy& x : modes)
    if (x.mode == "official") off = &x;
  if (!off || &m == off) return true;
  auto le = [](const LogitDeviation& a, const LogitDeviation& b) {
    return a.rows == 0 || (a.rel_l2 <= b.rel_l2 && a.mean_kl <= b.mean_kl && a.top1 >= b.top1);
  };
  return le(m.logits, off->logits) && le(m.mtp, off->mtp);
}

Status check_modes(const std::vector<std::string>& modes) {
  for (const std::string& m : modes) {
    dsv4::Numerics n;
    if (m == "exact" || !dsv4::Numerics::parse(m, &n))
      return error("accuracy: unknown numeric mode '{}' (compared with exact: official or a faster mode)", m);
  }
  return Status::ok();
}

Result<AccuracyReport> measure_accuracy(dsv4::Model& model, const dsv4::ModelContext& base,
                                        const std::vector<std::vector<int32_t>>& sequences,
                                        const std::vector<std::string>& modes_in) {
  const ModelConfig& cfg = model.config();
  const int64_t V = cfg.vocab_size;
  if (sequences.empty()) return error("accuracy: no sequences to score");
  std::vector<std::string> modes = modes_in;
  if (std::find(modes.begin(), modes.end(), "official") == modes.end()) modes.insert(modes.begin(), "official");
  if (Status st = check_modes(modes); !st.is_ok()) return st;
  std::vector<dsv4::Numerics> numerics(modes.size());
  for (size_t i = 0; i < modes.size(); ++i) dsv4::Numerics::parse(modes[i], &numerics[i]);
  AccuracyReport rep;
  rep.sequences = int64_t(sequences.size());
  for (const auto& s : sequences) {
    if (s.size() < 2) return error("accuracy: every sequence needs at least 2 tokens");
    if (int64_t(s.size()) > cfg.max_position_embeddings)
      return error("accuracy: a sequence of {} tokens exceeds max_position_embeddings {}", s.size(),
                   cfg.max_position_embeddings);
    for (int32_t t : s)
      if (t < 0 || t >= V) return error("accuracy: token id {} is outside the vocabulary (0..{})", t, V - 1);
    rep.tokens += int64_t(s.size());
  }
  dsv4::ScoringPlan plan;
  plan.mtp = cfg.has_mtp();
  std::vector<DeviationSum> sums(modes.size()), mtp_sums(modes.size());
  rep.modes.resize(modes.size());
  for (size_t i = 0; i < modes.size(); ++i) rep.modes[i].mode = modes[i];
  for (const auto& s : sequences) {
    dsv4::ModelContext ctx = base;
    ctx.numerics = dsv4::Numerics::exact();
    const dsv4::ScoringResult ref = dsv4::score_tokens(model, ctx, s, plan);  // [n, V], [n - 1, V]
    const int64_t n = int64_t(s.size());
    for (size_t i = 0; i < modes.size(); ++i) {
      ctx.numerics = numerics[i];
      const dsv4::ScoringResult got = dsv4::score_tokens(model, ctx, s, plan);
      sums[i].add(ref.logits.data(), got.logits.data(), n, V);
      DeviationSum one;
      one.add(ref.logits.data(), got.logits.data(), n, V);
      rep.modes[i].per_sequence.push_back(one.result());
      if (plan.mtp) mtp_sums[i].add(ref.mtp_logits.data(), got.mtp_logits.data(), n - 1, V);
    }
  }
  for (size_t i = 0; i < modes.size(); ++i) {
    rep.modes[i].logits = sums[i].result();
    rep.modes[i].mtp = mtp_sums[i].result();
  }
  return rep;
}

std::vector<std::vector<int32_t>> greedy_sequences(dsv4::Model& model, const dsv4::ModelContext& base, int count,
                                                   int64_t length, uint64_t seed) {
  const ModelConfig& cfg = model.config();
  const int64_t V = cfg.vocab_size;
  const int64_t start = std::min<int64_t>(4, length);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> pick(0, int32_t(V - 1));
  dsv4::ModelContext ctx = base;
  ctx.numerics = dsv4::Numerics::exact();
  std::vector<std::vector<int32_t>> out;
  for (int c = 0; c < count; ++c) {
    std::vector<int32_t> s;
    s.reserve(size_t(std::max(length, start)));  // `next` points into s
    for (int64_t i = 0; i < start; ++i) s.push_back(pick(rng));
    dsv4::SequenceState st = model.pools().new_sequence();
    dsv4::ForwardOutput fo;
    std::span<const int32_t> next(s.data(), s.size());
    while (true) {
      dsv4::SeqInput in{&st, next, false};
      model.forward(ctx, std::span<const dsv4::SeqInput>(&in, 1), fo);  // logits [1, V]
      if (int64_t(s.size()) >= length) break;
      s.push_back(int32_t(argmax(fo.logits.data(), V)));
      next = std::span<const int32_t>(&s.back(), 1);
    }
    model.pools().release(st);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace tachyon::runtime
