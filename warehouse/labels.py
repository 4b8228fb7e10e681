"""Reading mentions that need labels, writing label rows, and the model-version registry.

A mention needs a label for a model version when it has none for that version, or
when its text changed since (the label's content hash differs). Labels of other model
versions are never touched, so analysts can compare versions side by side
(``v_label_diff``). Which version trends, alerts and the digest read is decided by the
registry ``model_versions`` (migration 009): the most recently activated version.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol

import duckdb
import pyarrow as pa

from warehouse.db import WarehouseError, transaction

_TODO = """SELECT m.mention_id, m.content_hash,
                  coalesce(m.title || '. ', '') || m.text AS text, m.rating, m.brand, m.source
           FROM mentions m {join}
           ORDER BY m.mention_id"""

#: Sources whose items are customer reviews: their sentiment is read by the review layer
#: of the root-cause head even without stars (``Labeller.label(reviews=...)``).
REVIEW_SOURCES = frozenset({"banki_ru", "sravni_ru", "dgis", "appstore", "schemaorg"})
#: Sources of social posts and articles: the text model's sentiment alone.
POST_SOURCES = frozenset({"telegram", "vk", "rss"})


class LabelLike(Protocol):
    sentiment: str
    sentiment_score: float
    is_complaint: bool
    root_causes: list[str]
    root_cause_scores: dict[str, float]
    journey_stage: str | None


class UnknownModelVersion(WarehouseError):
    """A model version that has no labels in this warehouse."""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


TodoRow = tuple  # mention_id, content_hash, text, rating[, brand id[, source]]


def pending(con: duckdb.DuckDBPyConnection, model_version: str) -> list[TodoRow]:
    """(mention_id, content_hash, text, rating, brand, source) of mentions lacking a current
    label."""
    return con.execute(_TODO.format(join="""
           LEFT JOIN labels l ON l.mention_id = m.mention_id AND l.model_version = ?
           WHERE l.mention_id IS NULL OR l.content_hash <> m.content_hash"""),
                       [model_version]).fetchall()


def all_mentions(con: duckdb.DuckDBPyConnection) -> list[TodoRow]:
    """(mention_id, content_hash, text, rating, brand, source) of every mention (a relabel
    run)."""
    return con.execute(_TODO.format(join="")).fetchall()


@dataclass
class TextGroup:
    """One distinct (text, rating) to label, and every mention that carries it."""
    text: str
    rating: int | None
    members: list[tuple[str, str]] = field(default_factory=list)   # (mention_id, content_hash)
    brand: str | None = None  # sentiment is measured towards this brand
    review: bool = False      # from a review site (REVIEW_SOURCES), rated or not


def distinct_texts(rows: Sequence[TodoRow]) -> list[TextGroup]:
    """Group mentions whose label must be identical, so each is computed once.

    The key is (content_hash, rating, brand, review): reposts share the hash of title +
    text; the rating is an input of the label too (1–2 stars make a complaint), and so are
    the brand (sentiment is towards it) and whether the source is a review site (a review's
    sentiment is read by the review layer), so copies that differ in any are labelled
    separately. Order follows the first member.
    """
    groups: dict[tuple[str, int | None, str | None, bool], TextGroup] = {}
    for row in rows:
        mid, chash, text, rating = row[:4]
        brand = row[4] if len(row) > 4 else None
        review = len(row) > 5 and row[5] in REVIEW_SOURCES
        key = (chash, rating, brand, review)
        g = groups.get(key)
        if g is None:
            g = groups[key] = TextGroup(text, rating, brand=brand, review=review)
        g.members.append((mid, chash))
    return list(groups.values())


def write_groups(con: duckdb.DuckDBPyConnection, model_version: str,
                 groups: Sequence[TextGroup], labels: Sequence[LabelLike]) -> int:
    """Write each group's label to all its mentions, in one transaction."""
    if len(groups) != len(labels):
        raise ValueError(f"{len(groups)} texts but {len(labels)} labels")
    rows = [m for g in groups for m in g.members]
    per_row = [lab for g, lab in zip(groups, labels) for _ in g.members]
    return write(con, model_version, rows, per_row)


def write(con: duckdb.DuckDBPyConnection, model_version: str,
          rows: Sequence[tuple[str, str]], labels: Sequence[LabelLike]) -> int:
    """Upsert labels for (mention_id, content_hash) rows in one transaction.

    The rows go in as one Arrow table, not row by row: ``executemany`` costs ~7 ms a row.
    """
    if len(rows) != len(labels):
        raise ValueError(f"{len(rows)} mentions but {len(labels)} labels")
    if not rows:
        return 0
    batch = pa.table({
        "mention_id": pa.array([r[0] for r in rows], pa.string()),
        "content_hash": pa.array([r[1] for r in rows], pa.string()),
        "sentiment": pa.array([lab.sentiment for lab in labels], pa.string()),
        "sentiment_score": pa.array([float(lab.sentiment_score) for lab in labels], pa.float64()),
        "is_complaint": pa.array([bool(lab.is_complaint) for lab in labels], pa.bool_()),
        "root_causes": pa.array([list(lab.root_causes) for lab in labels], pa.list_(pa.string())),
        "root_cause_scores": pa.array(
            [json.dumps({k: round(float(v), 4) for k, v in lab.root_cause_scores.items()})
             for lab in labels], pa.string()),
        "journey_stage": pa.array([lab.journey_stage for lab in labels], pa.string()),
    })
    with transaction(con):
        con.register("_labels_batch", batch)
        try:
            con.execute(
                """INSERT INTO labels
                   SELECT mention_id, $mv, content_hash, sentiment, sentiment_score, is_complaint,
                          root_causes, root_cause_scores, journey_stage, $now
                   FROM _labels_batch
                   ON CONFLICT (mention_id, model_version) DO UPDATE SET
                     content_hash = excluded.content_hash, sentiment = excluded.sentiment,
                     sentiment_score = excluded.sentiment_score,
                     is_complaint = excluded.is_complaint, root_causes = excluded.root_causes,
                     root_cause_scores = excluded.root_cause_scores,
                     journey_stage = excluded.journey_stage, labelled_at = excluded.labelled_at""",
                {"mv": model_version, "now": _now()})
        finally:
            con.unregister("_labels_batch")
    return len(rows)


