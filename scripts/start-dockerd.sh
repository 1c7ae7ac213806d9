#!/usr/bin/env bash
# Start the Docker engine when its socket is absent (these machines have no
# systemd), then wait until it answers. Idempotent: does nothing when an
# engine already answers.
set -euo pipefail

sock=/var/run/docker.sock
log=${KIT_DOCKERD_LOG:-/var/log/kit-dockerd.log}

if docker info >/dev/null 2>&1; then
  exit 0
fi
if [ ! -S "$sock" ]; then
  echo ">> starting dockerd (log: $log)"
  # setsid: the engine must outlive this script and the make target.
  setsid nohup dockerd >"$log" 2>&1 </dev/null &
fi
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 1
done
echo "dockerd did not come up within 60 s; last log lines:" >&2
tail -n 20 "$log" >&2 || true
exit 1
