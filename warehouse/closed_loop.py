"""Did it work? Actions against a root cause and that cause's complaint rate before/after.

The arithmetic and the test live in SQL (``closed_loop`` macro and ``v_closed_loop`` view,
migration 008), so analysts and the digest read the same numbers. This module only picks
the rows a reader needs: one model version, as known on a given day.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

WINDOW_DAYS = 28

#: How the digest words each verdict of v_closed_loop.
VERDICT_RU = {
    "fell": "снизилась",
    "rose": "выросла",
    "no change": "без значимых изменений",
    "too early": "рано судить",
    "no data": "нет данных",
}


@dataclass(frozen=True)
class LoopLine:
    action_id: int
    brand: str
    root_cause: str
    department: str
    action_date: date
    description: str
    model_version: str | None
    after_to: date
    mentions_before: int
    complaints_before: int
    rate_before: float | None
    mentions_after: int
    complaints_after: int
    rate_after: float | None
    relative_change: float | None
    p_value: float | None
    verdict: str

    @property
    def verdict_ru(self) -> str:
        return VERDICT_RU.get(self.verdict, self.verdict)


_COLUMNS = ", ".join(LoopLine.__dataclass_fields__)


def loop_lines(con: duckdb.DuckDBPyConnection, model_version: str | None = None,
               as_of: date | None = None, *, window_days: int = WINDOW_DAYS,
               recent_only: bool = True) -> list[LoopLine]:
    """Actions known on ``as_of`` (default: the newest data) with their verdicts.

    ``model_version`` None keeps every version. ``recent_only`` keeps the actions whose
    after window is still running or ended within the last ``window_days`` days: what a
    daily digest should show, not the whole history.
    """
    try:
        rows = con.execute(
            f"""SELECT {_COLUMNS} FROM closed_loop(window_days := $w, as_of := $as_of)
                WHERE ($mv IS NULL OR model_version = $mv OR model_version IS NULL)
                  AND ($as_of IS NULL OR action_date <= $as_of)
                  AND (NOT $recent OR after_to > data_through - $w)
                ORDER BY brand, action_date DESC, action_id""",
            {"w": window_days, "as_of": as_of, "mv": model_version, "recent": recent_only},
        ).fetchall()
    except duckdb.CatalogException:      # a warehouse from before migration 008
        return []
    return [LoopLine(*r) for r in rows]
