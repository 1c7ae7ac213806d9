"""Cheap checks of rendered server configuration files (tests/unit/test_render.py).

Each check returns the problems of one rendered file: the mistakes a server
would refuse (field counts, directives without a value, unbalanced braces,
YAML Patroni cannot read, settings PostgreSQL does not know).
"""

from __future__ import annotations

import functools
import ipaddress
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


# --- checks: each returns the problems of one rendered file -----------------

def _lines(text: str, comment: str = "#") -> Iterator[tuple[int, str]]:
    """Numbered lines that are neither empty nor comments."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith(comment):
            yield number, line


def check_redis(text: str) -> list[str]:
    """redis.conf / sentinel.conf: a directive and a value on every line, quotes closed."""
    problems = []
    seen: set[str] = set()
    for n, line in _lines(text):
        if not re.fullmatch(r"[a-z][a-z0-9-]* +\S.*", line) or line.count('"') % 2:
            problems.append(f"line {n}: not 'directive value': {line!r}")
        key = line.split()[0]
        if key in seen and key not in {"user", "sentinel"}:
            problems.append(f"line {n}: {key} set twice")
        seen.add(key)
        if key == "user":
            problems += check_acl_line(n, line)
        if line.startswith("sentinel monitor ") and not re.fullmatch(r"sentinel monitor \S+ \S+ \d+ \d+", line):
            problems.append(f"line {n}: sentinel monitor needs name host port quorum: {line!r}")
    return problems


def check_acl_line(n: int, line: str) -> list[str]:
    """user NAME on|off resetpass, then (on) SHA-256 password hashes, never a plaintext one."""
    fields = line.split()
    hashes = [f for f in fields if f.startswith(("#", ">", "<"))]
    if (not re.fullmatch(r"user [A-Za-z0-9_.:-]+ (on|off) resetpass( \S+)*", line)
            or not all(re.fullmatch(r"#[0-9a-f]{64}", h) for h in hashes) or (fields[2] == "on" and not hashes)):
        return [f"line {n}: not an ACL rule 'user NAME on|off resetpass #SHA256 ...': {line[:60]!r}"]
    return []


def check_acl(text: str) -> list[str]:
    problems = []
    names = []
    for n, line in _lines(text):
        if not line.startswith("user "):
            problems.append(f"line {n}: not a user line: {line[:40]!r}")
            continue
        problems += check_acl_line(n, line)
        names.append(line.split()[1])
    if len(names) != len(set(names)):
        problems.append(f"a user is defined twice: {names}")
    if not names or not re.match(r"user default off ", text):
        problems.append("the default user must come first, off")
    return problems


def check_shell(text: str) -> list[str]:
    """A POSIX sh script the shell parses (sh -n), with its interpreter line."""
    problems = [] if text.startswith("#!/bin/sh\n") else ["the first line must be #!/bin/sh"]
    result = subprocess.run(["sh", "-n"], input=text, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        problems.append(f"sh -n: {result.stderr.strip()}")
    return problems


def check_bash(text: str) -> list[str]:
    """A bash script bash parses (bash -n), with its interpreter line and strict mode."""
    problems = [] if text.startswith("#!/bin/bash\n") else ["the first line must be #!/bin/bash"]
    if "set -eu -o pipefail" not in text:
        problems.append("no 'set -eu -o pipefail'")
    result = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        problems.append(f"bash -n: {result.stderr.strip()}")
    return problems


RESET_KEYS = {"ReadWritePaths", "ExecStart", "EnvironmentFile", "CapabilityBoundingSet"}
UNIT_SECTIONS = {"[Unit]", "[Service]", "[Timer]", "[Install]"}


def check_unit(text: str) -> list[str]:
    """systemd units and drop-ins: sections, Key=Value, empty values only to reset a list."""
    problems = []
    section = ""
    for n, line in _lines(text):
        if line.startswith("["):
            section = line
            if line not in UNIT_SECTIONS:
                problems.append(f"line {n}: unknown section {line}")
            continue
        match = re.fullmatch(r"([A-Z][A-Za-z]+)=(.*)", line)
        if not section or not match:
            problems.append(f"line {n}: not Key=Value in a section: {line!r}")
            continue
        key, value = match.groups()
        if not value and key not in RESET_KEYS:
            problems.append(f"line {n}: {key} has no value")
        if key == "Environment" and not re.fullmatch(r'"?[A-Z][A-Z0-9_]*=\S[^"]*"?', value):
            problems.append(f"line {n}: Environment needs NAME=value: {value!r}")
        # systemd's prefixes: "-" (EnvironmentFile: may be missing; ExecStart: failure ignored), "@+!:" (ExecStart).
        if key in {"ExecStart", "EnvironmentFile"} and value and not value.lstrip("-@+!:").startswith("/"):
            problems.append(f"line {n}: {key} needs an absolute path: {value!r}")
    return problems


def check_exporter_env(text: str, required: list[str]) -> list[str]:
    """An exporter's EnvironmentFile: NAME=value lines (systemd's syntax), what makes it verify TLS."""
    problems = []
    for n, line in _lines(text):
        if not re.fullmatch(r'[A-Z][A-Z0-9_]*=("[^"\\]*"|[^"\s\\]+)', line):
            problems.append(f"line {n}: not NAME=value or NAME=\"value\": {line.split('=', 1)[0]!r}")
    problems += [f"{word!r} missing" for word in required if word not in text]
    if "skip-tls-verification" in text or "sslmode=disable" in text or "sslmode=require" in text:
        problems.append("TLS verification turned off")
    return problems


def check_exporter_web(text: str) -> list[str]:
    """exporter-toolkit's web configuration: HTTPS with absolute files, a client certificate required."""
    tls = (yaml.safe_load(text) or {}).get("tls_server_config") or {}
    problems = [f"{key} needs an absolute path: {tls.get(key)!r}" for key in ("cert_file", "key_file", "client_ca_file")
                if not str(tls.get(key) or "").startswith("/")]
    if tls.get("client_auth_type") != "RequireAndVerifyClientCert":
        problems.append(f"client_auth_type is {tls.get('client_auth_type')!r}, not RequireAndVerifyClientCert")
    return problems


