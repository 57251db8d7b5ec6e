// Optional per-op-family timing and traffic counters for the forward pass (`tachyon bench`). A plain
// struct of accumulators that the caller owns and passes through ModelContext::profile; nothing is
// recorded when that pointer is null, and no state is global.
//
// Times are wall-clock (steady_clock) around call sites in model.cc and moe.cc, plus the calling thread's
// CPU time over the same scopes (all of the work with one thread; robust to a busy machine, where wall
// time also counts the time the OS gave to other processes). The forward pass also
// records what it touched that the byte counter (traffic.h) cannot derive from the config alone: how many
// distinct routed experts each layer ran, and the positions the attention layers read at.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include <time.h>

namespace tachyon::dsv4 {

enum class OpFamily : uint8_t {
  kEmbed,      // token embedding into the streams
  kMhc,        // hyper-connections: hc_pre / hc_post / hc_head (mixes, Sinkhorn, stream sums)
  kNorm,       // attn_norm / ffn_norm / final norm
  kAttention,  // attention_forward: projections, compressors, indexer, cache, attention, output
  kRouter,     // MoE gate, scores and top-k
  kExperts,    // routed experts
  kShared,     // shared expert
  kHead,       // final linear to the vocabulary
  kCount,
};

constexpr std::array<std::string_view, size_t(OpFamily::kCount)> kOpFamilyNames = {
    "embed", "mhc", "norm", "attention", "router", "experts", "shared_expert", "head"};

struct Profile {
  std::array<double, size_t(OpFamily::kCount)> seconds{};      // accumulated wall time per family
  std::array<double, size_t(OpFamily::kCount)> cpu_seconds{};  // the calling thread's CPU time
  // Distinct routed experts run, summed over forward calls, per layer index (main layers, then MTP).
  std::vector<int64_t> experts_run;
  int64_t forward_calls = 0;
  // Wall time inside the calls that stream weights (WeightScope): the part of a step a memory-bound
  // machine cannot shorten; the rest of the step is overhead around them.
  double weight_seconds = 0;
  int weight_depth = 0;  // open WeightScopes (only the outermost one counts)

  void add_experts(int layer, int64_t n) {
    if (experts_run.size() <= size_t(layer)) experts_run.resize(size_t(layer) + 1, 0);
    experts_run[size_t(layer)] += n;
  }
  double total_seconds() const {
    double s = 0;
    for (double v : seconds) s += v;
    return s;
  }
  void clear() { *this = Profile{}; }
};

inline double cpu_clock_seconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}
inline double thread_cpu_seconds() { return cpu_clock_seconds(CLOCK_THREAD_CPUTIME_ID); }
inline double process_cpu_seconds() { return cpu_clock_seconds(CLOCK_PROCESS_CPUTIME_ID); }

// Adds the lifetime of the scope to profile->seconds[family] (and its CPU time to cpu_seconds); does
// nothing when profile is null.
class ProfileScope {
 public:
  ProfileScope(Profile* p, OpFamily f) : p_(p), f_(f) {
    if (p_) {
      t0_ = std::chrono::steady_clock::now();
      c0_ = thread_cpu_seconds();
    }
  }
  ~ProfileScope() {
    if (!p_) return;
    p_->seconds[size_t(f_)] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    p_->cpu_seconds[size_t(f_)] += thread_cpu_seconds() - c0_;
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  Profile* p_;
  OpFamily f_;
  std::chrono::steady_clock::time_point t0_;
  double c0_ = 0;
};

// Adds the lifetime of the scope to profile->weight_seconds (nested scopes count once); does nothing
// when profile is null. Wraps a call that streams weights (ops::linear, ops::linear_group, the
// hyper-connection mixes' dot products) at its call site in the model, never inside a kernel.
class WeightScope {
 public:
  explicit WeightScope(Profile* p) : p_(p && p->weight_depth++ == 0 ? p : nullptr), outer_(p) {
    if (p_) t0_ = std::chrono::steady_clock::now();
  }
  ~WeightScope() {
    if (p_) p_->weight_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    if (outer_) --outer_->weight_depth;
  }
  WeightScope(const WeightScope&) = delete;
  WeightScope& operator=(const WeightScope&) = delete;

 private:
  Profile* p_;      // the profile when this is the outermost scope
  Profile* outer_;  // the profile whose depth this scope counts in
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace tachyon::dsv4