# --- the model-version registry (migration 009) -------------------------------------------

def active_model_version(con: duckdb.DuckDBPyConnection) -> str | None:
    """The version trends, alerts and the digest use; None when nothing is labelled yet.

    The most recently activated version in ``model_versions``; with an empty registry
    (or a warehouse from before migration 009) the version of the newest label.
    """
    try:
        return con.execute("SELECT active_model_version()").fetchone()[0]
    except duckdb.CatalogException:
        row = con.execute(
            "SELECT model_version FROM labels ORDER BY labelled_at DESC LIMIT 1").fetchone()
        return row[0] if row else None


def _has_labels(con: duckdb.DuckDBPyConnection, model_version: str) -> bool:
    return con.execute("SELECT 1 FROM labels WHERE model_version = ? LIMIT 1",
                       [model_version]).fetchone() is not None


def _activation_time(con: duckdb.DuckDBPyConnection) -> datetime:
    """Now, or just after the newest activation if the clock says otherwise: newest wins."""
    newest = con.execute("SELECT max(activated_at) FROM model_versions").fetchone()[0]
    now = _now()
    return now if newest is None or now > newest else newest + timedelta(microseconds=1)


def register_version(con: duckdb.DuckDBPyConnection, model_version: str, *, activate: bool = False,
                     description: str | None = None, metrics: dict | None = None) -> bool:
    """Record a version that has labelled this warehouse; return True if it was activated now.

    A version seen for the first time is activated, because it is the one labelling new
    mentions: leaving the old version active would freeze trends on a version that no
    longer receives labels. A known version keeps its state unless ``activate``. A version
    without any label is not registered (nothing could follow it).
    """
    if not _has_labels(con, model_version):
        return False
    with transaction(con):
        known = con.execute("SELECT 1 FROM model_versions WHERE model_version = ?",
                            [model_version]).fetchone() is not None
        if known and not activate:
            if description is not None or metrics is not None:
                con.execute("""UPDATE model_versions SET description = coalesce(?, description),
                               metrics = coalesce(?, metrics) WHERE model_version = ?""",
                            [description, json.dumps(metrics) if metrics is not None else None,
                             model_version])
            return False
        at = _activation_time(con)
        if known:
            con.execute("""UPDATE model_versions SET activated_at = ?,
                           description = coalesce(?, description), metrics = coalesce(?, metrics)
                           WHERE model_version = ?""",
                        [at, description, json.dumps(metrics) if metrics is not None else None,
                         model_version])
        else:
            con.execute("INSERT INTO model_versions VALUES (?, ?, ?, ?, ?)",
                        [model_version, at, at, description,
                         json.dumps(metrics) if metrics is not None else None])
    return True


def activate(con: duckdb.DuckDBPyConnection, model_version: str) -> None:
    """Make a labelled version the active one (roll forward or back).

    Only versions with labels can be active. Note that ``slukh classify`` keeps labelling
    new mentions with the model it loads: activating an older version freezes trends on
    that version's labels until classify runs with its model again.
    """
    if not _has_labels(con, model_version):
        known = [r[0] for r in con.execute(
            "SELECT DISTINCT model_version FROM labels ORDER BY 1").fetchall()]
        raise UnknownModelVersion(
            f"no labels of model version {model_version!r} in this warehouse; versions with "
            f"labels: {', '.join(known) or 'none (run `slukh classify` first)'}")
    register_version(con, model_version, activate=True)


def copy_from_identical(con: duckdb.DuckDBPyConnection, model_version: str) -> int:
    """Give pending mentions the label an identical text already has (same content hash,
    rating and brand, both reviews or both posts (``REVIEW_SOURCES``), same model version)
    — a repost seen in an earlier run is not labelled again. Returns how many mentions got
    a copied label."""
    before = con.execute("SELECT count(*) FROM labels WHERE model_version = ?",
                         [model_version]).fetchone()[0]
    with transaction(con):
        con.execute(
            """INSERT OR REPLACE INTO labels
               SELECT m.mention_id, l.model_version, m.content_hash, l.sentiment,
                      l.sentiment_score, l.is_complaint, l.root_causes, l.root_cause_scores,
                      l.journey_stage, l.labelled_at
               FROM mentions m
               JOIN mentions m2 ON m2.content_hash = m.content_hash AND m2.brand = m.brand
                    AND m2.rating IS NOT DISTINCT FROM m.rating
                    AND list_contains(?, m2.source) = list_contains(?, m.source)
                    AND m2.mention_id <> m.mention_id
               JOIN labels l ON l.mention_id = m2.mention_id AND l.model_version = ?
                    AND l.content_hash = m2.content_hash
               LEFT JOIN labels me ON me.mention_id = m.mention_id AND me.model_version = ?
               WHERE me.mention_id IS NULL OR me.content_hash <> m.content_hash
               QUALIFY row_number() OVER (PARTITION BY m.mention_id ORDER BY m2.mention_id) = 1""",
            [sorted(REVIEW_SOURCES), sorted(REVIEW_SOURCES), model_version, model_version])
    after = con.execute("SELECT count(*) FROM labels WHERE model_version = ?",
                        [model_version]).fetchone()[0]
    return after - before
