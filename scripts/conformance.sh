#!/usr/bin/env bash
# API conformance run: schemathesis against a live, throw-away central,
# checked against proto/openapi.yaml. No 5xx, no answer that breaks the
# spec (status, content type, headers, body schema), bad input refused.
#
#   scripts/conformance.sh [--short] [--max-examples N] [--seed S] [--keep]
#
#   --short            a few examples per operation (a quick check, ~1 min)
#   --max-examples N   examples per operation and phase (default 1000, or 10 with --short)
#   --seed S           the generation seed (default 20231124): the same seed generates the same cases
#   --keep             keep the central's data directories (printed at the end)
#
# What it does:
#   1. A Python venv in $CARGO_TARGET_DIR/conformance-venv (target/ by default) with a
#      pinned schemathesis from PyPI, made once.
#   2. Builds the doorstep binary (release).
#   3. Starts central on a free 127.0.0.1 port (loopback only), embedded SQLite in a temp
#      dir, with the 2023 unit list; imports a campaign (kich-hoat-2023, the spec's example)
#      and a roster; provisions and registers a laptop, which enrolls signed records, syncs,
#      downloads its worklist, records a visit and syncs again: the log, devices, sessions,
#      activity, progress and coverage have something to show.
#   4. Pass "central": every operation of the spec against that central, which requires
#      registration (the default). Schemathesis cannot sign requests (Ed25519 over the body,
#      sync-v1.md 2.4), so POST /v1/batches, /v1/custody and /v1/worklist are exercised for
#      their refusals: unsigned or garbage-signed requests must get their documented 4xx
#      problem answers (401 auth.*, 400 auth.malformed, 415, ...), never a 5xx.
#   5. Pass "open": the sync and attachments operations (POST /v1/batches, /v1/custody,
#      HEAD and PATCH /v1/blobs/{sha256}) against a second central started with
#      --allow-unregistered, where unsigned requests get past authentication: bodies are
#      parsed and checked (receipts with per-record outcomes, custody answers, chunk
#      checks). This pass leaves out the four optional signature headers (an unsigned
#      sender sends none; with doorstep-node and no valid signature every request would stop
#      at 400 auth.malformed or 401, which pass "central" covers) and the optional
#      Content-Encoding (a generated `zstd` over a JSON body stops at 400 encoding.invalid).
#   Both passes read a copy of proto/ whose openapi.yaml has each `externalValue` example
#   inlined as `value` (schemathesis does not fetch external examples): the golden vectors
#   (batches, registrations) are sent in the examples phase. Nothing else is changed.
#   6. Stops the centrals (trap) and exits non-zero if either pass found a failure.
#
# Reports (JUnit XML, NDJSON events) go to $CARGO_TARGET_DIR/conformance/<pass>/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

SCHEMATHESIS_VERSION=4.32.5

short=0
max_examples=
seed=20231124
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --short) short=1 ;;
    --max-examples) max_examples="$2"; shift ;;
    --seed) seed="$2"; shift ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "conformance: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$max_examples" ]; then
  if [ "$short" = 1 ]; then max_examples=10; else max_examples=1000; fi
fi

target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
venv="$target/conformance-venv"
reports="$target/conformance"

# --- 1. schemathesis, pinned, in its own venv --------------------------------
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF "version $SCHEMATHESIS_VERSION"; then
  echo "conformance: installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION"
fi
st="$venv/bin/schemathesis"
"$st" --version

# --- 2. the binary -------------------------------------------------------------
cargo build --release --locked -p doorstep-cli
bin="$target/release/doorstep"

# --- 3. a throw-away central ---------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/doorstep-conformance.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "$keep" = 1 ]; then
    echo "conformance: data kept in $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export DOORSTEP_LANG=en
export DOORSTEP_PASSPHRASE=conformance-run-only
units="$root/data/units/units_2023.csv"

