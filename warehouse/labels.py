"""Reading mentions that need labels and writing label rows.

A mention needs a label for a model version when it has none for that version, or
when its text changed since (the label's content hash differs). Labels of other model
versions are never touched, so analysts can compare versions side by side.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Protocol

import duckdb

from warehouse.db import transaction


class LabelLike(Protocol):
    sentiment: str
    sentiment_score: float
    is_complaint: bool
    root_causes: list[str]
    root_cause_scores: dict[str, float]
    journey_stage: str | None


def pending(con: duckdb.DuckDBPyConnection, model_version: str) -> list[tuple[str, str, str, int | None]]:
    """(mention_id, content_hash, text, rating) of mentions lacking a current label."""
    return con.execute(
        """SELECT m.mention_id, m.content_hash,
                  coalesce(m.title || '. ', '') || m.text AS text, m.rating
           FROM mentions m
           LEFT JOIN labels l ON l.mention_id = m.mention_id AND l.model_version = ?
           WHERE l.mention_id IS NULL OR l.content_hash <> m.content_hash
           ORDER BY m.mention_id""",
        [model_version],
    ).fetchall()


def write(con: duckdb.DuckDBPyConnection, model_version: str,
          rows: Sequence[tuple[str, str]], labels: Sequence[LabelLike]) -> int:
    """Upsert labels for (mention_id, content_hash) rows in one transaction."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    data: list[list[Any]] = [
        [mid, model_version, chash, lab.sentiment, float(lab.sentiment_score),
         bool(lab.is_complaint), list(lab.root_causes),
         json.dumps({k: round(float(v), 4) for k, v in lab.root_cause_scores.items()}),
         lab.journey_stage, now]
        for (mid, chash), lab in zip(rows, labels, strict=True)
    ]
    if not data:
        return 0
    with transaction(con):
        con.executemany(
            """INSERT INTO labels VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (mention_id, model_version) DO UPDATE SET
                 content_hash = excluded.content_hash, sentiment = excluded.sentiment,
                 sentiment_score = excluded.sentiment_score, is_complaint = excluded.is_complaint,
                 root_causes = excluded.root_causes, root_cause_scores = excluded.root_cause_scores,
                 journey_stage = excluded.journey_stage, labelled_at = excluded.labelled_at""",
            data,
        )
    return len(data)
