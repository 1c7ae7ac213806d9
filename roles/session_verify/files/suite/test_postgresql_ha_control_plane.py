"""PostgreSQL HA session stores (Patroni + etcd): etcd and the Patroni REST API.

Both closed to anonymous and plaintext clients (etcd's peer port too); the
REST API's unsafe methods need its password. Both belong to the DCS trust
domain (session_pki_trust_domain dcs): a certificate of the kit's app-facing
CA (an app host's client certificate) is refused at the handshake.

What these files add to the single-node ones, and where their refusals are
tried from: see test_postgresql_ha_replication.py.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
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
    """A member's own DCS-domain certificate, verifying the server against the DCS CA."""
    return {"ca": store["dcs_ca_cert"], "cert": store["patroni_cert"], "key": store["patroni_key"]}


def test_etcd_refuses_anonymous_and_plaintext_clients(cluster: list[Store]) -> None:
    client, target = cluster[1], cluster[0]
    host = host_for(client["name"])
    base = f"{target['ha_address']}:{target['etcd_port']}"
    code, body = http_from(host, f"https://{base}/health", **_certs(client))
    assert code == 200 and '"health":"true"' in body.replace(" ", ""), body
    code, body = http_from(host, f"https://{base}/health", ca=client["dcs_ca_cert"])
    assert code == 0, f"etcd answered a client without a certificate: {code} {body}"
    code, body = http_from(host, f"http://{base}/health")
    assert code != 200 and '"health"' not in body, f"etcd answered plaintext HTTP: {body}"
    code, body = http_from(host, f"https://{base}/v3/kv/range", "POST", ca=client["dcs_ca_cert"],
                           data='{"key":"AA==","range_end":"AA=="}')
    assert code == 0, f"etcd served keys to an anonymous client: {code} {body}"
    # The peer port: TLS with a peer certificate only.
    peer = f"{target['ha_address']}:2380"
    code, body = http_from(host, f"http://{peer}/members")
    assert code != 200 and "peerURLs" not in body, f"etcd's peer port answered plaintext HTTP: {body}"
    code, body = http_from(host, f"https://{peer}/members", ca=client["dcs_ca_cert"])
    assert code == 0, f"etcd's peer port answered a client without a certificate: {code} {body}"


def test_patroni_api_refuses_anonymous_plaintext_and_passwordless_clients(cluster: list[Store]) -> None:
    client, target = cluster[1], cluster[0]
    host = host_for(client["name"])
    base = f"{target['ha_address']}:{target['patroni_api_port']}"
    code, body = http_from(host, f"https://{base}/patroni", **_certs(client))
    assert code in (200, 503) and '"state"' in body, body
    code, body = http_from(host, f"https://{base}/patroni", ca=client["dcs_ca_cert"])
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



# --- trust domains: a certificate of the kit's app-facing CA owns nothing here -----------

KV_RANGE_ALL = '{"key":"AA==","range_end":"AA=="}'
# Failures on the client's own side: they would make a refusal test pass without etcd or Patroni
# having refused anything (the app host could not reach or verify the server).
CLIENT_SIDE = ("CERTIFICATE_VERIFY_FAILED", "Connection refused", "No route", "unreachable", "timed out",
               "Name or service", "No such file")


def refused(code: int, body: str) -> bool:
    """The server refused: an HTTP 401/403, or no HTTP answer because the TLS session was ended by the
    server (an alert, a reset), not because the client could not reach or verify it."""
    return code in (401, 403) or (code == 0 and not any(s in body for s in CLIENT_SIDE))


