#!/usr/bin/env bash
# Print the Phalcon seed directory (source archive, SHA256SUMS, prebuilt
# modules): $KIT_PHALCON_SEED, else ../shared/phalcon beside the repository,
# else /work/shared/phalcon. Exit 1 with a message when there is none.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
for dir in "${KIT_PHALCON_SEED:-}" "$repo/../shared/phalcon" /work/shared/phalcon; do
  if [ -n "$dir" ] && [ -f "$dir/SHA256SUMS" ]; then
    (cd "$dir" && pwd)
    exit 0
  fi
done
echo "No Phalcon seed: set KIT_PHALCON_SEED to a directory with SHA256SUMS, the source archive" \
  "and prebuilt/php<X.Y>/phalcon.so (looked in ${KIT_PHALCON_SEED:-<unset>}, $repo/../shared/phalcon," \
  "/work/shared/phalcon)" >&2
exit 1
