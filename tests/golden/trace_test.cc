// Per-layer intermediates of seq0 against the reference's (golden README "Only for seq0"), through the
// trace hook: embedding streams, each layer's attention and MoE outputs and streams, the final mix,
// routing decisions (as sets), and the MTP block. This is where a mismatch is located.
#include <map>
#include <memory>
#include <set>

#include "golden_util.h"

namespace tachyon::dsv4::golden {
namespace {

class Collector : public Trace {
 public:
  std::map<std::string, std::vector<float>> t;
  std::map<std::string, std::vector<int32_t>> i;
  std::map<std::string, std::vector<int64_t>> shapes;
  void tensor(std::string_view name, const float* data, const std::vector<int64_t>& shape) override {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    auto& v = t[std::string(name)];
    v.insert(v.end(), data, data + n);
    shapes[std::string(name)] = shape;
  }
  void ids(std::string_view name, const int32_t* data, const std::vector<int64_t>& shape) override {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    auto& v = i[std::string(name)];
    v.insert(v.end(), data, data + n);
    shapes[std::string(name)] = shape;
  }
};

void run_trace(bool exact) {
  auto ck = load_checkpoint(kModelDir);
  ASSERT_TRUE(ck.is_ok()) << ck.status().message();
  Golden g;
  ThreadPool pool(2);
  Collector col;
  ModelContext ctx;
  ctx.ops = ops::OpContext::make(pool, golden_isa());
  ctx.numerics = exact ? Numerics::exact() : Numerics::official();
  ctx.trace = &col;
  Model model(**ck);
  auto tokens = g.tokens(0);
  ScoringPlan plan;
  plan.mtp = !exact;
  score_tokens(model, ctx, tokens, plan);
  const std::string mode = exact ? "seq0.identity." : "seq0.emulate.";
  const double tol = exact ? 1e-4 : 1e-3;
  std::vector<std::string> names = {"embed_streams", "final_streams", "final_hidden", "final_normed"};
  for (int l = 0; l < 4; ++l)
    for (const char* s : {"attn_out", "ffn_out", "streams"}) names.push_back("layer" + std::to_string(l) + "." + s);
  if (!exact)
    for (const char* s : {"input_streams", "attn_out", "ffn_out", "streams", "final_hidden", "final_normed"})
      names.push_back(std::string("mtp.") + s);
  for (const std::string& n : names) {
    auto want = g.floats(mode + n);
    // final_hidden / final_normed of the main model are traced only for the rows whose logits were asked.
    ASSERT_TRUE(col.t.count(n)) << "not traced: " << n;
    const auto& got = col.t[n];
    ASSERT_EQ(got.size(), want.size()) << n;
    Metrics m = compare(got.data(), want.data(), 1, int64_t(want.size()));
    EXPECT_LE(m.max_abs, tol) << n << " rel_l2 " << m.rel_l2;
    if (getenv("TACHYON_DEBUG_TRACE")) {
      int cnt = 0;
      for (size_t k = 0; k < got.size(); ++k)
        if (std::fabs(got[k] - want[k]) > 1e-4 && cnt++ < 10) std::printf("%s[%zu] got %.8g want %.8g\n", n.c_str(), k, got[k], want[k]);
      std::printf("%s: %d differ, max_abs %.3g rel_l2 %.3g\n", n.c_str(), cnt, m.max_abs, m.rel_l2);
    }
  }
  // Routing decisions: experts per token and indexer picks, as sets.
  std::vector<std::string> id_names;
  for (int l = 0; l < 4; ++l) id_names.push_back("layer" + std::to_string(l) + ".expert_ids");
  id_names.push_back("layer1.index_topk");
  id_names.push_back("layer3.index_topk");
  if (!exact) id_names.push_back("mtp.expert_ids");
  for (const std::string& n : id_names) {
    auto want = g.ints(mode + n);
    const auto& wshape = g.get(mode + n).shape;
    ASSERT_TRUE(col.i.count(n)) << "not traced: " << n;
    const auto& got = col.i[n];
    const int64_t rows = wshape[0], wcols = wshape[1], gcols = col.shapes[n][1];
    for (int64_t r = 0; r < rows; ++r) {
      std::set<int64_t> a, b;
      for (int64_t c = 0; c < gcols; ++c)
        if (got[size_t(r * gcols + c)] >= 0) a.insert(got[size_t(r * gcols + c)]);
      for (int64_t c = 0; c < wcols; ++c)
        if (want[size_t(r * wcols + c)] >= 0) b.insert(want[size_t(r * wcols + c)]);
      EXPECT_EQ(a, b) << n << " row " << r;
    }
  }
}

TEST(GoldenTrace, Seq0Exact) { run_trace(true); }
TEST(GoldenTrace, Seq0Official) { run_trace(false); }

}  // namespace
}  // namespace tachyon::dsv4::golden

namespace tachyon::dsv4::golden {
namespace {

// The MTP module fed the reference's own final streams matches the reference's MTP outputs exactly
// (this isolates the MTP block from tiny differences in the main model's streams).
TEST(GoldenTrace, MtpFromReferenceStreams) {
  auto ck = load_checkpoint(kModelDir);
  ASSERT_TRUE(ck.is_ok()) << ck.status().message();
  Golden g;
  ThreadPool pool(2);
  ModelContext ctx;
  ctx.ops = ops::OpContext::make(pool, golden_isa());
  Model model(**ck);
  auto tokens = g.tokens(0);
  auto streams = g.floats("seq0.emulate.final_streams");
  SequenceState seq = model.pools().new_sequence();
  MtpInput in{&seq, streams.data(), std::span<const int32_t>(tokens.data() + 1, tokens.size() - 1)};
  std::vector<float> logits;
  model.mtp_forward(ctx, std::span<const MtpInput>(&in, 1), logits);
  auto want = g.floats("seq0.emulate.mtp_logits");
  ASSERT_EQ(logits.size(), want.size());
  Metrics m = compare(logits.data(), want.data(), int64_t(tokens.size() - 1), ck->get()->config.vocab_size);
  EXPECT_LE(m.max_abs, 1e-3);
  EXPECT_EQ(m.top1, 1.0);
  model.pools().release(seq);
}

}  // namespace
}  // namespace tachyon::dsv4::golden
