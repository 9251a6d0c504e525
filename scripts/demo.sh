#!/usr/bin/env bash
# The main job on embedded defaults, no server to install: `doorstep demo`
# starts central on a loopback port with its embedded SQLite store, creates
# three officers' laptops (home visits, hospital beds, a factory), enrolls
# generated records on them while central is still down, brings central up,
# syncs, and prints a per-laptop summary and central's totals.
#   scripts/demo.sh [RECORDS_PER_LAPTOP]   (default 2000; data in ./demo-data, recreated each run)
set -euo pipefail
cd "$(dirname "$0")/.."
records="${1:-2000}"
cargo build --release --locked -p doorstep-cli
bin=target/release/doorstep
dir=demo-data
rm -rf "$dir"   # demo data only: a real store is never deleted
"$bin" demo --dir "$dir" --records "$records"
