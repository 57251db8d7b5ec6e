// Instruction sets the CPU backend has kernels for, and which one runs. The choice is made once, at
// start-up, from the CPU's features, and may be overridden (`--isa`, or TACHYON_ISA when the flag is
// left at auto) for tests and benchmarks; a set the CPU lacks is refused, never emulated.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "backends/cpu/cpu_features.h"
#include "core/status.h"

namespace tachyon::cpu {

enum class Isa : uint8_t {
  kScalar,      // the plain references (any x86-64)
  kAvx2,        // AVX2 + FMA + F16C
  kAvx512,      // AVX-512 F/BW/VL, with the AVX2 requirements
  kAvx512Vnni,  // AVX-512 with VNNI and BF16 (Zen 4/5, Sapphire Rapids and later)
};

// "scalar", "avx2", "avx512", "avx512-vnni".
const char* isa_name(Isa isa);
// Every set this CPU can run, the scalar references first and the best last.
std::vector<Isa> supported_isas(const CpuFeatures& f);
bool isa_supported(Isa isa, const CpuFeatures& f);
Isa best_isa(const CpuFeatures& f);
// `requested` is "auto" (or empty: the environment's TACHYON_ISA if set, else the best set) or a name.
// Errors name what is wrong: an unknown name, or a set this CPU cannot run.
Result<Isa> choose_isa(std::string_view requested, const CpuFeatures& f);

}  // namespace tachyon::cpu
