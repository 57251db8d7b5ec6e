#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/CMakeLists.txt, clang + ASan/UBSan) and runs each one briefly,
# starting from a seed corpus made from the test data. Exits non-zero if any target crashes; the
# crashing input is kept as <build>/<target>-crash-*.
#
#   scripts/run-fuzz.sh [seconds-per-target]      (default 15; FUZZ_BUILD sets the build folder)
set -euo pipefail

SECS=${1:-15}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${FUZZ_BUILD:-$ROOT/build-fuzz}
CXX=${FUZZ_CXX:-$(command -v clang++ || command -v clang++-14 || true)}
if [ -z "$CXX" ]; then
  echo "run-fuzz: clang++ not found (scripts/install-deps.sh installs it)" >&2
  exit 2
fi

cmake -S "$ROOT/fuzz" -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER="$CXX" >/dev/null
ninja -C "$BUILD"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# One seed file per line of a JSONL file: the string field $2 when python3 is there, else the line.
jsonl_seeds() {
  local file=$1 field=$2 out=$3
  [ -f "$file" ] || return 0
  if command -v python3 >/dev/null; then
    python3 - "$file" "$field" "$out" <<'PY'
import json, os, sys
path, field, out = sys.argv[1:4]
with open(path, encoding="utf-8") as f:
    for i, line in enumerate(f):
        v = json.loads(line).get(field) if line.strip() else None
        if isinstance(v, str):
            with open(os.path.join(out, "seed%05d" % i), "wb") as g:
                g.write(v.encode("utf-8", "surrogatepass"))
        elif v is not None:  # a JSON value (e.g. a chat request): its JSON text
            with open(os.path.join(out, "seed%05d" % i), "wb") as g:
                g.write(json.dumps(v, ensure_ascii=False).encode("utf-8"))
PY
  else
    split -l 1 -a 5 "$file" "$out/seed"
  fi
}

# seeds <target> <dir>: writes the seed corpus of a target. Add a case for each new target.
seeds() {
  case "$1" in
    tokenizer_fuzz) jsonl_seeds "$ROOT/tests/data/tokenizer/cases.jsonl" text "$2" ;;
    chat_request_fuzz) jsonl_seeds "$ROOT/tests/data/chat/cases.jsonl" request "$2" ;;
    chat_completion_parser_fuzz) jsonl_seeds "$ROOT/tests/data/chat/parse_cases.jsonl" text "$2" ;;
    *) ;;
  esac
}

status=0
found=0
for bin in "$BUILD"/*_fuzz; do
  [ -x "$bin" ] || continue
  found=1
  name=$(basename "$bin")
  corpus="$WORK/$name"
  mkdir -p "$corpus"
  seeds "$name" "$corpus"
  echo "== $name: ${SECS}s, $(ls "$corpus" | wc -l) seeds"
  if "$bin" -max_total_time="$SECS" -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$BUILD/$name-" "$corpus" >"$WORK/$name.log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$WORK/$name.log" | tr '\n' ' '
    echo
  else
    tail -n 40 "$WORK/$name.log"
    echo "run-fuzz: $name FAILED (input saved as $BUILD/$name-*)" >&2
    status=1
  fi
done
if [ "$found" = 0 ]; then
  echo "run-fuzz: no fuzz targets were built" >&2
  exit 2
fi
exit $status
