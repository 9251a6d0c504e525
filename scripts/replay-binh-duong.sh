#!/usr/bin/env bash
# Replay of the source article: Bình Dương's 1,455,967 e-ID (VNeID)
# activations, spread over the province's 91 communes (province 74 in
# data/units/units_2023.csv), each commune's records enrolled on a few
# laptops and relayed by its commune station into central.
#
# Builds the release binary, starts `doorstep central serve` on a loopback
# port (port 0) with a fresh data directory and the 2023 unit list, open to
# unregistered devices (loadgen's laptops and stations are simulated, not
# provisioned), runs `doorstep loadgen`, then reports: wall time, records/s,
# batch latency percentiles, central's peak RSS (VmHWM, sampled until it
# exits), the database size, and the record count `doorstep central status`
# shows (it must equal the records sent). Stops central itself; nothing
# leaves loopback.
#
#   scripts/replay-binh-duong.sh [--records N] [--keep] [--laptops-per-commune N]
#                                [--batch-records N] [--backend sqlite|postgres]
#                                [--database URL] [--max-minutes N]
#
#   --records N              records in all (default 1455967, the article's figure)
#   --keep                   keep the data directory (printed) instead of removing it
#   --laptops-per-commune N  laptops per commune station (default 4)
#   --batch-records N        records per batch a station forwards (default 500)
#   --backend postgres --database URL
#                            central on PostgreSQL: URL is passed to `central serve`
#                            (and `central status`) as --database; its size is read
#                            with psql (pg_database_size). Default: embedded SQLite.
#   --max-minutes N          give up (and stop central) after N minutes (default 120)
#
# Exit 0 when central holds exactly the records sent and loadgen reports
# every record accepted exactly once; 1 otherwise; 2 for a usage mistake.
set -euo pipefail
cd "$(dirname "$0")/.."

records=1455967
keep=0
per_commune=4
batch=500
backend=sqlite
database=""
max_minutes=120
province=74
units=data/units/units_2023.csv

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "replay-binh-duong: $*" >&2; exit 2; }
need_value() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --records) need_value "$@"; records="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --laptops-per-commune) need_value "$@"; per_commune="$2"; shift 2 ;;
    --batch-records) need_value "$@"; batch="$2"; shift 2 ;;
    --backend) need_value "$@"; backend="$2"; shift 2 ;;
    --database) need_value "$@"; database="$2"; shift 2 ;;
    --max-minutes) need_value "$@"; max_minutes="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
for n in records per_commune batch max_minutes; do
  [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || die "${n//_/-} must be a positive whole number, not '${!n}'"
done
case "$backend" in
  sqlite) [[ -z "$database" ]] || die "--database is for --backend postgres" ;;
  postgres)
    [[ -n "$database" ]] || die "--backend postgres needs --database URL"
    command -v psql >/dev/null || die "--backend postgres needs psql (to read the database size)" ;;
  *) die "--backend must be sqlite or postgres, not '$backend'" ;;
esac

