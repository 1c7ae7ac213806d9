#!/usr/bin/env bash
# make phalcon-build DISTRO=trixie|bookworm: build Phalcon from the seed's
# source archive in a scratch test host through php_session_app's "source"
# path (empty cache), check that it loads and reports the expected version,
# remove the host. Prints the measured time.
set -euo pipefail
distro="${1:?usage: phalcon-build.sh bookworm|trixie}"
case "$distro" in bookworm | trixie) ;; *) echo "DISTRO must be bookworm or trixie" >&2; exit 2 ;; esac
repo="$(cd "$(dirname "$0")/.." && pwd)"
seed="$("$repo/scripts/phalcon-seed.sh")"
export ANSIBLE_CONFIG="${ANSIBLE_CONFIG:-$repo/ansible.cfg}"
version="${KIT_PHALCON_VERSION:-5.18.2}"
archive="$seed/cphalcon-$version-ext.tar.gz"
sha256="$(awk -v f="cphalcon-$version-ext.tar.gz" '$2 == f || $2 == "*" f {print $1}' "$seed/SHA256SUMS")"
[ -n "$sha256" ] || { echo "$seed/SHA256SUMS lists no cphalcon-$version-ext.tar.gz" >&2; exit 1; }
host="${KIT_PHALCON_BUILD_HOST:-kit-phalcon-build-$distro}"
cache="$(mktemp -d)"
# Only the control node; the build host is added by the playbook.
printf '%s\n' 'localhost ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"' >"$cache/hosts"
playbook=(ansible-playbook -i "$cache/hosts" "$repo/playbooks/phalcon_build.yml"
  -e "kit_phalcon_build_host=$host" -e "kit_phalcon_build_distro=$distro")
cleanup() {
  "${playbook[@]}" -e kit_phalcon_build_state=absent >/dev/null || echo "could not remove $host" >&2
  rm -rf "$cache"
}
trap cleanup EXIT
start=$SECONDS
"${playbook[@]}" -e kit_phalcon_build_state=present \
  -e "php_session_app_phalcon_version=$version" \
  -e "php_session_app_phalcon_source=$archive" \
  -e "php_session_app_phalcon_source_sha256=$sha256" \
  -e "php_session_app_phalcon_cache_dir=$cache/modules"
echo "phalcon-build $distro: Phalcon $version built, loaded and cached in $((SECONDS - start)) s"
find "$cache/modules" -type f -exec sha256sum {} +
