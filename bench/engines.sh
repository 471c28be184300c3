#!/usr/bin/env bash
# Store engines side by side, in ONE run on loopback: the embedded engine (SQLite), PostgreSQL
# with one mailroom node, and PostgreSQL with two nodes sharing the database and a Redis.
#
# usage: bench/engines.sh                   (from anywhere; about 8 minutes)
# env:   MSGS=10000 SESSIONS=20 SIZE=4096   SMTP: messages per setup, clients, message bytes
#        CLIENTS=10 DURATION=20 SEED=1      IMAP mix: clients, seconds per setup, seed
#        FILL=300                           messages APPENDed into each INBOX before the mix
#        DELIVERIES=200                     IDLE latency samples (cross-node with two nodes)
#        PG_PORT=55532 REDIS_PORT=56479     ports of the benchmark's own PostgreSQL and Redis
#        KEEP=1                             keep the work directory (configs, logs, results)
#
# What it does:
#  1. cargo build --release (mailroom, smtp-load, imap-load);
#  2. its own PostgreSQL (fsync ON: commits are durable, as SQLite's are) and Redis through
#     scripts/services, with data under /tmp/mailroom-services-PG_PORT;
#  3. for each setup — sqlite, pg-1 (one node), pg-2 (two nodes) — a fresh store, domain
#     test.example, users alice|bob|bench@test.example, then:
#     - smtp-load (new connection per message), SESSIONS clients; with two nodes, half the
#       clients and half the messages go to each node at the same time, and the figures are
#       the sum of the rates and the larger of the two p99s;
#     - IMAP: FILL messages APPENDed into each INBOX, then the imap-load mix, CLIENTS clients
#       for DURATION s (two nodes: half the clients on each, ops/s summed per class);
#     - IDLE latency: IDLE on the (last) node, delivery over SMTP to the first node, so with
#       two nodes every sample crosses nodes through PostgreSQL and Redis;
#  4. a table with the three setups side by side.
# Everything it started is stopped on exit. Exit status 0 when every run had no errors.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
MSGS=${MSGS:-10000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-4096}
CLIENTS=${CLIENTS:-10}
DURATION=${DURATION:-20}
SEED=${SEED:-1}
FILL=${FILL:-300}
DELIVERIES=${DELIVERIES:-200}
PG_PORT=${PG_PORT:-55532}
REDIS_PORT=${REDIS_PORT:-56479}
HOST=127.0.0.1
USERS=alice@test.example,bob@test.example,bench@test.example
PASS=bench-password

for n in MSGS SESSIONS SIZE CLIENTS DURATION FILL DELIVERIES PG_PORT REDIS_PORT; do
  [[ ${!n} =~ ^[1-9][0-9]*$ ]] || { echo "bench: $n must be a positive integer" >&2; exit 2; }
done
[ $((SESSIONS % 2)) = 0 ] && [ $((CLIENTS % 2)) = 0 ] && [ $((MSGS % 2)) = 0 ] \
  || { echo "bench: SESSIONS, CLIENTS and MSGS must be even (split over two nodes)" >&2; exit 2; }
while read -r v; do unset "$v"; done < <(compgen -e | grep '^MAILROOM_' || true)

. "$REPO/bench/lib.sh"

WORK="" SERVER_PID="" PIDS=() SERVICES=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_nodes || true
  if [ "$SERVICES" = 1 ]; then
    SERVICES_PG_PORT=$PG_PORT SERVICES_REDIS_PORT=$REDIS_PORT \
      "$REPO/scripts/services" stop || true
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

stop_nodes() {
  local pid
  for pid in "${PIDS[@]}"; do SERVER_PID=$pid; stop_server || true; done
  PIDS=()
}

log "build (release)"
cd "$REPO"
cargo build --release --quiet
cargo build --release --quiet -p mailroom-tests --bin smtp-load --bin imap-load
MAILROOM=$TARGET_DIR/release/mailroom
SMTP_LOAD=$TARGET_DIR/release/smtp-load
IMAP_LOAD=$TARGET_DIR/release/imap-load

