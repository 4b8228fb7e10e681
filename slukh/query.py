"""Read-only SQL for analysts, printed as a table, CSV or JSON.

Readers never wait behind a running load: when a writer holds the warehouse file, they
read the snapshot the last write step published and say on stderr how old it is.
"""
from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
from rich.console import Console
from rich.table import Table

from slukh.config import Settings
from warehouse.db import connect_reader


@contextmanager
def reading(settings: Settings, *, wait_s: float = 10.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the warehouse, or to its read snapshot while it is locked.

    When the snapshot answers, one line on stderr says so and how old it is.
    """
    con, source = connect_reader(settings.db_path, wait_s=wait_s)
    note = source.note()
    if note:
        print(note, file=sys.stderr, flush=True)
    try:
        yield con
    finally:
        con.close()


def run_query(settings: Settings, sql: str, fmt: str, out: Console) -> None:
    with reading(settings) as con:
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchall()
    if fmt == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(cols)
        w.writerows(rows)
    elif fmt == "json":
        print(json.dumps([dict(zip(cols, r)) for r in rows], ensure_ascii=False, default=str, indent=1))
    else:
        t = Table(*cols, show_lines=False)
        for r in rows:
            t.add_row(*["" if v is None else str(v) for v in r])
        out.print(t)
