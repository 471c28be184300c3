#!/usr/bin/env bash
# SMTP receive benchmark: mailroom against Postfix and smtp-sink, all in ONE run on loopback
# (this machine is shared and noisy: only numbers from the same run compare).
#
# usage: bench/smtp.sh                      (from anywhere; about 10 minutes)
# env:   MSGS=20000 SESSIONS=20 SIZE=4096   messages per run, concurrent clients, message bytes
#        KIT=../shared/kit                  the peers kit (Postfix, smtp-source, smtp-sink)
#        POSTFIX_PORT=2526 POSTFIX_SUB_PORT=2587   ports of the kit's Postfix
#        DRAIN_SECS=600                     how long to wait for Postfix to empty its queue
#        KEEP=1                             keep the work directory (config, data, logs)
#
# What it does:
#  1. cargo build --release (mailroom) and the load generator (tests/src/bin/smtp-load.rs);
#  2. mailroom on free loopback ports (smtp + admin only), data in a fresh directory under
#     target/ (same disk as the repository), domain test.example, user bench@test.example;
#  3. against mailroom: smtp-load (new connection per message, then --reuse), then the kit's
#     bench-smtp.sh (Postfix's smtp-source, modes new and reuse); after each, the number of
#     rows in `messages` must have grown by exactly the number of acknowledged messages;
#     then SIGTERM, and the count is checked once more on the closed database;
#  4. the kit's Postfix: bench-smtp.sh with SINK_BASELINE=1 (smtp-sink, the loopback ceiling,
#     then Postfix, as the kit measured its reference figures), let Postfix deliver its queue,
#     then smtp-load against it (for p50/p99); the benchmark user's maildir is emptied before
#     and after, so re-runs do not fill the disk;
#  5. a summary table with mailroom/Postfix ratios and the goal check
#     (>= 3x Postfix's smtp-source throughput in new mode, p99 < 20 ms at 20 clients).
# Everything it started is stopped on exit (trap), also on Ctrl-C or failure. Safe to re-run.
# Exit status: 0 when every run completed without errors and the stored counts match (the goal
# verdict is printed, not turned into a failure).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
KIT=$(cd "${KIT:-$REPO/../shared/kit}" && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
MSGS=${MSGS:-20000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-4096}
POSTFIX_PORT=${POSTFIX_PORT:-2526}
POSTFIX_SUB_PORT=${POSTFIX_SUB_PORT:-2587}
DRAIN_SECS=${DRAIN_SECS:-600}
RCPT=bench@test.example
HOST=127.0.0.1
MAILPEERS_DIR=${MAILPEERS_DIR:-/tmp/mailpeers}
export MAILPEERS_DIR

for n in MSGS SESSIONS SIZE POSTFIX_PORT POSTFIX_SUB_PORT DRAIN_SECS; do
  [[ ${!n} =~ ^[1-9][0-9]*$ ]] || { echo "bench: $n must be a positive integer" >&2; exit 2; }
done
# The server reads MAILROOM_* overrides from its environment: keep the run reproducible.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^MAILROOM_' || true)

. "$REPO/bench/lib.sh"

# ---- cleanup --------------------------------------------------------------------------------
WORK="" SERVER_PID="" POSTFIX_STARTED=0
bench_maildir() { echo "$MAILPEERS_DIR/mail/test.example/bench/Maildir"; }
clear_bench_maildir() {  # the kit's Postfix delivers the benchmark mail here; keep disk bounded
  local d; d=$(bench_maildir)
  [ -d "$d" ] && find "$d/new" "$d/cur" "$d/tmp" -type f -delete 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_server || true
  if [ "$POSTFIX_STARTED" = 1 ]; then
    "$KIT/stop-postfix.sh" >/dev/null 2>&1 || true
    clear_bench_maildir
  fi
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if [ "${KEEP:-0}" = 1 ] || [ "$rc" != 0 ]; then echo "bench: work directory kept: $WORK" >&2
    else rm -rf "$WORK"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- build ----------------------------------------------------------------------------------
log "build (release)"
cd "$REPO"
# Two invocations, so that mailroom is built with its own feature set (the same artifact as a
# plain `cargo build --release`) and re-runs rebuild nothing.
cargo build --release --quiet
cargo build --release --quiet -p mailroom-tests --bin smtp-load
MAILROOM=$TARGET_DIR/release/mailroom
LOAD=$TARGET_DIR/release/smtp-load

# ---- work directory, ports, config ----------------------------------------------------------
WORK=$(fresh_workdir smtp)
RESULTS=$WORK/results.txt
: > "$RESULTS"
read -r SMTP_PORT ADMIN_PORT < <(free_ports 2)
CONF=$WORK/mailroom.toml
DATA=$WORK/data
PER_IP=$(( SESSIONS * 2 > 50 ? SESSIONS * 2 : 50 ))
cat > "$CONF" <<EOF
[server]
hostname = "bench.example.test"
data_dir = "$DATA"

[listeners]
smtp = "$HOST:$SMTP_PORT"
admin = "$HOST:$ADMIN_PORT"

[limits]
# room for every benchmark client (the default of 50 per IP is enough for 20 sessions)
max_connections = $(( PER_IP > 1000 ? PER_IP : 1000 ))
max_connections_per_ip = $PER_IP

[dns]
# never the system's resolvers: the benchmark stays on this machine
nameservers = ["127.0.0.1:9"]

[auth]
# The MX path without SPF/DKIM/ARC/DMARC lookups and without spam scoring: what Postfix does
# in the kit (no milter), and comparable with runs before them.
enabled = false

[spam]
enabled = false
EOF
"$MAILROOM" config check "$CONF" >/dev/null

stored() {  # rows in mailroom's `messages` table, read-only (the server may be running)
  python3 - "$DATA/mailroom.db" <<'EOF'
import pathlib, sqlite3, sys
db = pathlib.Path(sys.argv[1]).resolve()
con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
print(con.execute("SELECT count(*) FROM messages").fetchone()[0])
con.close()
EOF
}
server_cpu() {  # user+system CPU seconds of the server so far
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$SERVER_PID/stat"
}
field() {  # field NAME LINE -> value of NAME=value in a RESULT line
  tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -n1
}

# ---- mailroom -------------------------------------------------------------------------------
log "mailroom: start on $HOST:$SMTP_PORT (admin $ADMIN_PORT), data $DATA"
"$MAILROOM" --config "$CONF" serve > "$WORK/mailroom.log" 2>&1 &
SERVER_PID=$!
echo "$SERVER_PID" > "$WORK/server.pid"
wait_port "$SMTP_PORT" "$SERVER_PID"
"$MAILROOM" --config "$CONF" domain add test.example >/dev/null
printf 'bench-password\n' | "$MAILROOM" --config "$CONF" user add "$RCPT" --password-stdin >/dev/null
echo "mailroom pid $SERVER_PID; $(uptime)"

ACKED_TOTAL=0
CHECKS_OK=1
check_stored() {  # check_stored BEFORE ACKED LABEL
  local now; now=$(stored)
  local grew=$(( now - $1 ))
  if [ "$grew" -eq "$2" ]; then
    echo "stored-check $3: acknowledged=$2 stored=$grew OK"
  else
    echo "stored-check $3: acknowledged=$2 stored=$grew MISMATCH" >&2; CHECKS_OK=0
  fi
  echo "STORED label=$3 acked=$2 stored=$grew" >> "$RESULTS"
}

run_load() {  # run_load NAME PORT MODE: smtp-load, its RESULT line recorded; 1 if it failed
  local name=$1 port=$2 mode=$3 flag=() rc=0 cpu0="" extra=""
  [ "$mode" = reuse ] && flag=(--reuse)
  [ "$name" = mailroom ] && cpu0=$(server_cpu)
  log "smtp-load -> $name, mode $mode, $SESSIONS clients x $MSGS messages x $SIZE bytes"
  "$LOAD" --host "$HOST" --port "$port" --clients "$SESSIONS" --messages "$MSGS" \
    --size "$SIZE" --rcpt "$RCPT" "${flag[@]}" > "$WORK/load.out" || rc=$?
  cat "$WORK/load.out"
  LINE=$(grep '^RESULT' "$WORK/load.out" || true)
  if [ -z "$LINE" ]; then echo "bench: smtp-load against $name printed no result" >&2; CHECKS_OK=0; return 1; fi
  [ -n "$cpu0" ] && extra=" server_cpu_s=$(cpu_since "$cpu0")"
  echo "$LINE tool=smtp-load name=$name$extra" >> "$RESULTS"
  [ "$rc" = 0 ] || { echo "bench: smtp-load against $name failed (exit $rc)" >&2; CHECKS_OK=0; }
}
run_source() {  # run_source NAME PORT [SINK_BASELINE]: the kit's bench-smtp.sh, modes new and reuse
  local name=$1 port=$2 sink=${3:-0} rc=0 cpu0="" extra="" line m
  [ "$name" = mailroom ] && cpu0=$(server_cpu)
  log "smtp-source (kit bench-smtp.sh) -> $name, modes new and reuse$([ "$sink" = 1 ] && echo ', smtp-sink baseline first')"
  SINK_BASELINE=$sink MODES="new reuse" "$KIT/bench-smtp.sh" "$HOST" "$port" "$MSGS" "$SESSIONS" "$SIZE" "$RCPT" \
    > "$WORK/source.out" || rc=$?
  cat "$WORK/source.out"
  [ -n "$cpu0" ] && extra=" server_cpu_s=$(cpu_since "$cpu0")"
  while read -r line; do
    m=$(field mode "$line")
    case "$m" in
      sink-*) echo "$line tool=smtp-source name=smtp-sink mode=${m#sink-}" ;;
      *) echo "$line tool=smtp-source name=$name$extra" ;;
    esac
  done < <(grep '^RESULT' "$WORK/source.out") >> "$RESULTS"
  # smtp-source stops at the first failed transaction, so exit 0 means every message was acked.
  [ "$rc" = 0 ] || { echo "bench: bench-smtp.sh against $name failed (exit $rc)" >&2; CHECKS_OK=0; return 1; }
}
cpu_since() { awk -v a="$1" -v b="$(server_cpu)" 'BEGIN { printf "%.2f", b - a }'; }

