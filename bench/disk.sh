#!/usr/bin/env bash
# Disk benchmark: the data directory of mailroom against Dovecot's maildirs (with Postfix
# delivering the SMTP half into them) for the same mail, sampled every second DURING the run
# and measured after it (issue #17 item 6: never above 1.5x Dovecot's, at any time).
#
# usage: bench/disk.sh                      (from anywhere; 100,000 messages take a while)
# env:   MSGS=100000                        messages per server: half IMAP APPEND, half SMTP,
#                                           both streams at once
#        SIZE=5500                          octets of each SMTP message (the issue's mail
#                                           averaged 5.5 KB); the IMAP half is the kit's
#                                           make-mbox.py corpus (varied, deterministic)
#        SESSIONS=10                        SMTP clients
#        PROFILE=release                    cargo profile of the binaries (debug: no release
#                                           build needed; sizes do not depend on it)
#        KIT=../shared/kit                  the peers kit (Dovecot, Postfix)
#        DOVECOT_PORT=12143 POSTFIX_PORT=12526   ports of the private peers
#        MAILPEERS_DIR=/tmp/mailpeers-diskbench  their state (a private instance, emptied)
#        KEEP=1                             keep the work directory (config, data, samples)
#
# What it does:
#  1. builds mailroom and the load clients (tests/src/bin/imap-load.rs, smtp-load.rs);
#  2. mailroom on free loopback ports (imap + smtp + admin), data in a fresh directory under
#     target/; MSGS/2 messages APPENDed to alice@ (`imap-load --fill`) while smtp-load sends
#     MSGS/2 to bench@; every second a sample: apparent size (du -sb) and allocated size
#     (du -sB1) of the data directory, the WAL file's size, the messages stored so far;
#     then SIGTERM and the sizes at rest;
#  3. the kit's Dovecot (IMAP) and Postfix (SMTP, delivering into the maildirs Dovecot
#     serves) get the same two streams; samples of the mail directory likewise, until all
#     MSGS messages are in the maildirs;
#  4. a summary: for every mailroom sample, its size over Dovecot's at the same number of
#     stored messages (interpolated between Dovecot's samples); the largest ratio over the
#     run (allocated and apparent), the largest WAL, and the sizes after the run.
# Everything it started is stopped on exit (trap), also on Ctrl-C or failure.
# Exit status: 0 when both runs stored every message (the goal verdict is printed only).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
KIT=$(cd "${KIT:-$REPO/../shared/kit}" && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
MSGS=${MSGS:-100000}
SIZE=${SIZE:-5500}
SESSIONS=${SESSIONS:-10}
PROFILE=${PROFILE:-release}
DOVECOT_PORT=${DOVECOT_PORT:-12143}
DOVECOT_POP3_PORT=${DOVECOT_POP3_PORT:-12110}
POSTFIX_PORT=${POSTFIX_PORT:-12526}
POSTFIX_SUB_PORT=${POSTFIX_SUB_PORT:-12587}
MAILPEERS_DIR=${MAILPEERS_DIR:-/tmp/mailpeers-diskbench}
export MAILPEERS_DIR
HOST=127.0.0.1
IMAP_USER=alice@test.example
SMTP_RCPT=bench@test.example
DOVECOT_PASS=pass                 # the kit's
MAILROOM_PASS=bench-password

for n in MSGS SIZE SESSIONS DOVECOT_PORT DOVECOT_POP3_PORT POSTFIX_PORT POSTFIX_SUB_PORT; do
  [[ ${!n} =~ ^[1-9][0-9]*$ ]] || { echo "bench: $n must be a positive integer" >&2; exit 2; }
done
[ "$MSGS" -ge 2 ] || { echo "bench: MSGS must be at least 2" >&2; exit 2; }
case "$PROFILE" in release|debug) ;; *) echo "bench: PROFILE is release or debug" >&2; exit 2 ;; esac
while read -r v; do unset "$v"; done < <(compgen -e | grep '^MAILROOM_' || true)
IMAP_MSGS=$(( MSGS / 2 ))
SMTP_MSGS=$(( MSGS - IMAP_MSGS ))

. "$REPO/bench/lib.sh"

