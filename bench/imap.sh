#!/usr/bin/env bash
# IMAP benchmark: mailroom against Dovecot in ONE run on loopback (this machine is shared and
# noisy: only numbers from the same run compare), then mailroom alone with many IDLE sessions.
#
# usage: bench/imap.sh                      (from anywhere; about 6 minutes)
# env:   CLIENTS=10 DURATION=20 SEED=1      mix clients, seconds per server, random seed
#        MSGS=500                           messages pre-filled into each user's INBOX
#        IDLE_SESSIONS=10000 DELIVERIES=200 IDLE sessions for the RSS figure; IDLE latency samples
#        KIT=../shared/kit                  the peers kit (Dovecot)
#        DOVECOT_PORT=11143 DOVECOT_POP3_PORT=11110   ports of the private Dovecot
#        MAILPEERS_DIR=/tmp/mailpeers-imapbench       its state (a private instance: the
#                                           default /tmp/mailpeers may be in use by others)
#        KEEP=1                             keep the work directory (config, data, logs)
#
# What it does:
#  1. cargo build --release (mailroom) and the load generator (tests/src/bin/imap-load.rs);
#  2. mailroom on free loopback ports (imap + smtp + admin), data in a fresh directory under
#     target/, domain test.example, users alice|bob|bench@test.example; the kit's Dovecot
#     with the same users; both get the same MSGS messages (../shared/kit/make-mbox.py) in
#     every user's INBOX through IMAP APPEND (`imap-load --fill`, which empties INBOX first);
#  3. `imap-load` mix, CLIENTS clients for DURATION s, against mailroom, then Dovecot;
#  4. mailroom alone, its INBOXes refilled to MSGS messages: VmRSS before and with
#     IDLE_SESSIONS idling sessions (each has INBOX selected), then the IDLE
#     latency (SMTP 250 after DATA -> `* n EXISTS`) over DELIVERIES deliveries;
#  5. a summary table: ops/s, p99 and errors per command class, ratio mailroom/Dovecot.
# Everything it started is stopped on exit (trap), also on Ctrl-C or failure.
# Exit status: 0 when every run completed without protocol errors.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
KIT=$(cd "${KIT:-$REPO/../shared/kit}" && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
CLIENTS=${CLIENTS:-10}
DURATION=${DURATION:-20}
SEED=${SEED:-1}
MSGS=${MSGS:-500}
IDLE_SESSIONS=${IDLE_SESSIONS:-10000}
DELIVERIES=${DELIVERIES:-200}
DOVECOT_PORT=${DOVECOT_PORT:-11143}
DOVECOT_POP3_PORT=${DOVECOT_POP3_PORT:-11110}
MAILPEERS_DIR=${MAILPEERS_DIR:-/tmp/mailpeers-imapbench}
export MAILPEERS_DIR
HOST=127.0.0.1
USERS=alice@test.example,bob@test.example,bench@test.example
DOVECOT_PASS=pass                 # the kit's
MAILROOM_PASS=bench-password      # mailroom wants at least 8 characters

for n in CLIENTS DURATION SEED MSGS IDLE_SESSIONS DELIVERIES DOVECOT_PORT DOVECOT_POP3_PORT; do
  [[ ${!n} =~ ^[1-9][0-9]*$ ]] || { echo "bench: $n must be a positive integer" >&2; exit 2; }
done
while read -r v; do unset "$v"; done < <(compgen -e | grep '^MAILROOM_' || true)

. "$REPO/bench/lib.sh"

# ---- cleanup --------------------------------------------------------------------------------
WORK="" SERVER_PID="" DOVECOT_STARTED=0 LOAD_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$LOAD_PID" ] && kill -0 "$LOAD_PID" 2>/dev/null; then kill -KILL "$LOAD_PID" 2>/dev/null || true; fi
  stop_server || true
  [ "$DOVECOT_STARTED" = 1 ] && { "$KIT/stop-dovecot.sh" >/dev/null 2>&1 || true; }
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if [ "${KEEP:-0}" = 1 ] || [ "$rc" != 0 ]; then echo "bench: work directory kept: $WORK" >&2
    else rm -rf "$WORK"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 10,000 client sockets here and as many in the server (which inherits this limit).
ulimit -n "$(ulimit -Hn)"
need_fds=$(( IDLE_SESSIONS + 500 ))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need_fds" ]; then
  echo "bench: ulimit -n is $(ulimit -n), below the $need_fds that $IDLE_SESSIONS IDLE sessions need" >&2; exit 2
fi

# ---- build ----------------------------------------------------------------------------------
log "build (release)"
cd "$REPO"
cargo build --release --quiet
cargo build --release --quiet -p mailroom-tests --bin imap-load
MAILROOM=$TARGET_DIR/release/mailroom
LOAD=$TARGET_DIR/release/imap-load

# ---- work directory, ports, config ----------------------------------------------------------
WORK=$(fresh_workdir imap)
RESULTS=$WORK/results.txt
: > "$RESULTS"
read -r IMAP_PORT SMTP_PORT ADMIN_PORT < <(free_ports 3)
CONF=$WORK/mailroom.toml
DATA=$WORK/data
MAXCONN=$(( IDLE_SESSIONS + 1000 ))
cat > "$CONF" <<EOF
[server]
hostname = "bench.example.test"
data_dir = "$DATA"

[listeners]
imap = "$HOST:$IMAP_PORT"
smtp = "$HOST:$SMTP_PORT"
admin = "$HOST:$ADMIN_PORT"

[security]
# plain LOGIN on loopback (the benchmark measures IMAP, not TLS)
allow_plaintext_auth = true

[limits]
# every IDLE session comes from 127.0.0.1
max_connections = $MAXCONN
max_connections_per_ip = $MAXCONN
max_sessions_per_account = $MAXCONN

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

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"; }
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -n1; }
CHECKS_OK=1

