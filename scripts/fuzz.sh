#!/usr/bin/env bash
# Builds and runs Tandem's fuzz targets (the cargo-fuzz crate in fuzz/).
#
#   scripts/fuzz.sh                 every target for 30 s each
#   scripts/fuzz.sh -t 300 pipeline one target for 5 minutes
#   scripts/fuzz.sh --seeds         only replay the committed seeds (a
#                                   regression check; a few seconds)
#   scripts/fuzz.sh --keep-going    do not stop at the first crash: libFuzzer
#                                   runs in fork mode and records every crash
#   scripts/fuzz.sh --list          the targets
#
# Exits non-zero when a target crashes, and prints the reproducer's path and
# the command that replays it.
#
# Toolchain: only stable Rust is installed here, and that is enough. With
# `--sanitizer none` (the default below) cargo-fuzz passes rustc only stable
# flags (the sanitizer-coverage LLVM passes, --cfg fuzzing, debug
# assertions); libfuzzer-sys compiles libFuzzer from its C++ sources.
# AddressSanitizer needs the nightly-only -Zsanitizer=address; for
# FUZZ_SANITIZER=address the script sets RUSTC_BOOTSTRAP=1, which lets the
# stable compiler accept it. cargo-fuzz itself is installed from crates.io
# when missing.
#
# Sanitizer: none by default. The dataplane crate forbids `unsafe`, so
# AddressSanitizer has nothing to find there and costs about 5x in speed;
# what the targets look for are panics (index out of range, arithmetic
# overflow: cargo-fuzz builds with debug assertions on) and broken
# invariants (assertions in the targets).
#
# Corpus: fuzz/corpus/<target>/ is the working corpus (not committed; it
# grows as libFuzzer finds new coverage); fuzz/seeds/<target>/ holds the
# committed seeds: frames and scripts that reach deep, and every crash found
# so far (crash-*). Each run first replays every seed on its own (a
# regression check: a crash seed fails until its bug is fixed), then fuzzes
# from the corpus and the seeds that passed. Crashes go to
# fuzz/artifacts/<target>/.
#
# Known findings: TANDEM_FUZZ_ALLOW=name,... makes the pipeline target look
# past a reported bug (names in fuzz/src/known.rs), e.g. to fuzz on beyond
# it before it is fixed. By default every check is strict.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

seconds=${FUZZ_SECONDS:-30}
sanitizer=${FUZZ_SANITIZER:-none}
[ "$sanitizer" = none ] || export RUSTC_BOOTSTRAP=1
mode=run
keep_going=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    -t|--time) seconds="$2"; shift 2 ;;
    --seeds) mode=seeds; shift ;;
    --keep-going) keep_going=1; shift ;;
    --list) mode=list; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

all_targets=$(cd fuzz && cargo fuzz list)
if [ "$mode" = list ]; then
  echo "$all_targets"
  exit 0
fi
[ ${#targets[@]} -eq 0 ] && mapfile -t targets <<<"$all_targets"
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$all_targets" || { echo "no fuzz target '$t'" >&2; exit 2; }
done

echo "== building the fuzz targets"
(cd fuzz && cargo fuzz build --sanitizer "$sanitizer")

# Replays every seed of target $1 on its own; prints one line per seed and
# copies the ones that pass into directory $2.
replay_seeds() {
  local t=$1 passing=$2 f out
  echo "== $t: replaying $(ls "fuzz/seeds/$t" | wc -l) seeds"
  for f in fuzz/seeds/"$t"/*; do
    [ -f "$f" ] || continue
    if out=$(cd fuzz && cargo fuzz run --sanitizer "$sanitizer" "$t" "${f#fuzz/}" -- -runs=1 2>&1); then
      echo "   ok      $f"
      cp "$f" "$passing/"
    else
      echo "   FAILED  $f: $(grep -A1 -m1 'panicked at' <<<"$out" | tail -n 1 | cut -c1-160)"
      failed+=("$t:$(basename "$f")")
    fi
  done
}

failed=()
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  artifacts="fuzz/artifacts/$t"
  passing=$(mktemp -d)
  mkdir -p "$corpus" "fuzz/seeds/$t" "$artifacts"
  # Seeds that fail (known, reported crashes) are left out of the fuzzing
  # run, so that it can look for new ones.
  replay_seeds "$t" "$passing"
  if [ "$mode" = seeds ]; then
    rm -rf "$passing"
    continue
  fi
  before=$(ls "$artifacts")
  echo "== $t: fuzzing for ${seconds}s"
  # -timeout: an input running 10 s is a hang, reported like a crash.
  args=(-timeout=10 -print_final_stats=1 -max_total_time="$seconds")
  [ "$keep_going" = 1 ] && args+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1)
  log="fuzz/artifacts/$t.log"
  set +e
  (cd fuzz && cargo fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" "$passing" -- "${args[@]}") \
    >"$log" 2>&1
  status=$?
  set -e
  rm -rf "$passing"
  grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|stat::(number_of_executed_units|average_exec_per_sec)|==[0-9]+==ERROR|SUMMARY|thread .* panicked|error)' \
    "$log" || true
  new=$(comm -13 <(echo "$before") <(ls "$artifacts") | grep -v '^$' || true)
  if [ "$status" -ne 0 ] || [ -n "$new" ]; then
    failed+=("$t")
    echo "!! $t failed (exit $status); log: $log"
    grep -A1 -m1 'panicked at' "$log" | tail -n 1 | cut -c1-200 | sed 's/^/   /'
    for f in $new; do
      echo "   reproducer: $artifacts/$f"
      echo "   replay:     (cd fuzz && cargo fuzz run -s $sanitizer $t artifacts/$t/$f)"
      echo "   minimize:   (cd fuzz && cargo fuzz tmin -s $sanitizer $t artifacts/$t/$f)"
    done
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "== failed: ${failed[*]}"
  exit 1
fi
echo "== no crash in: ${targets[*]}"
