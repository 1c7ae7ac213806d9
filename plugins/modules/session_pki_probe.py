"""Module session_pki_probe: what a host's certificate, key and CA file are now, in one read."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: session_pki_probe
short_description: Read a host certificate, its key's public half and the CA file in one run
description:
  - Reads, without changing anything, what the session_pki role needs to decide whether a host's
    certificate is current. The role compares the result with its plan on the control node
    (filter C(hardened.sessions.session_pki_drift)) and runs the issuing steps (key, CSR,
    signing, install) only when something differs.
  - The private key never leaves the host. The module returns its public key, its algorithm and
    size, and the owner, group and mode of the key file; never the key.
  - Needs python3-cryptography on the host (the role installs it before it probes).
version_added: "2.1.0"
author: hardened.sessions contributors
options:
  key:
    description: Path of the host's private key (unencrypted PEM).
    type: path
    required: true
  cert:
    description: Path of the host certificate (PEM).
    type: path
    required: true
  ca:
    description: Path of the CA file to read as well (omit when another certificate's run wrote it).
    type: path
notes:
  - Supports check mode (it only reads).
"""

EXAMPLES = r"""
- name: Read what the host carries
  hardened.sessions.session_pki_probe:
    key: /etc/session-kit/tls/redis.key
    cert: /etc/session-kit/tls/redis.crt
    ca: /etc/session-kit/tls/ca-redis.crt
  register: _probe
"""

RETURN = r"""
key:
  description: >-
    The key file: exists, owner, group, mode; when it parses, public_key (PEM), type
    (ecdsa or rsa), curve (ECDSA) and size (bits); error when it does not.
  returned: always
  type: dict
cert:
  description: The certificate file, exists, owner, group, mode and content (PEM) when it exists.
  returned: always
  type: dict
ca:
  description: The CA file like cert; empty when O(ca) is omitted.
  returned: always
  type: dict
"""

import grp
import os
import pwd
import stat
from typing import Any

from ansible.module_utils.basic import AnsibleModule

# Certificates and CA bundles are small; a larger file is reported, not read.
MAX_CONTENT = 256 * 1024


def _attrs(path: str) -> dict[str, Any]:
    """Whether ``path`` is a regular file, and its owner, group and mode (names where they resolve)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {"exists": False}
    if not stat.S_ISREG(st.st_mode):
        return {"exists": False, "error": "not a regular file"}
    try:
        owner: Any = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group: Any = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return {"exists": True, "owner": owner, "group": group, "mode": f"0{stat.S_IMODE(st.st_mode):03o}",
            "size": st.st_size}


def _public(path: str) -> dict[str, Any]:
    """The file's attributes and content (a certificate or a CA bundle: public)."""
    info = _attrs(path)
    if info.get("exists"):
        if info["size"] > MAX_CONTENT:
            info["error"] = f"larger than {MAX_CONTENT} bytes"
        else:
            with open(path, encoding="utf-8", errors="replace") as f:
                info["content"] = f.read()
    return info


def _key(path: str) -> dict[str, Any]:
    """The key file's attributes and its public half; the private key stays in this process."""
    info = _attrs(path)
    if not info.get("exists"):
        return info
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        with open(path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    except (ValueError, TypeError) as exc:
        info["error"] = f"does not load as an unencrypted PEM key: {type(exc).__name__}"
        return info
    public = key.public_key()
    info["public_key"] = public.public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        info.update(type="ecdsa", curve=key.curve.name, size=key.key_size)
    elif isinstance(key, rsa.RSAPrivateKey):
        info.update(type="rsa", size=key.key_size)
    else:
        info["type"] = type(key).__name__
    return info


def main() -> None:
    module = AnsibleModule(
        argument_spec={"key": {"type": "path", "required": True}, "cert": {"type": "path", "required": True},
                       "ca": {"type": "path"}},
        supports_check_mode=True,
    )
    try:
        result = {"key": _key(module.params["key"]), "cert": _public(module.params["cert"]),
                  "ca": _public(module.params["ca"]) if module.params["ca"] else {}}
    except ImportError:
        module.fail_json(msg="session_pki_probe needs python3-cryptography on the host")
    except OSError as exc:
        module.fail_json(msg=f"cannot read the host's TLS files: {exc}")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
