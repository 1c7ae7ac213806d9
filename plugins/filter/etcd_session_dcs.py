"""Filters of the etcd_session_dcs role: how a member whose data directory is empty joins the cluster."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def join_plan(answers: Sequence[Mapping[str, Any]], name: str, peer_url: str) -> dict[str, Any]:
    """What a member that never joined (empty data directory) does, from its peers' member lists.

    ``answers`` are the uri results of asking each other member for ``/v3/cluster/member/list``;
    the first that answered 200 counts. No answer: ``mode`` new (a new cluster bootstraps, as
    every member of the inventory starts). An answer: ``mode`` join, with ``remove`` (IDs of
    this member's old entry: same name, another peer URL or started before, a replaced host),
    ``add`` (whether this member's peer URL must be added) and ``peer`` (the address that
    answered, for the changes) and ``members`` (the list as read)."""
    for answer in answers:
        if int(answer.get("status", 0) or 0) != 200 or not isinstance(answer.get("json"), Mapping):
            continue
        members = [dict(m) for m in answer["json"].get("members", [])]
        listed = [m for m in members if peer_url in m.get("peerURLs", [])]
        # Unstarted entries have no name yet: an entry added for this member, or a cluster still forming.
        waiting = [m for m in listed if not m.get("name")]
        old = [m for m in members if m.get("name") == name or (peer_url in m.get("peerURLs", []) and m.get("name"))]
        item = answer.get("item")
        peer = item.get("address") if isinstance(item, Mapping) else None
        return {"mode": "join", "remove": [str(m["ID"]) for m in old], "add": not waiting,
                "peer": peer, "members": members}
    return {"mode": "new", "remove": [], "add": False, "peer": None, "members": []}


def initial_cluster(members: Sequence[Mapping[str, Any]], name: str, peer_url: str,
                    known: Sequence[Mapping[str, Any]], peer_port: int) -> str:
    """ETCD_INITIAL_CLUSTER for a member that joins: every member of the cluster as ``name=peerURL``.

    etcd checks it against the running cluster, so it lists every entry of ``members`` (the list
    after this member was added): a started member by its name, an unstarted one by the inventory
    name of its peer URL (``known``: the role's members, name and address), this one by ``name``."""
    by_url = {f"https://{k['address']}:{int(peer_port)}": str(k["name"]) for k in known}
    pairs = []
    for member in members:
        urls = list(member.get("peerURLs", []))
        if not urls:
            continue
        url = urls[0]
        label = name if url == peer_url else (member.get("name") or by_url.get(url))
        if not label:
            raise ValueError(f"etcd member {url} has no name and is no member of etcd_session_dcs_members")
        pairs.append(f"{label}={url}")
    if not any(p.endswith("=" + peer_url) for p in pairs):
        pairs.append(f"{name}={peer_url}")
    return ",".join(sorted(pairs))


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, object]:
        return {"etcd_session_dcs_join_plan": join_plan, "etcd_session_dcs_initial_cluster": initial_cluster}
