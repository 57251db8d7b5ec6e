// Scalar references of the int8-activation kernels (linear_i8.h).
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/linear_i8.h"
#include "core/dtype.h"

namespace tachyon::cpu::ref {

void quantize_i8(const float* x, int64_t m, int64_t k, int8_t* q, float* s) {
  const int64_t kp = i8_padded(k), nb = kp / kI8Block;
  for (int64_t i = 0; i < m; ++i) {
    const float* xi = x + i * k;
    int8_t* qi = q + i * kp;
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t j0 = b * kI8Block, j1 = std::min(k, j0 + kI8Block);
      float amax = 0.0f;
      bool finite = true;
      for (int64_t j = j0; j < j1; ++j) {
        finite = finite && std::isfinite(xi[j]);
        amax = std::max(amax, std::fabs(xi[j]));
      }
      float* sb = s + i * nb + b;
      if (!finite) {
        *sb = std::numeric_limits<float>::quiet_NaN();
        std::fill(qi + j0, qi + j0 + kI8Block, int8_t(0));
        continue;
      }
      *sb = amax / 127.0f;
      const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
      for (int64_t j = j0; j < j0 + kI8Block; ++j) {
        const float v = j < j1 ? std::nearbyint(xi[j] * inv) : 0.0f;  // current rounding: to nearest even
        qi[j] = int8_t(std::clamp(v, -127.0f, 127.0f));
      }
    }
  }
}

void pack_i8(const int8_t* q, const float* s, int64_t m, int64_t k, PackedI8* out) {
  const int64_t kp = i8_padded(k), nb = kp / kI8Block, chunks = (k + 127) / 128;
  out->m = m;
  out->k = k;
  out->chunks = chunks;
  out->lo.assign(size_t(m * chunks * 64), 0);
  out->hi.assign(size_t(m * chunks * 64), 0);
  out->corr.assign(size_t(m * chunks * 16), 0);
  out->scale.assign(size_t(m * chunks * 16), 0.0f);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t o = (i * chunks + c) * 64, ol = (i * chunks + c) * 16;
      for (int64_t p = 0; p < 64; ++p) {
        const int64_t j = c * 128 + 2 * p;
        if (j >= kp) break;
        out->lo[size_t(o + p)] = q[i * kp + j];
        out->hi[size_t(o + p)] = q[i * kp + j + 1];
        out->corr[size_t(ol + p / 4)] -= 12 * (int32_t(q[i * kp + j]) + int32_t(q[i * kp + j + 1]));
      }
      for (int64_t l = 0; l < 16; ++l) {
        const int64_t b = 4 * c + l / 4;
        out->scale[size_t(ol + l)] = b < nb ? s[i * nb + b] : 0.0f;
      }
    }
}

void linear_i8_fp4(const PackedI8& x, const WeightView& w, float* y, int64_t n_begin, int64_t n_end) {
  const int64_t k = w.k, nb = k / kI8Block;
  const auto* codes = static_cast<const uint8_t*>(w.data);
  for (int64_t n = n_begin; n < n_end; ++n) {
    const uint8_t* row = codes + (w.row0 + n) * (k / 2);
    const uint8_t* sc = w.scale + (w.row0 + n) * nb;
    for (int64_t i = 0; i < x.m; ++i) {
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const int64_t c = b / 4, base = (i * x.chunks + c) * 64 + (b % 4) * 16;  // 16 bytes per block
        int32_t dot = 0;
        for (int64_t p = 0; p < 16; ++p) {
          const uint8_t byte = row[b * 16 + p];
          dot += int32_t(x.lo[size_t(base + p)]) * int32_t(2.0f * e2m1_to_f32(uint8_t(byte & 15)));
          dot += int32_t(x.hi[size_t(base + p)]) * int32_t(2.0f * e2m1_to_f32(uint8_t(byte >> 4)));
        }
        const float s = x.scale[size_t((i * x.chunks + c) * 16 + (b % 4) * 4)];
        acc += float(dot) * (s * (0.5f * e8m0_to_f32(sc[b])));
      }
      y[i * w.n + n] = acc;
    }
  }
}

void pack_i8_rows(const int8_t* q, const float* s, int64_t m, int64_t k, PackedI8Rows* out) {
  const int64_t kp = i8_padded(k), nb = kp / kI8Block, groups = (kp + kI8Group - 1) / kI8Group;
  out->m = m;
  out->k = k;
  out->kp = kp;
  out->groups = groups;
  out->q.assign(size_t(m * kp), 0);
  out->corr.assign(size_t(m * groups * 16), 0);
  out->scale.assign(size_t(m * groups * 16), 0.0f);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < kp; ++j) {
      out->q[size_t(i * kp + i8_row_offset(j, kp))] = q[i * kp + j];
      out->corr[size_t(i * groups * 16 + j / kI8Block)] -= 128 * int32_t(q[i * kp + j]);
    }
    for (int64_t b = 0; b < nb; ++b) out->scale[size_t(i * groups * 16 + b)] = s[i * nb + b];
  }
}