def check_prometheus(text: str) -> list[str]:
    """Prometheus' configuration: rules by absolute path, every scrape HTTPS with full verification and a client
    certificate, every target labelled store (promtool itself: test_monitor_render.py)."""
    conf = yaml.safe_load(text) or {}
    problems = [f"rule file not absolute: {f!r}" for f in conf.get("rule_files") or [] if not str(f).startswith("/")]
    if not conf.get("scrape_configs"):
        problems.append("no scrape job")
    for job in conf.get("scrape_configs") or []:
        tls = job.get("tls_config") or {}
        if job.get("scheme") != "https" or tls.get("insecure_skip_verify") is not False:
            problems.append(f"{job.get('job_name')}: not HTTPS with verification")
        if not all(str(tls.get(key) or "").startswith("/") for key in ("ca_file", "cert_file", "key_file")):
            problems.append(f"{job.get('job_name')}: CA, client certificate and key need absolute paths")
        problems += [f"{job.get('job_name')}: a target without the label store"
                     for group in job.get("static_configs") or [] if not (group.get("labels") or {}).get("store")]
    return problems


def check_exporter_queries(text: str) -> list[str]:
    """postgres_exporter's query file: each query with SQL and typed columns."""
    problems = []
    for name, query in (yaml.safe_load(text) or {}).items():
        if not isinstance(query, dict) or not str(query.get("query", "")).strip().upper().startswith("SELECT"):
            problems.append(f"{name}: no SELECT query")
            continue
        for column in query.get("metrics", []):
            (col, spec), = column.items()
            if spec.get("usage") not in {"LABEL", "GAUGE", "COUNTER"} or not spec.get("description"):
                problems.append(f"{name}.{col}: usage LABEL/GAUGE/COUNTER and a description")
    return problems


