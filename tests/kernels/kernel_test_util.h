// Shared helpers for the kernel tests: seeded random data, random quantised weight matrices, and
// independent (double precision, written from the format definitions) decoders used as oracles.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/isa.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/linear_i8.h"

namespace tachyon::cpu::testing {

// ---- the kernel sets under test ------------------------------------------------------------------------
// Every set above the scalar references, in order; tests of vectorised kernels run each one the CPU has.
inline constexpr Isa kFastIsas[] = {Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni};

// The fast sets this CPU runs. Each test records the ones it lacks as the test property "skipped_isas"
// ("none" when it runs them all) and names them in a line on stdout, so that a run on an older CPU says
// what it did not check.
inline std::vector<Isa> fast_isas() {
  const CpuFeatures f = detect_cpu_features();
  std::vector<Isa> out;
  std::string skipped;
  for (Isa isa : kFastIsas) {
    if (isa_supported(isa, f)) out.push_back(isa);
    else skipped += std::string(skipped.empty() ? "" : ", ") + isa_name(isa);
  }
  ::testing::Test::RecordProperty("skipped_isas", skipped.empty() ? "none" : skipped);
  if (!skipped.empty()) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::printf("[  SKIPPED ISA ] %s.%s: this CPU cannot run %s\n", info ? info->test_suite_name() : "?",
                info ? info->name() : "?", skipped.c_str());
  }
  return out;
}

inline std::vector<const KernelTable*> fast_tables() {
  std::vector<const KernelTable*> out;
  for (Isa isa : fast_isas()) out.push_back(&kernel_table(isa));
  return out;
}

// Declares `var`, the tables of the fast sets this CPU runs, and skips the test when there are none:
//   REQUIRE_FAST_TABLES(tables);
//   for (const KernelTable* k : tables) { SCOPED_TRACE(isa_name(k->isa)); ... k->linear(...) ... }
#define REQUIRE_FAST_TABLES(var)                                                                  \
  const std::vector<const ::tachyon::cpu::KernelTable*> var = ::tachyon::cpu::testing::fast_tables(); \
  if (var.empty()) GTEST_SKIP() << "this CPU runs no vectorised kernel set (AVX2/FMA/F16C at least)"

using Rng = std::mt19937_64;

inline std::vector<float> randn(Rng& rng, size_t n, float sd = 1.0f) {
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline int64_t uniform_int(Rng& rng, int64_t lo, int64_t hi) {  // inclusive
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

// ---- independent decoders (double) -----------------------------------------------------------------
inline double e4m3_value(uint8_t c) {
  const int e = (c >> 3) & 15, mant = c & 7;
  if (e == 15 && mant == 7) return std::numeric_limits<double>::quiet_NaN();
  const double mag = e == 0 ? mant / 8.0 * std::ldexp(1.0, -6) : (1.0 + mant / 8.0) * std::ldexp(1.0, e - 7);
  return (c & 0x80) ? -mag : mag;
}
inline double e2m1_value(uint8_t nib) {
  static constexpr double grid[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
  return (nib & 8) ? -grid[nib & 7] : grid[nib & 7];
}
inline double e8m0_value(uint8_t b) { return std::ldexp(1.0, int(b) - 127); }
inline double bf16_value(uint16_t b) { return double(std::bit_cast<float>(uint32_t(b) << 16)); }

// A full weight matrix [rows, k] in one format, with its scales, plus the dense double dequantisation.
struct TestWeight {
  WFormat fmt;
  int64_t rows, k;
  int block;
  std::vector<uint8_t> bytes;  // raw storage (f32 / bf16 / e4m3 / packed e2m1)
  std::vector<uint8_t> scale;
  std::vector<double> deq;     // [rows, k]

  WeightView view(int64_t row0, int64_t n) const {
    WeightView v;
    v.fmt = fmt;
    v.n = n;
    v.k = k;
    v.data = bytes.data();
    v.scale = scale.empty() ? nullptr : scale.data();
    v.row0 = row0;
    v.block = block;
    return v;
  }
};

// Random weights. FP8 codes avoid the NaN codes; scale codes are drawn from [sc_lo, sc_hi] (by default
// 2^-8..2^4).
inline TestWeight make_weight(Rng& rng, WFormat fmt, int64_t rows, int64_t k, int block = 128, int sc_lo = 119,
                              int sc_hi = 131) {
  TestWeight w{fmt, rows, k, block, {}, {}, std::vector<double>(size_t(rows * k))};
  std::uniform_int_distribution<int> byte(0, 255), sc(sc_lo, sc_hi);
  switch (fmt) {
    case WFormat::kF32: {
      auto v = randn(rng, size_t(rows * k), 0.5f);
      w.bytes.resize(v.size() * 4);
      std::memcpy(w.bytes.data(), v.data(), w.bytes.size());
      for (size_t i = 0; i < v.size(); ++i) w.deq[i] = v[i];
      break;
    }
    case WFormat::kBF16: {
      w.bytes.resize(size_t(rows * k) * 2);
      for (int64_t i = 0; i < rows * k; ++i) {
        uint16_t h = uint16_t(byte(rng) | (byte(rng) << 8));
        if (((h >> 7) & 0xff) > 0x85 || ((h >> 7) & 0xff) < 0x70) h = uint16_t((h & 0x807f) | (0x7a << 7));
        std::memcpy(&w.bytes[size_t(i) * 2], &h, 2);
        w.deq[size_t(i)] = bf16_value(h);
      }
      break;
    }
    case WFormat::kFP8: {
      const int64_t sr = (rows + block - 1) / block, sk = (k + block - 1) / block;
      w.bytes.resize(size_t(rows * k));
      w.scale.resize(size_t(sr * sk));
      for (auto& s : w.scale) s = uint8_t(sc(rng));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < k; ++j) {
          uint8_t c;
          do c = uint8_t(byte(rng)); while ((c & 0x7f) == 0x7f);
          w.bytes[size_t(r * k + j)] = c;
          w.deq[size_t(r * k + j)] = e4m3_value(c) * e8m0_value(w.scale[size_t((r / block) * sk + j / block)]);
        }
      break;
    }
    case WFormat::kFP4: {
      w.bytes.resize(size_t(rows * k / 2));
      w.scale.resize(size_t(rows * (k / 32)));
      for (auto& b : w.bytes) b = uint8_t(byte(rng));
      for (auto& s : w.scale) s = uint8_t(sc(rng));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < k; ++j) {
          const uint8_t b = w.bytes[size_t(r * (k / 2) + j / 2)];
          const uint8_t nib = (j & 1) ? uint8_t(b >> 4) : uint8_t(b & 15);
          w.deq[size_t(r * k + j)] = e2m1_value(nib) * e8m0_value(w.scale[size_t(r * (k / 32) + j / 32)]);
        }
      break;
    }
    case WFormat::kFP4G: {  // random FP4 values in the grouped byte order
      w.bytes.resize(size_t(rows * k / 2));
      w.scale.resize(size_t(rows * (k / 32)));
      for (auto& b : w.bytes) b = uint8_t(byte(rng));
      for (auto& s : w.scale) s = uint8_t(sc(rng));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < k; ++j) {
          const uint8_t b = w.bytes[size_t(r * (k / 2) + fp4g_byte(j, k))];
          const uint8_t nib = fp4g_high(j) ? uint8_t(b >> 4) : uint8_t(b & 15);
          w.deq[size_t(r * k + j)] = e2m1_value(nib) * e8m0_value(w.scale[size_t(r * (k / 32) + j / 32)]);
        }
      break;
    }
    case WFormat::kI8: {  // q + 128 in [1, 255], rows padded to 32 columns with q = 0
      const int64_t kp = (k + 31) / 32 * 32;
      w.bytes.assign(size_t(rows * kp), 128);
      w.scale.resize(size_t(rows * (kp / 32)));
      for (auto& s : w.scale) s = uint8_t(sc(rng));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < k; ++j) {
          const uint8_t b = uint8_t(std::uniform_int_distribution<int>(1, 255)(rng));
          w.bytes[size_t(r * kp + i8_row_offset(j, kp))] = b;
          w.deq[size_t(r * k + j)] = double(int(b) - 128) * e8m0_value(w.scale[size_t(r * (kp / 32) + j / 32)]);
        }
      break;
    }
  }
  return w;
}

