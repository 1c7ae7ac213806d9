"""Filters of the redis_session_proxy role.

``redis_session_proxy_resp_hex(args)`` encodes one Redis command as a RESP
array in hex, for HAProxy's ``tcp-check send-binary``: any byte of a password
is sent as is, no configuration-file escaping involved.
"""

from __future__ import annotations


def resp_hex(args: list[str]) -> str:
    """The RESP encoding of the command `args`, as lowercase hex."""
    out = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = str(arg).encode()
        out += f"${len(data)}\r\n".encode() + data + b"\r\n"
    return out.hex()


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, object]:
        return {"redis_session_proxy_resp_hex": resp_hex}
