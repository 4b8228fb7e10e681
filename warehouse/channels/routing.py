"""routing.yaml: which department owns which root cause, and how to reach it.

Recipients are data, secrets are not: a webhook URL that carries a token is written as
``env:VARIABLE`` and read from the environment at load time. Every mistake raises
:class:`RoutingError` naming the file and the entry.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CHANNELS = ("email", "telegram", "webhook")
SHIPPED = Path(__file__).resolve().parents[2] / "routing.yaml"
_DEPT = re.compile(r"^[a-z][a-z0-9_]*$")
_EMAIL = re.compile(r"^[^@\s<>,]+@[^@\s<>,]+\.[^@\s<>,]+$")
_CHAT = re.compile(r"^(-?\d+|@[A-Za-z][A-Za-z0-9_]{4,})$")


class RoutingError(ValueError):
    """routing.yaml breaks the schema; the message names the file, entry and field."""


@dataclass(frozen=True)
class Department:
    id: str
    name: str
    recipients: dict[str, tuple[str, ...]] = field(default_factory=dict)   # channel -> list


@dataclass(frozen=True)
class Routing:
    departments: dict[str, Department]
    causes: dict[str, str]          # root cause id -> department id
    default: str                    # department for '_all' and unlisted causes
    digest: tuple[str, ...]         # departments that receive the daily digest

    def owner(self, root_cause: str) -> Department:
        return self.departments[self.causes.get(root_cause, self.default)]


def _list(raw: Any, where: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise RoutingError(f"{where}: expected a list, got {type(raw).__name__}")
    return raw


def _recipient(channel: str, raw: Any, where: str, env: Mapping[str, str]) -> str:
    if isinstance(raw, int) and not isinstance(raw, bool) and channel == "telegram":
        raw = str(raw)
    if not isinstance(raw, str) or not raw.strip():
        raise RoutingError(f"{where}: expected a non-empty string, got {raw!r}")
    value = raw.strip()
    if value.startswith("env:"):
        var = value[4:]
        if var not in env or not env[var].strip():
            raise RoutingError(f"{where}: needs the environment variable {var}, which is not set")
        value = env[var].strip()
        shown = f"env:{var}"
    else:
        shown = value if channel != "webhook" else "the URL"
    if channel == "email" and not _EMAIL.match(value):
        raise RoutingError(f"{where}: {shown!r} is not an e-mail address")
    if channel == "telegram" and not _CHAT.match(value):
        raise RoutingError(f"{where}: {shown!r} is not a Telegram chat id (a number, or @channel)")
    if channel == "webhook" and not re.match(r"^https?://[^/\s]+", value):
        raise RoutingError(f"{where}: {shown} is not an http(s) URL")
    return value


def parse_routing(data: Any, source: str = "<routing>", *, known_causes: Iterable[str] | None = None,
                  env: Mapping[str, str] | None = None) -> Routing:
    """Validate parsed YAML; ``known_causes`` (taxonomy ids) catches typos in ``causes``."""
    env = os.environ if env is None else env
    if not isinstance(data, dict):
        raise RoutingError(f"{source}: expected a mapping with departments, causes, default")
    extra = set(data) - {"version", "departments", "causes", "default", "digest"}
    if extra:
        raise RoutingError(f"{source}: unknown keys {sorted(extra)}")
    raw_depts = data.get("departments")
    if not isinstance(raw_depts, dict) or not raw_depts:
        raise RoutingError(f"{source}: 'departments' must map department ids to recipients")
    depts: dict[str, Department] = {}
    for did, body in raw_depts.items():
        where = f"{source}: departments.{did}"
        if not isinstance(did, str) or not _DEPT.match(did):
            raise RoutingError(f"{where}: a department id is lower-case latin, digits and _")
        if not isinstance(body, dict):
            raise RoutingError(f"{where}: expected a mapping with name and channels")
        unknown = set(body) - {"name", *CHANNELS}
        if unknown:
            raise RoutingError(f"{where}: unknown keys {sorted(unknown)}; channels are {list(CHANNELS)}")
        recipients = {ch: tuple(_recipient(ch, r, f"{where}.{ch}[{i}]", env)
                                for i, r in enumerate(_list(body.get(ch), f"{where}.{ch}")))
                      for ch in CHANNELS}
        recipients = {ch: rs for ch, rs in recipients.items() if rs}
        if not recipients:
            raise RoutingError(f"{where}: no recipients on any channel; an owner nobody reads "
                               "would swallow its alerts")
        depts[did] = Department(did, str(body.get("name") or did), recipients)
    default = data.get("default")
    if default not in depts:
        raise RoutingError(f"{source}: 'default' must name one of the departments {sorted(depts)}, "
                           f"got {default!r}")
    causes_raw = data.get("causes") or {}
    if not isinstance(causes_raw, dict):
        raise RoutingError(f"{source}: 'causes' must map root cause ids to departments")
    known = set(known_causes) | {"_all"} if known_causes is not None else None
    causes: dict[str, str] = {}
    for cause, did in causes_raw.items():
        if known is not None and cause not in known:
            raise RoutingError(f"{source}: causes.{cause}: not a root cause of the taxonomy")
        if did not in depts:
            raise RoutingError(f"{source}: causes.{cause}: unknown department {did!r}; "
                               f"known: {sorted(depts)}")
        causes[str(cause)] = did
    digest = tuple(_list(data.get("digest"), f"{source}: digest")) or (default,)
    for did in digest:
        if did not in depts:
            raise RoutingError(f"{source}: digest: unknown department {did!r}")
    return Routing(depts, causes, default, digest)


def load_routing(path: Path | str | None = None, *, known_causes: Iterable[str] | None = None,
                 env: Mapping[str, str] | None = None) -> Routing:
    """Load ``path`` (default: routing.yaml at the repository root) and validate it."""
    p = Path(path) if path is not None else SHIPPED
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise RoutingError(f"cannot read routing file {p}: {e}") from e
    except yaml.YAMLError as e:
        raise RoutingError(f"{p}: not valid YAML: {e}") from e
    return parse_routing(data, str(p), known_causes=known_causes, env=env)