# ---- cleanup --------------------------------------------------------------------------------
WORK="" SERVER_PID="" PEERS_STARTED=0 SAMPLER_PID="" LOAD_PIDS=()
stop_sampler() {
  if [ -n "$SAMPLER_PID" ]; then kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; fi
  SAMPLER_PID=""
}
cleanup() {
  local rc=$? p
  trap - EXIT INT TERM
  stop_sampler
  for p in "${LOAD_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  stop_server || true
  if [ "$PEERS_STARTED" = 1 ]; then
    "$KIT/stop-postfix.sh" >/dev/null 2>&1 || true
    "$KIT/stop-dovecot.sh" >/dev/null 2>&1 || true
    rm -rf "$MAILPEERS_DIR/mail"
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
log "build ($PROFILE)"
cd "$REPO"
flag=(); [ "$PROFILE" = release ] && flag=(--release)
cargo build "${flag[@]}" --quiet
cargo build "${flag[@]}" --quiet -p mailroom-tests --bin imap-load --bin smtp-load
MAILROOM=$TARGET_DIR/$PROFILE/mailroom
IMAP_LOAD=$TARGET_DIR/$PROFILE/imap-load
SMTP_LOAD=$TARGET_DIR/$PROFILE/smtp-load

# ---- work directory, ports, config, the mail ------------------------------------------------
WORK=$(fresh_workdir disk)
read -r IMAP_PORT SMTP_PORT ADMIN_PORT < <(free_ports 3)
CONF=$WORK/mailroom.toml
DATA=$WORK/data
cat > "$CONF" <<EOF
[server]
hostname = "bench.example.test"
data_dir = "$DATA"

[listeners]
imap = "$HOST:$IMAP_PORT"
smtp = "$HOST:$SMTP_PORT"
admin = "$HOST:$ADMIN_PORT"

[security]
# plain LOGIN on loopback (the benchmark measures disk, not TLS)
allow_plaintext_auth = true

[dns]
# never the system's resolvers: the benchmark stays on this machine
nameservers = ["127.0.0.1:9"]

[auth]
# the MX path without SPF/DKIM/ARC/DMARC lookups and spam scoring, as Postfix in the kit
enabled = false

[spam]
enabled = false
EOF
"$MAILROOM" config check "$CONF" >/dev/null
MBOX=$WORK/imap.mbox
python3 "$KIT/make-mbox.py" "$MBOX" "$IMAP_MSGS" 1 >/dev/null
log "mail: $IMAP_MSGS messages over IMAP ($(stat -c %s "$MBOX") octets of mbox), $SMTP_MSGS x $SIZE octets over SMTP"

# sample OUT DIR COUNT_CMD [WAL]: one line per second
# "t apparent allocated wal stored_over_imap stored_over_smtp"
sample() {
  local out=$1 dir=$2 count=$3 wal=${4:-} t0 w
  t0=$(date +%s.%N)
  while :; do
    w=0; [ -n "$wal" ] && w=$(stat -c %s "$wal" 2>/dev/null || echo 0)
    printf '%s %s %s %s %s\n' "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" \
      "$(du -sb "$dir" 2>/dev/null | cut -f1)" "$(du -sB1 "$dir" 2>/dev/null | cut -f1)" \
      "$w" "$($count)" >> "$out"
    sleep 1
  done
}
mailroom_count() {  # mailroom_count ADDRESS
  sqlite3 -readonly "$DATA/mailroom.db" "SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id JOIN accounts a ON a.id = b.account_id WHERE a.address = '$1'" 2>/dev/null || echo 0
}
maildir_count() {  # maildir_count USER
  find "$MAILPEERS_DIR/mail/test.example/$1" -type f \( -path '*/cur/*' -o -path '*/new/*' \) 2>/dev/null | wc -l
}
mailroom_stored() { echo "$(mailroom_count "$IMAP_USER") $(mailroom_count "$SMTP_RCPT")"; }
maildir_stored() { echo "$(maildir_count "${IMAP_USER%@*}") $(maildir_count "${SMTP_RCPT%@*}")"; }
total() { echo $(( $1 + $2 )); }
# run_streams NAME IMAP_PORT PASS SMTP_PORT: both streams at once; 1 if either failed
run_streams() {
  local rc=0 p
  "$IMAP_LOAD" --host "$HOST" --port "$2" --user "$IMAP_USER" --pass "$3" --fill "$MBOX" \
    > "$WORK/imap-$1.out" 2>&1 &
  LOAD_PIDS=($!)
  "$SMTP_LOAD" --host "$HOST" --port "$4" --clients "$SESSIONS" --messages "$SMTP_MSGS" \
    --size "$SIZE" --rcpt "$SMTP_RCPT" --reuse > "$WORK/smtp-$1.out" 2>&1 &
  LOAD_PIDS+=($!)
  for p in "${LOAD_PIDS[@]}"; do wait "$p" || rc=1; done
  LOAD_PIDS=()
  grep -h '^RESULT' "$WORK/imap-$1.out" "$WORK/smtp-$1.out" || true
  [ "$rc" = 0 ] || { echo "bench: a load client against $1 failed:" >&2; tail -n 5 "$WORK/imap-$1.out" "$WORK/smtp-$1.out" >&2; }
  return "$rc"
}
CHECKS_OK=1

# ---- mailroom -------------------------------------------------------------------------------
log "mailroom: start on $HOST:$IMAP_PORT (smtp $SMTP_PORT), data $DATA"
"$MAILROOM" --config "$CONF" serve > "$WORK/mailroom.log" 2>&1 &
SERVER_PID=$!
echo "$SERVER_PID" > "$WORK/server.pid"
wait_port "$IMAP_PORT" "$SERVER_PID"
"$MAILROOM" --config "$CONF" domain add test.example >/dev/null
for u in "$IMAP_USER" "$SMTP_RCPT"; do
  printf '%s\n' "$MAILROOM_PASS" | "$MAILROOM" --config "$CONF" user add "$u" --password-stdin >/dev/null
done
echo "$(uptime)"
sample "$WORK/samples-mailroom.txt" "$DATA" mailroom_stored "$DATA/mailroom.db-wal" &
SAMPLER_PID=$!
log "mailroom: $IMAP_MSGS APPENDs and $SMTP_MSGS SMTP messages at once"
run_streams mailroom "$IMAP_PORT" "$MAILROOM_PASS" "$SMTP_PORT" || CHECKS_OK=0
sleep 2
stop_sampler
curl -s "http://$HOST:$ADMIN_PORT/metrics" | grep -E '^mailroom_store_wal' || true
stop_server || { echo "bench: mailroom did not exit cleanly" >&2; CHECKS_OK=0; }
MR_STORED=$(total $(mailroom_stored))
MR_AFTER="$(du -sb "$DATA" | cut -f1) $(du -sB1 "$DATA" | cut -f1)"
echo "mailroom after shutdown: stored=$MR_STORED apparent/allocated octets: $MR_AFTER"
ls -l "$DATA" | sed 's/^/  /'
[ "$MR_STORED" = "$MSGS" ] || { echo "bench: mailroom stored $MR_STORED of $MSGS" >&2; CHECKS_OK=0; }

# ---- Dovecot + Postfix ----------------------------------------------------------------------
log "Dovecot (IMAP $DOVECOT_PORT) and Postfix (SMTP $POSTFIX_PORT): start (kit), state $MAILPEERS_DIR"
PEERS_STARTED=1
"$KIT/stop-postfix.sh" >/dev/null 2>&1 || true
"$KIT/stop-dovecot.sh" >/dev/null 2>&1 || true
rm -rf "$MAILPEERS_DIR/mail"
# (their daemons keep the script's stdout open: send it to a file, not a pipe)
"$KIT/start-dovecot.sh" "$DOVECOT_PORT" "$DOVECOT_POP3_PORT" > "$WORK/dovecot-start.log" 2>&1 < /dev/null
"$KIT/start-postfix.sh" "$POSTFIX_PORT" "$POSTFIX_SUB_PORT" > "$WORK/postfix-start.log" 2>&1 < /dev/null
cat "$WORK/dovecot-start.log" "$WORK/postfix-start.log"
MAILDIRS=$MAILPEERS_DIR/mail
sample "$WORK/samples-dovecot.txt" "$MAILDIRS" maildir_stored &
SAMPLER_PID=$!
log "Dovecot/Postfix: $IMAP_MSGS APPENDs and $SMTP_MSGS SMTP messages at once"
run_streams dovecot "$DOVECOT_PORT" "$DOVECOT_PASS" "$POSTFIX_PORT" || CHECKS_OK=0
log "waiting for Postfix to deliver its queue"
for _ in $(seq 1800); do [ "$(total $(maildir_stored))" -ge "$MSGS" ] && break; sleep 1; done
sleep 2
stop_sampler
"$KIT/stop-postfix.sh" >/dev/null 2>&1 || true
"$KIT/stop-dovecot.sh" >/dev/null 2>&1 || true
DC_STORED=$(total $(maildir_stored))
DC_AFTER="$(du -sb "$MAILDIRS" | cut -f1) $(du -sB1 "$MAILDIRS" | cut -f1)"
echo "Dovecot after shutdown: stored=$DC_STORED apparent/allocated octets: $DC_AFTER"
[ "$DC_STORED" = "$MSGS" ] || { echo "bench: the maildirs hold $DC_STORED of $MSGS" >&2; CHECKS_OK=0; }

# ---- summary --------------------------------------------------------------------------------
log "summary ($MSGS messages; $(nproc) cores; $(uptime | sed 's/.*load/load/'))"
python3 - "$WORK/samples-mailroom.txt" "$WORK/samples-dovecot.txt" "$MR_AFTER" "$DC_AFTER" "$MSGS" "$MBOX" "$SIZE" <<'PY'
import bisect, mailbox, sys
# The two streams send different mail (the mbox corpus over IMAP, SIZE-octet messages over
# SMTP) at different paces on each server: samples are compared at the same mail stored, in
# octets, not at the same message count.
cum = [0]
for m in mailbox.mbox(sys.argv[6]):
    cum.append(cum[-1] + len(m.as_bytes()))
size = int(sys.argv[7])
def load(path):
    rows = []
    for line in open(path):
        f = line.split()
        if len(f) == 6 and all(x.replace('.', '', 1).isdigit() for x in f):
            t, app, alloc, wal, ni, ns = float(f[0]), int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5])
            rows.append((cum[min(ni, len(cum) - 1)] + size * ns, app, alloc, wal, t, ni + ns))
    return rows
