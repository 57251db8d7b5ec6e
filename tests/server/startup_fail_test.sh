#!/usr/bin/env bash
# A `tachyon serve` whose start fails exits non-zero, every time, within a few seconds: a folder
# without tokenizer.json (it fails after the port is bound and the listener started: the case that
# once hung), a model path that does not exist, a port in use, and bad flag values.
#
# Usage: startup_fail_test.sh TACHYON_BIN MODEL_DIR [RUNS]
set -uo pipefail
bin=$1 model=$2 runs=${3:-50}
work=$(mktemp -d)
trap 'rm -rf "$work"; [ -n "${holder:-}" ] && kill -KILL "$holder" 2>/dev/null' EXIT
mkdir "$work/no-tokenizer"
cp "$model/config.json" "$work/no-tokenizer/"
fails=0

# expect_fail NAME ARGS...: the command must exit with status 1 within 30 s and print one error line.
expect_fail() {
  local name=$1
  shift
  timeout -s KILL 30 "$bin" serve "$@" >"$work/out" 2>"$work/err"
  local rc=$?
  if [ "$rc" != 1 ] || [ "$(grep -c '^tachyon: error: ' "$work/err")" != 1 ]; then
    echo "FAIL $name: exit $rc (137: hung and killed)"
    cat "$work/err"
    fails=$((fails + 1))
  fi
}

for i in $(seq 1 "$runs"); do
  expect_fail "no tokenizer.json (run $i)" --model "$work/no-tokenizer" --port 0
done
expect_fail "missing model path" --model "$work/does-not-exist" --port 0
expect_fail "bad flag value" --model "$model" --port 0 --max-num-seqs 0
expect_fail "negative threads" --model "$model" --port 0 --threads -3
expect_fail "unknown log level" --model "$model" --port 0 --log-level loud

# A port in use (a listener that accepts nothing: the bind itself must fail, and SO_REUSEPORT must not
# let a second server share the port).
python3 -c 'import socket,time,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(600)' >"$work/port" &
holder=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")
expect_fail "port in use" --model "$model" --port "$port"

# Another tachyon server on the same port (httplib's default socket options would let both bind).
"$bin" serve --model "$model" --port 0 --threads 1 --cache-memory 64M 2>"$work/first.log" &
first=$!
for _ in $(seq 1 200); do grep -q 'listening on' "$work/first.log" && break; sleep 0.05; done
port2=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/first.log")
expect_fail "port of another tachyon" --model "$model" --port "$port2"
kill -TERM "$first"; wait "$first"

echo "$fails failures"
[ "$fails" = 0 ]
