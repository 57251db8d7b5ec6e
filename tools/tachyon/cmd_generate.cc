// tachyon generate: a simple generation loop (prefill the prompt, then decode one token at a time),
// greedy or sampled. The serving scheduler replaces this loop for the server.
#include <chrono>
#include <cstdio>

#include "cli_util.h"
#include "commands.h"
#include "core/finite.h"
#include "model/deepseek_v4/model.h"
#include "runtime/engine.h"
#include "runtime/sampler.h"

namespace tachyon::cli {

void add_generate(CLI::App& app, Action& action) {
  struct Opts {
    std::string model, prompt, numerics = "auto", kv_cache_dtype = "auto", isa = "auto";
    int max_tokens = 16, threads = 0, top_k = 0;
    float temperature = 0.0f, top_p = 1.0f;
    uint64_t seed = 0;
    bool ignore_eos = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("generate", "Generate tokens from a prompt of token ids");
  c->add_option("--model", o->model, "Checkpoint folder")->required();
  c->add_option("--prompt-tokens", o->prompt, "Comma-separated prompt token ids")->required();
  c->add_option("--max-tokens", o->max_tokens, "Tokens to generate")->check(CLI::PositiveNumber);
  c->add_option("--temperature", o->temperature, "0 = greedy")->check(CLI::NonNegativeNumber);
  c->add_option("--top-p", o->top_p, "Nucleus sampling mass")->check(CLI::Range(0.0f, 1.0f));
  c->add_option("--top-k", o->top_k, "Keep the k most likely tokens (0 = all)")->check(CLI::NonNegativeNumber);
  c->add_option("--seed", o->seed, "Sampling seed");
  add_numerics_option(c, &o->numerics);
  c->add_option("--threads", o->threads, "Compute threads (0 = all cores)");
  add_kv_cache_dtype_option(c, &o->kv_cache_dtype);
  add_isa_option(c, &o->isa);
  c->add_flag("--ignore-eos", o->ignore_eos, "Keep generating after the end-of-sequence token");
  action_on(c, action, [o]() -> int {
    std::vector<int32_t> prompt;
    if (Status st = parse_token_list(o->prompt, &prompt); !st.is_ok()) return fail(st);
    if (prompt.empty()) return fail(Status::error("--prompt-tokens: empty prompt"));
    auto ms = open_model(o->model, o->threads, o->numerics, o->kv_cache_dtype, o->isa, prompt);
    if (!ms.is_ok()) return fail(ms.status());
    const auto& cfg = ms->ck->config;
    dsv4::Model& model = *ms->model;
    const dsv4::ModelContext& ctx = ms->ctx;
    std::fprintf(stderr, "numerics: %s, CPU kernels: %s\n", std::string(ctx.numerics.name()).c_str(),
                 cpu::isa_name(ctx.ops.isa()));
    runtime::SamplingParams sp;
    sp.temperature = o->temperature;
    sp.top_p = o->top_p;
    sp.top_k = o->top_k;
    sp.seed = o->seed;
    runtime::Sampler sampler(sp);
    dsv4::SequenceState seq = model.pools().new_sequence();
    dsv4::ForwardOutput out;
    using clock = std::chrono::steady_clock;
    auto t0 = clock::now();
    dsv4::SeqInput in{&seq, prompt, false};
    model.forward(ctx, std::span<const dsv4::SeqInput>(&in, 1), out);
    // NaN or infinity in the state or the logits (corrupt weights) ends the command with an error.
    auto nonfinite = [&] { return seq.nonfinite || !all_finite(out.logits.data(), cfg.vocab_size); };
    if (nonfinite()) return fail(Status::error(runtime::kNonFiniteError));
    auto t1 = clock::now();
    std::vector<int32_t> generated;
    int32_t tok = sampler.sample(out.logits.data(), cfg.vocab_size);
    generated.push_back(tok);
    std::printf("%d", tok);
    std::fflush(stdout);
    while (int(generated.size()) < o->max_tokens && (o->ignore_eos || tok != cfg.eos_token_id)) {
      dsv4::SeqInput step{&seq, std::span<const int32_t>(&tok, 1), false};
      model.forward(ctx, std::span<const dsv4::SeqInput>(&step, 1), out);
      if (nonfinite()) return fail(Status::error(runtime::kNonFiniteError));
      tok = sampler.sample(out.logits.data(), cfg.vocab_size);
      generated.push_back(tok);
      std::printf(",%d", tok);
      std::fflush(stdout);
    }
    auto t2 = clock::now();
    std::printf("\n");
    const double pre_s = std::chrono::duration<double>(t1 - t0).count();
    const double dec_s = std::chrono::duration<double>(t2 - t1).count();
    std::fprintf(stderr, "prompt %zu tokens in %.3f s (%.1f tok/s); generated %zu tokens, decode %.1f tok/s\n",
                 prompt.size(), pre_s, double(prompt.size()) / pre_s, generated.size(),
                 generated.size() > 1 ? double(generated.size() - 1) / dec_s : 0.0);
    model.pools().release(seq);
    return 0;
  });
}

}  // namespace tachyon::cli
