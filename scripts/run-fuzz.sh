#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/CMakeLists.txt, clang + ASan/UBSan) and runs each one, starting
# from seeds made from the test data plus the kept corpus of tests/data/fuzz/<target>/ (read only
# during a run). Exits non-zero if any target crashes, hangs or runs out of memory; the input is kept
# as <build>/<target>-crash-* (or -timeout-*, -oom-*).
#
#   scripts/run-fuzz.sh [seconds-per-target] [target...]     (default 15 s; default every target)
#   scripts/run-fuzz.sh --update-corpus [seconds] [target...]
#
# --update-corpus refreshes the kept corpus after the run: libFuzzer's -merge=1 keeps, out of the old
# corpus and whatever the run found, a small set of inputs that add coverage beyond the generated seeds,
# and that set replaces tests/data/fuzz/<target>/ (commit it as test data; see update_corpus below).
# FUZZ_BUILD sets the build folder, FUZZ_CXX the compiler.
set -euo pipefail

UPDATE=0
if [ "${1:-}" = "--update-corpus" ]; then
  UPDATE=1
  shift
fi
SECS=${1:-15}
[ $# -gt 0 ] && shift
TARGETS=("$@")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${FUZZ_BUILD:-$ROOT/build-fuzz}
KEPT=$ROOT/tests/data/fuzz
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

# Seeds cut from the real checkpoints and configs (scripts/fuzz-seeds.py); without python3 only the
# kept corpus seeds these targets.
model_file_seeds() {
  if command -v python3 >/dev/null; then
    python3 "$ROOT/scripts/fuzz-seeds.py" "$1" "$2" "$ROOT"
  else
    echo "run-fuzz: python3 not found: $1 starts from its kept corpus only" >&2
  fi
}

# seeds <target> <dir>: writes the generated seed corpus of a target. Add a case for each new target.
seeds() {
  case "$1" in
    tokenizer_fuzz) jsonl_seeds "$ROOT/tests/data/tokenizer/cases.jsonl" text "$2" ;;
    chat_request_fuzz) jsonl_seeds "$ROOT/tests/data/chat/cases.jsonl" request "$2" ;;
    chat_completion_parser_fuzz) jsonl_seeds "$ROOT/tests/data/chat/parse_cases.jsonl" text "$2" ;;
    safetensors_fuzz | safetensors_index_fuzz | model_config_fuzz) model_file_seeds "$1" "$2" ;;
    *) echo "run-fuzz: no seeds are generated for $1 (add a case to seeds())" >&2 ;;
  esac
}

# update_corpus <bin> <name> <run corpus> <seeds>: replaces the kept corpus by a minimal one: the inputs
# of at most FUZZ_KEEP_MAX_BYTES (default 16384; larger ones are mostly mutations of the real headers that
# the seeds bring back anyway) that cover, edge-wise, what the seeds do not; a greedy set cover keeps it
# to a few hundred KB.
update_corpus() {
  local bin=$1 name=$2 corpus=$3 seeds=$4 merged=$WORK/$2.merged candidates=$WORK/$2.candidates
  local max=${FUZZ_KEEP_MAX_BYTES:-16384}
  mkdir -p "$merged" "$candidates" "$KEPT/$name"
  cp -r "$seeds"/. "$merged"/
  find "$KEPT/$name" "$corpus" -type f -size -$((max + 1))c -exec cp -t "$candidates" {} +
  # Inputs are added to $merged only when they cover something the seeds (already there) do not.
  "$bin" -merge=1 -set_cover_merge=1 -use_counters=0 -rss_limit_mb=4096 -timeout=10 "$merged" "$candidates" \
      >"$WORK/$name.merge.log" 2>&1 ||
    { tail -n 20 "$WORK/$name.merge.log"; echo "run-fuzz: merging the corpus of $name failed" >&2; return 1; }
  (cd "$seeds" && find . -type f -exec rm -f "$merged/{}" \;)
  rm -rf "$KEPT/$name"
  mkdir -p "$KEPT/$name"
  cp -r "$merged"/. "$KEPT/$name"/
  echo "   kept corpus: $(find "$KEPT/$name" -type f | wc -l) files, $(cat "$KEPT/$name"/* 2>/dev/null | wc -c) bytes"
}

status=0
found=0
for bin in "$BUILD"/*_fuzz; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  if [ ${#TARGETS[@]} -gt 0 ] && [[ ! " ${TARGETS[*]} " == *" $name "* ]]; then continue; fi
  found=1
  corpus="$WORK/$name"
  seeded="$WORK/$name.seeds"
  mkdir -p "$corpus" "$seeded"
  seeds "$name" "$seeded"
  cp -r "$seeded"/. "$corpus"/
  dirs=("$corpus")
  [ -d "$KEPT/$name" ] && dirs+=("$KEPT/$name")  # read, never written: new inputs go to the first folder
  echo "== $name: ${SECS}s, $(ls "$corpus" | wc -l) seeds, $(ls "$KEPT/$name" 2>/dev/null | wc -l) kept inputs"
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a blow-up in memory fails the run too.
  if "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$BUILD/$name-" "${dirs[@]}" >"$WORK/$name.log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$WORK/$name.log" | tr '\n' ' '
    echo
    if [ "$UPDATE" = 1 ]; then update_corpus "$bin" "$name" "$corpus" "$seeded" || status=1; fi
  else
    tail -n 40 "$WORK/$name.log"
    echo "run-fuzz: $name FAILED (input saved as $BUILD/$name-*)" >&2
    status=1
  fi
done
if [ "$found" = 0 ]; then
  echo "run-fuzz: no fuzz targets were built${TARGETS[*]:+ matching: ${TARGETS[*]}}" >&2
  exit 2
fi
exit $status
