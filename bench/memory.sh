#!/usr/bin/env bash
# Memory benchmark: what mailroom holds while clients push big data at it, and whether it
# gives the memory back.
#
# usage: bench/memory.sh                    (from anywhere; a few minutes)
# env:   SIZE=25000000                      octets per literal / APPEND / DATA
#        LITERALS=50 APPENDS=50 SMTPS=50    connections per group (all at once)
#        BUDGET=                            [limits] max_inflight_bytes (default: the server's)
#        ROUNDS=1                           run the load this many times on the same server
#                                           (memory after each round: does it accumulate?)
#        PROFILE=debug|release              which build to run (default debug: no rebuild of
#                                           the whole tree in release on a small machine)
#        KEEP=1                             keep the work directory (config, data, logs)
#        WATCH=0                            after the last round, go on printing RSS and the
#                                           server's thread count every 5 s for WATCH seconds
#
# What it does:
#  1. builds mailroom and the client (tests/src/bin/memory-load.rs);
#  2. starts mailroom on free loopback ports (imap + smtp + admin), data in a fresh directory
#     under target/, one domain and user;
#  3. samples the server's VmRSS and VmHWM (/proc/PID/status) every 100 ms;
#     after a few warm-up logins (which make the fixed argon2 buffers, one per core), the
#     baseline RSS is taken;
#  4. runs `memory-load`: LITERALS IMAP connections announcing `a LOGIN {999999999+}` before
#     login and streaming SIZE octets of it, APPENDS logged-in IMAP connections each APPENDing
#     a SIZE-octet message, SMTPS SMTP connections each sending a SIZE-octet message with DATA,
#     all at once, while a probe opens a fresh IMAP (LOGIN, NOOP) and SMTP (EHLO) connection
#     every 500 ms;
#  5. waits 10 s after the last connection closed and prints: RSS before, peak RSS (the
#     highest sample and VmHWM), RSS 10 s after, the answers each group got, the probes;
#     steps 4-5 run ROUNDS times.
# Everything it started is stopped on exit (trap), also on Ctrl-C or failure.
# Exit status: 0 when the probes were all served and the peak stayed under 256 MiB.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
SIZE=${SIZE:-25000000}
LITERALS=${LITERALS:-50}
APPENDS=${APPENDS:-50}
SMTPS=${SMTPS:-50}
BUDGET=${BUDGET:-}
PROFILE=${PROFILE:-debug}
ROUNDS=${ROUNDS:-1}
WATCH=${WATCH:-0}
HOST=127.0.0.1
USER_ADDR=bench@test.example
PASS=bench-password
PEAK_GOAL_KIB=$(( 256 * 1024 ))

for n in SIZE LITERALS APPENDS SMTPS ROUNDS WATCH; do
  [[ ${!n} =~ ^[0-9]+$ ]] || { echo "bench: $n must be a number" >&2; exit 2; }
done
while read -r v; do unset "$v"; done < <(compgen -e | grep '^MAILROOM_' || true)

. "$REPO/bench/lib.sh"

WORK="" SERVER_PID="" LOAD_PID="" SAMPLER_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "$LOAD_PID" "$SAMPLER_PID"; do
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null || true; fi
  done
  stop_server || true
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
log "build ($PROFILE)"
cd "$REPO"
flag=(); [ "$PROFILE" = release ] && flag=(--release)
cargo build "${flag[@]}" --quiet --bin mailroom
cargo build "${flag[@]}" --quiet -p mailroom-tests --bin memory-load
MAILROOM=$TARGET_DIR/$PROFILE/mailroom
LOAD=$TARGET_DIR/$PROFILE/memory-load

# ---- work directory, ports, config ----------------------------------------------------------
WORK=$(fresh_workdir memory)
read -r IMAP_PORT SMTP_PORT ADMIN_PORT < <(free_ports 3)
CONF=$WORK/mailroom.toml
DATA=$WORK/data
CONNS=$(( LITERALS + APPENDS + SMTPS + 100 ))
budget_line=""; [ -n "$BUDGET" ] && budget_line="max_inflight_bytes = $BUDGET"
cat > "$CONF" <<EOF
[server]
hostname = "bench.example.test"
data_dir = "$DATA"

[listeners]
imap = "$HOST:$IMAP_PORT"
smtp = "$HOST:$SMTP_PORT"
admin = "$HOST:$ADMIN_PORT"

[security]
# plain LOGIN on loopback (the benchmark measures memory, not TLS)
allow_plaintext_auth = true

[limits]
# every connection comes from 127.0.0.1
max_connections = $CONNS
max_connections_per_ip = $CONNS
max_sessions_per_account = $CONNS
max_message_size = $(( SIZE + 1024 * 1024 ))
$budget_line

[dns]
# never the system's resolvers: the benchmark stays on this machine
nameservers = ["127.0.0.1:9"]

[auth]
enabled = false

[spam]
enabled = false

