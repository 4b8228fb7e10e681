"""Connections to the warehouse file.

DuckDB allows one writing process per file. Every writer in Slukh goes through
:func:`connect`, which turns DuckDB's lock error into :class:`WarehouseLocked` with the
PID of the holder and what to do about it, instead of a bare ``IOException``.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb


class WarehouseError(RuntimeError):
    """Base class for warehouse problems a person has to act on."""


class WarehouseLocked(WarehouseError):
    """Another process holds the DuckDB write lock."""


def _locked_message(path: Path, err: Exception) -> str:
    holder = re.search(r"held in (.+?) \(PID (\d+)\)", str(err))
    who = f"process {holder.group(2)} ({holder.group(1)})" if holder else "another process"
    return (
        f"the warehouse {path} is locked by {who}. DuckDB allows one writer at a time: "
        "wait for the running load/classify task to finish (or stop it), then retry. "
        "In Airflow, writers share the pool 'duckdb_writer' of size 1."
    )


def connect(path: str | Path, *, read_only: bool = False, wait_s: float = 0.0) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, waiting up to ``wait_s`` seconds for a lock held elsewhere."""
    path = Path(path)
    if read_only and not path.exists():
        raise WarehouseError(f"no warehouse at {path}: run `slukh run` or `slukh demo` first")
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as err:
            if "lock" not in str(err).lower():
                raise WarehouseError(f"cannot open the warehouse {path}: {err}") from err
            if time.monotonic() >= deadline:
                raise WarehouseLocked(_locked_message(path, err)) from err
            time.sleep(0.5)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN … COMMIT, or ROLLBACK on any error, so a step is all-or-nothing."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
