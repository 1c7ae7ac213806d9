"""Redis/Valkey HA groups: trust domains on the replication and Sentinel links (issue 22, item 8).

The nodes and Sentinels trust only the Redis CA (session_pki trust domain redis,
tls-ca-cert-file ca-redis.crt): a replica, or a Sentinel dialling a node or
another Sentinel, accepts as its peer only a Redis server certificate. An
app host's HTTPS certificate (the kit's app-facing CA) served as a master is
refused by a replica that uses the node's own TLS settings. The server
certificate carries serverAuth only, the outgoing links' certificate
clientAuth only.

Not enforceable by the engine, hence not claimed: which *client* certificate
of the Redis CA connects to a node's port (apps' client certificates and
peers' come from the same CA; one tls-ca-cert-file verifies both); that link
is held by the ACL users' passwords (test_redis_ha_links.py).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from conftest import CONTEXT, host_for
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from redis_ha_client import Store

TLS = "/etc/session-kit/tls"


def _read(host: Any, path: str) -> str:
    """A root-only file's content (slurp as root)."""
    result = host.ansible("ansible.builtin.slurp", json.dumps({"src": path}), check=False, become=True)
    assert "content" in result, f"cannot read {path}"
    return base64.b64decode(result["content"]).decode()


def _eku(host: Any, path: str) -> set[str]:
    pem = _read(host, path)
    cert = x509.load_pem_x509_certificate(pem.encode())
    names = {ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth", ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth"}
    return {names.get(o, o.dotted_string) for o in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value}


def test_server_certificate_authenticates_no_client(redis_store: Store) -> None:
    """tls-cert-file: serverAuth alone; tls-client-cert-file (replication, Sentinel links): clientAuth alone.
    Every Redis store, HA or not (the single-node scenarios run it too)."""
    host = host_for(redis_store["name"])
    conf = _read(host, redis_store["conf_file"])
    files = dict(line.split(" ", 1) for line in conf.splitlines()
                 if line.startswith("tls-") and line.endswith((".crt", ".key")))
    assert _eku(host, files["tls-cert-file"]) == {"serverAuth"}, files["tls-cert-file"]
    assert _eku(host, files["tls-client-cert-file"]) == {"clientAuth"}, files["tls-client-cert-file"]
    assert files["tls-ca-cert-file"] == f"{TLS}/ca-redis.crt", files


def _scratch_link(store: Store, master_cert: str, master_key: str) -> str:
    """INFO replication of a scratch replica with the node's own TLS settings (tls-* lines of its
    configuration file) following a scratch master on 127.0.0.1 that presents `master_cert`."""
    prefix = "valkey" if store["engine"] == "valkey" else "redis"
    script = f"""
set -u
conf={store['conf_file']}
setting() {{ awk -v k="$1" '$1 == k {{print $2}}' "$conf"; }}
ca=$(setting tls-ca-cert-file); cert=$(setting tls-client-cert-file); key=$(setting tls-client-key-file)
rm -rf /tmp/kit-trust-m /tmp/kit-trust-r; mkdir -m 0700 /tmp/kit-trust-m /tmp/kit-trust-r
master=$(printf '%s\\n' 'port 0' 'tls-port 16998' 'bind 127.0.0.1' 'tls-auth-clients no' \
  'tls-cert-file {master_cert}' 'tls-key-file {master_key}' "tls-ca-cert-file $ca" \
  'dir /tmp/kit-trust-m' 'appendonly no' 'save ""')
replica=$( (printf '%s\\n' 'port 0' 'tls-port 16999' 'bind 127.0.0.1' 'tls-replication yes' 'tls-auth-clients no' \
  'dir /tmp/kit-trust-r' 'appendonly no' 'save ""' 'replicaof 127.0.0.1 16998' 'replica-announced no' \
  'replica-priority 0'; grep -E '^tls-(cert|key|client-cert|client-key|ca-cert)-file ' "$conf") )
printf '%s\\n' "$master" | timeout 14 {prefix}-server - >/tmp/kit-trust-m.log 2>&1 & m=$!
printf '%s\\n' "$replica" | timeout 12 {prefix}-server - >/tmp/kit-trust-r.log 2>&1 & r=$!
info=""
for _ in $(seq 16); do sleep 0.5
  info=$({prefix}-cli --tls --cacert "$ca" --cert "$cert" --key "$key" -h 127.0.0.1 -p 16999 INFO replication \
    2>/dev/null)
  case $info in *master_link_status:up*) break;; esac
done
printf '%s\\n' "$info"; grep -iE 'tls|ssl|certificate' /tmp/kit-trust-r.log | tail -n 3
kill "$m" "$r" 2>/dev/null; wait
rm -rf /tmp/kit-trust-m /tmp/kit-trust-r /tmp/kit-trust-m.log /tmp/kit-trust-r.log
"""
    args = {"cmd": script, "executable": "/bin/bash"}
    result = host_for(store["name"]).ansible("ansible.builtin.shell", json.dumps(args), check=False, become=True)
    return str(result.get("stdout", ""))


def _put(host: Any, path: str, content: str) -> None:
    args = {"dest": path, "content": content, "mode": "0600", "owner": "root"}
    result = host.ansible("ansible.builtin.copy", json.dumps(args), check=False, become=True)
    assert not result.get("failed"), "copy failed"


def test_a_replica_refuses_an_app_certificate_as_its_master(ha_group: list[Store]) -> None:
    """A master presenting an app host's HTTPS certificate is refused; one presenting a Redis server
    certificate (control) is followed."""
    apps = [a for a in CONTEXT.get("apps", []) if a.get("store") == "redis"]
    if not apps:
        pytest.skip("no app host in the inventory")
    app_host = host_for(apps[0]["name"])
    store = ha_group[0]
    node = host_for(store["name"])
    _put(node, "/tmp/kit-trust-app.crt", _read(app_host, f"{TLS}/nginx.crt"))
    _put(node, "/tmp/kit-trust-app.key", _read(app_host, f"{TLS}/nginx.key"))
    try:
        own = _scratch_link(store, f"{TLS}/{store['engine']}.crt", f"{TLS}/{store['engine']}.key")
        assert "master_link_status:up" in own, f"control: the node's own server certificate as master: {own}"
        foreign = _scratch_link(store, "/tmp/kit-trust-app.crt", "/tmp/kit-trust-app.key")
        assert "master_link_status:down" in foreign, f"a replica followed a master with an app's certificate: {foreign}"
    finally:
        node.run("rm -f /tmp/kit-trust-app.crt /tmp/kit-trust-app.key")
