// tachyon logits: teacher-forced logits of a token sequence, written as safetensors (`logits` F32
// [n, vocab], and with --mtp `mtp_logits` F32 [n-1, vocab]).
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "cli_util.h"
#include "model/deepseek_v4/scoring.h"

namespace tachyon::cli {

void add_logits(CLI::App& app, Action& action) {
  struct Opts {
    std::string model, tokens, tokens_file, out, numerics = "official", kv_cache_dtype = "auto", isa = "auto";
    int64_t prefill_chunk = 0, decode_from = -1;
    bool mtp = false;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("logits", "Teacher-forced logits of a token sequence, as safetensors");
  c->add_option("--model", o->model, "Checkpoint folder")->required();
  auto* tk = c->add_option("--tokens", o->tokens, "Comma-separated token ids");
  auto* tf = c->add_option("--tokens-file", o->tokens_file, "JSON array of token ids");
  tk->excludes(tf);
  c->add_option("--out", o->out, "Output .safetensors file")->required();
  add_numerics_option(c, &o->numerics);
  c->add_option("--prefill-chunk", o->prefill_chunk, "Tokens per prefill call (0 = all)")->check(CLI::NonNegativeNumber);
  c->add_option("--decode-from", o->decode_from, "Feed tokens from this index on one at a time");
  c->add_flag("--mtp", o->mtp, "Also write mtp_logits");
  c->add_option("--threads", o->threads, "Compute threads (0 = all cores)");
  add_kv_cache_dtype_option(c, &o->kv_cache_dtype);
  add_isa_option(c, &o->isa);
  action_on(c, action, [o]() -> int {
    std::vector<int32_t> tokens;
    Status st = o->tokens_file.empty() ? parse_token_list(o->tokens, &tokens) : read_token_file(o->tokens_file, &tokens);
    if (!st.is_ok()) return fail(st);
    if (tokens.empty()) return fail(Status::error("no tokens given (use --tokens or --tokens-file)"));
    auto ms = open_model(o->model, o->threads, o->numerics, o->kv_cache_dtype, o->isa, tokens);
    if (!ms.is_ok()) return fail(ms.status());
    const auto& cfg = ms->ck->config;
    if (o->mtp && !cfg.has_mtp()) return fail(Status::error("--mtp: this checkpoint has no MTP module"));
    dsv4::ScoringPlan plan{o->prefill_chunk, o->decode_from, o->mtp};
    dsv4::ScoringResult r = dsv4::score_tokens(*ms->model, ms->ctx, tokens, plan);
    const int64_t n = int64_t(tokens.size()), V = cfg.vocab_size;
    std::vector<TensorToWrite> outs;
    outs.push_back({"logits", DType::kF32, {n, V}, floats_to_bytes(r.logits)});
    if (o->mtp) outs.push_back({"mtp_logits", DType::kF32, {n - 1, V}, floats_to_bytes(r.mtp_logits)});
    if (Status ws = write_safetensors(o->out, outs); !ws.is_ok()) return fail(ws);
    return 0;
  });
}

}  // namespace tachyon::cli
