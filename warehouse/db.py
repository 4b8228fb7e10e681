"""Connections to the warehouse file, and the read snapshot beside it.

DuckDB allows one writing process per file, and while a writer holds the file no other
process can open it, not even read-only. Every writer in Slukh goes through
:func:`connect`, which turns DuckDB's lock error into :class:`WarehouseLocked` with the
PID of the holder and what to do about it, instead of a bare ``IOException``.

So that analysts can query while a load runs, each write step that changes data ends by
publishing a read snapshot (:func:`publish_snapshot`): a consistent copy of the file,
taken by the writer itself after a CHECKPOINT and swapped in by an atomic rename.
:func:`connect_reader` opens the live file, or the snapshot when a writer holds the file.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)


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


def snapshot_path(path: str | Path) -> Path:
    """Where the read snapshot of ``path`` lives: ``slukh.duckdb`` → ``slukh.snapshot.duckdb``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.snapshot{path.suffix or '.duckdb'}")


def publish_snapshot(con: duckdb.DuckDBPyConnection, path: str | Path) -> Path | None:
    """Copy the warehouse to its snapshot path, consistently; return it (None on failure).

    Call it with the writer's own connection, outside any open transaction: CHECKPOINT
    moves everything committed from the WAL into the file, and as this process holds the
    write lock nothing can change the file while it is copied. The copy is written under a
    temporary name, opened once to prove it reads, and renamed over the old snapshot, so
    a reader sees the old snapshot or the new one, never half of one (a reader that has
    the old one open keeps reading it). A failure is logged, not raised: the write step
    it follows has already committed.
    """
    path = Path(path)
    snap = snapshot_path(path)
    tmp = snap.with_name(f".{snap.name}.{os.getpid()}.tmp")
    try:
        for stale in snap.parent.glob(f".{snap.name}.*.tmp"):   # left by a killed writer;
            stale.unlink(missing_ok=True)                        # only the lock holder publishes
        con.execute("CHECKPOINT")
        shutil.copyfile(path, tmp)
        check = duckdb.connect(str(tmp), read_only=True)
        try:
            check.execute("SELECT count(*) FROM duckdb_tables()").fetchone()
        finally:
            check.close()
        os.replace(tmp, snap)
        return snap
    except (OSError, duckdb.Error) as err:
        log.warning("could not publish the read snapshot %s: %s", snap, err)
        tmp.unlink(missing_ok=True)
        return None


@dataclass(frozen=True)
class ReadSource:
    """What a reader actually opened: the live warehouse, or the snapshot and its age."""
    path: Path
    snapshot_age_s: float | None = None    # None: the live file
    locked_by: str | None = None           # why the live file could not be opened

    def note(self) -> str | None:
        """One line for stderr when the answer comes from the snapshot."""
        if self.snapshot_age_s is None:
            return None
        taken = datetime.fromtimestamp(time.time() - self.snapshot_age_s).strftime("%Y-%m-%d %H:%M:%S")
        return (f"note: {self.locked_by or 'a writer holds the warehouse'}; answering from the "
                f"read snapshot {self.path.name}, {_age(self.snapshot_age_s)} old "
                f"(taken {taken}): rows written since then are not in it")


def _age(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} days"


def connect_reader(path: str | Path, *, wait_s: float = 10.0
                   ) -> tuple[duckdb.DuckDBPyConnection, ReadSource]:
    """Open the warehouse read-only; if a writer holds it, open the read snapshot instead.

    With a snapshot there is no waiting: the answer comes at once, from data as of the
    last finished write step. Without one, wait up to ``wait_s`` for the writer as before
    and raise :class:`WarehouseLocked` naming it.
    """
    path = Path(path)
    snap = snapshot_path(path)
    try:
        return connect(path, read_only=True, wait_s=0 if snap.exists() else wait_s), ReadSource(path)
    except WarehouseLocked as err:
        if not snap.exists():
            raise
        holder = re.search(r"locked by (process \d+)", str(err))
        why = f"the warehouse is being written by {holder.group(1)}" if holder else None
        try:
            con = duckdb.connect(str(snap), read_only=True)
        except duckdb.Error as snap_err:
            raise WarehouseLocked(f"{err} The read snapshot {snap} could not be opened "
                                  f"either: {snap_err}") from snap_err
        age = time.time() - snap.stat().st_mtime
        return con, ReadSource(snap, age, why)