def check_openssl_cnf(text: str) -> list[str]:
    problems = []
    sections: dict[str, dict[str, str]] = {"": {}}
    current = ""
    for n, line in _lines(text):
        if match := re.fullmatch(r"\[ *([a-z_]+) *\]", line):
            current = match[1]
            sections[current] = {}
        elif match := re.fullmatch(r"([A-Za-z_]+) = (\S+)", line):
            sections[current][match[1]] = match[2]
        else:
            problems.append(f"line {n}: not 'key = value': {line!r}")
    # openssl_conf -> ssl_conf -> system_default -> the settings.
    name = sections[""].get("openssl_conf", "")
    for key in ("ssl_conf", "system_default"):
        name = sections.get(name, {}).get(key, "")
    tls = sections.get(name)
    if tls is None:
        return [*problems, "openssl_conf does not lead to a system_default section"]
    if tls.get("MinProtocol") not in {"TLSv1.2", "TLSv1.3"}:
        problems.append(f"MinProtocol {tls.get('MinProtocol')}")
    if not re.fullmatch(r"[A-Za-z0-9-]+(:[A-Za-z0-9-]+)*", tls.get("Groups", "")):
        problems.append(f"Groups {tls.get('Groups')!r}")
    return problems


def check_hba_line(line: str) -> list[str]:
    """One pg_hba rule: local DB USER METHOD, or hostssl DB USER CIDR METHOD [option=value...]."""
    fields = line.split()
    if fields[:1] == ["local"] and len(fields) == 4 and fields[3] == "peer":
        return []
    if fields[:1] == ["hostssl"] and len(fields) >= 5 and fields[4] == "scram-sha-256":
        try:
            ipaddress.ip_network(fields[3])
        except ValueError:
            return [f"{line!r}: {fields[3]!r} is not a network"]
        if all(re.fullmatch(r"[a-z_]+=\S+", option) for option in fields[5:]):
            return []
    return [f"not a local/peer or hostssl/scram-sha-256 rule: {line!r}"]


def check_hba(text: str) -> list[str]:
    rules = [line for _, line in _lines(text)]
    return [p for line in rules for p in check_hba_line(line)] + ([] if rules else ["no rule"])


PG_VALUE = r"(-?[0-9.]+[a-zA-Z]*|[a-z][a-z0-9_]*|'([^']|'')*')"


def check_postgresql_conf(text: str) -> list[str]:
    problems = []
    names = []
    for n, line in _lines(text):
        if not re.fullmatch(rf"([a-z_][a-z0-9_.]*) = {PG_VALUE}", line):
            problems.append(f"line {n}: not 'name = value': {line!r}")
        names.append(line.split(" ", 1)[0])
    duplicates = sorted({name for name in names if names.count(name) > 1})
    return problems + ([f"set twice: {duplicates}"] if duplicates else [])


def check_patroni(text: str, release: str) -> list[str]:
    try:
        conf = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [f"not YAML: {exc}"]
    problems = []
    need = {
        "": ["scope", "name", "restapi", "ctl", "etcd3", "bootstrap", "postgresql"],
        "restapi": ["listen", "connect_address", "certfile", "keyfile", "cafile", "authentication"],
        "etcd3": ["hosts", "protocol", "cacert", "cert", "key"],
        "postgresql": ["listen", "connect_address", "data_dir", "bin_dir", "authentication", "parameters", "pg_hba"],
    }
    for section, keys in need.items():
        body = conf.get(section, {}) if section else conf
        problems += [f"{section or 'top level'}: no {key}" for key in keys if not body.get(key)]
    if problems:
        return problems
    pg = conf["postgresql"]
    version = pg_version(release)
    if pg["bin_dir"] != f"/usr/lib/postgresql/{version}/bin" or f"/{version}/" not in pg["data_dir"]:
        problems.append(f"PostgreSQL {version} expected on Debian {release}: {pg['bin_dir']}, {pg['data_dir']}")
    for role in ("replication", "rewind"):
        auth = pg["authentication"].get(role) or {}
        if not (auth.get("username") and auth.get("password") and auth.get("sslmode") == "verify-full"):
            problems.append(f"postgresql.authentication.{role} needs username, password, sslmode verify-full")
    dcs = conf["bootstrap"].get("dcs") or {}
    if not all(isinstance(dcs.get(k), int) for k in ("ttl", "loop_wait", "retry_timeout")):
        problems.append(f"bootstrap.dcs: ttl, loop_wait, retry_timeout must be numbers: {dcs}")
    addresses = [conf["restapi"]["listen"], conf["restapi"]["connect_address"], pg["listen"], pg["connect_address"],
                 *conf["etcd3"]["hosts"]]
    problems += [f"not host:port: {a!r}" for a in addresses if not re.fullmatch(r"[A-Za-z0-9.,:-]+:\d+", str(a))]
    if not isinstance(pg["parameters"], dict) or not all(isinstance(v, str | int) for v in pg["parameters"].values()):
        problems.append("postgresql.parameters must map names to plain values")
    return problems + [p for line in pg["pg_hba"] for p in check_hba_line(line)]


