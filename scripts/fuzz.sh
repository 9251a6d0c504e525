#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ one after another and prints, per
# target: executions, wall time, executions per second, crashes, corpus.
#
#   scripts/fuzz.sh                  every target, 1,000,000 executions each
#   scripts/fuzz.sh --short          every target, 20,000 executions each
#   scripts/fuzz.sh --runs N [T...]  targets T (default: all), N executions each
#   scripts/fuzz.sh --fresh ...      start from the seeds again (drop fuzz/work/)
#
# Targets (fuzz/fuzz_targets/): batch_decode, bundle_parse, record_validate,
# proof_verify. Exit status 1 if any target crashed; the input that did it
# is in fuzz/artifacts/<target>/, and `cargo fuzz run --fuzz-dir fuzz
# --sanitizer none <target> <file>` replays it (`cargo fuzz fmt ...` prints
# it, `cargo fuzz tmin ...` shrinks it).
#
# How this works on stable Rust (no nightly here): cargo-fuzz 0.13 passes
# `-Zsanitizer=...` (or `-Zbuild-std`) only when a sanitizer is chosen;
# with `--sanitizer none` every flag it gives rustc is a stable codegen
# option: `-Cpasses=sancov-module` and `-Cllvm-args=-sanitizer-coverage-*`
# (libFuzzer's coverage counters and comparison tracing), `--cfg fuzzing`,
# `-Cdebug-assertions` (so overflow checks are on too) and
# `-Ccodegen-units=1`. libfuzzer-sys builds libFuzzer itself from C++
# source with the system C++ compiler. No RUSTC_BOOTSTRAP is needed.
# Without AddressSanitizer we lose little: the project's crates forbid
# unsafe code, and the C dependencies (zstd) would not be instrumented by
# rustc flags anyway. What is checked is every panic, every failed
# assertion of the targets' invariants, arithmetic overflow, and inputs
# slower than -timeout or larger than -rss_limit_mb.
#
# Seeds: fuzz/corpus/<target>/seed-* (scripts/fuzz-seed.sh builds them
# from proto/vectors/). New inputs go to fuzz/work/corpus/<target>/ (kept
# between runs, ignored by git), so the seed directories stay as committed.
# Targets run one at a time in one process each (no -jobs/-workers): the
# machine's cores are shared.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

all_targets=(batch_decode bundle_parse record_validate proof_verify)
runs=1000000
fresh=0
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --short) runs=20000 ;;
    --runs)
      [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || { echo "--runs needs a number" >&2; exit 2; }
      runs="$2"
      shift
      ;;
    --fresh) fresh=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *)
      if [[ " ${all_targets[*]} " != *" $1 "* ]]; then
        echo "unknown target $1 (targets: ${all_targets[*]})" >&2
        exit 2
      fi
      targets+=("$1")
      ;;
  esac
  shift
done
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "== installing cargo-fuzz (crates.io)"
  cargo install cargo-fuzz --locked
fi
if ! command -v c++ >/dev/null 2>&1; then
  echo "libfuzzer-sys needs a C++ compiler: apt-get install g++" >&2
  exit 1
fi

echo "== seeds from proto/vectors/"
scripts/fuzz-seed.sh

# The fuzz workspace's own target directory, whatever the caller's
# CARGO_TARGET_DIR: the binaries are run from there.
export CARGO_TARGET_DIR="$root/fuzz/target"
triple="$(rustc -vV | sed -n 's/^host: //p')"
echo "== building the fuzz targets (the first build takes several minutes)"
cargo fuzz build --fuzz-dir fuzz --sanitizer none --target "$triple"
bin="$CARGO_TARGET_DIR/$triple/release"

work="fuzz/work"
[[ $fresh -eq 0 ]] || rm -rf "$work"
mkdir -p "$work/logs"
summary="$work/summary.txt"
: >"$summary"
failed=0
rows=()
for target in "${targets[@]}"; do
  corpus="$work/corpus/$target"
  artifacts="fuzz/artifacts/$target"
  log="$work/logs/$target.log"
  mkdir -p "$corpus" "$artifacts"
  before="$(find "$artifacts" -type f | wc -l)"
  echo "== $target: $runs executions (log: $log)"
  start="$(date +%s.%N)"
  set +e
  # The binary `cargo fuzz run` would start, started here so that the
  # time is the fuzzing's alone and no rebuild happens between targets
  # (others edit the crates meanwhile): same options as cargo fuzz gives.
  "$bin/$target" "$corpus" "fuzz/corpus/$target" \
    -artifact_prefix="$artifacts/" \
    -runs="$runs" \
    -dict=fuzz/dict/doorstep.dict \
    -timeout=30 \
    -rss_limit_mb=2048 \
    -print_final_stats=1 >"$log" 2>&1
  status=$?
  set -e
  end="$(date +%s.%N)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  [[ -n "$execs" ]] || execs="$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -1)"
  [[ -n "$execs" ]] || execs=0
  crashes=$(($(find "$artifacts" -type f | wc -l) - before))
  if [[ $status -ne 0 && $crashes -eq 0 ]]; then
    crashes=1 # failed without an artifact (build error, abort): see the log
  fi
  files="$(find "$corpus" -type f | wc -l)"
  size="$(du -sh --apparent-size "$corpus" | cut -f1)"
  row="$(awk -v t="$target" -v n="$execs" -v a="$start" -v b="$end" -v c="$crashes" \
    -v f="$files" -v s="$size" 'BEGIN {
      w = b - a; if (w <= 0) w = 0.001;
      printf "%-16s %12d %9.1f %10.0f %8d   %d files, %s", t, n, w, n / w, c, f, s }')"
  rows+=("$row")
  echo "$row"
  if [[ $status -ne 0 ]]; then
    failed=1
    echo "!! $target failed (exit $status); last lines of $log:" >&2
    tail -n 30 "$log" >&2
    echo "!! replay: cargo fuzz run --fuzz-dir fuzz --sanitizer none $target $artifacts/<file>" >&2
  fi
done

{
  echo "fuzz run $(date -u +%Y-%m-%dT%H:%M:%SZ), $(rustc --version), cargo-fuzz $(cargo fuzz --version 2>/dev/null | awk '{print $2}'), -runs=$runs"
  printf '%-16s %12s %9s %10s %8s   %s\n' target executions "time (s)" "exec/s" crashes "corpus (fuzz/work)"
  printf '%s\n' "${rows[@]}"
} | tee "$summary"
exit "$failed"
