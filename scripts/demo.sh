#!/usr/bin/env bash
# The main job on embedded defaults, no server needed: create an officer's
# laptop store for Thuận Giao ward (Bình Dương), generate a day's worth of
# realistic synthetic enrollments, enroll them offline and show the queue.
#   scripts/demo.sh [COUNT]      (default 10000; data in ./demo-data, recreated each run)
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-10000}"
cargo build --release --locked -p doorstep-cli
bin=target/release/doorstep
dir=demo-data
rm -rf "$dir"   # demo data only: a real store is never deleted
"$bin" field init --data-dir "$dir/laptop" --unit 725 \
  --device-name "Tổ công tác số 3 - Công an TP Thuận An" --units data/units/units_2023.csv
"$bin" gen --count "$count" --seed 2023 --data-dir "$dir/laptop" > "$dir/records.ndjson"
echo "== enroll $count records offline"
"$bin" field enroll --data-dir "$dir/laptop" "$dir/records.ndjson" > "$dir/record-ids.txt"
echo "== status"
"$bin" field status --data-dir "$dir/laptop"
echo "== the five newest records"
"$bin" field list --data-dir "$dir/laptop" --limit 5
echo "== store check"
"$bin" field check --data-dir "$dir/laptop"
