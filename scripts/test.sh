#!/usr/bin/env bash
# Every test of the workspace, as CI runs it. Release build: the scenario
# tests (100,000-record enroll, SIGKILL crash loop) run real processes.
# Needs only Rust (cargo). The PostgreSQL tests (central's conformance
# suite on PostgreSQL, two ingest nodes on one database) run against
# DOORSTEP_TEST_DATABASE_URL (.ci/run sets it; the database is created if
# missing) and print "skipped: ..." without it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DOORSTEP_TEST_DATABASE_URL:-}" ]; then
    echo "skipped: the PostgreSQL tests (DOORSTEP_TEST_DATABASE_URL is not set)" >&2
fi
cargo test --workspace --release --locked
