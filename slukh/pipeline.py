"""The pipeline steps as plain functions: what `slukh` commands and Airflow tasks call.

Each step opens the warehouse itself (so each Airflow task is one call), takes its logical
date as an argument where it matters, and returns a small summary for logs.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
import json
from typing import Any

import duckdb

from slukh.config import Brand, Settings, Target
from warehouse import labels as label_store
from warehouse import spikes, trends
from warehouse.db import connect, publish_snapshot, transaction
from warehouse.digest import DigestFiles, write_digest
from warehouse.load import LoadReport, load_staging
from warehouse.migrate import migrate

log = logging.getLogger(__name__)


@contextmanager
def warehouse(settings: Settings, *, read_only: bool = False, wait_s: float = 30.0,
              snapshot: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open (and, for writers, migrate) the warehouse; always closes it.

    ``snapshot=True`` (write steps that change data): when the block ends without an
    error, publish the read snapshot that `slukh query` falls back to while a writer runs.
    """
    con = connect(settings.db_path, read_only=read_only, wait_s=wait_s)
    try:
        if not read_only:
            migrate(con)
        yield con
        if snapshot and not read_only:
            publish_snapshot(con, settings.db_path)
    finally:
        con.close()


def targets(settings: Settings, source: str | None = None,
            target: str | None = None) -> list[tuple[str, str, str]]:
    """(source, code, brand id) for every target in brands.yaml, optionally filtered."""
    return [(s, t.code, b.id) for s, t, b in target_specs(settings, source, target)]


def target_specs(settings: Settings, source: str | None = None,
                 target: str | None = None) -> list[tuple[str, Target, Brand]]:
    """(source, Target with its spider arguments, Brand) from brands.yaml, filtered."""
    out = []
    for b in settings.brands():
        for src, items in b.targets.items():
            out += [(src, t, b) for t in items
                    if (source in (None, src)) and (target in (None, t.code))]
    return out