# Every commune under the province, whatever the depth (district between).
communes=$(awk -F, -v top="$province" 'NR > 1 { parent[$1] = $4; level[$1] = $3 }
  END { n = 0
        for (c in level) if (level[c] == "commune") {
          p = c
          # Compared as strings: as numbers, district 074 or commune 00074 would be 74.
          for (i = 0; i < 8 && p != ""; i++) { if ((p "") == (top "")) { n++; break }; p = parent[p] }
        }
        print n }' "$units")
[[ "$communes" -gt 0 ]] || die "no commune under $province in $units"
laptops=$((communes * per_commune))

cargo build --release --locked -p doorstep-cli
bin="${CARGO_TARGET_DIR:-target}/release/doorstep"
[[ -x "$bin" ]] || die "no binary at $bin after the build"

data=$(mktemp -d "${TMPDIR:-/tmp}/doorstep-replay.XXXXXX")
central_pid=""
sampler_pid=""
cleanup() {
  # Only the processes this script started, by their IDs.
  if [[ -n "$central_pid" ]] && kill -0 "$central_pid" 2>/dev/null; then
    kill -TERM "$central_pid" 2>/dev/null || true
    wait "$central_pid" 2>/dev/null || true
  fi
  if [[ -n "$sampler_pid" ]]; then kill "$sampler_pid" 2>/dev/null || true; fi
  if [[ $keep -eq 1 ]]; then
    echo "data kept in $data"
  else
    rm -rf "$data"
  fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

db_args=()
[[ "$backend" == postgres ]] && db_args=(--database "$database")

"$bin" --lang en central serve --data-dir "$data/central" --listen 127.0.0.1:0 \
  --units "$units" --allow-unregistered "${db_args[@]}" \
  >"$data/central.out" 2>"$data/central.err" &
central_pid=$!

url=""
for _ in $(seq 1 600); do
  url=$(sed -n '1s/^listening on //p' "$data/central.out")
  [[ -n "$url" ]] && break
  kill -0 "$central_pid" 2>/dev/null || { cat "$data/central.err" >&2; die "central did not start"; }
  sleep 0.1
done
[[ -n "$url" ]] || die "central did not say where it listens within 60 s"

# Peak RSS: VmHWM is the high-water mark itself; sampling keeps the last
# value seen before the process goes.
(
  while [[ -r /proc/$central_pid/status ]]; do
    v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$central_pid/status" 2>/dev/null || true)
    [[ -n "$v" ]] && echo "$v" >"$data/vmhwm_kib"
    sleep 0.5
  done
) &
sampler_pid=$!

echo "central $url (pid $central_pid, $backend, data $data)"
echo "replaying $records e-ID activations: $communes communes of province $province, one station each, $laptops laptops"

set +e
timeout "${max_minutes}m" "$bin" --lang en loadgen --server "$url" \
  --devices "$laptops" --stations "$communes" --records "$records" \
  --units "$units" --communes-of "$province" --kind eid_activation \
  --batch-records "$batch" --json >"$data/loadgen.json"
loadgen_rc=$?
set -e
[[ $loadgen_rc -eq 124 ]] && echo "loadgen stopped after $max_minutes minutes (--max-minutes)" >&2

# Did central live through it? (A crash or an outside kill shows here.)
central_note=""
if ! kill -0 "$central_pid" 2>/dev/null; then
  set +e; wait "$central_pid"; central_rc=$?; set -e
  central_pid=""
  central_note="central exited during the run (status $central_rc)"
fi

# Sizes while central still runs: the WAL is part of what it wrote.
db_bytes=""
db_what=""
if [[ "$backend" == sqlite ]]; then
  db_bytes=0
  for f in "$data/central/central.sqlite3" "$data/central/central.sqlite3-wal"; do
    [[ -f "$f" ]] && db_bytes=$((db_bytes + $(stat -c %s "$f")))
  done
  db_what="central.sqlite3 + WAL"
else
  db_bytes=$(psql "$database" -tAc 'SELECT pg_database_size(current_database())' 2>/dev/null || echo "")
  db_what="pg_database_size"
fi

# The text form's "records held: N" (the JSON's keys are sorted, so its
# first "records" is a device's).
held=$("$bin" --lang en central status --data-dir "$data/central" "${db_args[@]}" \
  | sed -n 's/^ *records held: \([0-9][0-9]*\).*/\1/p' | head -1 || true)

if [[ -n "$central_pid" ]]; then
  kill -TERM "$central_pid" 2>/dev/null || true
  wait "$central_pid" 2>/dev/null || true
  central_pid=""
fi
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""
hwm_kib=$(cat "$data/vmhwm_kib" 2>/dev/null || echo "")

# Figures from loadgen's JSON (one line; keys unique).
field() { grep -o "\"$1\":[^,}]*" "$data/loadgen.json" | head -1 | cut -d: -f2-; }
mib() { [[ -n "$1" ]] && awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }' || echo "unknown"; }

echo
echo "Bình Dương replay ($backend): $records records, $communes stations, $laptops laptops"
if [[ -s "$data/loadgen.json" ]]; then
  printf '  %-18s %s s\n' "wall time" "$(field wall_seconds)"
  printf '  %-18s %s\n' "records/s" "$(field records_per_second)"
  printf '  %-18s p50 %s ms, p95 %s ms, p99 %s ms, max %s ms (%s batches)\n' "batch latency" \
    "$(field p50)" "$(field p95)" "$(field p99)" "$(field max)" "$(field batches)"
  printf '  %-18s accepted %s, duplicate %s, conflict %s, invalid %s\n' "outcomes" \
    "$(field accepted)" "$(field duplicate)" "$(field conflict)" "$(field invalid)"
  printf '  %-18s %s (retries %s)\n' "errors" \
    "$(grep -o '"errors":{[^}]*}' "$data/loadgen.json" | cut -d: -f2-)" "$(field retries)"
else
  echo "  loadgen printed nothing (exit $loadgen_rc)"
fi
printf '  %-18s %s\n' "central peak RSS" "$( [[ -n "$hwm_kib" ]] && mib $((hwm_kib * 1024)) || echo unknown ) (VmHWM)"
printf '  %-18s %s (%s)\n' "database size" "$(mib "$db_bytes")" "$db_what"
printf '  %-18s %s (expected %s)\n' "central holds" "${held:-unknown}" "$records"

if [[ $loadgen_rc -eq 0 && "${held:-}" == "$records" ]]; then
  echo "  OK: every record held once"
  exit 0
fi
echo "  FAILED: loadgen exit $loadgen_rc, central holds ${held:-unknown} of $records" >&2
[[ -n "$central_note" ]] && echo "  $central_note" >&2
grep -o '"error":{[^}]*}' "$data/loadgen.json" 2>/dev/null | sed 's/^/  loadgen: /' >&2 || true
echo "  central's last words:" >&2
tail -n 5 "$data/central.err" 2>/dev/null | sed 's/^/    /' >&2 || true
keep=1  # the evidence stays
exit 1
