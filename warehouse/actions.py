"""Actions a department takes against a root cause: the input of the closed loop.

A CX owner records what changed and from which day (``slukh action add``);
``v_closed_loop`` then compares that cause's complaint rate before and after. The owner
defaults to the department routing.yaml assigns the cause, so an action lands with the
same department that received the cause's alerts.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timezone

import duckdb

from warehouse.channels.routing import Routing
from warehouse.db import WarehouseError, transaction


class ActionRejected(WarehouseError):
    """An action that names an unknown brand, cause or department, or has no description."""


@dataclass(frozen=True)
class Action:
    action_id: int
    brand: str
    root_cause: str
    department: str
    action_date: date
    description: str
    created_at: datetime


def owner_of(root_cause: str, routing: Routing, department: str | None = None) -> str:
    """The department for an action: the one given (checked), else the cause's owner."""
    if department is None:
        return routing.owner(root_cause).id
    if department not in routing.departments:
        raise ActionRejected(f"unknown department {department!r}; routing.yaml has "
                             f"{', '.join(sorted(routing.departments))}")
    return department


def add_action(con: duckdb.DuckDBPyConnection, *, brand: str, root_cause: str, department: str,
               action_date: date, description: str,
               known_brands: Collection[str] | None = None,
               known_causes: Collection[str] | None = None,
               now: datetime | None = None) -> int:
    """Record one action; return its id. Unknown brands or causes are refused, not stored."""
    if known_brands is not None and brand not in known_brands:
        raise ActionRejected(f"unknown brand {brand!r}; brands.yaml has {', '.join(sorted(known_brands))}")
    if known_causes is not None and root_cause not in known_causes:
        raise ActionRejected(f"unknown root cause {root_cause!r}; the taxonomy has "
                             f"{', '.join(sorted(known_causes))}")
    if not description.strip():
        raise ActionRejected("describe the action: what changed, so the owner can tell later")
    created = now or datetime.now(timezone.utc).replace(tzinfo=None)
    with transaction(con):
        return con.execute(
            """INSERT INTO actions (brand, root_cause, department, action_date, description, created_at)
               VALUES (?, ?, ?, ?, ?, ?) RETURNING action_id""",
            [brand, root_cause, department, action_date, description.strip(), created],
        ).fetchone()[0]


def list_actions(con: duckdb.DuckDBPyConnection, brand: str | None = None) -> list[Action]:
    """Every recorded action, newest action day first."""
    rows = con.execute(
        """SELECT action_id, brand, root_cause, department, action_date, description, created_at
           FROM actions WHERE ? IS NULL OR brand = ?
           ORDER BY action_date DESC, action_id DESC""", [brand, brand]).fetchall()
    return [Action(*r) for r in rows]
