#!/usr/bin/env bash
# Install what the kit needs on a bare Debian 12 control node (run as root)
# and start the Docker engine. Idempotent and quick when all is in place.
set -euo pipefail

packages=(docker.io debootstrap python3-venv openssl iproute2 redis-tools postgresql-client curl wrk)
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
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

"$(dirname "$0")/start-dockerd.sh"