def check_etcd_env(text: str, host: str) -> list[str]:
    env = {}
    problems = []
    for n, line in _lines(text):
        if match := re.fullmatch(r"(ETCD_[A-Z0-9_]+)=(\S+)", line):
            env[match[1]] = match[2]
        else:
            problems.append(f"line {n}: not ETCD_NAME=value: {line!r}")
    if env.get("ETCD_NAME") != host or f"{host}=https://" not in env.get("ETCD_INITIAL_CLUSTER", ""):
        problems.append("ETCD_NAME must be the host and a member of ETCD_INITIAL_CLUSTER")
    problems += [f"{k} must be https: {v}" for k, v in env.items() if k.endswith("_URLS") and not v.startswith("https://")]
    # etcd's own certificate (the peer name is in it), not another service's.
    problems += [f"{k} is not etcd's certificate: {v}" for k, v in env.items()
                 if k in {"ETCD_CERT_FILE", "ETCD_KEY_FILE", "ETCD_PEER_CERT_FILE", "ETCD_PEER_KEY_FILE"}
                 and not re.fullmatch(r"/\S+/etcd\.(crt|key)", v)]
    return problems


def _strip_strings(text: str, comment: str) -> str:
    """The text without quoted strings and comments (for bracket counting)."""
    return re.sub(rf"""'([^'\\]|\\.)*'|"([^"\\]|\\.)*"|{comment}[^\n]*""",
                  lambda m: "" if m[0].startswith(comment) else "S", text)


def _balanced(text: str, pairs: dict[str, str]) -> bool:
    stack = []
    for char in text:
        if char in pairs:
            stack.append(pairs[char])
        elif char in pairs.values() and (not stack or stack.pop() != char):
            return False
    return not stack


def check_nginx(text: str) -> list[str]:
    code = _strip_strings(text, "#")
    problems = [] if _balanced(code, {"{": "}"}) else ["braces do not balance"]
    for n, line in enumerate(code.splitlines(), 1):
        if line.strip() and not line.rstrip().endswith((";", "{", "}")):
            problems.append(f"line {n}: statement without ';': {line.strip()!r}")
    problems += [f"bad listen: {m}" for m in re.findall(r"listen ([^;]*);", code)
                 if not re.fullmatch(r"(\[::\]:)?\d+ ssl( default_server)?", m)]
    if not re.search(r"server_name \S[^;]*;", code):
        problems.append("no server_name")
    return problems


def check_ini(text: str, php_ini: bool = False) -> list[str]:
    """PHP-FPM configuration: key = value in [sections]; a php.ini needs no section and may set ''."""
    problems = []
    keys: set[tuple[str, str]] = set()
    section = ""
    for n, line in _lines(text, ";"):
        if re.fullmatch(r"\[[a-z0-9_-]+\]", line):
            section = line
            continue
        match = re.fullmatch(r"([a-z_.]+(\[[A-Za-z_.]+\])?) =( (.*))?", line)
        if not match or not (match[4] or php_ini) or not (section or php_ini):
            problems.append(f"line {n}: not 'key = value' in a section: {line!r}")
            continue
        if (section, match[1]) in keys:
            problems.append(f"line {n}: {match[1]} set twice")
        keys.add((section, match[1]))
    return problems


