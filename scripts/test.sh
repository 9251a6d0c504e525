#!/usr/bin/env bash
# Every test of the workspace, as CI runs it. Release build: the scenario
# tests (100,000-record enroll, SIGKILL crash loop) run real processes.
# Needs only Rust (cargo). The PostgreSQL tests (central's conformance
# suite on PostgreSQL, two ingest nodes on one database) run against
# DOORSTEP_TEST_DATABASE_URL (.ci/run sets it; the database is created if
# missing) and print "skipped: ..." without it. The dashboard test drives
# headless Chromium through chromedriver: both are installed from Debian's
# packages when missing, and the test must then run (not skip).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    install() {
        # With its recommended fonts: Vietnamese must render in screenshots.
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            chromium chromium-driver >/dev/null
    }
    # The package lists are refreshed only when the first attempt fails.
    install || { $sudo apt-get update -qq >/dev/null && install; } ||
        echo "could not install chromium and chromium-driver with apt-get" >&2
fi
export DOORSTEP_REQUIRE_BROWSER=1
if [ -z "${DOORSTEP_TEST_DATABASE_URL:-}" ]; then
    echo "skipped: the PostgreSQL tests (DOORSTEP_TEST_DATABASE_URL is not set)" >&2
fi
cargo test --workspace --release --locked
