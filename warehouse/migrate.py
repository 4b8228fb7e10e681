"""Numbered SQL migrations with a schema version table.

Each ``NNN_name.sql`` file runs once, in its own transaction, in number order; an
older warehouse file is upgraded in place the next time any command opens it.
"""
from __future__ import annotations

from datetime import datetime, timezone
from importlib import resources

import duckdb

from warehouse.db import transaction

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       VARCHAR NOT NULL,
    applied_at TIMESTAMP NOT NULL
)"""


def available() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every migration shipped with the package, in order."""
    out = []
    for f in resources.files("warehouse.migrations").iterdir():
        if f.name.endswith(".sql"):
            num, _, name = f.name.removesuffix(".sql").partition("_")
            out.append((int(num), name, f.read_text(encoding="utf-8")))
    return sorted(out)


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(_VERSION_TABLE)
    return con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


def migrate(con: duckdb.DuckDBPyConnection, target: int | None = None) -> list[int]:
    """Apply pending migrations up to ``target`` (all by default); return those applied."""
    done = current_version(con)
    applied = []
    for version, name, sql in available():
        if version <= done or (target is not None and version > target):
            continue
        with transaction(con):
            con.execute(sql)
            con.execute(
                "INSERT INTO schema_version VALUES (?, ?, ?)",
                [version, name, datetime.now(timezone.utc).replace(tzinfo=None)],
            )
        applied.append(version)
    return applied