def sync_targets(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = [[f"{s}:{c}", s, b, c, json.dumps({"brand": b}), now] for s, c, b in targets(settings)]
    if rows:
        with transaction(con):
            con.executemany(
                """INSERT INTO targets (target_id, source, brand, code, params, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (target_id)
                   DO UPDATE SET brand = excluded.brand, params = excluded.params,
                   updated_at = excluded.updated_at""", rows)


def crawl(settings: Settings, *, source: str | None = None, target: str | None = None,
          site: str | None = None, crawl_settings: dict | None = None,
          horizon_days: int | None = None,
          on_done: Callable[[dict], None] | None = None) -> list[dict]:
    """Run one crawl subprocess per target; each leaves a batch file and a run record.

    Each crawl gets its target's cursor (newest review loaded), so it stops at known
    reviews; a target never loaded goes back ``horizon_days`` (the spider's default if None).
    """
    from spiders.run import run_crawl

    todo = target_specs(settings, source, target)
    if not todo:
        raise ValueError(f"no targets match source={source!r} target={target!r} in {settings.brands_file}")
    known = read_cursors(settings)
    records = []
    for src, tgt, brand in todo:
        since = known.get(f"{src}:{tgt.code}")
        args = {**tgt.params, "since": since.isoformat() if since else None,
                "horizon_days": horizon_days, "aliases": [brand.name, *brand.aliases]}
        rec = run_crawl(src, tgt.code, brand.id, settings.home, base_url=site,
                        settings=crawl_settings, spider_args=args)
        records.append(rec)
        if on_done:
            on_done(rec)
    return records


def read_cursors(settings: Settings) -> dict[str, datetime]:
    """Target cursors from the warehouse; none yet if it does not exist."""
    from warehouse.load import cursors

    if not settings.db_path.exists():
        return {}
    with warehouse(settings, read_only=True) as con:
        try:
            return cursors(con)
        except duckdb.CatalogException:   # a warehouse from before migration 003
            return {}


def load(settings: Settings) -> LoadReport:
    """Merge staged batches, then refresh near-duplicate clusters of the recent window."""
    from warehouse import neardup

    with warehouse(settings, snapshot=True) as con:
        sync_targets(con, settings)
        report = load_staging(con, settings.staging, settings.runs)
        if report.inserted or report.updated:
            report.near_dup_clusters = neardup.assign(con)[1]
        return report


@dataclass
class ClassifyReport:
    model_version: str
    labelled: int
    pending_before: int
    reused: int = 0          # mentions that took the label of an identical text in this run
    activated: bool = False  # the version became the active one (new, or --relabel)
    relabel: bool = False


def brand_names(settings: Settings) -> dict[str, str]:
    """Brand id -> the name people write («Заря Банк»); empty without a brands file."""
    return ({b.id: b.name for b in settings.brands()}
            if settings.brands_file.exists() else {})


def classify(settings: Settings, *, chunk: int = 256,
             progress: Callable[[int, int], None] | None = None,
             relabel: bool = False, labeller: Any | None = None) -> ClassifyReport:
    """Label every mention that has no label for the current model version.

    ``relabel=True`` labels every mention again with the current version and makes it
    the active one; other versions' labels stay as they are. Mentions with the same text
    and rating (reposts) are labelled once per run. Mentions from review sites
    (``REVIEW_SOURCES``) are labelled as reviews, rated or not. A version seen for the
    first time is registered and activated. ``labeller`` (tests) replaces the shipped
    model.
    """
    if labeller is None:
        from nlp.labeller import Labeller

        labeller = Labeller(encoder=settings.encoder)
    mv = labeller.model_version
    with warehouse(settings, snapshot=True) as con:
        copied = 0 if relabel else label_store.copy_from_identical(con, mv)
        todo = label_store.all_mentions(con) if relabel else label_store.pending(con, mv)
        groups = label_store.distinct_texts(todo)
        # Sentiment is measured towards the brand, named as people write it.
        names = brand_names(settings)
        done = 0
        for i in range(0, len(groups), chunk):
            part = groups[i:i + chunk]
            labs = labeller.label([g.text for g in part], [g.rating for g in part],
                                  [names.get(g.brand or "", g.brand) for g in part],
                                  [g.review for g in part])
            done += label_store.write_groups(con, mv, part, labs)
            if progress:
                progress(done, len(todo))
        activated = label_store.register_version(con, mv, activate=relabel)
        return ClassifyReport(mv, done + copied, len(todo) + copied,
                              reused=len(todo) - len(groups) + copied,
                              activated=activated, relabel=relabel)


def latest_model_version(con: duckdb.DuckDBPyConnection) -> str:
    """The active model version (``slukh models``): what trends, alerts and the digest read."""
    mv = label_store.active_model_version(con)
    if mv is None:
        raise LookupError("no labels yet: run `slukh classify` first")
    return mv


def latest_day(con: duckdb.DuckDBPyConnection) -> date:
    row = con.execute(
        "SELECT max(CAST(published_at + INTERVAL 3 HOUR AS DATE)) FROM mentions").fetchone()
    if not row or row[0] is None:
        raise LookupError("no mentions yet: run `slukh crawl` and `slukh load` first")
    return row[0]


def refresh_trends(settings: Settings, model_version: str | None = None) -> tuple[str, int]:
    with warehouse(settings, snapshot=True) as con:
        mv = model_version or latest_model_version(con)
        return mv, trends.refresh_daily(con, mv)


def detect_alerts(settings: Settings, day: date | None = None,
                  model_version: str | None = None, days: int = 1
                  ) -> tuple[date, list[spikes.Spike]]:
    """Incidents active on ``day`` (default: the newest day with data), saved as alerts.

    ``days`` > 1 also replays the days before it, oldest first, as the hourly job would
    have run them: a first run over history (the demo) then reports a wave on the day it
    began, not only its tail on the last day. An incident active on several days is one
    alert, saved once per day it was seen and listed once, as last seen."""
    with warehouse(settings, snapshot=True) as con:
        mv = model_version or latest_model_version(con)
        day = day or latest_day(con)
        by_id: dict[str, spikes.Spike] = {}
        for back in range(max(1, days) - 1, -1, -1):
            found = spikes.detect(con, mv, day - timedelta(days=back))
            spikes.save(con, mv, found)
            by_id.update((inc.incident_id, inc) for inc in found)
        return day, sorted(by_id.values(), key=lambda inc: (inc.started_at, inc.brand))


def digest(settings: Settings, day: date | None = None,
           model_version: str | None = None) -> DigestFiles:
    from nlp.taxonomy import load_taxonomy

    names = {b.id: b.name for b in settings.brands()}
    causes = {c.id: c.name for c in load_taxonomy().causes}
    with warehouse(settings) as con:
        mv = model_version or latest_model_version(con)
        day = day or latest_day(con)
        return write_digest(con, mv, day, settings.outbox, brand_names=names, cause_names=causes)


def send_alerts(settings: Settings, day: date | None = None):  # -> DeliveryReport
    """Deliver every new alert to the department owning its root cause (routing.yaml).

    Channels come from the environment (SMTP, Telegram bot, webhooks in routing.yaml) plus
    the outbox folder; a delivery that fails is recorded and retried on the next call,
    one that succeeded is never repeated.
    """
    from nlp.taxonomy import load_taxonomy
    from warehouse.channels.routing import load_routing
    from warehouse.delivery import channels_from_env, deliver_alerts

    routing = load_routing(known_causes=load_taxonomy().ids)
    with warehouse(settings) as con:
        return deliver_alerts(con, routing, day=day,
                              brand_names={b.id: b.name for b in settings.brands()},
                              channels=channels_from_env(outbox=settings.outbox))


def send_digest(settings: Settings, files: DigestFiles, day: date):  # -> DeliveryReport
    """E-mail a written digest to the departments routing.yaml names (once per day)."""
    from nlp.taxonomy import load_taxonomy
    from warehouse.channels.routing import load_routing
    from warehouse.delivery import channels_from_env, deliver_digest

    routing = load_routing(known_causes=load_taxonomy().ids)
    with warehouse(settings) as con:
        return deliver_digest(con, routing, files.html, files.text, files.chart, day,
                              channels=channels_from_env(outbox=settings.outbox))
