// What the CPU can run. Detected once by whoever owns the backend and passed down; never global state.
#pragma once

namespace tachyon::cpu {

struct CpuFeatures {
  bool avx2 = false;  // with FMA
  bool f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512vnni = false, avx512bf16 = false;
};

CpuFeatures detect_cpu_features();

}  // namespace tachyon::cpu
