#!/usr/bin/env bash
# Outbound queue throughput: 1,000 queued messages delivered to a local `smtp-sink`.
#
# usage: bench/outbound.sh                  (from anywhere; the lead runs it on the release build)
# env:   MSGS=1000 SIZE=4096                messages and their size
#        PROFILE=release                    or `debug` for a quick check (numbers mean nothing then)
#        PER_DOMAIN=20                      outbound.max_connections_per_domain (the relay counts as one)
#        KEEP=1                             keep the work directory
#
# What it does:
#  1. builds mailroom; starts /usr/sbin/smtp-sink and mailroom on free loopback ports, with
#     [outbound] relay = smtp-sink;
#  2. writes MSGS messages into the queue tables directly (as Submit would), due in an hour;
#  3. `mailroom queue retry all`, and times how long the queue takes to empty (the server
#     notices the CLI's change at its next poll, within outbound.poll_secs = 1 s, included in
#     the time); prints `RESULT outbound msgs=N secs=S msgs_per_sec=R`. Every message is one
#     connection (smtp-sink takes it, 250), one store write recording the result.
# Everything it started is stopped on exit.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
MSGS=${MSGS:-1000}
SIZE=${SIZE:-4096}
PROFILE=${PROFILE:-release}
PER_DOMAIN=${PER_DOMAIN:-20}
HOST=127.0.0.1
SERVER_PID=""
SINK_PID=""
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

WORK=$(fresh_workdir outbound)
cleanup() {
  stop_server || true
  [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "work directory kept: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

log "building mailroom ($PROFILE)"
if [ "$PROFILE" = release ]; then
  cargo build --release --bin mailroom --manifest-path "$REPO/Cargo.toml"
else
  cargo build --bin mailroom --manifest-path "$REPO/Cargo.toml"
fi
BIN=$TARGET_DIR/$PROFILE/mailroom

read -r SMTP SUB IMAP SINK <<<"$(free_ports 4)"
write_config() {  # write_config RELAY_PORT
  cat >"$WORK/mailroom.toml" <<TOML
[server]
hostname = "mail.test.example"
data_dir = "$WORK/data"
[listeners]
smtp = "$HOST:$SMTP"
submission = "$HOST:$SUB"
imap = "$HOST:$IMAP"
[spam]
enabled = false
[limits]
max_connections_per_ip = 1000
[outbound]
relay = "$HOST:$1"
retry_schedule_secs = [3600]
max_connections = 100
max_connections_per_domain = $PER_DOMAIN
TOML
}
write_config "$SINK"
"$BIN" --config "$WORK/mailroom.toml" domain add test.example >/dev/null
echo bench-password | "$BIN" --config "$WORK/mailroom.toml" user add bench@test.example --password-stdin >/dev/null

log "starting smtp-sink on $SINK and mailroom"
SINK_USER=(); [ "$(id -u)" = 0 ] && SINK_USER=(-u nobody)  # it refuses to run as root
/usr/sbin/smtp-sink "${SINK_USER[@]}" "$HOST:$SINK" 256 </dev/null >"$WORK/sink.out" 2>&1 &
SINK_PID=$!
(cd "$WORK" && exec "$BIN" --config "$WORK/mailroom.toml" serve >"$WORK/stdout.log" 2>"$WORK/server.log") &
SERVER_PID=$!
echo "$SERVER_PID" >"$WORK/server.pid"
wait_port "$SUB" "$SERVER_PID"
wait_port "$SINK" "$SINK_PID"

log "queueing $MSGS messages of $SIZE octets"
# Put straight into the queue tables (what a submission's Submit writes), so the number is
# the queue's alone, not the submission listener's.
python3 - "$WORK/data/mailroom.db" "$MSGS" "$SIZE" <<'PY'
import sqlite3, sys
db, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = sqlite3.connect(db, timeout=30)
account = c.execute("SELECT id FROM accounts WHERE address_key = 'bench@test.example'").fetchone()[0]
body = ("x" * 76 + "\r\n") * max(1, size // 78)
with c:
    for i in range(n):
        msg = f"From: bench@test.example\r\nTo: sink@sink.example\r\nSubject: bench {i}\r\nMessage-ID: <b{i}@test.example>\r\n\r\n{body}".encode()
        mid = c.execute("INSERT INTO queue_messages (account_id, sender, created, size, body) VALUES (?, 'bench@test.example', unixepoch(), ?, ?) RETURNING id", (account, len(msg), msg)).fetchone()[0]
        # Due in an hour: nothing moves until `queue retry all`.
        c.execute("INSERT INTO queue_recipients (message_id, address, domain, status, next_attempt, notify) VALUES (?, ?, 'sink.example', 'queued', unixepoch() + 3600, 12)", (mid, f"sink{i % 10}@sink.example"))
PY
queued() { sqlite3 "$WORK/data/mailroom.db" "SELECT count(*) FROM queue_recipients" 2>/dev/null || echo -1; }
echo "queued: $(queued)"

log "retrying everything now"
START=$(date +%s.%N)
"$BIN" --config "$WORK/mailroom.toml" queue retry all
for _ in $(seq 6000); do [ "$(queued)" -eq 0 ] && break; sleep 0.05; done
END=$(date +%s.%N)
LEFT=$(queued)
[ "$LEFT" -eq 0 ] || { echo "bench: $LEFT recipients still queued" >&2; tail -20 "$WORK/server.log" >&2; exit 1; }
python3 - "$MSGS" "$START" "$END" <<'PY'
import sys
n, start, end = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
secs = end - start
print(f"RESULT outbound msgs={n} secs={secs:.2f} msgs_per_sec={n / secs:.0f}")
PY
