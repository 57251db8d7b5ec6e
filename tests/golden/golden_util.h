// Helpers for comparing the engine with the official reference's golden outputs.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "backends/cpu/isa.h"
#include "io/safetensors.h"
#include "model/deepseek_v4/model.h"
#include "model/deepseek_v4/scoring.h"

namespace tachyon::dsv4::golden {

// The kernel set the golden tests run: TACHYON_ISA if set (so that every set can be checked against the
// reference: TACHYON_ISA=avx2 golden_tests), else the best this CPU has. Named once on stdout. The scalar
// set matches every traced tensor of the main model to 6e-6, but on seq0 its MTP input lands on the other
// side of one FP8 rounding boundary (the kind of flip the golden README describes for accumulation-order
// changes), so the seq0 MTP checks at 1e-3 are meant for the vectorised sets.
inline cpu::Isa golden_isa() {
  static const cpu::Isa isa = [] {
    auto r = cpu::choose_isa("auto", cpu::detect_cpu_features());
    if (!r.is_ok()) throw std::runtime_error(r.status().message());
    std::printf("[ golden   ] CPU kernels: %s\n", cpu::isa_name(r.value()));
    return r.value();
  }();
  return isa;
}

// A model context on `pool` in exact or official numerics.
inline ModelContext make_ctx(const ThreadPool& pool, bool exact) {
  ModelContext c;
  c.ops = ops::OpContext::make(pool, golden_isa());
  c.numerics = exact ? Numerics::exact() : Numerics::official();
  return c;
}

inline const std::string kModelDir = std::string(TACHYON_TEST_DATA) + "/golden/tiny-flash/model";
inline const std::string kGoldenFile = std::string(TACHYON_TEST_DATA) + "/golden/tiny-flash/golden.safetensors";

struct Metrics {
  double max_abs = 0, rel_l2 = 0, top1 = 0;
};

// Compares row-major [rows, cols] blocks: max |a-b|, ||a-b|| / ||b||, fraction of rows with equal argmax.
inline Metrics compare(const float* got, const float* want, int64_t rows, int64_t cols) {
  Metrics m;
  double num = 0, den = 0;
  int64_t agree = 0;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t ag = 0, aw = 0;
    for (int64_t c = 0; c < cols; ++c) {
      const double g = got[r * cols + c], w = want[r * cols + c];
      m.max_abs = std::max(m.max_abs, std::fabs(g - w));
      num += (g - w) * (g - w);
      den += w * w;
      if (got[r * cols + c] > got[r * cols + ag]) ag = c;
      if (want[r * cols + c] > want[r * cols + aw]) aw = c;
    }
    agree += ag == aw;
  }
  m.rel_l2 = std::sqrt(num / std::max(den, 1e-30));
  m.top1 = rows ? double(agree) / double(rows) : 1.0;
  return m;
}

class Golden {
 public:
  Golden() {
    auto s = TensorStore::open(kGoldenFile);
    EXPECT_TRUE(s.is_ok()) << s.status().message();
    store_ = std::move(s).value();
  }
  const TensorInfo& get(const std::string& name) const {
    const TensorInfo* t = store_.find(name);
    if (!t) throw std::runtime_error("golden tensor missing: " + name);
    return *t;
  }
  bool has(const std::string& name) const { return store_.find(name) != nullptr; }
  std::vector<float> floats(const std::string& name) const {
    const TensorInfo& t = get(name);
    std::vector<float> v(size_t(t.numel()));
    std::memcpy(v.data(), t.data, t.nbytes);
    return v;
  }
  std::vector<int64_t> ints(const std::string& name) const {
    const TensorInfo& t = get(name);
    std::vector<int64_t> v(size_t(t.numel()));
    std::memcpy(v.data(), t.data, t.nbytes);
    return v;
  }
  std::vector<int32_t> tokens(int seq) const {
    std::vector<int32_t> out;
    for (int64_t v : ints("seq" + std::to_string(seq) + ".tokens")) out.push_back(int32_t(v));
    return out;
  }

 private:
  TensorStore store_;
};

// Feeds sequences by a mixed schedule, all rows of logits requested: per step, how many new tokens each
// sequence brings (0, or none left: not in that step's batch). `seen(s, first, logits, n)` gets sequence
// s's rows [first, first + n) ([n, V]) from each forward call. Returns the tokens fed per sequence.
inline std::vector<int64_t> run_schedule(
    Model& model, const ModelContext& ctx, std::vector<SequenceState>& st,
    const std::vector<std::vector<int32_t>>& toks, const std::vector<std::vector<int64_t>>& steps,
    const std::function<void(int s, int64_t first, const float* logits, int64_t n)>& seen) {
  const int64_t V = model.config().vocab_size;
  std::vector<int64_t> done(toks.size(), 0);
  for (const auto& step : steps) {
    std::vector<SeqInput> batch;
    std::vector<int> who;
    for (size_t s = 0; s < toks.size(); ++s) {
      const int64_t n = std::min<int64_t>(step[s], int64_t(toks[s].size()) - done[s]);
      if (n <= 0) continue;
      batch.push_back({&st[s], std::span<const int32_t>(toks[s].data() + done[s], size_t(n)), true});
      who.push_back(int(s));
    }
    if (batch.empty()) continue;
    ForwardOutput out;
    model.forward(ctx, batch, out);
    int64_t row = 0;
    for (size_t b = 0; b < batch.size(); ++b) {
      const int s = who[b];
      const int64_t n = int64_t(batch[b].tokens.size());
      seen(s, done[size_t(s)], out.logits.data() + row * V, n);
      row += n;
      done[size_t(s)] += n;
    }
  }
  return done;
}

}  // namespace tachyon::dsv4::golden