void linear_i8_i8(const PackedI8Rows& x, const WeightView& w, float* y, int64_t n_begin, int64_t n_end) {
  const int64_t kp = i8_padded(w.k), nb = kp / kI8Block;
  const auto* codes = static_cast<const uint8_t*>(w.data);
  for (int64_t n = n_begin; n < n_end; ++n) {
    const uint8_t* row = codes + (w.row0 + n) * kp;
    const uint8_t* sc = w.scale + (w.row0 + n) * nb;
    for (int64_t i = 0; i < x.m; ++i) {
      const int8_t* xq = x.q.data() + i * kp;
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        int32_t dot = 0;
        for (int64_t j = b * kI8Block; j < (b + 1) * kI8Block; ++j) {
          const int64_t o = i8_row_offset(j, kp);
          dot += int32_t(xq[o]) * (int32_t(row[o]) - 128);
        }
        const float s = x.scale[size_t(i * x.groups * 16 + b)];
        acc += float(dot) * (s * e8m0_to_f32(sc[b]));
      }
      y[i * w.n + n] = acc;
    }
  }
}

void pack_weight_i8(const WeightView& w, int64_t r0, int64_t r1, uint8_t* codes, uint8_t* scales) {
  const int64_t kp = i8_padded(w.k), nb = kp / kI8Block, kb = (w.k + w.block - 1) / w.block;
  const float* e4m3 = e4m3_table();
  float v[kI8Block];
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t b = 0; b < nb; ++b) {
      float amax = 0.0f;
      bool finite = true;
      for (int64_t t = 0; t < kI8Block; ++t) {  // W[r, j] as floats (FP8: code times its tile's scale, exact)
        const int64_t j = b * kI8Block + t;
        if (j >= w.k) v[t] = 0.0f;
        else if (w.fmt == WFormat::kBF16) v[t] = bf16_to_f32(static_cast<const uint16_t*>(w.data)[r * w.k + j]);
        else v[t] = e4m3[static_cast<const uint8_t*>(w.data)[r * w.k + j]] * e8m0_to_f32(w.scale[(r / w.block) * kb + j / w.block]);
        finite = finite && std::isfinite(v[t]);
        amax = std::max(amax, std::fabs(v[t]));
      }
      uint8_t& code = scales[r * nb + b];
      int e = 0;
      if (finite && amax > 0.0f) {
        int x = 0;
        std::frexp(amax, &x);  // amax in [2^(x-1), 2^x)
        e = x - 7;             // 127 * 2^(x - 8) < amax, so e >= x - 7
        if (amax > std::ldexp(127.0f, e)) ++e;
        e = std::clamp(e, -127, 127);
      }
      code = !finite ? 255 : amax == 0.0f ? 0 : uint8_t(e + 127);
      const float inv = std::ldexp(1.0f, -e);  // exact: a power of two in [2^-127, 2^127]
      for (int64_t t = 0; t < kI8Block; ++t) {
        const float qv = code == 255 || code == 0 ? 0.0f : std::clamp(std::nearbyint(v[t] * inv), -127.0f, 127.0f);
        codes[r * kp + i8_row_offset(b * kI8Block + t, kp)] = uint8_t(int(qv) + 128);
      }
    }
}

namespace {
// Nibble of column j of a kFP4G row.
uint8_t fp4g_nibble(const uint8_t* row, int64_t j, int64_t k) {
  const uint8_t b = row[fp4g_byte(j, k)];
  return fp4g_high(j) ? uint8_t(b >> 4) : uint8_t(b & 15);
}
}  // namespace

void linear_i8_fp4g(const PackedI8Rows& x, const WeightView& w, float* y, int64_t n_begin, int64_t n_end) {
  const int64_t k = w.k, nb = k / kI8Block;
  const auto* codes = static_cast<const uint8_t*>(w.data);
  for (int64_t n = n_begin; n < n_end; ++n) {
    const uint8_t* row = codes + (w.row0 + n) * (k / 2);
    const uint8_t* sc = w.scale + (w.row0 + n) * nb;
    for (int64_t i = 0; i < x.m; ++i) {
      const int8_t* xq = x.q.data() + i * x.kp;
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        int32_t dot = 0;
        for (int64_t j = b * kI8Block; j < (b + 1) * kI8Block; ++j)
          dot += int32_t(xq[i8_row_offset(j, x.kp)]) * int32_t(2.0f * e2m1_to_f32(fp4g_nibble(row, j, k)));
        const float s = x.scale[size_t(i * x.groups * 16 + b)];
        acc += float(dot) * (s * (0.5f * e8m0_to_f32(sc[b])));
      }
      y[i * w.n + n] = acc;
    }
  }
}

void pack_weight_fp4g(const WeightView& w, int64_t r0, int64_t r1, uint8_t* codes) {
  const int64_t k = w.k;
  const auto* src = static_cast<const uint8_t*>(w.data);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* in = src + r * (k / 2);
    uint8_t* out = codes + r * (k / 2);
    for (int64_t j = 0; j < k; ++j) {
      const uint8_t nib = (j & 1) ? uint8_t(in[j / 2] >> 4) : uint8_t(in[j / 2] & 15);
      uint8_t& o = out[fp4g_byte(j, k)];
      o = fp4g_high(j) ? uint8_t((o & 0x0f) | (nib << 4)) : uint8_t((o & 0xf0) | nib);
    }
  }
}

}  // namespace tachyon::cpu::ref
