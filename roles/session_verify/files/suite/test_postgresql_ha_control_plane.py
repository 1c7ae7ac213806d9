"""PostgreSQL HA session stores (Patroni + etcd): etcd and the Patroni REST API.

Both closed to anonymous and plaintext clients (etcd's peer port too); the
REST API's unsafe methods need its password.

What these files add to the single-node ones, and where their refusals are
tried from: see test_postgresql_ha_replication.py.
"""

from __future__ import annotations

import json
import os
from typing import Any

from conftest import host_for
from pg_client import NEEDS_CLUSTER, Store

pytestmark = NEEDS_CLUSTER


# --- etcd and the Patroni REST API -------------------------------------------------------

# The members have no curl: a small Python client runs on the member itself
# (argv: url method cafile certfile keyfile data user; the password, if any,
# on stdin). Prints the HTTP status (0: no HTTP answer) and the body.
HTTP_PY = r"""
import base64, ssl, sys, urllib.error, urllib.request
url, method, ca, cert, key, data, user = sys.argv[1:8]
headers = {"Content-Type": "application/json"}
if user:
    secret = sys.stdin.readline().rstrip("\n")
    headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
ctx = None
if url.startswith("https:"):
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
request = urllib.request.Request(url, data=data.encode() if data else None, method=method, headers=headers)
try:
    with urllib.request.urlopen(request, context=ctx, timeout=5) as response:
        print(response.status)
        print(response.read().decode(errors="replace"))
except urllib.error.HTTPError as exc:
    print(exc.code)
    print(exc.read().decode(errors="replace"))
except Exception as exc:
    print(0)
    print(type(exc).__name__, exc)
"""


def http_from(host: Any, url: str, method: str = "GET", *, ca: str = "", cert: str = "", key: str = "",
              data: str = "", user: str = "", password: str = "") -> tuple[int, str]:
    """An HTTP(S) request made on `host` (status 0: no HTTP answer, e.g. a refused handshake)."""
    os.environ["KIT_SUITE_SECRET"] = password
    try:
        args = {"argv": ["python3", "-c", HTTP_PY, url, method, ca, cert, key, data, user],
                "stdin": "{{ lookup('ansible.builtin.env', 'KIT_SUITE_SECRET') }}"}
        result = host.ansible("ansible.builtin.command", json.dumps(args), check=False, become=True)
    finally:
        del os.environ["KIT_SUITE_SECRET"]
    status, _, body = str(result.get("stdout", "")).partition("\n")
    assert status.strip().isdigit(), result
    return int(status), body


def _certs(store: Store) -> dict[str, str]:
    return {"ca": store["ca_cert"], "cert": store["patroni_cert"], "key": store["patroni_key"]}


def test_etcd_refuses_anonymous_and_plaintext_clients(cluster: list[Store]) -> None:
    client, target = cluster[1], cluster[0]
    host = host_for(client["name"])
    base = f"{target['ha_address']}:{target['etcd_port']}"
    code, body = http_from(host, f"https://{base}/health", **_certs(client))
    assert code == 200 and '"health":"true"' in body.replace(" ", ""), body
    code, body = http_from(host, f"https://{base}/health", ca=client["ca_cert"])
    assert code == 0, f"etcd answered a client without a certificate: {code} {body}"
    code, body = http_from(host, f"http://{base}/health")
    assert code != 200 and '"health"' not in body, f"etcd answered plaintext HTTP: {body}"
    code, body = http_from(host, f"https://{base}/v3/kv/range", "POST", ca=client["ca_cert"],
                           data='{"key":"AA==","range_end":"AA=="}')
    assert code == 0, f"etcd served keys to an anonymous client: {code} {body}"
    # The peer port: TLS with a peer certificate only.
    peer = f"{target['ha_address']}:2380"
    code, body = http_from(host, f"http://{peer}/members")
    assert code != 200 and "peerURLs" not in body, f"etcd's peer port answered plaintext HTTP: {body}"
    code, body = http_from(host, f"https://{peer}/members", ca=client["ca_cert"])
    assert code == 0, f"etcd's peer port answered a client without a certificate: {code} {body}"


def test_patroni_api_refuses_anonymous_plaintext_and_passwordless_clients(cluster: list[Store]) -> None:
    client, target = cluster[1], cluster[0]
    host = host_for(client["name"])
    base = f"{target['ha_address']}:{target['patroni_api_port']}"
    code, body = http_from(host, f"https://{base}/patroni", **_certs(client))
    assert code in (200, 503) and '"state"' in body, body
    code, body = http_from(host, f"https://{base}/patroni", ca=client["ca_cert"])
    assert code == 0, f"the REST API answered a client without a certificate: {code} {body}"
    code, body = http_from(host, f"http://{base}/patroni")
    assert code != 200 and '"state"' not in body, f"the REST API answered plaintext HTTP: {body}"
    # Unsafe methods need the password too (a harmless PATCH: the ttl it already has).
    code, body = http_from(host, f"https://{base}/config", **_certs(client))
    assert code == 200, body
    same = json.dumps({"ttl": json.loads(body)["ttl"]})
    code, body = http_from(host, f"https://{base}/config", "PATCH", data=same, **_certs(client))
    assert code == 401, f"PATCH /config without the password: {code} {body}"
    code, body = http_from(host, f"https://{base}/config", "PATCH", data=same, user=target["patroni_api_user"],
                           password=target["patroni_api_password"] + "x", **_certs(client))
    assert code == 401, f"PATCH /config with a wrong password: {code} {body}"
    code, body = http_from(host, f"https://{base}/config", "PATCH", data=same, user=target["patroni_api_user"],
                           password=target["patroni_api_password"], **_certs(client))
    assert code == 200, f"PATCH /config with the password: {code} {body}"

