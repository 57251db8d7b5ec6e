// `tachyon serve` and the top-level flags as a user meets them: flag values out of range are refused
// with a message a person can read, a missing model path says so, a context or cache that cannot be
// had is refused (never silently clamped), --version and --log-level after the subcommand work, and
// the key given through TACHYON_API_KEY stays out of what the server prints.
#include <gtest/gtest.h>

#include <string>

#include "../common/test_util.h"

namespace tachyon {
namespace {

namespace fs = std::filesystem;
using testing::CliResult;
using testing::run_cli;

const fs::path kDemo = fs::path(TACHYON_TEST_DATA).parent_path().parent_path() / "assets" / "tachyon-demo-v4";

std::string serve(const std::string& flags) { return "serve --model '" + kDemo.string() + "' --port 0 " + flags; }

// `tachyon serve` with a deadline: a start that should fail but serves instead is killed, not waited for.
CliResult run_serve(const std::string& flags) {
  testing::TempDir io;
  const std::string out = (io.path() / "out").string(), err = (io.path() / "err").string();
  const std::string cmd =
      "timeout -s KILL 60 '" + std::string(TACHYON_BIN) + "' " + serve(flags) + " >'" + out + "' 2>'" + err + "'";
  const int st = std::system(cmd.c_str());
  CliResult r;
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = testing::read_file(out);
  r.err = testing::read_file(err);
  return r;
}

// One line, "tachyon: error: ...", exit status 1.
void expect_refused(const CliResult& r, const std::string& needle) {
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("tachyon: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

TEST(ServeCli, OutOfRangeFlagsAreRefusedReadably) {
  const CliResult seqs = run_serve("--max-num-seqs 0");
  expect_refused(seqs, "--max-num-seqs: Value 0 not in range 1 to 4096");
  EXPECT_EQ(seqs.err.find("e+308"), std::string::npos) << seqs.err;
  expect_refused(run_serve("--threads -3"), "--threads");
  expect_refused(run_serve("--max-connections 0"), "--max-connections");
  expect_refused(run_serve("--header-timeout 0"), "--header-timeout");
  expect_refused(run_serve("--max-tokenize-bytes 12Q"), "--max-tokenize-bytes");
  expect_refused(run_serve("--cache-memory 1e30G"), "--cache-memory");
}

TEST(ServeCli, MissingModelPathSaysSo) {
  expect_refused(run_cli("serve --model /nonexistent/model-folder --port 0"),
                 "--model /nonexistent/model-folder: no such file or directory");
}

TEST(ServeCli, ContextAndCacheThatCannotBeHadAreRefused) {
  // The demo model's context is 4096 tokens (max_position_embeddings).
  expect_refused(run_serve("--max-model-len 100000"), "max_position_embeddings 4096");
  expect_refused(run_serve("--max-model-len 4096 --cache-memory 1M"), "does not fit in the cache: 1.0 MiB of cache memory");
  expect_refused(run_serve("--cache-memory 100000T"), "more than this machine's memory");
}

TEST(ServeCli, VersionAndLogLevelAfterTheSubcommand) {
  const CliResult v = run_cli("--version");
  EXPECT_EQ(v.rc, 0) << v.err;
  EXPECT_EQ(v.out.rfind("tachyon ", 0), 0u) << v.out;
  const CliResult i = run_cli("inspect '" + kDemo.string() + "' --log-level info");
  EXPECT_EQ(i.rc, 0) << i.err;
  expect_refused(run_cli("inspect '" + kDemo.string() + "' --log-level loud"), "--log-level");
}

TEST(ServeCli, ApiKeyFromTheEnvironmentIsNotPrinted) {
  testing::TempDir io;
  const std::string err = (io.path() / "err").string();
  // Start, wait for the example request, then SIGTERM: the server drains (nothing runs) and exits 0.
  const std::string cmd = "TACHYON_API_KEY=sekrit-7f3a '" + std::string(TACHYON_BIN) + "' " +
                          serve("--threads 1 --cache-memory 64M") + " 2>'" + err +
                          "' & pid=$!; for i in $(seq 1 300); do grep -q 'Try it' '" + err +
                          "' && break; sleep 0.1; done; kill -TERM $pid; wait $pid";
  const int st = std::system(cmd.c_str());
  const std::string text = testing::read_file(err);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << text;
  EXPECT_NE(text.find("serving 'tachyon-demo-v4'"), std::string::npos) << text;
  EXPECT_NE(text.find("-H \"Authorization: Bearer $TACHYON_API_KEY\""), std::string::npos) << text;
  EXPECT_EQ(text.find("sekrit-7f3a"), std::string::npos) << text;
}

}  // namespace
}  // namespace tachyon
