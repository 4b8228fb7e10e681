"""Run one crawl in its own process and always leave a crawl-run record behind.

Two halves:

* ``python -m spiders.run --source banki_ru --target <code> --brand <id> --home <dir>``
  is the child: one CrawlerProcess, one spider, then ``<home>/runs/<run_id>.json``.
* :func:`run_crawl` is the parent (Airflow task, CLI): starts that child, waits, and
  writes a ``failed`` record itself when the child died or hung without writing one.

A subprocess per crawl because Twisted's reactor cannot be restarted in one process.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import signal
import subprocess
import sys
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Any

from spiders.runrecord import (
    RunRecord,
    decide_status,
    new_run_id,
    read_record,
    record_path,
    utc_iso,
    write_record,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXIT_CODES = {"ok": 0, "failed": 1, "blocked": 3}


@functools.lru_cache(maxsize=1)
def _loader() -> Any:
    from scrapy.settings import Settings
    from scrapy.spiderloader import SpiderLoader

    settings = Settings()
    settings.setmodule("spiders.settings", priority="project")
    return SpiderLoader.from_settings(settings)


def spider_names() -> list[str]:
    """Every source id: each spider module in spiders/sources registers itself by name."""
    return sorted(_loader().list())


def _spider_class(source: str) -> Any:
    return _loader().load(source)


def _parse_set(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` → settings; VALUE is read as JSON when it parses (0, true, [1,2])."""
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            result[key] = json.loads(raw)
        except json.JSONDecodeError:
            result[key] = raw
    return result


def crawl_once(
    source: str,
    target: str,
    brand: str,
    home: Path,
    run_id: str,
    *,
    base_url: str | None = None,
    max_pages: int | None = None,
    overrides: dict[str, Any] | None = None,
    spider_kwargs: dict[str, Any] | None = None,
) -> RunRecord:
    """Run the crawl in this process (blocks; once per process) and write its record."""
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    started = utc_iso()
    target_id = f"{source}:{target}"
    settings = Settings()
    settings.setmodule("spiders.settings", priority="project")
    for key, value in (overrides or {}).items():
        settings.set(key, value, priority="cmdline")
    settings.set("SLUKH_HOME", str(home), priority="cmdline")
    settings.set("SLUKH_RUN_ID", run_id, priority="cmdline")
    spider_args: dict[str, Any] = {"target": target, "brand": brand}
    if base_url:
        spider_args["base_url"] = base_url
    if max_pages:
        spider_args["max_pages"] = max_pages
    spider_args.update(spider_kwargs or {})

    record = RunRecord(run_id, source, target_id, brand, started, None, "failed", 0, 0, "", None)
    try:
        process = CrawlerProcess(settings)
        crawler = process.create_crawler(_spider_class(source))
        process.crawl(crawler, **spider_args)
        process.start()
        spider = crawler.spider
        if spider is None:
            raise RuntimeError("the spider was never created; see the log above")
        stats = crawler.stats.get_stats() if crawler.stats else {}
        errors = list(getattr(spider, "errors", []))
        for key, what in (("slukh/invalid_items", "items failed validation"),
                          ("spider_exceptions/count", "spider exceptions (bugs; see log)")):
            if stats.get(key):
                errors.append(f"{stats[key]} {what}")
        items = int(stats.get("slukh/items_written") or 0)
        scraped = int(stats.get("item_scraped_count") or 0)
        if scraped > items:   # the batch file could not be written whole: never report "ok"
            errors.insert(0, f"{scraped} items were collected but only {items} written to the "
                             f"batch file; see the crawl log (disk full? staging not writable?)")
            spider.errors.insert(0, errors[0])
        record.batch_path = stats.get("slukh/batch_path")
        record.items = items
        record.errors = len(getattr(spider, "errors", [])) + int(
            stats.get("slukh/invalid_items") or 0
        ) + int(stats.get("spider_exceptions/count") or 0)
        record.status, record.message = decide_status(
            source=source,
            target=target,
            blocked_reason=getattr(spider, "blocked_reason", None),
            finish_reason=stats.get("finish_reason"),
            pages_parsed=int(getattr(spider, "pages_parsed", 0)),
            items=items,
            errors=errors,
            batch_path=record.batch_path,
        )
    except Exception as exc:  # the record must say why, whatever broke
        record.status = "failed"
        record.errors = max(record.errors, 1)
        record.message = f"the crawl of {target} crashed: {type(exc).__name__}: {exc}"
        raise
    finally:
        record.finished_at = utc_iso()
        write_record(home, record)
    return record


