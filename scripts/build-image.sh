#!/usr/bin/env bash
# Build a systemd-booting Debian test-host image with debootstrap and import it
# into Docker. The image is tagged with a hash of this recipe, so it is rebuilt
# only when the recipe changes:
#   kit-testhost:<suite>-<hash>   the immutable build
#   kit-testhost:<suite>          moving tag used by molecule and the lab
# Usage: scripts/build-image.sh bookworm|trixie
set -euo pipefail

suite=${1:?usage: build-image.sh SUITE}
case "$suite" in
  bookworm|trixie) ;;
  *) echo "unsupported suite: $suite (bookworm or trixie)" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
repo="kit-testhost"
# Packages every test host needs so Ansible can manage it and systemd can boot.
packages="systemd,systemd-sysv,dbus,python3,python3-apt,ca-certificates,iproute2,procps,sudo,gnupg"
recipe_hash=$( { cat "$0"; echo "$suite $packages"; } | sha256sum | cut -c1-12)
tag="$repo:$suite-$recipe_hash"

if docker image inspect "$tag" >/dev/null 2>&1; then
  docker tag "$tag" "$repo:$suite"
  echo ">> $tag is up to date"
  exit 0
fi

mirror=$("$here/debian-mirror.sh")
security=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i ~ /security/) {print $i; exit}}' \
           /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
security=${security:-${mirror}-security}

work=$(mktemp -d /var/tmp/kit-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

echo ">> debootstrap $suite from $mirror"
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${security%/} $suite-security main
SOURCES
# Keep downloaded packages: the harness mounts a shared per-suite apt cache.
cat >"$root/etc/apt/apt.conf.d/90kit-testhost" <<'APT'
Binary::apt::APT::Keep-Downloaded-Packages "true";
APT::Install-Recommends "false";
Acquire::Languages "none";
APT
chroot "$root" apt-get update -qq >/dev/null
# Units that have no job in a container and only slow the boot or spin.
for unit in systemd-udevd.service systemd-udev-trigger.service systemd-firstboot.service \
            getty.target console-getty.service systemd-remount-fs.service \
            apt-daily.timer apt-daily-upgrade.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
: >"$root/etc/machine-id"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log

echo ">> docker import $tag"
tar -C "$root" -c . | docker import \
  --change 'CMD ["/sbin/init"]' \
  --change 'ENV container=docker' \
  - "$tag" >/dev/null
docker tag "$tag" "$repo:$suite"
echo ">> built $tag"
