#!/usr/bin/env bash
# Start the Docker engine unless one already answers (these machines have no
# systemd), then wait until it answers. Idempotent: does nothing when an
# engine already answers. A socket or pid file left behind by an engine that
# is gone (a restored machine snapshot, a killed dockerd) is cleared first:
# dockerd refuses to start over a live-looking pid file, and a stale socket
# only makes clients wait.
set -euo pipefail

sock=/var/run/docker.sock
pidfile=/var/run/docker.pid
log=${KIT_DOCKERD_LOG:-/var/log/kit-dockerd.log}

engine_answers() { docker info >/dev/null 2>&1; }

engine_process_alive() {
  local pid
  [ -s "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = dockerd ]
}

if engine_answers; then
  exit 0
fi
if ! engine_process_alive; then
  if [ -e "$sock" ] || [ -e "$pidfile" ]; then
    echo ">> removing a stale Docker socket/pid file (no dockerd is running)"
    rm -f "$sock" "$pidfile"
  fi
  echo ">> starting dockerd (log: $log)"
  # setsid: the engine must outlive this script and the make target. Every
  # descriptor above 2 is closed first: an inherited one (a caller's flock,
  # a pipe) would otherwise stay held for the engine's whole life.
  (
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec setsid nohup dockerd >"$log" 2>&1 </dev/null
  ) &
fi
for _ in $(seq 1 90); do
  if engine_answers; then
    exit 0
  fi
  sleep 1
done
echo "dockerd did not answer within 90 s; last log lines:" >&2
tail -n 20 "$log" >&2 || true
exit 1
