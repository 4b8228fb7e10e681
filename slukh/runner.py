"""`slukh run` and `slukh demo`: every step once, with a summary a newcomer can follow."""
from __future__ import annotations

import os
import shutil
import sys
import time
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from slukh import pipeline
from slukh.config import REPO_ROOT, Settings
from warehouse.templating import rate

DEMO_ALERT_DAYS = 3   # days of hourly detection the demo replays, up to its last day

FAST = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_START_DELAY": 0.01, "AUTOTHROTTLE_MAX_DELAY": 1}


def run_all(settings: Settings, *, site: str | None = None, day: date | None = None,
            fast: bool = False, horizon_days: int | None = None, console: Console) -> dict:
    """crawl → load → classify → trends → alerts → digest; returns what each step did."""
    t0 = time.monotonic()
    summary: dict = {}

    def step(name: str) -> None:
        console.rule(f"[bold]{name}", align="left", style="dim")

    step("1/6 crawl")
    def show(r: dict) -> None:
        colour = {"ok": "green", "blocked": "yellow"}.get(r["status"], "red")
        console.print(f"  [{colour}]{r['status']:>7}[/] {r['target_id']}: {r['items']} items"
                      f"{' — ' + r['message'] if r.get('message') else ''}")
    summary["crawl"] = pipeline.crawl(settings, site=site, crawl_settings=FAST if fast else None,
                                      horizon_days=horizon_days, on_done=show)
    step("2/6 load")
    rep = pipeline.load(settings)
    summary["load"] = rep
    console.print(f"  {rep.batches_loaded} batches: {rep.inserted} new mentions, {rep.updated} updated"
                  f"{f', {rep.near_dup_clusters} near-duplicate clusters' if rep.near_dup_clusters else ''}")
    for p in rep.problems:
        console.print(f"  [yellow]warning:[/] {p}")
    step("3/6 classify")
    with Progress("  [progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task("labelling", total=None)
        cls = pipeline.classify(settings, progress=lambda d, t: bar.update(task, completed=d, total=t))
    summary["classify"] = cls
    console.print(f"  {cls.labelled} mentions labelled with {cls.model_version}")
    step("4/6 trends")
    mv, n = pipeline.refresh_trends(settings, cls.model_version)
    console.print(f"  {n} daily aggregate rows")
    step("5/6 alerts")
    # replay the last days as the hourly job would have run them: the planted wave began
    # two days before the last day, and its alert belongs to the day it began
    d, found = pipeline.detect_alerts(settings, day, mv, days=DEMO_ALERT_DAYS)
    summary["alerts"] = found
    if not found:
        console.print(f"  no spikes in the {DEMO_ALERT_DAYS} days to {d}")
    for s in found:
        console.print(f"  [bold red]spike[/] {s.day} {s.brand} / {s.root_cause}: {s.observed} complaints, "
                      f"usually {rate(s.expected)} (×{s.ratio:.1f}, severity {s.severity}/10)")
    rep = pipeline.send_alerts(settings)
    summary["delivery"] = rep
    if rep.sent or rep.failed:
        channels = sorted({c for _, c, _ in rep.sent})
        console.print(f"  delivered {len(rep.sent)} ({', '.join(channels) or 'none'}; outbox: {settings.outbox})")
    if rep.failed:
        console.print(f"  [yellow]{len(rep.failed)} not delivered[/]: {rep.failed[0][3]}")
    step("6/6 digest")
    files = pipeline.digest(settings, d, mv)
    summary["digest"] = files
    with pipeline.warehouse(settings, read_only=True) as con:
        mentions, labelled = con.execute(
            """SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM labels l
                   WHERE l.mention_id = m.mention_id AND l.model_version = ?))
               FROM mentions m""", [mv]).fetchone()
    summary["seconds"] = round(time.monotonic() - t0, 1)
    console.rule("[bold green]done", style="green")
    console.print(f"warehouse : {settings.db_path}  ({mentions} mentions, {labelled} labelled)")
    console.print(f"digest    : {files.html}\n            {files.text}")
    console.print(f"took      : {summary['seconds']} s")
    return summary


def _prog() -> str:
    """How the user invoked us, so the hint can be pasted as it is (.venv/bin/slukh …)."""
    argv0 = Path(sys.argv[0])
    if argv0.name != "slukh" or shutil.which("slukh") == str(argv0.resolve()):
        return "slukh"
    return os.path.relpath(argv0)


def run_demo(settings: Settings, *, port: int = 0, console: Console) -> dict:
    """Serve the demo site on 127.0.0.1 and run the pipeline against it."""
    from slukh.demo_site import DemoSite

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if settings.brands_file == REPO_ROOT / "brands.yaml":
        settings = Settings(settings.home, REPO_ROOT / "slukh" / "demo_brands.yaml", settings.encoder)
    with DemoSite(port=port) as site:
        console.print(f"demo site: {site.base_url} (3 fictional banks, 60 days of reviews)")
        # The demo's reviews are dated 2026: no first-crawl horizon, whenever it runs.
        summary = run_all(settings, site=site.base_url, fast=True, horizon_days=0, console=console)
    console.print(f"\nTry:  {_prog()} query \"select brand, root_cause, observed, expected, severity from v_alerts\"")
    return summary
