#include "model/deepseek_v4/repack.h"

#include "core/check.h"
#include "io/mmap_file.h"
#include "model/deepseek_v4/layers.h"

namespace tachyon::dsv4 {

bool wants_int8_rows(const ModelContext& ctx) {
  return ctx.numerics.act_quant && ctx.numerics.act_int8 && ctx.ops.k->native_i8;
}

namespace {
// One weight [n, k] (FP8 with its scales, or BF16) into a new I8Rows of ck.
const I8Rows* repack_one(Checkpoint& ck, const ops::OpContext& ops, const WeightView& src) {
  I8Rows& r = ck.repacked.emplace_back();
  r.n = src.n;
  r.kp = cpu::i8_padded(src.k);
  r.buf = HugeBuffer(r.n * r.kp + r.n * (r.kp / cpu::kI8Block));
  ops::pack_weight_i8(ops, src, r.codes(), r.codes() + r.n * r.kp);  // codes, then scales
  return &r;
}
// The codes of an FP4 weight [n, k] into kFP4G order; its scales stay the checkpoint's. `mapped`: the
// codes are the file mapping's (not a realigned copy).
const I8Rows* regroup_fp4(Checkpoint& ck, const ops::OpContext& ops, const WeightView& src, bool mapped) {
  I8Rows& r = ck.repacked.emplace_back();
  r.fmt = WFormat::kFP4G;
  r.n = src.n;
  r.kp = src.k;
  r.fp4_scales = src.scale;
  r.buf = HugeBuffer(r.n * r.kp / 2);
  ops::pack_weight_fp4g(ops, src, r.codes());
  // The fast numerics read only the regrouped codes: the mapped originals need not stay resident (the
  // other modes map them in again if they run).
  if (mapped) MmapFile::drop_pages(src.data, size_t(r.n * r.kp / 2));
  return &r;
}
}  // namespace

int64_t repack_int8(Checkpoint& ck, const ops::OpContext& ops) {
  if (ck.repacked.empty()) {
    for_each_tensor(ck.config, &ck.weights, [&](TensorSlot& s) {
      if (!s.int8_repack || s.role != TensorRole::kWeight) return;
      if (s.linear) {
        Linear& l = *s.linear;
        TACHYON_CHECK(l.weight && ((l.fmt != WFormat::kBF16 && l.scale) || l.fmt == WFormat::kBF16),
                      "repack_int8: " + s.name + " is not a loaded FP8, FP4 or BF16 linear");
        const WeightView v = view(l);
        bool mapped = true;
        for (const TensorInfo& t : ck.realigned) mapped = mapped && &t != l.weight.info;
        l.i8 = l.fmt == WFormat::kFP4 ? regroup_fp4(ck, ops, v, mapped) : repack_one(ck, ops, v);
      } else {
        TACHYON_CHECK(s.name == "head.weight" && ck.weights.head, "repack_int8: unexpected tensor " + s.name);
        WeightView v;
        v.fmt = WFormat::kBF16;
        v.n = ck.weights.head.dim(0);
        v.k = ck.weights.head.dim(1);
        v.data = ck.weights.head.info->data;
        ck.weights.head_i8 = repack_one(ck, ops, v);
      }
    });
  }
  int64_t bytes = 0;
  for (const I8Rows& r : ck.repacked) bytes += r.buf.size();
  return bytes;
}

int64_t int8_repack_bytes(const ModelConfig& cfg) {
  int64_t bytes = 0;
  for_each_tensor(cfg, nullptr, [&](TensorSlot& s) {
    if (s.int8_repack) bytes += int64_t(s.repacked_nbytes());
  });
  return bytes;
}

}  // namespace tachyon::dsv4