def check_opcache_ini(text: str) -> list[str]:
    """The pools' OPcache isolation: a php.ini whose permission and root checks are on (issue 22, item 2)."""
    problems = check_ini(text, php_ini=True)
    settings = dict(line.split(" = ", 1) for _, line in _lines(text, ";") if " = " in line)
    for key in ("opcache.validate_permission", "opcache.validate_root"):
        if settings.get(key) != "1":
            problems.append(f"{key} must be 1 (one app could read another's config through the shared OPcache)")
    if not settings.get("opcache.restrict_api", "").strip('"').startswith("/nonexistent/"):
        problems.append("opcache.restrict_api must name a directory no script lives in")
    return problems


def check_php(text: str) -> list[str]:
    problems = [] if text.startswith("<?php\n") else ["must start with <?php"]
    code = _strip_strings(text, "//")
    if not _balanced(code, {"[": "]", "(": ")"}):
        problems.append("brackets do not balance")
    if not code.rstrip().endswith("];"):
        problems.append("must end with the returned array '];'")
    problems += [f"value missing: {m!r}" for m in re.findall(r"=>\s*,", code)]
    return problems


def check_haproxy(text: str) -> list[str]:
    problems = []
    sections: dict[str, list[str]] = {}
    current = ""
    for n, line in _lines(text):
        if not line.startswith(" "):
            current = line
            sections[current] = []
            if not re.fullmatch(r"(global|defaults|(resolvers|frontend|backend) [A-Za-z0-9_.-]+)", line):
                problems.append(f"line {n}: unknown section {line!r}")
        elif current:
            sections[current].append(line.strip())
        else:
            problems.append(f"line {n}: outside a section")
    for name, body in sections.items():
        if name.startswith("frontend "):
            backends = [line.split()[1] for line in body if line.startswith("default_backend ")]
            if not backends or f"backend {backends[0]}" not in sections:
                problems.append(f"{name}: default_backend names no backend")
            if not any(re.fullmatch(r"bind 127\.0\.0\.1:\d+", line) for line in body):
                problems.append(f"{name}: must bind 127.0.0.1:port")
        if name.startswith("backend "):
            servers = [line for line in body if line.startswith("server ")]
            if not servers or not all(re.match(r"server \S+ \S+:\d+ check ", line) for line in servers):
                problems.append(f"{name}: needs 'server NAME HOST:PORT check ...' lines")
            sends = [line for line in body if line.startswith("tcp-check send-binary")]
            problems += [f"{name}: bad {line!r}" for line in sends
                         if not re.fullmatch(r"tcp-check send-binary ([0-9a-f]{2})+", line)]
    return problems


def pg_version(release: str) -> str:
    data = yaml.safe_load((ROOT / f"roles/postgresql_session_store/vars/Debian-{release}.yml").read_text())
    return str(data["_postgresql_session_store_version"])