WORK=$(fresh_workdir engines)
RESULTS=$WORK/results.txt
: > "$RESULTS"
MBOX=$WORK/bench.mbox
python3 - "$MBOX" "$FILL" <<'EOF'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        f.write(f"From bench@test.example Mon Dec  7 00:00:00 2026\n")
        f.write(f"From: bench@test.example\nTo: alice@test.example\nSubject: message {i}\n")
        f.write(f"Message-ID: <{i}@bench.test>\nDate: Mon, 7 Dec 2026 00:00:00 +0000\n\n")
        f.write(("line of body text for the engine benchmark %d\n" % i) * 40 + "\n")
EOF

log "PostgreSQL (fsync on) and Redis for the benchmark"
SERVICES=1
eval "$(SERVICES_PG_PORT=$PG_PORT SERVICES_REDIS_PORT=$REDIS_PORT \
  SERVICES_PG_FSYNC=on "$REPO/scripts/services")"
PG_ADMIN=$TEST_MAILROOM_POSTGRES
REDIS=$TEST_MAILROOM_REDIS
unset TEST_MAILROOM_POSTGRES TEST_MAILROOM_REDIS

# write_config FILE DATA SMTP IMAP ADMIN STORE_TOML: one node's configuration
write_config() {
  cat > "$1" <<EOF
[server]
hostname = "bench.example.test"
data_dir = "$2"

[listeners]
smtp = "$HOST:$3"
imap = "$HOST:$4"
admin = "$HOST:$5"

[security]
allow_plaintext_auth = true

[limits]
max_connections = 2000
max_connections_per_ip = 2000
max_sessions_per_account = 2000

[dns]
nameservers = ["127.0.0.1:9"]

[auth]
enabled = false

[spam]
enabled = false

[greylist]
enabled = false
$6
EOF
  "$MAILROOM" config check "$1" >/dev/null
}

# start_setup NAME NODES STORE_TOML: start NODES nodes; sets SMTP_PORTS, IMAP_PORTS, CONFS
start_setup() {
  local name=$1 nodes=$2 store=$3 i smtp imap admin conf
  SMTP_PORTS=() IMAP_PORTS=() CONFS=()
  for i in $(seq "$nodes"); do
    read -r smtp imap admin < <(free_ports 3)
    conf=$WORK/$name-node$i.toml
    write_config "$conf" "$WORK/$name-data$i" "$smtp" "$imap" "$admin" "$store
[cluster]
node_name = \"$name-node$i\"
$( [ "$nodes" -gt 1 ] && echo "redis = \"$REDIS\"" )"
    "$MAILROOM" --config "$conf" serve > "$WORK/$name-node$i.log" 2>&1 &
    PIDS+=($!)
    echo "$!" > "$WORK/server.pid"
    wait_port "$smtp" "$!"
    wait_port "$imap" "$!"
    SMTP_PORTS+=("$smtp") IMAP_PORTS+=("$imap") CONFS+=("$conf")
  done
  "$MAILROOM" --config "${CONFS[0]}" domain add test.example >/dev/null
  for u in ${USERS//,/ }; do
    printf '%s\n' "$PASS" | "$MAILROOM" --config "${CONFS[0]}" user add "$u" --password-stdin >/dev/null
  done
}

field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -n1; }
CHECKS_OK=1

