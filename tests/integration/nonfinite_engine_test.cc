// Checkpoints with NaN weights: the engine fails exactly the requests whose forward pass produced a
// non-finite value (kError with kNonFiniteError), returns their cache blocks, never snapshots their state,
// keeps serving the other requests of the same steps with the tokens a clean checkpoint gives, and never
// aborts. The corruptions are written into copies of the golden tiny checkpoint.
#include <algorithm>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>

#include <gtest/gtest.h>

#include "../common/test_util.h"
#include "runtime/engine.h"

namespace tachyon::runtime {
namespace {

namespace fs = std::filesystem;
using testing::RawSafetensors;
using testing::TempDir;

const fs::path kModel = fs::path(TACHYON_TEST_DATA) / "golden" / "tiny-flash" / "model";
constexpr int64_t kHidden = 256;  // the golden model's hidden size (embed and head rows)

// A copy of the golden checkpoint with bytes [first, first + count) of each named tensor's data set to
// `code` (0x7F on F8_E4M3 and 0xFF on F8_E8M0 are NaN; BF16 NaN is two bytes, see nan_bf16_rows).
struct Corruption {
  std::string tensor;
  int64_t first_byte, n_bytes;
  std::vector<uint8_t> pattern;  // repeated over the range
};

void write_corrupt_copy(const fs::path& out, const std::vector<Corruption>& cs) {
  fs::copy_file(kModel / "config.json", out / "config.json");
  RawSafetensors st = RawSafetensors::read(kModel / "model.safetensors");
  for (const Corruption& c : cs) {
    ASSERT_TRUE(st.header.contains(c.tensor)) << c.tensor;
    const int64_t begin = st.header[c.tensor]["data_offsets"][0].get<int64_t>();
    const int64_t end = st.header[c.tensor]["data_offsets"][1].get<int64_t>();
    ASSERT_LE(begin + c.first_byte + c.n_bytes, end) << c.tensor;
    for (int64_t i = 0; i < c.n_bytes; ++i)
      st.data[size_t(begin + c.first_byte + i)] = char(c.pattern[size_t(i) % c.pattern.size()]);
  }
  st.write(out / "model.safetensors");
}

// Rows of a [rows, kHidden] BF16 tensor set to NaN (0x7FC0, little-endian).
std::vector<Corruption> nan_bf16_rows(const std::string& tensor, const std::vector<int32_t>& rows) {
  std::vector<Corruption> cs;
  for (int32_t r : rows) cs.push_back({tensor, int64_t(r) * kHidden * 2, kHidden * 2, {0xC0, 0x7F}});
  return cs;
}

struct Outcome {
  std::mutex mu;
  std::vector<int32_t> tokens;
  FinishReason reason = FinishReason::kNone;
  std::string error;
  int64_t cached_tokens = -1;
  std::promise<void> done_promise;
  std::shared_future<void> done = done_promise.get_future().share();
  bool wait() { return done.wait_for(std::chrono::seconds(120)) == std::future_status::ready; }
};

EventSink sink(const std::shared_ptr<Outcome>& o) {
  return [o](const RequestEvent& ev) {
    bool finished = false;
    {
      std::lock_guard<std::mutex> g(o->mu);
      if (ev.token) o->tokens.push_back(ev.token->token);
      if (ev.finished) {
        o->reason = ev.reason;
        o->error = ev.error;
        o->cached_tokens = ev.cached_tokens;
        finished = true;
      }
    }
    if (finished) o->done_promise.set_value();
    return true;
  };
}

EngineConfig config(const fs::path& dir) {
  EngineConfig cfg;
  cfg.model_dir = dir.string();
  cfg.threads = 2;
  cfg.cache_memory = 64 << 20;
  cfg.scheduler.max_num_seqs = 8;
  cfg.scheduler.max_num_batched_tokens = 64;
  return cfg;
}

std::unique_ptr<Engine> make_engine(const EngineConfig& cfg) {
  auto e = Engine::create(cfg);
  EXPECT_TRUE(e.is_ok()) << e.status().message();
  return e.is_ok() ? std::move(*e) : nullptr;
}

std::shared_ptr<Outcome> submit(Engine& e, std::vector<int32_t> prompt, int64_t max_tokens, float temperature = 0) {
  auto o = std::make_shared<Outcome>();
  GenerationParams gp;
  gp.max_tokens = max_tokens;
  gp.ignore_eos = true;
  gp.sampling.temperature = temperature;
  gp.sampling.seed = 11;
  const SubmitResult r = e.submit(std::move(prompt), gp, sink(o));
  EXPECT_EQ(r.code, SubmitCode::kOk) << r.message;
  return o;
}

// Clean prompts: token ids in [2, 700), far from the corrupted ids below.
std::vector<int32_t> clean_prompt(int i, int n) {
  std::vector<int32_t> p = {0};
  for (int k = 0; k < n; ++k) p.push_back(2 + (i * 131 + k * 17) % 698);
  return p;
}

constexpr int32_t kBadToken = 1777;  // its embedding row is NaN in the corrupted copies

// Waits for every outcome and checks that the engine gave every cache block back.
void finish_all(Engine& e, const std::vector<std::shared_ptr<Outcome>>& os) {
  for (const auto& o : os) ASSERT_TRUE(o->wait());
  EXPECT_EQ(e.stats().cache_units_used, 0);
}

struct Variant {
  const char* name;
  const char* numerics;  // "exact" keeps fp32 cache entries (stored as they are), "official" compact ones
  int speculative_tokens;
};
const Variant kVariants[] = {{"official", "official", 0}, {"exact", "exact", 0}, {"official-spec2", "official", 2}};

// A request that feeds the bad token fails; a clean greedy request and a clean sampled request decoding
// in the same steps give exactly the clean checkpoint's tokens; a later request is served normally.
TEST(NonFinite, OnlyTheRequestThatHitsNanWeightsFails) {
  TempDir d;
  write_corrupt_copy(d.path(), nan_bf16_rows("embed.weight", {kBadToken}));
  for (const Variant& v : kVariants) {
    SCOPED_TRACE(v.name);
    EngineConfig cfg = config(d.path());
    cfg.numerics = v.numerics;
    cfg.speculative_tokens = v.speculative_tokens;
    EngineConfig clean_cfg = cfg;
    clean_cfg.model_dir = kModel.string();
    std::vector<int32_t> want_greedy, want_sampled;
    {
      auto clean = make_engine(clean_cfg);
      ASSERT_TRUE(clean);
      auto g = submit(*clean, clean_prompt(1, 20), 40);
      auto s = submit(*clean, clean_prompt(2, 30), 40, 0.9f);
      finish_all(*clean, {g, s});
      want_greedy = g->tokens;
      want_sampled = s->tokens;
    }
    for (const auto& w : {want_greedy, want_sampled}) ASSERT_EQ(std::count(w.begin(), w.end(), kBadToken), 0);

    auto e = make_engine(cfg);
    ASSERT_TRUE(e);
    // The clean requests decode for 40 steps; the bad prompt (three chunks of prefill, the bad token in
    // the second) runs beside them.
    auto g = submit(*e, clean_prompt(1, 20), 40);
    auto s = submit(*e, clean_prompt(2, 30), 40, 0.9f);
    std::vector<int32_t> bad_prompt = clean_prompt(3, 150);
    bad_prompt[90] = kBadToken;
    auto bad = submit(*e, bad_prompt, 8);
    finish_all(*e, {g, s, bad});
    EXPECT_EQ(bad->reason, FinishReason::kError);
    EXPECT_EQ(bad->error, kNonFiniteError);
    EXPECT_TRUE(bad->tokens.empty());
    EXPECT_EQ(g->reason, FinishReason::kLength);
    EXPECT_EQ(g->tokens, want_greedy);
    EXPECT_EQ(s->reason, FinishReason::kLength);
    EXPECT_EQ(s->tokens, want_sampled);
    EXPECT_TRUE(g->error.empty());
    EXPECT_EQ(e->stats().nonfinite_failures, 1);

    auto later = submit(*e, clean_prompt(1, 20), 40);
    finish_all(*e, {later});
    EXPECT_EQ(later->reason, FinishReason::kLength);
    EXPECT_EQ(later->tokens, want_greedy);
    EXPECT_EQ(e->stats().nonfinite_failures, 1);
  }
}

// A token generated by the model whose embedding is NaN: the request fails at the step that feeds it,
// after the tokens before it were delivered (without speculative decoding, where drafts may feed it sooner).
TEST(NonFinite, AGeneratedTokenWithNanWeightsFailsItsRequest) {
  for (const Variant& v : kVariants) {
    SCOPED_TRACE(v.name);
    EngineConfig cfg = config(kModel);
    cfg.numerics = v.numerics;
    cfg.speculative_tokens = v.speculative_tokens;
    const std::vector<int32_t> prompt = clean_prompt(4, 10);
    std::vector<int32_t> want;
    {
      auto clean = make_engine(cfg);
      ASSERT_TRUE(clean);
      auto g = submit(*clean, prompt, 12);
      finish_all(*clean, {g});
      want = g->tokens;
    }
    ASSERT_EQ(want.size(), 12u);
    const int32_t third = want[2];
    ASSERT_EQ(std::count(want.begin(), want.begin() + 2, third) + std::count(prompt.begin(), prompt.end(), third), 0)
        << "pick another prompt";
    TempDir d;
    write_corrupt_copy(d.path(), nan_bf16_rows("embed.weight", {third}));
    cfg.model_dir = d.str();
    auto e = make_engine(cfg);
    ASSERT_TRUE(e);
    auto g = submit(*e, prompt, 12);
    finish_all(*e, {g});
    EXPECT_EQ(g->reason, FinishReason::kError);
    EXPECT_EQ(g->error, kNonFiniteError);
    if (v.speculative_tokens == 0) {
      EXPECT_EQ(g->tokens, std::vector<int32_t>(want.begin(), want.begin() + 3));
    } else {
      EXPECT_LE(g->tokens.size(), 3u);
      EXPECT_TRUE(std::equal(g->tokens.begin(), g->tokens.end(), want.begin()));
    }
    EXPECT_EQ(e->stats().nonfinite_failures, 1);
  }
}

// The state of a sequence that stored NaN is not snapshotted, even when the capture position lies in the
// chunk that stored it; the same prompt without the bad token leaves a snapshot (the capture would
// happen).
TEST(NonFinite, NanStateIsNeverSnapshotted) {
  TempDir d;
  write_corrupt_copy(d.path(), nan_bf16_rows("embed.weight", {kBadToken}));
  for (const char* numerics : {"official", "exact"}) {
    SCOPED_TRACE(numerics);
    EngineConfig cfg = config(d.path());
    cfg.numerics = numerics;
    cfg.prefix_caching = true;
    auto e = make_engine(cfg);
    ASSERT_TRUE(e);
    std::vector<int32_t> prompt = clean_prompt(5, 200);
    prompt[100] = kBadToken;  // in the chunk [64, 128), which captures position 128
    auto bad = submit(*e, prompt, 4);
    finish_all(*e, {bad});
    EXPECT_EQ(bad->reason, FinishReason::kError);
    EXPECT_EQ(e->stats().prefix_snapshots, 0);
    EXPECT_EQ(e->stats().prefix_cache_units, 0);
    // The same prompt again finds nothing cached and fails the same way.
    auto again = submit(*e, prompt, 4);
    finish_all(*e, {again});
    EXPECT_EQ(again->reason, FinishReason::kError);
    EXPECT_EQ(again->cached_tokens, 0);

    prompt[100] = 5;
    auto good = submit(*e, prompt, 4);
    finish_all(*e, {good});
    EXPECT_EQ(good->reason, FinishReason::kLength);
    EXPECT_EQ(e->stats().prefix_snapshots, 1);
    EXPECT_EQ(e->stats().nonfinite_failures, 2);
  }
}

// NaN in one row of the head: every logits row holds a NaN, so every request fails (greedy through the
// int8 screen of the head or the full head, sampled, speculative), with its blocks returned; the engine
// keeps taking requests.
TEST(NonFinite, NanInTheHeadFailsEveryRequestWithoutAborting) {
  TempDir d;
  write_corrupt_copy(d.path(), nan_bf16_rows("head.weight", {900}));
  for (const char* greedy_head : {"int8", "bf16"})
    for (int spec : {0, 1}) {
      SCOPED_TRACE(std::string(greedy_head) + " spec " + std::to_string(spec));
      EngineConfig cfg = config(d.path());
      cfg.greedy_head = greedy_head;
      cfg.speculative_tokens = spec;
      auto e = make_engine(cfg);
      ASSERT_TRUE(e);
      std::vector<std::shared_ptr<Outcome>> os = {submit(*e, clean_prompt(6, 12), 6),
                                                  submit(*e, clean_prompt(7, 40), 6, 1.0f)};
      finish_all(*e, os);
      for (const auto& o : os) {
        EXPECT_EQ(o->reason, FinishReason::kError);
        EXPECT_EQ(o->error, kNonFiniteError);
        EXPECT_TRUE(o->tokens.empty());
      }
      auto later = submit(*e, clean_prompt(8, 5), 3);
      finish_all(*e, {later});
      EXPECT_EQ(later->reason, FinishReason::kError);
      EXPECT_EQ(e->stats().nonfinite_failures, 3);
    }
}

// NaN in the MTP module only (FP8 NaN codes in its h_proj): plain decoding is unaffected; speculative
// decoding fails the requests whose drafts come from it, after their first token.
TEST(NonFinite, NanInTheMtpModuleFailsSpeculativeRequests) {
  TempDir d;
  write_corrupt_copy(d.path(), {{"mtp.0.h_proj.weight", 0, 256, {0x7F}}});
  for (int spec : {0, 1, 3}) {
    SCOPED_TRACE(spec);
    EngineConfig cfg = config(d.path());
    cfg.speculative_tokens = spec;
    auto e = make_engine(cfg);
    ASSERT_TRUE(e);
    auto g = submit(*e, clean_prompt(9, 16), 10);
    auto s = submit(*e, clean_prompt(10, 16), 10, 0.8f);
    finish_all(*e, {g, s});
    for (const auto& o : {g, s}) {
      if (spec == 0) {
        EXPECT_EQ(o->reason, FinishReason::kLength);
        EXPECT_EQ(o->tokens.size(), 10u);
      } else {
        EXPECT_EQ(o->reason, FinishReason::kError);
        EXPECT_EQ(o->error, kNonFiniteError);
        EXPECT_EQ(o->tokens.size(), 1u);  // the prefill's token, sampled before the MTP pass
      }
    }
    EXPECT_EQ(e->stats().nonfinite_failures, spec == 0 ? 0 : 2);
  }
}

// EngineConfig::check_values (serve --check-values) refuses a checkpoint with NaN weights, naming the
// tensors, and loads a clean one.
TEST(NonFinite, CheckValuesRefusesNanWeightsAtLoad) {
  TempDir d;
  std::vector<Corruption> cs = nan_bf16_rows("embed.weight", {kBadToken});
  cs.push_back({"layers.1.attn.wkv.scale", 1, 1, {0xFF}});
  write_corrupt_copy(d.path(), cs);
  EngineConfig cfg = config(d.path());
  EXPECT_TRUE(Engine::create(cfg).is_ok());  // off by default
  cfg.check_values = true;
  auto e = Engine::create(cfg);
  ASSERT_FALSE(e.is_ok());
  const std::string& m = e.status().message();
  EXPECT_NE(m.find("--check-values: 2 tensors"), std::string::npos) << m;
  EXPECT_NE(m.find("embed.weight (BF16): 256 non-finite values, the first at element " +
                   std::to_string(kBadToken * kHidden)),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("layers.1.attn.wkv.scale (F8_E8M0): 1 non-finite value, the first at element 1"),
            std::string::npos)
      << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  cfg.model_dir = kModel.string();
  EXPECT_TRUE(Engine::create(cfg).is_ok());
}

}  // namespace
}  // namespace tachyon::runtime
