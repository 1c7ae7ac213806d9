#!/usr/bin/env bash
# Install what the kit needs on a bare Debian 12 control node (run as root)
# and start the Docker engine. Idempotent and quick when all is in place.
set -euo pipefail

# prometheus: promtool, for the alert rules' unit tests (make unit). Its
# server is not wanted on the control node: installed without starting it.
packages=(docker.io debootstrap python3-venv openssl iproute2 redis-tools postgresql-client curl wrk prometheus)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root or install them)" >&2
    exit 1
  fi
  echo ">> installing ${missing[*]}"
  apt-get update -qq
  # No service starts during the install (the Prometheus server above); an
  # existing policy-rc.d is the machine's own and stays as it is.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\n# Temporary (session kit bootstrap): no service starts during install.\nexit 101\n' >"$guard"
    chmod 0755 "$guard"
    trap 'rm -f "$guard"' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$guard" ]; then rm -f "$guard"; trap - EXIT; fi
fi

"$(dirname "$0")/start-dockerd.sh"