[greylist]
enabled = false
EOF
"$MAILROOM" config check "$CONF" >/dev/null

# ---- mailroom -------------------------------------------------------------------------------
log "mailroom: start on $HOST:$IMAP_PORT (smtp $SMTP_PORT), data $DATA"
"$MAILROOM" --config "$CONF" serve > "$WORK/mailroom.log" 2>&1 &
SERVER_PID=$!
echo "$SERVER_PID" > "$WORK/server.pid"
wait_port "$IMAP_PORT" "$SERVER_PID"
wait_port "$SMTP_PORT" "$SERVER_PID"
"$MAILROOM" --config "$CONF" domain add test.example >/dev/null
printf '%s\n' "$PASS" | "$MAILROOM" --config "$CONF" user add "$USER_ADDR" --password-stdin >/dev/null

status_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$SERVER_PID/status"; }
sleep 1
RSS_START=$(status_kib VmRSS)
# Password checks run in a fixed set of reused argon2 buffers (shared/src/password.rs: one
# 19 MiB buffer per core, made on first use and kept). A few logins at once make them all
# before the baseline, so that "after" minus "before" is what the load left behind.
CORES=$(nproc)
"$LOAD" --host "$HOST" --imap-port "$IMAP_PORT" --smtp-port "$SMTP_PORT" --user "$USER_ADDR" \
  --pass "$PASS" --size 1000 --literals 0 --appends "$(( CORES * 2 ))" --smtp 0 > "$WORK/warmup.out" 2>&1 \
  || { echo "bench: warm-up logins failed:" >&2; cat "$WORK/warmup.out" >&2; exit 1; }
sleep 1
RSS_BEFORE=$(status_kib VmRSS)

# ---- sampling and load ----------------------------------------------------------------------
SAMPLES=$WORK/rss.samples
( while kill -0 "$SERVER_PID" 2>/dev/null; do
    awk '$1 == "VmRSS:" { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || true
    sleep 0.1
  done ) > "$SAMPLES" &
SAMPLER_PID=$!

rc=0
AFTERS=""
for round in $(seq "$ROUNDS"); do
  log "round $round: $LITERALS pre-login literals, $APPENDS APPENDs, $SMTPS SMTP DATA of $SIZE octets"
  r=0
  "$LOAD" --host "$HOST" --imap-port "$IMAP_PORT" --smtp-port "$SMTP_PORT" --user "$USER_ADDR" \
    --pass "$PASS" --size "$SIZE" --literals "$LITERALS" --appends "$APPENDS" --smtp "$SMTPS" \
    > "$WORK/load-$round.out" 2> "$WORK/load-$round.err" || r=$?
  [ "$r" = 0 ] || rc=$r
  cat "$WORK/load-$round.out"
  head -n 5 "$WORK/load-$round.err" >&2 || true
  log "round $round: all connections closed; waiting 10 s"
  sleep 10
  RSS_AFTER=$(status_kib VmRSS)
  echo "mailroom threads 10 s after round $round: $(status_kib Threads)"
  AFTERS="$AFTERS $RSS_AFTER"
  echo "mailroom VmRSS 10 s after round $round: $RSS_AFTER KiB"
done
WATCH=${WATCH:-0}
for (( t = 5; t <= WATCH; t += 5 )); do
  sleep 5
  echo "mailroom $(( t + 10 )) s after: VmRSS $(status_kib VmRSS) KiB, RssAnon $(status_kib RssAnon) KiB, threads $(status_kib Threads)"
done
ANON_AFTER=$(status_kib RssAnon)
FILE_AFTER=$(status_kib RssFile)
HWM=$(status_kib VmHWM)
kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=""
PEAK=$(sort -n "$SAMPLES" | tail -n 1)

mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
echo
echo "mailroom VmRSS at start:           $(mib "$RSS_START")"
echo "mailroom VmRSS before (after $(( CORES * 2 )) warm-up logins made the $CORES argon2 buffers): $(mib "$RSS_BEFORE")"
echo "mailroom peak VmRSS (100 ms):      $(mib "$PEAK")"
echo "mailroom VmHWM:                    $(mib "$HWM")"
echo "mailroom VmRSS 10 s after closing: $(mib "$RSS_AFTER") (anonymous $(mib "$ANON_AFTER"), files $(mib "$FILE_AFTER"))"
echo "RESULT rss_start_kib=$RSS_START rss_before_kib=$RSS_BEFORE peak_kib=$PEAK hwm_kib=$HWM after_kib=$RSS_AFTER after_each_round_kib=${AFTERS# } load_exit=$rc"

ok=1
[ "$rc" = 0 ] || { echo "bench: a fresh client was not served during the load (see above)" >&2; ok=0; }
[ "$HWM" -lt "$PEAK_GOAL_KIB" ] || { echo "bench: peak over 256 MiB" >&2; ok=0; }
stop_server || { echo "bench: mailroom did not stop cleanly" >&2; ok=0; }
[ "$ok" = 1 ]