@functools.cache
def postgres_known_settings() -> dict[str, set[str]]:
    """Setting names of every PostgreSQL server installed here (major -> names); none: no check."""
    known = {}
    for binary in Path("/usr/lib/postgresql").glob("*/bin/postgres"):
        result = subprocess.run([str(binary), "--describe-config"], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            # Names are case-insensitive (DateStyle).
            known[binary.parent.parent.name] = {line.split("\t", 1)[0].lower() for line in result.stdout.splitlines()}
    return known


CHECKS: dict[str, Callable[[str, str, str], list[str]]] = {
    "redis.conf": lambda text, host, release: check_redis(text),
    "sentinel.conf": lambda text, host, release: check_redis(text),
    "users.acl": lambda text, host, release: check_acl(text),
    "openssl.cnf": lambda text, host, release: check_openssl_cnf(text),
    "hardening.conf": lambda text, host, release: check_unit(text),
    "load-scripts.sh": lambda text, host, release: check_shell(text),
    "acl-apply.sh": lambda text, host, release: check_bash(text),
    "sentinel-hardening.conf": lambda text, host, release: check_unit(text),
    "postgresql.conf": lambda text, host, release: check_postgresql_conf(text),
    "pg_hba.conf": lambda text, host, release: check_hba(text),
    "patroni.yml": lambda text, host, release: check_patroni(text, release),
    "postgresql-session-gc.service": lambda text, host, release: check_unit(text),
    "postgresql-session-gc.timer": lambda text, host, release: check_unit(text),
    "session-dcs.env": lambda text, host, release: check_etcd_env(text, host),
    "session-dcs.conf": lambda text, host, release: check_unit(text),
    "haproxy.cfg": lambda text, host, release: check_haproxy(text),
    "prometheus-redis-exporter.env": lambda text, host, release: check_exporter_env(
        text, ["REDIS_ADDR=rediss://", "REDIS_USER=", "REDIS_PASSWORD=", "-tls-ca-cert-file=", "-config-command=-",
               "-tls-server-ca-cert-file=/", "-tls-server-cert-file=/", "-tls-server-key-file=/"]),
    "prometheus-redis-exporter.conf": lambda text, host, release: check_unit(text),
    "prometheus-postgres-exporter.env": lambda text, host, release: check_exporter_env(
        text, ["DATA_SOURCE_NAME=", "sslmode=verify-full", "sslrootcert=/", "--extend.query-path=/",
               "--web.config.file=/"]),
    "postgres-exporter-web.yml": lambda text, host, release: check_exporter_web(text),
    "prometheus.yml": lambda text, host, release: check_prometheus(text),
    "prometheus.env": lambda text, host, release: check_exporter_env(
        text, ["--config.file=/", "--web.listen-address=", "--storage.tsdb.retention.time="]),
    "prometheus.conf": lambda text, host, release: check_unit(text),
    "prometheus-postgres-exporter.conf": lambda text, host, release: check_unit(text),
    "postgres-exporter-queries.yml": lambda text, host, release: check_exporter_queries(text),
    "session.php": lambda text, host, release: check_php(text),
    "pool.conf": lambda text, host, release: check_ini(text),
    "fpm-global.conf": lambda text, host, release: check_ini(text),
    "cli-session.ini": lambda text, host, release: check_ini(text, php_ini=True),
    "fpm-opcache.ini": lambda text, host, release: check_opcache_ini(text),
    "nginx-app.conf": lambda text, host, release: check_nginx(text),
    "nginx-default.conf": lambda text, host, release: check_nginx(text),
}


def unknown_settings(template: str, text: str, release: str) -> list[str]:
    """postgresql.conf and Patroni's parameters name settings of the release's PostgreSQL.

    Checked against the servers installed here (postgres --describe-config),
    if one of the release's version is.
    """
    known = postgres_known_settings().get(pg_version(release)) if release else None
    if known is None or template not in {"postgresql.conf", "patroni.yml"}:
        return []
    if template == "postgresql.conf":
        settings = {line.split(" ", 1)[0] for _, line in _lines(text)}
    else:
        conf = yaml.safe_load(text)
        settings = set(conf["postgresql"]["parameters"]) | set(conf["bootstrap"]["dcs"]["postgresql"]["parameters"])
    unknown = sorted({name.lower() for name in settings} - known)
    return [f"PostgreSQL {pg_version(release)} knows no {unknown}"] if unknown else []


def problems_of(host: str, path: str, text: str) -> list[str]:
    release = path.removeprefix("debian")[:2] if path.startswith("debian") else ""
    template = path.rsplit("/", 1)[-1]
    problems = CHECKS[template](text, host, release)
    if not problems:
        problems = unknown_settings(template, text, release)
    if re.search(r"\{\{|\{%|\{#|\bNone\b", text):
        problems.append("Jinja left over or a Python None rendered")
    return [f"{host} {path}: {p}" for p in problems]