// w with its FP8/FP4 dequantisation recomputed from its bytes and scales (after a test changed them).
inline TestWeight reweigh(TestWeight w) {
  const int64_t k = w.k;
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t j = 0; j < k; ++j) {
      double& d = w.deq[size_t(r * k + j)];
      if (w.fmt == WFormat::kFP8) {
        const int64_t sk = (k + w.block - 1) / w.block;
        d = e4m3_value(w.bytes[size_t(r * k + j)]) * e8m0_value(w.scale[size_t((r / w.block) * sk + j / w.block)]);
      } else if (w.fmt == WFormat::kFP4) {
        const uint8_t b = w.bytes[size_t(r * (k / 2) + j / 2)];
        const uint8_t nib = (j & 1) ? uint8_t(b >> 4) : uint8_t(b & 15);
        d = e2m1_value(nib) * e8m0_value(w.scale[size_t(r * (k / 32) + j / 32)]);
      }
    }
  return w;
}

// y_naive[i, n] = sum_j x[i, j] * deq[row0 + n, j] in double, plus sum |x w| for tolerances.
struct NaiveLinear {
  std::vector<double> y, abs_sum;
};
inline NaiveLinear naive_linear(const std::vector<float>& x, int64_t m, const TestWeight& w, int64_t row0,
                                int64_t n) {
  NaiveLinear r{std::vector<double>(size_t(m * n)), std::vector<double>(size_t(m * n))};
  for (int64_t i = 0; i < m; ++i)
    for (int64_t o = 0; o < n; ++o) {
      double s = 0, a = 0;
      for (int64_t j = 0; j < w.k; ++j) {
        const double p = double(x[size_t(i * w.k + j)]) * w.deq[size_t((row0 + o) * w.k + j)];
        s += p;
        a += std::fabs(p);
      }
      r.y[size_t(i * n + o)] = s;
      r.abs_sum[size_t(i * n + o)] = a;
    }
  return r;
}

inline const char* fmt_name(WFormat f) {
  switch (f) {
    case WFormat::kF32: return "f32";
    case WFormat::kBF16: return "bf16";
    case WFormat::kFP8: return "fp8";
    case WFormat::kFP4: return "fp4";
    case WFormat::kI8: return "i8";
    case WFormat::kFP4G: return "fp4g";
  }
  return "?";
}

inline bool same_bits(float a, float b) { return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b); }

}  // namespace tachyon::cpu::testing
