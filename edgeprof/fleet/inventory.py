"""The boards of a fleet, read from an Ansible inventory by Ansible itself (`ansible-inventory --list`),
so any inventory a user already has (INI, YAML, a directory, group_vars) works unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Host:
    name: str = field(metadata={"help": "the inventory's name for the host"})
    device: str = field(metadata={"help": "what results call this board (edgeprof_device, else the host name)"})
    groups: tuple[str, ...] = field(default=(), metadata={"help": "inventory groups the host belongs to"})
    vars: dict = field(default_factory=dict, compare=False,
                       metadata={"help": "the host's variables as Ansible resolved them (group_vars included)"})


def ansible_tool(name: str) -> str:
    """An Ansible command installed beside this Python (the venv edgeprof runs in), else on PATH."""
    import shutil
    import sys
    from pathlib import Path

    from edgeprof.errors import fail

    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise fail("fleet_no_ansible", tool=name)
    return found


def read_inventory(path, limit: str | None = None) -> list[Host]:
    """Every host of the inventory at ``path`` (optionally only those ``limit`` selects: a group, a host,
    a pattern, as `ansible --limit` takes them), as Ansible itself reads it."""
    import json
    import subprocess

    from edgeprof.errors import fail
    from edgeprof.paths import slug

    command = [ansible_tool("ansible-inventory"), "-i", str(path), "--list"]
    if limit:
        command += ["--limit", limit]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.strip():
        detail = (done.stderr.strip().splitlines() or ["it printed nothing"])[-1]
        raise fail("fleet_inventory", path=path, detail=detail)
    listing = json.loads(done.stdout)
    hostvars = listing.get("_meta", {}).get("hostvars", {})
    groups = _groups_of(listing)
    hosts = [Host(name, slug(str(hostvars.get(name, {}).get("edgeprof_device", name))), tuple(groups.get(name, ())),
                  dict(hostvars.get(name, {}))) for name in _host_names(listing)]
    if not hosts:
        raise fail("fleet_no_hosts", path=path, limit=f" matching --limit {limit}" if limit else "")
    _check_devices(path, hosts)
    return hosts


def _host_names(listing: dict) -> list[str]:
    """Hosts in inventory order, each once (a host may sit in several groups)."""
    names: dict[str, None] = {}

    def walk(group: str) -> None:
        entry = listing.get(group, {})
        for host in entry.get("hosts", []):
            names.setdefault(host, None)
        for child in entry.get("children", []):
            walk(child)

    walk("all")
    return list(names)


def _groups_of(listing: dict) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for group, entry in listing.items():
        if group in ("_meta", "all") or not isinstance(entry, dict):
            continue
        for host in entry.get("hosts", []):
            groups.setdefault(host, []).append(group)
    return groups


def _check_devices(path, hosts: list[Host]) -> None:
    """Two boards may not share a device name: their results would land in one folder."""
    from edgeprof.errors import fail

    seen: dict[str, str] = {}
    for host in hosts:
        if host.device in seen:
            raise fail("fleet_same_device", path=path, device=host.device, first=seen[host.device], second=host.name)
        seen[host.device] = host.name
