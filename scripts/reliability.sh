#!/usr/bin/env bash
# The crash loop (tests/reliability.rs): three registered laptops and a
# station enroll and sync through seeded fault-injecting proxies while
# laptops, the station and central are SIGKILLed and restarted; then every
# record must be at central exactly once, every laptop must agree with it,
# `audit verify` and `integrity_check` must pass everywhere.
#
#   scripts/reliability.sh            short mode (what CI runs: ~1,000 records)
#   scripts/reliability.sh --long     long mode (10,000+ records, 1,000+ faults, 200+ crashes)
#   scripts/reliability.sh --seed N   another seed (default 20261124)
#
# Release build. The report is printed and kept in
# target/release/reliability-report.json (or under CARGO_TARGET_DIR).
# Only loopback addresses are used; every loop is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=short
while [ $# -gt 0 ]; do
    case "$1" in
        --long) mode=long ;;
        --short) mode=short ;;
        --seed) shift; export DOORSTEP_RELIABILITY_SEED="${1:?--seed needs a number}" ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
export DOORSTEP_RELIABILITY="$mode"
cargo test --release --locked -p doorstep-tests --test reliability -- --nocapture
