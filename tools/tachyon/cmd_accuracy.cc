// tachyon accuracy: each numeric mode's logits against exact (fp32) on the same sequences, and whether a
// faster mode stays within official's deviation (tools/accuracy.h).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "commands.h"
#include "io/safetensors.h"
#include "model/deepseek_v4/repack.h"
#include "tools/accuracy.h"

namespace tachyon::cli {

namespace {

struct AccuracyOpts {
  std::string model, modes = "official", tokens_file, golden, kv_cache_dtype = "auto", isa = "auto";
  int sequences = 4, threads = 0;
  int64_t length = 256;
  uint64_t seed = 1;
  bool json = false, check = false;
};

// A JSON array of token-id arrays (or one array: one sequence).
Status read_sequences(const std::string& path, std::vector<std::vector<int32_t>>* out) {
  nlohmann::json j;
  if (Status st = read_json_file(path, &j); !st.is_ok()) return st;
  if (!j.is_array() || j.empty()) return error("{}: expected a JSON array of token-id arrays", path);
  if (!j[0].is_array()) j = nlohmann::json::array({j});
  for (const auto& seq : j) {
    std::vector<int32_t> s;
    if (Status st = token_ids_from_json(seq, path, &s); !st.is_ok()) return st;
    out->push_back(std::move(s));
  }
  return Status::ok();
}

// The `seq<i>.tokens` integer tensors of a golden safetensors file, in order of i.
Status read_golden(const std::string& path, std::vector<std::vector<int32_t>>* out) {
  auto st = TensorStore::open(path);
  if (!st.is_ok()) return st.status();
  for (int i = 0;; ++i) {
    const TensorInfo* t = st->find("seq" + std::to_string(i) + ".tokens");
    if (!t) break;
    if (t->dtype != DType::kI64 && t->dtype != DType::kI32)
      return error("{}: seq{}.tokens is {}, expected I64 or I32", path, i, dtype_name(t->dtype));
    std::vector<int32_t> s(size_t(t->numel()));
    for (size_t k = 0; k < s.size(); ++k) {
      int64_t v = 0;
      if (t->dtype == DType::kI64) std::memcpy(&v, t->data + 8 * k, 8);
      else {
        int32_t w;
        std::memcpy(&w, t->data + 4 * k, 4);
        v = w;
      }
      if (v < 0 || v > INT32_MAX) return error("{}: seq{}.tokens holds {}, not a token id", path, i, v);
      s[k] = int32_t(v);
    }
    out->push_back(std::move(s));
  }
  if (out->empty()) return error("{}: no seq0.tokens tensor", path);
  return Status::ok();
}

std::vector<std::string> split_modes(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string m; std::getline(ss, m, ',');)
    if (!m.empty()) out.push_back(m);
  return out;
}

nlohmann::ordered_json dev_json(const runtime::LogitDeviation& d) {
  return {{"rel_l2", d.rel_l2}, {"mean_kl", d.mean_kl}, {"top1", d.top1}, {"rows", d.rows}};
}

void print_row(const char* what, const std::string& mode, const runtime::LogitDeviation& d) {
  if (d.rows == 0) return;
  std::printf("%-8s %-10s %10.3e %10.3e %8.4f %7lld\n", mode.c_str(), what, d.rel_l2, d.mean_kl, d.top1,
              static_cast<long long>(d.rows));
}

}  // namespace