for mode in new reuse; do
  before=$(stored)
  if run_load mailroom "$SMTP_PORT" "$mode"; then
    acked=$(field acked "$LINE")
    check_stored "$before" "$acked" "smtp-load-$mode"
    ACKED_TOTAL=$(( ACKED_TOTAL + acked ))
  fi
done
before=$(stored)
if run_source mailroom "$SMTP_PORT"; then
  check_stored "$before" $(( 2 * MSGS )) "smtp-source-new+reuse"
  ACKED_TOTAL=$(( ACKED_TOTAL + 2 * MSGS ))
else
  ACKED_TOTAL=$(( ACKED_TOTAL + $(stored) - before ))  # unknown: the final check then says little
fi

log "mailroom: stop (SIGTERM: drain, flush, exit 0)"
if stop_server; then echo "mailroom exited 0"; else echo "bench: mailroom exited non-zero" >&2; CHECKS_OK=0; fi
total=$(stored)
if [ "$total" -eq "$ACKED_TOTAL" ]; then
  echo "stored-check after shutdown: acknowledged=$ACKED_TOTAL stored=$total OK"
else
  echo "stored-check after shutdown: acknowledged=$ACKED_TOTAL stored=$total MISMATCH" >&2; CHECKS_OK=0
fi
echo "STORED label=all-after-shutdown acked=$ACKED_TOTAL stored=$total" >> "$RESULTS"
# (the log is coloured even into a file: strip the escapes before looking at the levels)
sed 's/\x1b\[[0-9;]*m//g' "$WORK/mailroom.log" | grep -E '^\S+ +(ERROR|WARN) ' > "$WORK/log-problems.txt" || true
if [ -s "$WORK/log-problems.txt" ]; then
  echo "bench: mailroom logged errors or warnings (first 10):" >&2
  head -n 10 "$WORK/log-problems.txt" >&2
