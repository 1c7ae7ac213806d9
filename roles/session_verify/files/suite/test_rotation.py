"""Credential rotation under load (playbooks/rotate_credentials.yml).

The app scenario's side effect puts new passwords for the Redis admin and
the app user "shop" in the scenario's secret source (keeping the old ones
aside under MOLECULE_EPHEMERAL_DIRECTORY/rotation/*.old), runs the playbook
while a bounded loop of session requests goes through "shop" on every app
host, and writes the loop's figures to rotation/load.json. These tests
prove, from the client's side: no request failed, the old passwords are
refused, the new ones accepted, and no node's aclfile still holds an old
password (a re-converge renders the new one alone). Without that record
(any other inventory) they are skipped.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import redis
from conftest import CONTEXT, files_containing, host_for, scenario_record
from redis_client import connect

Store = dict[str, Any]


RECORD = scenario_record("rotation", "load.json")
pytestmark = pytest.mark.skipif(RECORD is None, reason="no rotation record (the molecule app scenario's side effect "
                                                       "writes it)")
# Secret file of the scenario -> the ACL user it is the password of.
ROTATED = {"redis_admin": "admin", "redis_shop": "shop"}


def stores() -> list[Store]:
    return [dict(s) for s in CONTEXT.get("redis", [])]


def user_and_password(store: Store, secret: str) -> tuple[str, str]:
    """The ACL user a rotated secret belongs to and its (new) password from the context."""
    if ROTATED[secret] == "admin":
        return str(store["admin_user"]), str(store["admin_password"])
    user = next(u for u in store["app_users"] if u["name"] == ROTATED[secret])
    return str(user["name"]), str(user["password"])


def old_password(secret: str) -> str:
    assert RECORD is not None
    return (RECORD / f"{secret}.old").read_text().strip()


def test_no_session_request_failed_during_the_rotation() -> None:
    """A loop of session requests through the app on every app host sees 0 failures during the rotation."""
    assert RECORD is not None
    figures = json.loads((RECORD / "load.json").read_text())
    print(f"\nrotation under load: {figures['requests']} requests, {figures['failures']} failures, "
          f"{figures['seconds']} s; per app host: {figures['per_url']}")
    assert figures["failures"] == 0, figures["errors"]
    assert all(u["requests"] >= 20 for u in figures["per_url"].values()), figures["per_url"]


@pytest.mark.parametrize("secret", sorted(ROTATED))
def test_old_password_is_refused_and_new_accepted(secret: str, client_cert: tuple[str, str] | None) -> None:
    """After the rotation the old password is refused and the new one accepted, on every Redis node."""
    assert stores(), "no Redis store in the verification context"
    old = old_password(secret)
    for store in stores():
        user, new = user_and_password(store, secret)
        assert old != new, "the side effect did not change the password"
        assert connect(store, client_cert, user, new).ping()
        with pytest.raises(redis.AuthenticationError):
            connect(store, client_cert, user, old).ping()


@pytest.mark.parametrize("secret", sorted(ROTATED))
def test_aclfile_holds_only_the_new_password(secret: str) -> None:
    """Every node's aclfile has the new password's hash and not the old one's (a restart or re-converge keeps
    the rotation)."""
    for store in stores():
        host = host_for(store["name"])
        _, new = user_and_password(store, secret)
        old_hash = hashlib.sha256(old_password(secret).encode()).hexdigest()
        new_hash = hashlib.sha256(new.encode()).hexdigest()
        assert files_containing(host, new_hash, [store["aclfile"]]) == [store["aclfile"]]
        assert files_containing(host, old_hash, [store["aclfile"]]) == []