def _app_client_cert(context: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """An app host of the cluster and its client certificate towards the store (the kit's CA,
    clientAuth: what a compromised app host holds), with the host's kit CA file."""
    apps = [a for a in context.get("apps", []) if a.get("store") == "postgresql"]
    if not apps:
        pytest.skip("no app host uses the PostgreSQL HA store")
    host = host_for(apps[0]["name"])
    tls = "/etc/session-kit/tls"
    name = f"{apps[0]['app']}-client"
    if not host.file(f"{tls}/{name}.crt").exists:
        # A store without clientcert (the lab): the app host holds no clientAuth certificate of the
        # kit, and its nginx one (serverAuth only) would be refused whatever etcd trusts, a check
        # that could not fail. The HA scenario's store asks for client certificates.
        pytest.skip(f"{apps[0]['name']} holds no kit client certificate ({tls}/{name}.crt): the store asks for none")
    return host, {"ca": f"{tls}/ca.crt", "cert": f"{tls}/{name}.crt", "key": f"{tls}/{name}.key"}


def test_an_app_hosts_certificate_is_refused_by_etcd(cluster: list[Store], context: dict[str, Any]) -> None:
    """Issue 22 item 1: the app's client certificate of the kit read Patroni's keys (200)."""
    host, foreign = _app_client_cert(context)
    target = cluster[0]
    base = f"{target['ha_address']}:{target['etcd_port']}"
    # The positive side: a member's own DCS certificate reads.
    code, body = http_from(host_for(cluster[1]["name"]), f"https://{base}/v3/kv/range", "POST", data=KV_RANGE_ALL,
                           **_certs(cluster[1]))
    assert code == 200 and '"kvs"' in body, f"a member's own certificate: {code} {body[:300]}"
    # The client verifies etcd's certificate against the DCS CA (copied to the app host, which has
    # no reason to hold it): a refusal must be etcd's, not the client's.
    dcs_ca = host_for(cluster[1]["name"]).file(target["dcs_ca_cert"]).content_string
    _put(host, "/tmp/kit-suite-dcs-ca.crt", dcs_ca)
    foreign_client = {**foreign, "ca": "/tmp/kit-suite-dcs-ca.crt"}
    try:
        code, body = http_from(host, f"https://{base}/v3/kv/range", "POST", data=KV_RANGE_ALL, **foreign_client)
        assert refused(code, body), f"etcd served Patroni's keys to an app host's certificate: {code} {body[:300]}"
        code, body = http_from(host, f"https://{base}/v3/kv/put", "POST",
                               data='{"key":"L3NlcnZpY2Uva2l0LXN1aXRl","value":"eA=="}', **foreign_client)
        assert refused(code, body), f"etcd took a write from an app host's certificate: {code} {body[:300]}"
        # The peer port as well (a member's certificate is needed there).
        peer = f"{target['ha_address']}:2380"
        code, body = http_from(host, f"https://{peer}/members", **foreign_client)
        assert refused(code, body), f"etcd's peer port answered an app host's certificate: {code} {body[:300]}"
    finally:
        host.run("rm -f /tmp/kit-suite-dcs-ca.crt")


def test_an_app_hosts_certificate_is_refused_by_the_patroni_api(cluster: list[Store],
                                                                 context: dict[str, Any]) -> None:
    """Even with the REST API password, a kit certificate cannot change the cluster."""
    host, foreign = _app_client_cert(context)
    target = cluster[0]
    base = f"{target['ha_address']}:{target['patroni_api_port']}"
    dcs_ca = host_for(cluster[1]["name"]).file(target["dcs_ca_cert"]).content_string
    _put(host, "/tmp/kit-suite-dcs-ca.crt", dcs_ca)
    foreign_client = {**foreign, "ca": "/tmp/kit-suite-dcs-ca.crt"}
    try:
        code, body = http_from(host, f"https://{base}/patroni", **foreign_client)
        assert refused(code, body), f"the REST API answered an app host's certificate: {code} {body[:300]}"
        # A harmless PATCH (the ttl the cluster has), with the right password: refused all the same.
        member = _certs(cluster[1])
        code, body = http_from(host_for(cluster[1]["name"]), f"https://{base}/config", **member)
        assert code == 200, body
        same = json.dumps({"ttl": json.loads(body)["ttl"]})
        code, body = http_from(host, f"https://{base}/config", "PATCH", data=same, user=target["patroni_api_user"],
                               password=target["patroni_api_password"], **foreign_client)
        assert refused(code, body), f"PATCH /config with an app host's certificate: {code} {body[:300]}"
        code, body = http_from(host, f"https://{base}/switchover", "POST", data='{"leader":"none-such"}',
                               user=target["patroni_api_user"], password=target["patroni_api_password"],
                               **foreign_client)
        assert refused(code, body), f"POST /switchover with an app host's certificate: {code} {body[:300]}"
    finally:
        host.run("rm -f /tmp/kit-suite-dcs-ca.crt")


def _put(host: Any, path: str, content: str) -> None:
    """Write a public file (a CA certificate) on `host`."""
    args = {"dest": path, "content": content, "mode": "0644"}
    result = host.ansible("ansible.builtin.copy", json.dumps(args), check=False, become=True)
    assert not result.get("failed"), result


def _from_control_node(url: str, method: str, ca: str, cert: str, key: str, data: str = "") -> tuple[int, str]:
    """An HTTPS request from the control node (status 0: no HTTP answer)."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    request = urllib.request.Request(url, data=data.encode() if data else None, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, context=ctx, timeout=5) as response:
            return int(response.status), response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode(errors="replace")
    except OSError as exc:
        return 0, f"{type(exc).__name__} {exc}"


def test_the_operators_dcs_certificate_works_and_a_kit_one_does_not(cluster: list[Store],
                                                                     context: dict[str, Any]) -> None:
    """The operator's tooling certificate (session_pki local_client, trust domain dcs) reads etcd and the
    REST API from the control node; the suite's own PostgreSQL client certificate (the kit's CA) does not."""
    dcs = context.get("dcs_client") or {}
    assert dcs and Path(dcs["cert"]).is_file(), f"no operator DCS client certificate: {dcs}"
    target = cluster[0]
    etcd = f"https://{target['ha_address']}:{target['etcd_port']}/v3/kv/range"
    api = f"https://{target['ha_address']}:{target['patroni_api_port']}/patroni"
    code, body = _from_control_node(etcd, "POST", dcs["ca"], dcs["cert"], dcs["key"], KV_RANGE_ALL)
    assert code == 200 and '"kvs"' in body, f"the operator's certificate on etcd: {code} {body[:300]}"
    code, body = _from_control_node(api, "GET", dcs["ca"], dcs["cert"], dcs["key"])
    assert code in (200, 503) and '"state"' in body, f"the operator's certificate on the REST API: {code} {body[:300]}"
    kit = (str(target["client_cert_local"]), str(target["client_key_local"]))
    if not Path(kit[0]).is_file():
        # A store without clientcert (the lab): the suite holds no clientAuth certificate of the kit
        # to be refused; the operator's half above ran. The HA scenario's store asks for them.
        pytest.skip(f"the suite holds no kit client certificate ({kit[0]}): the store asks for none")
    code, body = _from_control_node(etcd, "POST", dcs["ca"], *kit, KV_RANGE_ALL)
    assert refused(code, body), f"etcd served a kit certificate: {code} {body[:300]}"
    code, body = _from_control_node(api, "GET", dcs["ca"], *kit)
    assert refused(code, body), f"the REST API answered a kit certificate: {code} {body[:300]}"