fi

# ---- Postfix and smtp-sink ------------------------------------------------------------------
postfix_queue() {  # messages still in the kit's Postfix queue
  local q=$MAILPEERS_DIR/postfix/spool
  find "$q/maildrop" "$q/incoming" "$q/active" "$q/deferred" "$q/hold" -type f 2>/dev/null | wc -l
}
drain_postfix() {  # let Postfix deliver what it queued, so the next run starts quiet
  local t0=$SECONDS n
  while n=$(postfix_queue); [ "$n" -gt 0 ]; do
    if (( SECONDS - t0 >= DRAIN_SECS )); then echo "bench: Postfix still has $n queued after ${DRAIN_SECS}s; going on" >&2; return 0; fi
    sleep 1
  done
  echo "Postfix queue empty after $(( SECONDS - t0 ))s"
}

log "Postfix: start (kit) on $HOST:$POSTFIX_PORT"
POSTFIX_STARTED=1
"$KIT/start-postfix.sh" "$POSTFIX_PORT" "$POSTFIX_SUB_PORT"
clear_bench_maildir
# Messages deferred by an earlier, interrupted run wait minutes for their retry: drop them.
postsuper -c "$MAILPEERS_DIR/postfix/etc" -d ALL deferred >/dev/null 2>&1 || true
drain_postfix
run_source postfix "$POSTFIX_PORT" 1 || true
log "Postfix: let it deliver its queue before the next runs"
drain_postfix
run_load postfix "$POSTFIX_PORT" new || true
run_load postfix "$POSTFIX_PORT" reuse || true