run_setup() {  # run_setup NAME NODES STORE_TOML
  local name=$1 nodes=$2 i out pids=() rc
  log "$name: $nodes node(s)"
  start_setup "$name" "$nodes" "$3"
  echo "$(uptime)"
  # SMTP: the clients split over the nodes, at the same time
  for i in $(seq 0 $((nodes - 1))); do
    "$SMTP_LOAD" --host "$HOST" --port "${SMTP_PORTS[$i]}" --clients $((SESSIONS / nodes)) \
      --messages $((MSGS / nodes)) --size "$SIZE" --rcpt bench@test.example \
      > "$WORK/$name-smtp$i.out" & pids+=($!)
  done
  for i in "${!pids[@]}"; do
    rc=0; wait "${pids[$i]}" || rc=$?
    cat "$WORK/$name-smtp$i.out"
    [ "$rc" = 0 ] || { echo "bench: smtp-load on $name node $i failed" >&2; CHECKS_OK=0; }
    grep '^RESULT' "$WORK/$name-smtp$i.out" | sed "s/\$/ setup=$name/" >> "$RESULTS" || true
  done
  pids=()
  # IMAP: fill through the first node, then the mix split over the nodes
  "$IMAP_LOAD" --host "$HOST" --port "${IMAP_PORTS[0]}" --user "$USERS" --pass "$PASS" \
    --fill "$MBOX" > "$WORK/$name-fill.out" || { echo "bench: fill on $name failed" >&2; CHECKS_OK=0; }
  for i in $(seq 0 $((nodes - 1))); do
    "$IMAP_LOAD" --host "$HOST" --port "${IMAP_PORTS[$i]}" --user "$USERS" --pass "$PASS" \
      --clients $((CLIENTS / nodes)) --duration "$DURATION" --seed $((SEED + i)) \
      > "$WORK/$name-mix$i.out" & pids+=($!)
  done
  for i in "${!pids[@]}"; do
    rc=0; wait "${pids[$i]}" || rc=$?
    [ "$rc" = 0 ] || { echo "bench: imap-load on $name node $i reported errors" >&2; CHECKS_OK=0; }
    grep '^RESULT' "$WORK/$name-mix$i.out" | sed "s/\$/ setup=$name/" >> "$RESULTS" || true
  done
  # IDLE on the last node, delivery to the first
  rc=0
  "$IMAP_LOAD" --host "$HOST" --port "${IMAP_PORTS[$((nodes - 1))]}" --user bench@test.example \
    --pass "$PASS" --idle-latency "$DELIVERIES" --smtp-port "${SMTP_PORTS[0]}" \
    --rcpt bench@test.example > "$WORK/$name-lat.out" || rc=$?
  cat "$WORK/$name-lat.out"
  [ "$rc" = 0 ] || { echo "bench: IDLE latency on $name reported errors" >&2; CHECKS_OK=0; }
  grep '^RESULT' "$WORK/$name-lat.out" | sed "s/\$/ setup=$name/" >> "$RESULTS" || true
  stop_nodes
}

pg_store() {  # pg_store DB: a fresh database and the [store] section naming it
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
  printf '[store]\nengine = "postgres"\nurl = "%s"\npool_size = 16\n' "${PG_ADMIN%/*}/$1"
}

run_setup sqlite 1 ""
run_setup pg-1 1 "$(pg_store bench_pg1)"
run_setup pg-2 2 "$(pg_store bench_pg2)"

log "summary ($(nproc) cores; $(uptime | sed 's/.*load/load/'))"
python3 - "$RESULTS" <<'EOF'
import collections, sys
rows = [dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
        for line in open(sys.argv[1]) if line.startswith("RESULT")]
setups = ["sqlite", "pg-1", "pg-2"]
smtp = collections.defaultdict(lambda: [0.0, 0.0, 0])
mix = collections.defaultdict(lambda: collections.defaultdict(float))
lat = {}
for r in rows:
    s = r.get("setup")
    if "msgs_per_sec" in r:
        smtp[s][0] += float(r["msgs_per_sec"])
        smtp[s][1] = max(smtp[s][1], float(r["p99_ms"]))
        smtp[s][2] += int(r.get("errors", 0))
    elif r.get("mode") == "mix":
        mix[r["class"]][s] += float(r.get("ops_per_sec", 0))
    elif r.get("mode") == "idle-latency":
        lat[s] = (r.get("p50_ms"), r.get("p99_ms"))
print(f"{'':28}" + "".join(f"{s:>12}" for s in setups))
print(f"{'SMTP msg/s':28}" + "".join(f"{smtp[s][0]:>12.0f}" for s in setups))
print(f"{'SMTP p99 ms':28}" + "".join(f"{smtp[s][1]:>12.1f}" for s in setups))
for cls in sorted(mix):
    print(f"{'IMAP ' + cls + ' ops/s':28}" + "".join(f"{mix[cls][s]:>12.0f}" for s in setups))
print(f"{'IDLE latency p50 ms':28}" + "".join(f"{lat.get(s, ('-', '-'))[0]:>12}" for s in setups))
print(f"{'IDLE latency p99 ms':28}" + "".join(f"{lat.get(s, ('-', '-'))[1]:>12}" for s in setups))
print("(pg-2: IDLE on node 2, delivery to node 1: every sample crosses nodes)")
EOF
[ "$CHECKS_OK" = 1 ]