def run_crawl(
    source: str,
    target: str,
    brand: str,
    home: str | Path,
    *,
    base_url: str | None = None,
    settings: dict[str, Any] | None = None,
    run_id: str | None = None,
    timeout: float = 1800,
    spider_args: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Crawl ``target`` in a subprocess and return its crawl-run record (also on disk).

    Never raises for a crawl that went wrong: that is a ``failed``/``blocked`` record.
    The child's log goes to ``<home>/logs/<run_id>.log``. On timeout the child gets
    SIGTERM (Scrapy then closes cleanly and writes its own record), then SIGKILL.
    """
    if source not in spider_names():
        raise ValueError(f"unknown source {source!r}; known: {', '.join(spider_names())}")
    home = Path(home).resolve()
    run_id = run_id or new_run_id(source, target)
    if record_path(home, run_id).exists():
        raise FileExistsError(f"run id {run_id} was already used: {record_path(home, run_id)}")
    log_path = home / "logs" / f"{run_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "spiders.run", "--source", source, "--target", target,
           "--brand", brand, "--home", str(home), "--run-id", run_id]
    if base_url:
        cmd += ["--base-url", base_url]
    for key, value in (settings or {}).items():
        cmd += ["--set", f"{key}={json.dumps(value)}"]
    for key, value in (spider_args or {}).items():
        if value is not None:
            cmd += ["--arg", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))

    started = utc_iso()
    timed_out = False
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    record = read_record(home, run_id)
    if record is not None and record.get("finished_at"):
        if timed_out:  # the child shut down cleanly on SIGTERM; say why it was stopped
            if record.get("status") == "ok":
                record["status"] = "failed"
            record["message"] = f"timed out after {timeout:g}s and was stopped; {record['message']}"
            write_record(home, RunRecord(**record))  # type: ignore[arg-type]
        return record
    return _write_failed(source, target, brand, home, run_id, started, proc.returncode,
                         timed_out, timeout, log_path)


def _write_failed(
    source: str, target: str, brand: str, home: Path, run_id: str, started: str,
    returncode: int, timed_out: bool, timeout: float, log_path: Path,
) -> dict[str, Any]:
    """The child left no record: say how it ended and show the end of its log."""
    if timed_out:
        how = f"timed out after {timeout:g}s and was killed"
    elif returncode < 0:
        how = f"was killed by {signal.Signals(-returncode).name}"
    else:
        how = f"exited with code {returncode}"
    with open(log_path, encoding="utf-8", errors="replace") as fh:
        tail = [line.rstrip() for line in deque(fh, maxlen=5) if line.strip()]
    batch = home / "staging" / f"{run_id}.parquet"
    items = 0
    if batch.exists():  # renamed, hence complete, but the run as a whole did not finish
        import pyarrow.parquet as pq

        items = pq.ParquetFile(batch).metadata.num_rows
    record = RunRecord(
        run_id, source, f"{source}:{target}", brand, started, utc_iso(), "failed", items, 1,
        f"the crawl subprocess {how} without writing its run record; last log lines: "
        f"{' | '.join(tail) or '(empty)'}; full log: {log_path}",
        str(batch) if batch.exists() else None,
    )
    write_record(home, record)
    return asdict(record)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m spiders.run",
        description="Crawl one target of one source into <home>/staging/<run_id>.parquet and "
        "write the crawl-run record <home>/runs/<run_id>.json (status ok, blocked or failed). "
        "Meant to run as a subprocess (see spiders.run.run_crawl); one crawl per process.",
        epilog="Exit code: 0 ok, 3 blocked, 1 failed. Example: python -m spiders.run "
        "--source banki_ru --target zarya --brand zarya --home var --set DOWNLOAD_DELAY=2",
    )
    parser.add_argument("--source", required=True, choices=spider_names(), help="source id")
    parser.add_argument("--target", required=True, help="the source's code for the target, "
                        "e.g. the banki.ru bank code")
    parser.add_argument("--brand", required=True, help="brand id from brands.yaml")
    parser.add_argument("--home", required=True, type=Path, help="SLUKH_HOME: staging/, "
                        "runs/, secret_salt live here")
    parser.add_argument("--base-url", help="site root, e.g. a local demo site "
                        "(default: the real site)")
    parser.add_argument("--run-id", help="default: <source>-<target>-<UTC stamp>-<random>")
    parser.add_argument("--max-pages", type=int, help="stop after this many list pages")
    parser.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE",
                        help="spider argument, e.g. --arg since=2026-11-01T00:00:00 (the "
                        "target's cursor) or --arg horizon_days=0 (no first-crawl horizon)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a Scrapy setting (VALUE parsed as JSON when possible); "
                        "repeatable, e.g. --set DOWNLOAD_DELAY=0 --set HTTPCACHE_ENABLED=true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        overrides = _parse_set(args.set)
    except argparse.ArgumentTypeError as exc:
        build_parser().error(str(exc))
    run_id = args.run_id or new_run_id(args.source, args.target)
    record = crawl_once(args.source, args.target, args.brand, args.home.resolve(), run_id,
                        base_url=args.base_url, max_pages=args.max_pages, overrides=overrides,
                        spider_kwargs=dict(a.split("=", 1) for a in args.arg if "=" in a))
    print(json.dumps({"run_id": record.run_id, "status": record.status,
                      "items": record.items, "message": record.message}, ensure_ascii=False))
    return EXIT_CODES.get(record.status, 1)


if __name__ == "__main__":
    sys.exit(main())
