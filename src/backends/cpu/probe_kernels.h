// The probe kernels of each instruction set that kernels.h does not declare (probe.h runs them through
// the kernel tables): the AVX-512 streaming read, and the peak-rate loops of the multiply-add
// instruction each set's GEMM uses.
//
// peak_fma(rounds, sink): `rounds` rounds of independent multiply-adds on accumulators held in registers
// (no memory operands in the loop, enough accumulators to cover the instruction's latency on every FMA
// pipe), returning the FLOPs done (2 per lane per multiply-add); *sink receives a sum of the
// accumulators, so the work cannot be dropped. The accumulators stay finite and normal for any
// rounds < 2^40.
#pragma once

#include <cstdint>

namespace tachyon::cpu {

namespace ref {
// Twelve scalar chains of a = a * b + c (mulss + addss; the loop is kept scalar).
int64_t peak_fma(int64_t rounds, float* sink);
inline constexpr const char* kPeakInstruction = "mulss+addss (scalar fp32)";
}  // namespace ref

namespace fast {
// Twelve ymm accumulators, a += x * y (vfmadd231ps ymm), the instruction of fast::linear's GEMM tiles.
int64_t peak_fma(int64_t rounds, float* sink);
inline constexpr const char* kPeakInstruction = "vfmadd231ps ymm (fp32 FMA, 8 lanes)";
}  // namespace fast

namespace avx512 {
// Eight independent 512-bit accumulators over 512 bytes a step; wrapping 64-bit adds, so the result
// equals ref::stream_sum for any n and alignment.
uint64_t stream_sum(const uint64_t* p, int64_t n);
// Sixteen zmm accumulators, a += x * y (vfmadd231ps zmm), the instruction of avx512::linear's tiles and
// panels in both AVX-512 tables (no kernel uses vdpbf16ps; vpdpbusd has its own probe below).
int64_t peak_fma(int64_t rounds, float* sink);
inline constexpr const char* kPeakInstruction = "vfmadd231ps zmm (fp32 FMA, 16 lanes)";
// Sixteen zmm accumulators of vpdpbusd (AVX-512 VNNI: 64 int8 multiply-adds each, counted as 128
// operations), the instruction of avx512::linear_i8_fp4, the FP4 linear of the fast numerics. Every
// byte product is 1 x 1, so each dword lane gains 4 a round (wrapping); *sink is the sum of all lanes.
// Needs AVX-512 VNNI (the table's native_i8).
int64_t peak_vpdpbusd(int64_t rounds, float* sink);
inline constexpr const char* kPeakI8Instruction = "vpdpbusd zmm (int8 dot product, 64 multiply-adds)";
}  // namespace avx512

}  // namespace tachyon::cpu
