// The kernel tables (see kernel_table.h).
#include "backends/cpu/kernel_table.h"

namespace tachyon::cpu {
namespace {

// The references in the tables' shapes: a head or key range of the whole-call references.
void ref_attention_sink(const float* q, int64_t d, const float* const* keys, int64_t n_keys, const float* sink,
                        float scale, float* out, int64_t h_begin, int64_t h_end) {
  ref::attention_sink(q + h_begin * d, h_end - h_begin, d, keys, n_keys, sink + h_begin, scale, out + h_begin * d);
}
void ref_indexer_scores(const float* q, int64_t n_heads, int64_t d, const float* w, const float* const* keys,
                        float* out, int64_t j_begin, int64_t j_end) {
  ref::indexer_scores(q, n_heads, d, w, keys + j_begin, j_end - j_begin, out + j_begin);
}
void ref_indexer_scores_fp4(const float* q, int64_t n_heads, int64_t d, const float* w, const uint8_t* const* keys,
                            float* out, int64_t j_begin, int64_t j_end) {
  ref::indexer_scores_fp4(q, n_heads, d, w, keys + j_begin, j_end - j_begin, out + j_begin);
}

constexpr KernelTable kScalar{
    .isa = Isa::kScalar,
    .linear = ref::linear,
    .fp8_fake_quant = ref::fp8_fake_quant,
    .fp4_fake_quant = ref::fp4_fake_quant,
    .rmsnorm = ref::rmsnorm,
    .attention_sink = ref_attention_sink,
    .stream_sum = ref::stream_sum,
    .peak_fma = ref::peak_fma,
    .peak_instruction = ref::kPeakInstruction,
    .dot_f64 = ref::dot_f64,
    .dot_i8 = ref::dot_i8,
    .indexer_scores = ref_indexer_scores,
    .indexer_scores_fp4 = ref_indexer_scores_fp4,
    .decode_fp8 = ref::decode_fp8,
    .widen_bf16 = ref::widen_bf16,
    .add = ref::add,
    .scale = ref::scale,
    .mix_rows = ref::mix_rows,
    .quantize_i8 = ref::quantize_i8,
    .linear_i8_fp4 = ref::linear_i8_fp4,
    .linear_i8_i8 = ref::linear_i8_i8,
    .linear_i8_fp4g = ref::linear_i8_fp4g,
    .native = "all (the references)",
};

constexpr KernelTable kAvx2{
    .isa = Isa::kAvx2,
    .linear = fast::linear,
    .fp8_fake_quant = fast::fp8_fake_quant,
    .fp4_fake_quant = fast::fp4_fake_quant,
    .rmsnorm = fast::rmsnorm,
    .attention_sink = fast::attention_sink,
    .stream_sum = fast::stream_sum,
    .peak_fma = fast::peak_fma,
    .peak_instruction = fast::kPeakInstruction,
    .dot_f64 = fast::dot_f64,
    .dot_i8 = fast::dot_i8,
    .indexer_scores = fast::indexer_scores,
    .indexer_scores_fp4 = fast::indexer_scores_fp4,
    .decode_fp8 = fast::decode_fp8,
    .widen_bf16 = fast::widen_bf16,
    .add = fast::add,
    .scale = fast::scale,
    .mix_rows = fast::mix_rows,
    .quantize_i8 = ref::quantize_i8,
    .linear_i8_fp4 = ref::linear_i8_fp4,
    .linear_i8_i8 = ref::linear_i8_i8,
    .linear_i8_fp4g = ref::linear_i8_fp4g,
    .native = "all",
};

// The AVX-512 sets implement linear (every weight format, one token to prefill) and attention with their
// own kernels; the other ops run the AVX2 ones. The VNNI set adds the integer kernels of the fast
// numerics (linear_i8.h); its fp32 linear is the AVX-512 F/BW/VL one.
constexpr KernelTable with_avx512(KernelTable t, Isa isa, const char* native) {
  t.isa = isa;
  t.linear = avx512::linear;
  t.attention_sink = avx512::attention_sink;
  t.stream_sum = avx512::stream_sum;  // the probes (probe_kernels.h)
  t.peak_fma = avx512::peak_fma;
  t.peak_instruction = avx512::kPeakInstruction;
  t.native = native;
  return t;
}
constexpr KernelTable kAvx512 = with_avx512(kAvx2, Isa::kAvx512, "linear, attention (others: AVX2 kernels)");
constexpr KernelTable with_vnni(KernelTable t) {
  t.linear_i8_fp4 = avx512::linear_i8_fp4;
  t.linear_i8_i8 = avx512::linear_i8_i8;
  t.linear_i8_fp4g = avx512::linear_i8_fp4g;
  t.quantize_i8 = avx512::quantize_i8;
  t.native_i8 = true;
  return t;
}
constexpr KernelTable kAvx512Vnni = with_vnni(with_avx512(
    kAvx2, Isa::kAvx512Vnni, "linear and attention, as avx512; int8 quantisation, FP4 and int8-row linears with vpdpbusd (others: AVX2 kernels)"));

}  // namespace

const KernelTable& kernel_table(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return kScalar;
    case Isa::kAvx2: return kAvx2;
    case Isa::kAvx512: return kAvx512;
    case Isa::kAvx512Vnni: return kAvx512Vnni;
  }
  return kScalar;
}

}  // namespace tachyon::cpu
