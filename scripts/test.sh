#!/usr/bin/env bash
# Every test of the workspace, as CI runs it. Release build: the scenario
# tests (100,000-record enroll, SIGKILL crash loop) run real processes.
# Needs only Rust (cargo); PostgreSQL-backed tests, when they exist, read
# DOORSTEP_TEST_DATABASE_URL and print "skipped: ..." without it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --release --locked
