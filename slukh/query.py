"""Read-only SQL for analysts, printed as a table, CSV or JSON."""
from __future__ import annotations

import csv
import json
import sys

from rich.console import Console
from rich.table import Table

from slukh.config import Settings
from warehouse.db import connect


def run_query(settings: Settings, sql: str, fmt: str, out: Console) -> None:
    con = connect(settings.db_path, read_only=True, wait_s=10)
    try:
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchall()
    finally:
        con.close()
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