void add_accuracy(CLI::App& app, Action& action) {
  auto o = std::make_shared<AccuracyOpts>();
  CLI::App* c = app.add_subcommand("accuracy", "Deviation of each numeric mode's logits from exact (fp32)");
  c->add_option("--model", o->model, "Checkpoint folder")->required();
  c->add_option("--modes", o->modes, "Comma-separated modes to compare with exact (official is always included)");
  auto* tf = c->add_option("--tokens-file", o->tokens_file, "JSON array of token-id arrays to score");
  auto* gf = c->add_option("--golden", o->golden, "Score the seq<i>.tokens sequences of a golden .safetensors");
  tf->excludes(gf);
  c->add_option("--sequences", o->sequences, "Without a file: this many of the model's own greedy sequences")
      ->check(CLI::Range(1, 1000));
  c->add_option("--length", o->length, "Without a file: tokens per sequence")->check(CLI::Range(2, 1 << 20));
  c->add_option("--seed", o->seed, "Seed of the greedy sequences' first tokens");
  c->add_option("--threads", o->threads, "Compute threads (0 = all cores)");
  c->add_flag("--json", o->json, "Print the report as JSON");
  c->add_flag("--check", o->check, "Exit 1 when a mode deviates from exact more than official does");
  add_kv_cache_dtype_option(c, &o->kv_cache_dtype);
  add_isa_option(c, &o->isa);
  action_on(c, action, [o]() -> int {
    const std::vector<std::string> modes = split_modes(o->modes);
    if (Status st = runtime::check_modes(modes); !st.is_ok()) return fail(st);
    std::vector<std::vector<int32_t>> seqs;
    if (!o->tokens_file.empty()) {
      if (Status st = read_sequences(o->tokens_file, &seqs); !st.is_ok()) return fail(st);
    } else if (!o->golden.empty()) {
      if (Status st = read_golden(o->golden, &seqs); !st.is_ok()) return fail(st);
    }
    std::vector<int32_t> all;
    for (const auto& s : seqs) all.insert(all.end(), s.begin(), s.end());
    auto ms = open_model(o->model, o->threads, "exact", o->kv_cache_dtype, o->isa, all);
    if (!ms.is_ok()) return fail(ms.status());
    // The fast numerics read the weights repacked into int8 rows where the kernels take them: their
    // error is part of what is measured (the other modes never read them).
    if (std::find(modes.begin(), modes.end(), "fast") != modes.end() && ms->ctx.ops.k->native_i8)
      ms->repacked_bytes = dsv4::repack_int8(*ms->ck, ms->ctx.ops);
    if (seqs.empty()) {
      if (o->length > ms->ck->config.max_position_embeddings)
        return fail(error("--length {} exceeds max_position_embeddings {}", o->length,
                          ms->ck->config.max_position_embeddings));
      seqs = runtime::greedy_sequences(*ms->model, ms->ctx, o->sequences, o->length, o->seed);
    }
    auto rep = runtime::measure_accuracy(*ms->model, ms->ctx, seqs, modes);
    if (!rep.is_ok()) return fail(rep.status());
    bool all_within = true;
    for (const auto& m : rep->modes) all_within = all_within && rep->within_official(m);
    if (o->json) {
      nlohmann::ordered_json j;
      j["sequences"] = rep->sequences;
      j["tokens"] = rep->tokens;
      j["isa"] = cpu::isa_name(ms->ctx.ops.isa());
      for (const auto& m : rep->modes) {
        nlohmann::ordered_json e;
        e["logits"] = dev_json(m.logits);
        if (m.mtp.rows) e["mtp_logits"] = dev_json(m.mtp);
        e["within_official"] = rep->within_official(m);
        j["modes"][m.mode] = e;
      }
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::printf("%lld sequences, %lld tokens, %s kernels; deviation from exact:\n",
                  static_cast<long long>(rep->sequences), static_cast<long long>(rep->tokens),
                  cpu::isa_name(ms->ctx.ops.isa()));
      std::printf("%-8s %-10s %10s %10s %8s %7s\n", "mode", "logits", "rel_l2", "mean_kl", "top1", "rows");
      for (const auto& m : rep->modes) {
        print_row("main", m.mode, m.logits);
        print_row("mtp", m.mode, m.mtp);
      }
      for (const auto& m : rep->modes)
        if (m.mode != "official")
          std::printf("%s: %s official's deviation\n", m.mode.c_str(),
                      rep->within_official(m) ? "within" : "OUTSIDE");
    }
    return o->check && !all_within ? 1 : 0;
  });
}

}  // namespace tachyon::cli
