"""`slukh`: run the pipeline without Airflow — demo, crawl, load, classify, trends, query."""
from __future__ import annotations

import logging
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from slukh.config import ConfigError, Settings

app = typer.Typer(
    help="Slukh — review and social-listening pipeline for Russian-language brand monitoring.\n\n"
         "Start with `slukh demo`: it serves a local demo review site, crawls it, labels every "
         "review, finds the planted complaint spike and writes a digest, with no network.",
    no_args_is_help=True, rich_markup_mode="rich", add_completion=False)
console = Console(stderr=True)
out = Console()
state: dict = {}

Home = Annotated[Optional[Path], typer.Option("--home", envvar="SLUKH_HOME",
                 help="Data folder: warehouse file, staging batches, crawl runs, outbox. Default ./var")]
Brands = Annotated[Optional[Path], typer.Option("--brands", envvar="SLUKH_BRANDS",
                   help="brands.yaml with the brands and the targets to crawl.")]
Day = Annotated[Optional[str], typer.Option("--date", help="Moscow day YYYY-MM-DD; default: the latest day with mentions.")]
Site = Annotated[Optional[str], typer.Option("--site", help="Send every crawl to this base URL instead of the real site (a mock or the demo site).")]


@app.callback()
def main_options(home: Home = None, brands: Brands = None,
                 verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        handlers=[RichHandler(console=console, show_path=False, show_time=False)])
    for noisy in ("httpx", "urllib3", "filelock", "matplotlib", "transformers", "huggingface_hub", "pymorphy3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    state["settings"] = Settings.from_env(home=home, brands=brands)


def _settings() -> Settings:
    return state["settings"]


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2026-11-20", param_hint="--date") from None


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@app.command()
def crawl(all_targets: Annotated[bool, typer.Option("--all", help="Every target of every brand in brands.yaml.")] = False,
          source: Annotated[Optional[str], typer.Option(help="Only this source, e.g. banki_ru.")] = None,
          target: Annotated[Optional[str], typer.Option(help="Only this target code, e.g. sberbank.")] = None,
          site: Site = None,
          fast: Annotated[bool, typer.Option(help="No politeness delay (local mock sites only).")] = False,
          horizon_days: Annotated[Optional[int], typer.Option(help="How far back a target's first crawl goes; 0 = everything.")] = None) -> None:
    """Crawl targets from brands.yaml, one subprocess each, into staging batch files.

    Each crawl stops at its target's cursor (the newest review already loaded). Exit code 2
    when any crawl ended blocked or failed; the reasons are printed and kept in crawl_runs.
    """
    from slukh import pipeline
    if not (all_targets or source or target):
        _fail("say what to crawl: --all, or --source S [--target T]", 2)
    extra = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_START_DELAY": 0.01} if fast else None
    with console.status("crawling…"):
        recs = pipeline.crawl(_settings(), source=source, target=target, site=site,
                              crawl_settings=extra, horizon_days=horizon_days, on_done=_print_run)
    if any(r["status"] != "ok" for r in recs):
        raise typer.Exit(2)


def _print_run(r: dict) -> None:
    colour = {"ok": "green", "blocked": "yellow"}.get(r["status"], "red")
    console.print(f"[{colour}]{r['status']:>7}[/] {r['target_id']}: {r['items']} items, "
                  f"{r['errors']} errors{' — ' + r['message'] if r.get('message') else ''}")


@app.command()
def load() -> None:
    """Merge staged batch files into the warehouse (idempotent, one transaction per batch)."""
    from slukh import pipeline
    rep = pipeline.load(_settings())
    console.print(f"loaded {rep.batches_loaded} batches ({rep.batches_skipped} seen before): "
                  f"{rep.inserted} new mentions, {rep.updated} updated, {rep.rejected_rows} rejected rows")
    for p in rep.problems:
        console.print(f"[yellow]warning:[/] {p}")


@app.command()
def classify() -> None:
    """Label mentions that have no label for the current model version."""
    from slukh import pipeline
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("labelling", total=None)
        rep = pipeline.classify(_settings(), progress=lambda d, t: bar.update(task, completed=d, total=t))
    console.print(f"labelled {rep.labelled} mentions with {rep.model_version}")


@app.command()
def trends() -> None:
    """Recompute daily aggregates per brand × root cause."""
    from slukh import pipeline
    mv, n = pipeline.refresh_trends(_settings())
    console.print(f"{n} daily aggregate rows for {mv}")


Send = Annotated[bool, typer.Option("--send", help="Also deliver by the channels configured in "
                                    "routing.yaml and the environment (SMTP, Telegram, webhooks, outbox).")]


@app.command()
def alerts(day: Day = None, send: Send = False) -> None:
    """Detect complaint spikes for a day and record them as alerts; --send delivers new ones."""
    from slukh import pipeline
    d, found = pipeline.detect_alerts(_settings(), _day(day))
    _print_spikes(d, found)
    if send:
        _print_delivery(pipeline.send_alerts(_settings()))


def _print_delivery(rep) -> None:  # noqa: ANN001 — warehouse.delivery.DeliveryReport
    console.print(f"delivered {len(rep.sent)}, already sent before {rep.skipped}, failed {len(rep.failed)}")
    for item, channel, recipient, err in rep.failed:
        console.print(f"[yellow]not delivered[/] {item} via {channel} to {recipient}: {err}")


def _print_spikes(d: date, found: list) -> None:
    if not found:
        console.print(f"no spikes on {d}")
    for s in found:
        console.print(f"[bold red]spike[/] {d} {s.brand} / {s.root_cause}: {s.observed} complaints vs "
                      f"{s.expected:.1f} usual (×{s.ratio:.1f}, p={s.p_value:.1e}, severity {s.severity}/10)")


@app.command()
def digest(day: Day = None, send: Send = False) -> None:
    """Write the daily digest (HTML, text, chart) into the outbox folder; --send e-mails it."""
    from slukh import pipeline
    files = pipeline.digest(_settings(), _day(day))
    console.print(f"digest: {files.html}\n        {files.text}")
    if send:
        _print_delivery(pipeline.send_digest(_settings(), files, _day(day) or _digest_day(files)))


def _digest_day(files) -> date:  # noqa: ANN001
    return date.fromisoformat(files.html.stem.removeprefix("digest-"))


@app.command()
def query(sql: Annotated[str, typer.Argument(help="SQL to run read-only, e.g. \"select count(*) from mentions\".")],
          fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table") -> None:
    """Run read-only SQL against the warehouse (tables and the documented v_* views)."""
    from slukh.query import run_query
    run_query(_settings(), sql, fmt, out)


@app.command()
def run(site: Site = None, day: Day = None,
        fast: Annotated[bool, typer.Option(help="No politeness delay (local mock sites only).")] = False) -> None:
    """crawl → load → classify → trends → alerts → digest, once."""
    from slukh.runner import run_all
    run_all(_settings(), site=site, day=_day(day), fast=fast, console=console)


@app.command()
def demo(port: Annotated[int, typer.Option(help="Port of the local demo site (0 = any free port).")] = 0) -> None:
    """Serve the bundled demo review site on 127.0.0.1 and run the whole pipeline on it."""
    from slukh.runner import run_demo
    run_demo(_settings(), port=port, console=console)


@app.command()
def train(data: Annotated[Path, typer.Option(help="Folder with the labelled sentiment sets.")] = Path("../shared/data/sentiment"),
          out_dir: Annotated[Path, typer.Option("--out", help="Where to write the trained head.")] = Path("nlp/models/sentiment-head-v1"),
          encoder: Annotated[str, typer.Option(help="'default' (bundled e5-small) or a hub id / local path.")] = "default",
          seed: int = 0) -> None:
    """Train the sentiment head on frozen encoder embeddings; writes weights + model card."""
    from nlp.train import train_sentiment
    metrics = train_sentiment(data, out_dir, encoder=encoder, seed=seed)
    console.print(metrics)


airflow_app = typer.Typer(help="A project-local Airflow on 127.0.0.1 (api-server, scheduler, "
                                "dag-processor; never `airflow standalone`).", no_args_is_help=True)
app.add_typer(airflow_app, name="airflow")


@airflow_app.command("start")
def airflow_start(port: Annotated[int, typer.Option(help="api-server port on 127.0.0.1.")] = 8080,
                  profile: Annotated[str, typer.Option(help="local (SQLite, LocalExecutor) or celery "
                                                       "(PostgreSQL + Redis, two workers).")] = "local",
                  detach: Annotated[bool, typer.Option(help="Return at once; stop with `slukh airflow stop`.")] = False) -> None:
    """Start Airflow for this project and print the UI address and the admin login.

    In the foreground (default) Ctrl-C stops every Airflow process cleanly.
    """
    from slukh.airflow_local import start
    if profile not in ("local", "celery"):
        _fail(f"unknown profile {profile!r}: use local or celery", 2)
    start(_settings().home, port=port, profile=profile, wait=not detach)  # type: ignore[arg-type]


@airflow_app.command("stop")
def airflow_stop() -> None:
    """Stop the Airflow started by `slukh airflow start` (its whole process group)."""
    from slukh.airflow_local import stop
    stopped = stop(_settings().home)
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@airflow_app.command("status")
def airflow_status() -> None:
    """Is the project's Airflow running, where, and are its parts healthy?"""
    import json as _json
    from slukh.airflow_local import status
    out.print_json(_json.dumps(status(_settings().home), default=str))


@app.command()
def dictionary(out_file: Annotated[Optional[Path], typer.Option("--out", help="Write to this file instead of printing.")] = None) -> None:
    """Print the data dictionary (tables, views, columns, comments) from the live schema."""
    from slukh import pipeline
    from warehouse.export import data_dictionary
    with pipeline.warehouse(_settings()) as con:
        text = data_dictionary(con)
    if out_file:
        out_file.write_text(text, encoding="utf-8")
        console.print(f"wrote {out_file}")
    else:
        print(text)


@app.command()
def export(out_dir: Annotated[Path, typer.Option("--out", help="Folder for the Parquet files.")] = Path("var/export")) -> None:
    """Export the analyst views to Parquet, partitioned by day and brand."""
    from slukh import pipeline
    from warehouse.export import export_parquet
    with pipeline.warehouse(_settings(), read_only=True) as con:
        for view, path in export_parquet(con, out_dir).items():
            console.print(f"{view:20s} → {path}")


@app.command()
def migrate() -> None:
    """Create or upgrade the warehouse schema in place."""
    from slukh import pipeline
    from warehouse.migrate import current_version
    with pipeline.warehouse(_settings()) as con:
        console.print(f"{_settings().db_path}: schema version {current_version(con)}")


def main() -> None:
    from slukh.errors import friendly
    try:
        app()
    except Exception as err:  # noqa: BLE001 — turn known errors into one actionable line
        msg = friendly(err)
        if msg is None:
            raise
        console.print(f"[bold red]error:[/] {msg}")
        sys.exit(1)


if __name__ == "__main__":
    main()