MBOX=$WORK/bench.mbox
python3 "$KIT/make-mbox.py" "$MBOX" "$MSGS" "$SEED" >/dev/null

fill() {  # fill NAME PORT PASS
  log "fill $1: $MSGS messages into the INBOX of $USERS (IMAP APPEND)"
  "$LOAD" --host "$HOST" --port "$2" --user "$USERS" --pass "$3" --fill "$MBOX" \
    || { echo "bench: filling $1 failed" >&2; exit 1; }
}
run_mix() {  # run_mix NAME PORT PASS
  local rc=0
  log "imap-load -> $1: $CLIENTS clients, ${DURATION}s, seed $SEED"
  "$LOAD" --host "$HOST" --port "$2" --user "$USERS" --pass "$3" --clients "$CLIENTS" \
    --duration "$DURATION" --seed "$SEED" > "$WORK/mix-$1.out" || rc=$?
  cat "$WORK/mix-$1.out"
  grep '^RESULT' "$WORK/mix-$1.out" | sed "s/\$/ name=$1/" >> "$RESULTS"
  [ "$rc" = 0 ] || { echo "bench: imap-load against $1 reported errors (exit $rc)" >&2; CHECKS_OK=0; }
}

# ---- mailroom -------------------------------------------------------------------------------
log "mailroom: start on $HOST:$IMAP_PORT (smtp $SMTP_PORT, admin $ADMIN_PORT), data $DATA"
"$MAILROOM" --config "$CONF" serve > "$WORK/mailroom.log" 2>&1 &
SERVER_PID=$!
echo "$SERVER_PID" > "$WORK/server.pid"
wait_port "$IMAP_PORT" "$SERVER_PID"
"$MAILROOM" --config "$CONF" domain add test.example >/dev/null
for u in ${USERS//,/ }; do
  printf '%s\n' "$MAILROOM_PASS" | "$MAILROOM" --config "$CONF" user add "$u" --password-stdin >/dev/null
done
fill mailroom "$IMAP_PORT" "$MAILROOM_PASS"

# ---- Dovecot --------------------------------------------------------------------------------
log "Dovecot: start (kit) on $HOST:$DOVECOT_PORT, state $MAILPEERS_DIR"
DOVECOT_STARTED=1
# (its daemon keeps the script's stdout open: send it to a file, not a pipe)
"$KIT/start-dovecot.sh" "$DOVECOT_PORT" "$DOVECOT_POP3_PORT" > "$WORK/dovecot-start.log" 2>&1 < /dev/null
cat "$WORK/dovecot-start.log"
fill dovecot "$DOVECOT_PORT" "$DOVECOT_PASS"

# ---- the mix, both servers in the same run --------------------------------------------------
echo "$(uptime)"
run_mix mailroom "$IMAP_PORT" "$MAILROOM_PASS"
run_mix dovecot "$DOVECOT_PORT" "$DOVECOT_PASS"
"$KIT/stop-dovecot.sh" >/dev/null 2>&1 || true
DOVECOT_STARTED=0

# ---- mailroom alone: RSS with IDLE sessions, IDLE latency -----------------------------------
# The mix leaves each INBOX with more messages the faster the server ran (it appends more
# than it expunges), and each selected session keeps one entry per message: refill to MSGS so
# that the RSS figure is for a known mailbox size, the same in every run.
fill mailroom "$IMAP_PORT" "$MAILROOM_PASS"
RSS_BEFORE=$(rss_kib)
log "mailroom: $IDLE_SESSIONS IDLE sessions (RSS before: $RSS_BEFORE KiB)"
"$LOAD" --host "$HOST" --port "$IMAP_PORT" --user "$USERS" --pass "$MAILROOM_PASS" \
  --idle "$IDLE_SESSIONS" --hold 3600 > "$WORK/idle.out" 2> "$WORK/idle.err" &
LOAD_PID=$!
until grep -q '^IDLING' "$WORK/idle.out" 2>/dev/null; do
  kill -0 "$LOAD_PID" 2>/dev/null || { echo "bench: imap-load --idle exited early" >&2; cat "$WORK/idle.err" >&2; exit 1; }
  sleep 1
done
sleep 2  # let the server settle after the last IDLE
RSS_IDLE=$(rss_kib)
IDLING=$(grep '^IDLING' "$WORK/idle.out")
echo "$IDLING"
echo "mailroom VmRSS with $(field ready "$IDLING") IDLE sessions: $RSS_IDLE KiB"
kill -INT "$LOAD_PID"
rc=0; wait "$LOAD_PID" || rc=$?
LOAD_PID=""
cat "$WORK/idle.out" | grep '^RESULT' || true
head -n 10 "$WORK/idle.err" >&2 || true
[ "$rc" = 0 ] || { echo "bench: IDLE sessions reported errors (exit $rc)" >&2; CHECKS_OK=0; }
echo "RSS before_kib=$RSS_BEFORE idle_kib=$RSS_IDLE $IDLING" >> "$RESULTS"
grep '^RESULT' "$WORK/idle.out" | sed 's/$/ name=mailroom/' >> "$RESULTS" || true

log "mailroom: IDLE latency over $DELIVERIES SMTP deliveries"
rc=0
"$LOAD" --host "$HOST" --port "$IMAP_PORT" --user bench@test.example --pass "$MAILROOM_PASS" \
  --idle-latency "$DELIVERIES" --smtp-port "$SMTP_PORT" --rcpt bench@test.example > "$WORK/lat.out" || rc=$?
cat "$WORK/lat.out"
grep '^RESULT' "$WORK/lat.out" | sed 's/$/ name=mailroom/' >> "$RESULTS" || true
[ "$rc" = 0 ] || { echo "bench: IDLE latency reported errors (exit $rc)" >&2; CHECKS_OK=0; }

log "mailroom: stop (SIGTERM)"
if stop_server; then echo "mailroom exited 0"; else echo "bench: mailroom exited non-zero" >&2; CHECKS_OK=0; fi
sed 's/\x1b\[[0-9;]*m//g' "$WORK/mailroom.log" | grep -E '^\S+ +(ERROR|WARN) ' > "$WORK/log-problems.txt" || true
if [ -s "$WORK/log-problems.txt" ]; then
  echo "bench: mailroom logged errors or warnings (first 10):" >&2
  head -n 10 "$WORK/log-problems.txt" >&2
fi

# ---- summary --------------------------------------------------------------------------------
log "summary ($CLIENTS clients x ${DURATION}s, $MSGS messages per INBOX; $(nproc) cores; $(uptime | sed 's/.*load/load/'))"
python3 - "$RESULTS" "$MSGS" <<'EOF'
import sys
msgs = sys.argv[2]
rows = [dict(f.split("=", 1) for f in l.split()[1:] if "=" in f) | {"kind": l.split()[0]}
        for l in open(sys.argv[1]) if l.strip()]
mix = {(r["name"], r["class"]): r for r in rows if r.get("mode") == "mix"}
classes = ["fetch_flags", "fetch_envelope", "fetch_body", "search", "store", "append", "expunge", "noop", "all"]
print(f"{'class':<15} {'mailroom ops/s':>14} {'p99 ms':>8} {'err':>4}   {'dovecot ops/s':>13} {'p99 ms':>8} {'err':>4}   {'ratio':>6}")
for c in classes:
    m, d = mix.get(("mailroom", c)), mix.get(("dovecot", c))
    def cols(r):
        return (f"{float(r['ops_per_sec']):>14.1f} {float(r['p99_ms']):>8.2f} {r['errors']:>4}" if r
                else f"{'-':>14} {'-':>8} {'-':>4}")
    ratio = (f"{float(m['ops_per_sec']) / float(d['ops_per_sec']):>5.2f}x"
             if m and d and float(d["ops_per_sec"]) > 0 else f"{'-':>6}")
    print(f"{c:<15} {cols(m)}   {cols(d)[1:]}   {ratio}")
print()
for r in rows:
    if r["kind"] == "RSS":
        b, i, n = int(r["before_kib"]), int(r["idle_kib"]), int(r["ready"])
        per = (i - b) / n if n else 0
        print(f"mailroom RSS: {b / 1024:.1f} MiB before, {i / 1024:.1f} MiB with {n} IDLE sessions "
              f"on INBOXes of {msgs} messages (+{per:.1f} KiB per session; {r['failed']} failed; "
              f"logins took {r['connect_s']} s)")
    if r.get("mode") == "idle":
        print(f"IDLE sessions: ready={r['ready']}/{r['sessions']} held {r['held_s']} s, errors={r['errors']}")
    if r.get("mode") == "idle-latency":
        print(f"IDLE latency (SMTP 250 -> * n EXISTS), {r['measured']}/{r['deliveries']} deliveries: "
              f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms, errors={r['errors']}")
EOF

[ "$CHECKS_OK" = 1 ] || { echo "bench: FAILED (errors above)" >&2; exit 1; }
