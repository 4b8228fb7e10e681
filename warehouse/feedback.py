"""Analyst feedback on labels: the input of "learning from analysts".

An analyst who disagrees with a label records the correct root causes, sentiment,
complaint flag or journey stage (``slukh label``). Feedback is append-only: a newer
feedback on the same mention supersedes the older one (``superseded_by``), nothing is
deleted, so who changed what and when stays answerable. A field left out (None) means
"no correction"; within one text, an analyst's earlier corrections of other fields carry
over into the new row, so the newest row alone states everything the analyst said.

``training_examples`` turns the current feedback into rows in the training-set format
of ``nlp/data/*.jsonl`` for ``slukh train``.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import duckdb

from warehouse.db import WarehouseError, transaction

SENTIMENTS = ("negative", "neutral", "positive")


class FeedbackRejected(WarehouseError):
    """Feedback on an unknown mention, or with ids the taxonomy does not know."""


@dataclass(frozen=True)
class Vocabulary:
    """Valid cause and stage ids; by default from ``nlp/taxonomy.yaml``."""
    causes: Collection[str]
    stages: Collection[str]

    @classmethod
    def from_taxonomy(cls) -> Vocabulary:
        from nlp.taxonomy import load_taxonomy

        tax = load_taxonomy()
        return cls([c.id for c in tax.causes], [s.id for s in tax.stages])


@dataclass(frozen=True)
class Feedback:
    feedback_id: int
    mention_id: str
    root_causes: list[str] | None
    sentiment: str | None
    is_complaint: bool | None
    journey_stage: str | None
    analyst: str
    note: str | None
    created_at: datetime
    superseded_by: int | None


def _check(root_causes: Sequence[str] | None, sentiment: str | None, stage: str | None,
           vocab: Vocabulary) -> list[str] | None:
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise FeedbackRejected(f"unknown sentiment {sentiment!r}; use one of "
                               f"{', '.join(SENTIMENTS)}")
    if stage is not None and stage not in vocab.stages:
        raise FeedbackRejected(f"unknown journey stage {stage!r}; the taxonomy has "
                               f"{', '.join(sorted(vocab.stages))}")
    if root_causes is None:
        return None
    causes = list(dict.fromkeys(c.strip() for c in root_causes if c.strip()))
    unknown = [c for c in causes if c not in vocab.causes]
    if unknown:
        raise FeedbackRejected(f"unknown root cause{'s' if len(unknown) > 1 else ''} "
                               f"{', '.join(map(repr, unknown))}; the taxonomy has "
                               f"{', '.join(sorted(vocab.causes))}")
    return causes


def add_feedback(con: duckdb.DuckDBPyConnection, mention_id: str, *,
                 root_causes: Sequence[str] | None = None, sentiment: str | None = None,
                 is_complaint: bool | None = None, stage: str | None = None,
                 analyst: str, note: str | None = None,
                 vocabulary: Vocabulary | None = None, now: datetime | None = None) -> int:
    """Record a correction of a mention's label; return its feedback_id.

    ``root_causes=[]`` says the mention has no root cause; ``None`` leaves causes as they
    are. Ids are checked against the taxonomy and the mention must exist; at least one
    field must be corrected. The previous current feedback on the mention is marked
    superseded in the same transaction.
    """
    causes = _check(root_causes, sentiment, stage, vocabulary or Vocabulary.from_taxonomy())
    if causes is None and sentiment is None and is_complaint is None and stage is None:
        raise FeedbackRejected("nothing to record: give root causes (or none), a sentiment, "
                               "the complaint flag or a journey stage")
    if not analyst or not analyst.strip():
        raise FeedbackRejected("say who gives the feedback (analyst name)")
    row = con.execute("SELECT content_hash FROM mentions WHERE mention_id = ?",
                      [mention_id]).fetchone()
    if row is None:
        raise FeedbackRejected(f"no mention {mention_id!r} in the warehouse; ids look like "
                               "'banki_ru:12345' (see v_mentions.mention_id)")
    chash = row[0]
    created = now or datetime.now(timezone.utc).replace(tzinfo=None)
    with transaction(con):
        prev = con.execute(
            """SELECT feedback_id, content_hash, root_causes, sentiment, is_complaint, journey_stage
               FROM label_feedback WHERE mention_id = ? AND superseded_by IS NULL
               ORDER BY created_at DESC, feedback_id DESC LIMIT 1""", [mention_id]).fetchone()
        if prev is not None and prev[1] == chash:      # same text: keep earlier corrections
            causes = prev[2] if causes is None else causes
            sentiment = sentiment if sentiment is not None else prev[3]
            is_complaint = is_complaint if is_complaint is not None else prev[4]
            stage = stage if stage is not None else prev[5]
        fid = con.execute("SELECT nextval('label_feedback_id_seq')").fetchone()[0]
        con.execute("INSERT INTO label_feedback VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    [fid, mention_id, chash, causes, sentiment, is_complaint, stage,
                     analyst.strip(), note, created])
        con.execute("""UPDATE label_feedback SET superseded_by = ?
                       WHERE mention_id = ? AND superseded_by IS NULL AND feedback_id <> ?""",
                    [fid, mention_id, fid])
    return int(fid)


def list_feedback(con: duckdb.DuckDBPyConnection, mention_id: str | None = None, *,
                  current_only: bool = False, limit: int | None = None) -> list[Feedback]:
    """Feedback, newest first; one mention's history, or only the current rows."""
    rows = con.execute(
        f"""SELECT feedback_id, mention_id, root_causes, sentiment, is_complaint, journey_stage,
                   analyst, note, created_at, superseded_by
            FROM label_feedback
            WHERE (? IS NULL OR mention_id = ?) AND (NOT ? OR superseded_by IS NULL)
            ORDER BY created_at DESC, feedback_id DESC {'LIMIT ?' if limit else ''}""",
        [mention_id, mention_id, current_only, *([limit] if limit else [])]).fetchall()
    return [Feedback(*r) for r in rows]


def training_examples(con: duckdb.DuckDBPyConnection, *, fill_from_model: bool = True
                      ) -> list[dict[str, Any]]:
    """The current feedback as training rows: {id, title, text, root_causes, sentiment,
    journey_stage}, in the format of ``nlp/data/*.jsonl`` (id = mention_id).

    Feedback given on an older text of the mention is left out (the text it judged is
    gone). A field the analyst did not correct is taken from the active model's label of
    the current text when ``fill_from_model`` (the analyst saw it and let it stand), else
    it is None; training code reads a None ``root_causes`` as "no cause", so keep the
    default unless the trainer masks missing fields.
    """
    rows = con.execute(
        """SELECT f.mention_id, m.title, m.text,
                  CASE WHEN $fill THEN coalesce(f.root_causes, f.model_root_causes)
                       ELSE f.root_causes END,
                  CASE WHEN $fill THEN coalesce(f.sentiment, f.model_sentiment)
                       ELSE f.sentiment END,
                  CASE WHEN $fill THEN coalesce(f.journey_stage, f.model_journey_stage)
                       ELSE f.journey_stage END,
                  m.rating, m.brand
           FROM v_feedback_current f JOIN mentions m ON m.mention_id = f.mention_id
           WHERE NOT f.text_changed
           ORDER BY f.mention_id""", {"fill": fill_from_model}).fetchall()
    keys = ("id", "title", "text", "root_causes", "sentiment", "journey_stage", "rating",
            "brand")
    return [dict(zip(keys, r)) for r in rows]
