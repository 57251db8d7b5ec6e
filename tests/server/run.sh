#!/usr/bin/env bash
# Server tests: starts `tachyon serve` on a free loopback port, runs one Node test file against it with
# the official `openai` npm package (v6), then stops the server with SIGTERM and checks that it exits
# cleanly. The model is the random-weight `tiny` preset (real DeepSeek-V4 tokenizer), generated once
# per build folder, or the folder in TACHYON_TEST_MODEL (served as TACHYON_TEST_MODEL_NAME, which the
# tests read too); the SDK and ajv (package.json) are installed into tests/server/node_modules
# (git-ignored) when missing.
#
# The test sees the server's pid in TACHYON_SERVER_PID. With TACHYON_TEST_STOPS_SERVER=1 the test itself
# signals the server; run.sh then only waits (up to 60 s) for it to exit, and checks that it exited cleanly.
#
# Usage: [TACHYON_TEST_MODEL=DIR TACHYON_TEST_MODEL_NAME=NAME] run.sh TACHYON_BIN WORK_DIR TEST.mjs [extra `tachyon serve` flags...]
set -euo pipefail

bin=$1 work=$2 test=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"

# One-time setup, serialised across parallel ctest runs.
(
  flock 9
  model=$work/tiny-model
  if [ ! -f "$model/config.json" ]; then
    rm -rf "$model.tmp"
    "$bin" make-tiny-model --preset tiny --seed 7 --out "$model.tmp" --threads 2 >/dev/null
    mv "$model.tmp" "$model"
  fi
  if [ ! -f "$here/node_modules/openai/package.json" ] || [ ! -f "$here/node_modules/ajv/package.json" ]; then
    (cd "$here" && npm install --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null)
  fi
) 9>"$work/.setup.lock"

log=$(mktemp "$work/serve.XXXXXX.log")
export TACHYON_TEST_MODEL_NAME=${TACHYON_TEST_MODEL_NAME:-tiny}
"$bin" serve --model "${TACHYON_TEST_MODEL:-$work/tiny-model}" --served-model-name "$TACHYON_TEST_MODEL_NAME" \
  --port 0 --threads 1 --cache-memory 256M \
  "$@" 2>"$log" &
pid=$!
cleanup() {
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n1)
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "server exited during startup"; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { cat "$log"; echo "server did not bind"; exit 1; }
url=http://127.0.0.1:$port
for _ in $(seq 1 1200); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$url/health" || true)
  [ "$code" = 200 ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "server exited while loading"; exit 1; }
  sleep 0.1
done
[ "$code" = 200 ] || { cat "$log"; echo "/health never became 200"; exit 1; }

rc=0
TACHYON_SERVER_PID=$pid node "$here/$test" "$url" || rc=$?

wait_s=10
if [ "${TACHYON_TEST_STOPS_SERVER:-0}" = 1 ]; then
  wait_s=60
else
  kill -TERM "$pid"
fi
src=0
for _ in $(seq 1 $((wait_s * 10))); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
  echo "server did not stop within $wait_s s of SIGTERM"
  src=1
else
  wait "$pid" || src=$?
fi
if [ "$rc" != 0 ] || [ "$src" != 0 ]; then
  echo "---- server log ($log) ----"
  tail -n 50 "$log"
  echo "test exit $rc, server exit $src"
  exit 1
fi
rm -f "$log"
