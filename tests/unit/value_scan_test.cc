// The checkpoint value scan (inspect --check-values, serve --check-values): every dtype's non-finite
// codes are found with their count and first index, at any alignment; finite codes next to them are not
// (the largest finite values, E8M0 254, e4m3 0x7E); integer tensors are skipped; a tensor split into
// several chunks adds up; the scan with threads gives what it gives without.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <limits>

#include "../common/test_util.h"
#include "core/dtype.h"
#include "io/value_scan.h"

namespace tachyon {
namespace {

template <typename T>
std::vector<uint8_t> bytes_of(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

TEST(ValueScan, CountsEveryDtypesNonFiniteCodesAtAnyAlignment) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct Case {
    DType t;
    std::vector<uint8_t> bytes;
    int64_t count, first;
  };
  std::vector<float> f32(1000, 1.0f);
  f32[17] = nan;
  f32[400] = -INFINITY;
  f32[999] = std::numeric_limits<float>::max();
  std::vector<uint16_t> bf16(5000, f32_to_bf16(-2.0f));
  bf16[4097] = 0x7F80;  // +inf
  bf16[4999] = 0xFFC1;  // a negative NaN
  bf16[3] = 0x7F7F;     // the largest finite bf16
  std::vector<uint16_t> f16(10, 0x3C00);
  f16[9] = 0x7C00;
  f16[2] = 0x7BFF;  // the largest finite f16
  std::vector<uint8_t> e4m3(300, 0x38);
  e4m3[5] = 0x7E;  // 448, finite
  e4m3[6] = 0xFE;
  e4m3[200] = 0xFF;
  e4m3[299] = 0x7F;
  std::vector<uint8_t> e8m0(50, 127);
  e8m0[10] = 254;
  e8m0[44] = 255;
  const std::vector<Case> cases = {{DType::kF32, bytes_of(f32), 2, 17},
                                   {DType::kBF16, bytes_of(bf16), 2, 4097},
                                   {DType::kF16, bytes_of(f16), 1, 9},
                                   {DType::kF8E4M3, e4m3, 2, 200},
                                   {DType::kF8E8M0, e8m0, 1, 44},
                                   {DType::kI8, std::vector<uint8_t>(9, 0xFF), 0, -1},
                                   {DType::kI32, std::vector<uint8_t>(8, 0xFF), 0, -1}};
  for (const Case& c : cases)
    for (size_t shift : {size_t(0), size_t(1), size_t(3)}) {
      SCOPED_TRACE(std::string(dtype_name(c.t)) + " shift " + std::to_string(shift));
      std::vector<uint8_t> buf(c.bytes.size() + shift);
      std::memcpy(buf.data() + shift, c.bytes.data(), c.bytes.size());
      int64_t first = -1;
      const int64_t n = int64_t(c.bytes.size() / dtype_size(c.t));
      EXPECT_EQ(count_nonfinite(c.t, buf.data() + shift, n, &first), c.count);
      EXPECT_EQ(first, c.first);
      EXPECT_EQ(value_scan_applies(c.t), c.t != DType::kI8 && c.t != DType::kI32);
    }
}

TEST(ValueScan, ScansAStoreWithChunksAndThreads) {
  testing::TempDir d;
  // 3M floats (12 MB): several 8 MiB chunks, bad values in the second and third.
  std::vector<float> big(3'000'000, 0.5f);
  big[2'500'000] = std::numeric_limits<float>::quiet_NaN();
  big[2'900'001] = INFINITY;
  big[1'000'000] = INFINITY;
  std::vector<uint8_t> e4m3(64, 0x40);
  e4m3[63] = 0xFF;
  std::vector<uint16_t> clean(256, f32_to_bf16(1.0f));
  std::vector<TensorToWrite> ts = {{"a.big", DType::kF32, {3000, 1000}, bytes_of(big)},
                                   {"b.fp8", DType::kF8E4M3, {8, 8}, e4m3},
                                   {"c.clean", DType::kBF16, {256}, bytes_of(clean)},
                                   {"d.packed", DType::kI8, {4}, {0x77, 0xFF, 0x7F, 0x88}}};
  ASSERT_TRUE(write_safetensors((d.path() / "model.safetensors").string(), ts).is_ok());
  auto store = TensorStore::open(d.str());
  ASSERT_TRUE(store.is_ok()) << store.status().message();
  ThreadPool pool(3);
  uint64_t last_done = 0, calls = 0;
  const ValueScan threaded = scan_values(*store, &pool, [&](uint64_t done, uint64_t total) {
    EXPECT_GE(done, last_done);
    EXPECT_LE(done, total);
    last_done = done;
    ++calls;
  });
  EXPECT_GE(calls, 1u);
  EXPECT_EQ(last_done, uint64_t(12'000'000 + 64 + 512));
  EXPECT_EQ(threaded.tensors_scanned, 3);
  EXPECT_EQ(threaded.bytes_scanned, uint64_t(12'000'000 + 64 + 512));
  ASSERT_EQ(threaded.bad.size(), 2u);
  EXPECT_EQ(threaded.bad[0].name, "a.big");
  EXPECT_EQ(threaded.bad[0].count, 3);
  EXPECT_EQ(threaded.bad[0].first, 1'000'000);
  EXPECT_EQ(threaded.bad[1].name, "b.fp8");
  EXPECT_EQ(threaded.bad[1].count, 1);
  EXPECT_EQ(threaded.bad[1].first, 63);
  EXPECT_EQ(describe(threaded.bad[1]), "b.fp8 (F8_E4M3): 1 non-finite value, the first at element 63");
  EXPECT_EQ(describe(threaded.bad[0]), "a.big (F32): 3 non-finite values, the first at element 1000000");
  const ValueScan single = scan_values(*store, nullptr);
  ASSERT_EQ(single.bad.size(), 2u);
  EXPECT_EQ(single.bad[0].count, 3);
  EXPECT_EQ(single.bad[0].first, 1'000'000);
}

}  // namespace
}  // namespace tachyon
