#!/usr/bin/env bash
# Builds the fuzz targets' seed corpora, fuzz/corpus/<target>/seed-*, from
# proto/vectors/ (canonical and invalid records, sync, log and register
# messages; bundles and sealed records made from them). The output depends
# only on the vectors, so re-running it after a vector changes gives the
# seeds to commit. Inputs libFuzzer adds to those directories (named by
# their SHA-1) are left alone and ignored by git (fuzz/.gitignore).
#
#   scripts/fuzz-seed.sh            write fuzz/corpus/
#   scripts/fuzz-seed.sh --check    exit 1 if the committed seeds are stale
#
# Builds fuzz/seed (a small plain Rust program: serde_json, zstd, sha2,
# crypto_box; no libFuzzer, no instrumentation) on stable Rust.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="$root/fuzz/target"

cargo build --quiet --manifest-path fuzz/Cargo.toml -p doorstep-fuzz-seed
seed="$CARGO_TARGET_DIR/debug/fuzz-seed"

if [[ "${1:-}" == "--check" ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  "$seed" proto/vectors "$tmp" >/dev/null
  status=0
  for dir in "$tmp"/*/; do
    target="$(basename "$dir")"
    have="fuzz/corpus/$target"
    stale=0
    if ! diff <(ls "$dir") <(ls "$have" 2>/dev/null | grep '^seed-') >/dev/null; then
      stale=1
    else
      for f in "$dir"*; do
        cmp -s "$f" "$have/$(basename "$f")" || stale=1
      done
    fi
    if [[ $stale -eq 1 ]]; then
      echo "$have: seeds differ from what proto/vectors/ gives (run scripts/fuzz-seed.sh)" >&2
      status=1
    fi
  done
  exit "$status"
fi

"$seed" proto/vectors fuzz/corpus
