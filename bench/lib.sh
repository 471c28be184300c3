# Shell pieces the benchmark scripts share; sourced by bench/smtp.sh and bench/imap.sh.
# Uses their HOST, SERVER_PID and TARGET_DIR; defines nothing that runs on its own.

log() { printf '\n== %s  %s\n' "$(date +%T)" "$*"; }

# Stop the mailroom under test (SIGTERM: drain, flush, exit 0); its exit status.
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$SERVER_PID" 2>/dev/null && { echo "bench: mailroom did not stop, killing" >&2; kill -KILL "$SERVER_PID"; }
  fi
  local rc=0; wait "$SERVER_PID" 2>/dev/null || rc=$?
  SERVER_PID=""
  return "$rc"
}

wait_port() {  # wait_port PORT [PID]: until PORT accepts; fail early if PID exits
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null && return 0
    if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
      echo "bench: process $2 exited before port $1 opened" >&2; return 1
    fi
    sleep 0.1
  done
  echo "bench: port $1 did not open" >&2; return 1
}

# fresh_workdir NAME: remove leftovers of runs killed outright (their server is gone), then
# print a new work directory target/bench-NAME.XXXXXX.
fresh_workdir() {
  mkdir -p "$TARGET_DIR"
  local old pid
  for old in "$TARGET_DIR"/bench-"$1".*; do
    [ -d "$old" ] || continue
    pid=$(cat "$old/server.pid" 2>/dev/null || true)
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then rm -rf "$old"; fi
  done
  mktemp -d "$TARGET_DIR/bench-$1.XXXXXX"
}

# free_ports N: N free loopback ports, space-separated.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
held = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in held:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in held))
PY
}