# ---- summary --------------------------------------------------------------------------------
log "summary ($SESSIONS sessions, $MSGS messages, $SIZE bytes; $(nproc) cores; $(uptime | sed 's/.*load/load/'))"
python3 - "$RESULTS" "$SESSIONS" <<'EOF'
import sys
rows, stored = [], []
for line in open(sys.argv[1]):
    kv = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
    (stored if line.startswith("STORED") else rows).append(kv)
sessions = int(sys.argv[2])

def get(name, tool, mode):
    return next((r for r in rows if r["name"] == name and r["tool"] == tool and r["mode"] == mode), None)

print(f"{'target':<10} {'client':<12} {'mode':<6} {'msgs/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'srv cpu s':>9}")
for tool in ("smtp-load", "smtp-source"):
    for name in ("mailroom", "postfix", "smtp-sink"):
        for mode in ("new", "reuse"):
            r = get(name, tool, mode)
            if r is None:
                continue
            print(f"{name:<10} {tool:<12} {mode:<6} {float(r['msgs_per_sec']):>8.0f} "
                  f"{r.get('p50_ms', '-'):>8} {r.get('p99_ms', '-'):>8} {r.get('errors', '-'):>6} "
                  f"{r.get('server_cpu_s', '-'):>9}")
print()
ratios = {}
for tool in ("smtp-load", "smtp-source"):
    for mode in ("new", "reuse"):
        m, p, s = get("mailroom", tool, mode), get("postfix", tool, mode), get("smtp-sink", "smtp-source", mode)
        if m and p:
            ratios[(tool, mode)] = float(m["msgs_per_sec"]) / float(p["msgs_per_sec"])
            extra = ""
            if tool == "smtp-source" and s:
                extra = f"   mailroom/smtp-sink = {float(m['msgs_per_sec']) / float(s['msgs_per_sec']):.2f}"
            print(f"ratio mailroom/Postfix  {tool:<12} {mode:<6} = {ratios[(tool, mode)]:.2f}x{extra}")
print()
for s in stored:
    print(f"stored check {s['label']:<20} acknowledged={s['acked']:>6} stored={s['stored']:>6} "
          f"{'OK' if s['acked'] == s['stored'] else 'MISMATCH'}")
print()
r = ratios.get(("smtp-source", "new"))
p99 = get("mailroom", "smtp-load", "new")
if r is not None:
    print(f"goal: >= 3x Postfix durable throughput (smtp-source, new connection per message): "
          f"{r:.2f}x -> {'MET' if r >= 3 else 'NOT MET'}")
if p99 is not None:
    v = float(p99["p99_ms"])
    print(f"goal: p99 < 20 ms at {sessions} concurrent clients (smtp-load, new): "
          f"{v:.2f} ms -> {'MET' if v < 20 else 'NOT MET'}")
EOF

[ "$CHECKS_OK" = 1 ] || { echo "bench: FAILED (errors or stored/acknowledged mismatch above)" >&2; exit 1; }
