#!/usr/bin/env bash
# Print the Debian archive URI this machine's own apt sources use.
# Never hard-code a mirror: the machine knows which one it may reach.
set -euo pipefail
uri=""
if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
  uri=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i !~ /security/) {print $i; exit}}' \
        /etc/apt/sources.list.d/*.sources | head -n 1)
fi
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
  uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' \
        /etc/apt/sources.list | head -n 1)
fi
if [ -z "$uri" ]; then
  echo "no Debian archive found in this machine's apt sources" >&2
  exit 1
fi
echo "${uri%/}"