# start_central NAME [ARGS...]: starts `central serve` on 127.0.0.1, a port
# the kernel picks, its store in $work/NAME; sets $url once /healthz answers.
start_central() {
  local name="$1"; shift
  local dir="$work/$name"
  mkdir -p "$dir"
  "$bin" central serve --data-dir "$dir/store" --listen 127.0.0.1:0 --units "$units" "$@" \
    >"$dir/stdout" 2>"$dir/stderr" &
  pids+=($!)
  local pid=$! i
  url=
  for i in $(seq 1 300); do
    url=$(sed -n 's|^listening on \(http://127\.0\.0\.1:[0-9]*\)$|\1|p' "$dir/stdout" | head -1)
    [ -n "$url" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "conformance: central $name did not start:" >&2
      cat "$dir/stderr" >&2
      exit 1
    fi
    sleep 0.1
  done
  [ -n "$url" ] || { echo "conformance: central $name printed no address" >&2; exit 1; }
  python3 - "$url/healthz" <<'EOF'
import sys, time, urllib.request
for _ in range(100):
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit("conformance: /healthz did not answer")
EOF
  echo "conformance: central $name at $url"
}

start_central central
central_url=$url
cstore="$work/central/store"

# A campaign (the spec's example ID, so the examples phase reaches a real one)
# and a roster in two communes of Bình Dương.
cat >"$work/campaign.csv" <<'EOF'
campaign,unit_code,metric,target,start,deadline
kich-hoat-2023,74,eid_activation,1000,2023-07-01,2023-09-30
kich-hoat-2023,25744,eid_activation,40,2023-07-01,2023-09-30
kich-hoat-2023,74,id_card_intake,500,2023-07-01,2023-09-30
EOF
"$bin" central campaign import --data-dir "$cstore" "$work/campaign.csv" >/dev/null
cat >"$work/roster.csv" <<'EOF'
personal_id,full_name,date_of_birth,sex,unit_code,address_detail,household,needs
074303001234,Nguyễn Thị Lan,2003-05-14,female,25744,"Tổ 3, khu phố 2",HK001,card;eid_registration
074152003417,Trần Thị Lan,1952-03-14,female,25744,"Tổ 3, khu phố 2",HK001,eid_activation
074085000123,Lê Văn Cường,1985-01-20,male,25744,"Tổ 5, khu phố 1",HK002,card
074090004567,Phạm Văn Dũng,1990-11-02,male,25747,"Tổ 1, khu phố 4",HK101,card;eid_registration;eid_activation
EOF
"$bin" central roster import --data-dir "$cstore" "$work/roster.csv" >/dev/null

# A registered laptop: signed, sealed records, two sync sessions, a worklist, a visit.
token=$("$bin" central provision --data-dir "$cstore" --unit 74 --name "Tổ 1 – Phú Lợi" --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
laptop="$work/laptop"
device=$("$bin" field init --data-dir "$laptop" --unit 74 --device-name "Tổ 1 – Phú Lợi" \
  --units "$units" --server "$central_url" --token "$token" --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["device_id"])')
"$bin" central assign --data-dir "$cstore" --device "$device" --units 25744 >/dev/null
"$bin" gen --count 40 --seed 7 --unit 25744 --data-dir "$laptop" \
  --visit-from 2023-07-10 --visit-to 2023-09-20 >"$work/records.ndjson"
"$bin" field enroll --data-dir "$laptop" "$work/records.ndjson" >/dev/null
"$bin" field sync --data-dir "$laptop" --server "$central_url" --no-progress >/dev/null
"$bin" field visit --data-dir "$laptop" --person 074303001234 --outcome not_home \
  --officer CA-74-0012 >/dev/null
"$bin" field sync --data-dir "$laptop" --server "$central_url" --no-progress >/dev/null
echo "conformance: provisioned laptop $device, 40 records and a visit synced"

# The open central: unsigned requests get past authentication.
start_central open --allow-unregistered
open_url=$url

# --- 4, 5. schemathesis --------------------------------------------------------
failed=0
# spec_copy DIR [unsigned]: proto/ copied to DIR, external examples inlined;
# with `unsigned`, the signature headers and Content-Encoding left out of
# every operation (bodies go as they are: a generated `zstd` over a JSON body
# stops at 400 encoding.invalid, which pass "central" covers).
spec_copy() {
  "$venv/bin/python" - "$root/proto" "$1" "${2:-}" <<'EOF'
import json, pathlib, shutil, sys
import yaml
src, dst, unsigned = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3] == "unsigned"
shutil.copytree(src, dst)
doc = yaml.safe_load((src / "openapi.yaml").read_text(encoding="utf-8"))
signature = {f"#/components/parameters/{n}" for n in ("NodeHeader", "TimeHeader", "NonceHeader", "SignatureHeader")}
def walk(v):
    if isinstance(v, dict):
        if "externalValue" in v:
            v["value"] = json.loads((src / v.pop("externalValue")).read_text(encoding="utf-8"))
        if unsigned and isinstance(v.get("parameters"), list):
            v["parameters"] = [
                p for p in v["parameters"]
                if p.get("$ref") not in signature and p.get("name") != "Content-Encoding"
            ]
        for x in v.values():
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
walk(doc["paths"])
walk(doc["components"].get("examples", {}))
walk(doc["components"].get("responses", {}))
(dst / "openapi.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
EOF
}
spec_copy "$work/spec-central"
spec_copy "$work/spec-open" unsigned

# A chunk (PATCH /v1/blobs/{sha256}) is `application/offset+octet-stream`:
# raw bytes, sent as schemathesis sends application/octet-stream. In pass
# "open" (CONFORMANCE_FIX_CHECKSUM=1) a chunk whose generated Upload-Checksum
# is well-formed gets the real checksum of its body (still well-formed:
# schemathesis revalidates what a hook changes), so chunks reach the checks
# after it (sizes, references, offsets) instead of all stopping at 422
# chunk.bad_checksum, which pass "central" exercises; an ill-formed one is
# sent as generated.
cat >"$work/conformance_hooks.py" <<'EOF'
import base64
import hashlib
import os
import re

import schemathesis
from schemathesis.transport.serialization import serialize_binary

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

WELL_FORMED = re.compile(r"^sha256 [A-Za-z0-9+/]{43}=$")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if os.environ.get("CONFORMANCE_FIX_CHECKSUM") != "1":
        return
    if case.operation.method.upper() != "PATCH" or not case.headers:
        return
    if not isinstance(case.body, (bytes, str)):
        return
    for name, value in list(case.headers.items()):
        if name.lower() == "upload-checksum" and isinstance(value, str) and WELL_FORMED.match(value):
            digest = hashlib.sha256(serialize_binary(case.body)).digest()
            case.headers[name] = "sha256 " + base64.b64encode(digest).decode()
EOF
export SCHEMATHESIS_HOOKS=conformance_hooks
export PYTHONPATH="$work${PYTHONPATH:+:$PYTHONPATH}"

# Checks: every one schemathesis has (not_a_server_error,
# status_code_conformance, content_type_conformance,
# response_headers_conformance, response_schema_conformance,
# negative_data_rejection, unsupported_method, allow_header_conformance,
# missing_required_header, and the stateful ones, use_after_free,
# ensure_resource_availability, ignored_auth, which find little to act on in
# a spec with no links creating resources and no security schemes), but:
# - positive_data_acceptance: it requires every request the schema allows
#   to be accepted (2xx), and the server rightly refuses some on grounds no
#   schema states: a unit code of the right shape not in the unit list (400
#   unit.unknown), a log index or tree size beyond the log (400
#   log.out_of_range), `end` not above `start`, 64 hex digits that are not an
#   Ed25519 point (400 key.invalid), a signature header without the others
#   (400 auth.malformed). Each such answer is still checked: documented
#   status, problem+json, problem schema, headers.
# - negative_data_rejection on POST /v1/batches only: a batch's records are
#   checked one by one, by design (sync-v1.md 6.2; batch.schema.json: "the
#   receiver checks that per record and answers invalid for a record that
#   fails"): a record breaking the schema (a bad hash, a malformed seal, a
#   sequence number out of range) is answered 200 with that record
#   `invalid`, so that one bad record never blocks the laptop's queue. A
#   batch whose own members break the schema is still 400 batch.malformed.
# negative_data_rejection takes 413 as a rejection too: a body over a
# documented size limit (a chunk over 256 KiB: 413 chunk.too_large) is
# refused with 413 Content Too Large (RFC 9110 15.5.14), as the spec says.
cat >"$work/schemathesis.toml" <<'EOF'
[checks.positive_data_acceptance]
enabled = false

[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]

[[operations]]
include-operation-id = "postBatch"
checks.negative_data_rejection.enabled = false
EOF

run_pass() {
  local name="$1" base="$2" spec="$3"; shift 3
  local out="$reports/$name" started rc cases
  rm -rf "$out"; mkdir -p "$out"
  echo
  echo "conformance: pass $name against $base (seed $seed, $max_examples examples per operation)"
  started=$(date +%s)
  # From the work dir: hypothesis' files stay out of the repository.
  set +e
  (cd "$work" && "$st" --config-file "$work/schemathesis.toml" run "$spec/openapi.yaml" \
    --url "$base" \
    --seed "$seed" --max-examples "$max_examples" --workers 1 \
    --generation-database none \
    --continue-on-failure \
    --request-timeout 30 \
    --report junit,ndjson --report-dir "$out" \
    --no-color "$@") 2>&1 | tee "$out/output.txt"
  rc=${PIPESTATUS[0]}
  set -e
  cases=$(sed -n 's/^ *\([0-9][0-9]*\) generated.*/\1/p' "$out/output.txt" | tail -1)
  summary+=("pass $name: ${cases:-?} test cases (one request each) in $(( $(date +%s) - started )) s, schemathesis exit $rc")
  echo "conformance: ${summary[-1]}"
  [ "$rc" = 0 ] || failed=1
}
summary=()

run_pass central "$central_url" "$work/spec-central"
CONFORMANCE_FIX_CHECKSUM=1 \
  run_pass open "$open_url" "$work/spec-open" --include-tag sync --include-tag attachments

# The centrals must still be up, and must not have panicked on the way.
for pid in "${pids[@]}"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "conformance: a central exited during the run" >&2
    failed=1
  fi
done
for name in central open; do
  if grep -q "panicked" "$work/$name/stderr"; then
    echo "conformance: central $name panicked:" >&2
    grep -m5 -A3 "panicked" "$work/$name/stderr" >&2
    failed=1
  fi
done

echo
for line in "${summary[@]}"; do echo "conformance: $line"; done
if [ "$failed" = 0 ]; then
  echo "conformance: OK, no failure (reports in $reports)"
else
  echo "conformance: FAILED (reports in $reports)" >&2
  exit 1
fi