mr, dc = load(sys.argv[1]), load(sys.argv[2])
mr_after, dc_after = [int(x) for x in sys.argv[3].split()], [int(x) for x in sys.argv[4].split()]
msgs = int(sys.argv[5])
mail_total = cum[-1] + size * (msgs - (len(cum) - 1))
print(f"mail: {msgs} messages, {mail_total / 1e6:.1f} MB")
dc.sort()
ns = [r[0] for r in dc]
def dovecot_at(n, col):
    """Dovecot's size (column col) when it held n messages, linear between samples."""
    i = bisect.bisect_left(ns, n)
    if i == 0: return dc[0][col]
    if i >= len(dc): return dc[-1][col]
    n0, n1 = dc[i - 1][0], dc[i][0]
    v0, v1 = dc[i - 1][col], dc[i][col]
    return v0 if n1 == n0 else v0 + (v1 - v0) * (n - n0) / (n1 - n0)
MB = 1e6
def worst(col, floor):
    best = (0.0, None)
    for r in mr:
        if r[0] < floor: continue
        d = dovecot_at(r[0], col)
        if d > 0 and r[col] / d > best[0]: best = (r[col] / d, r)
    return best
print(f"samples: mailroom {len(mr)}, Dovecot {len(dc)}")
print(f"largest WAL during the run: {max((r[3] for r in mr), default=0) / MB:.1f} MB")
for col, name in ((2, "allocated (du -sB1)"), (1, "apparent (du -sb)")):
    for floor in (1, max(1, mail_total // 100)):
        ratio, r = worst(col, floor)
        if r:
            print(f"max ratio mailroom/Dovecot, {name}, samples with >= {floor / MB:.2f} MB of mail: "
                  f"{ratio:.2f} (at {r[5]} messages, {r[0] / MB:.1f} MB of mail: {r[col] / MB:.1f} MB "
                  f"vs {dovecot_at(r[0], col) / MB:.1f} MB, WAL {r[3] / MB:.1f} MB)")
print(f"after the run, allocated: mailroom {mr_after[1] / MB:.1f} MB, Dovecot {dc_after[1] / MB:.1f} MB, "
      f"ratio {mr_after[1] / dc_after[1]:.2f}")
print(f"after the run, apparent:  mailroom {mr_after[0] / MB:.1f} MB, Dovecot {dc_after[0] / MB:.1f} MB, "
      f"ratio {mr_after[0] / dc_after[0]:.2f}")
ratio, _ = worst(2, max(1, mail_total // 100))
print(f"GOAL (never above 1.5x Dovecot's, allocated, from 1% of the mail on): {'met' if ratio <= 1.5 else 'NOT met'}")
PY
[ "$CHECKS_OK" = 1 ] || { echo "bench: some checks failed (see above)" >&2; exit 1; }
