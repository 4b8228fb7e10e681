"""Crawl throughput against the local demo site: Slukh's crawl vs a bare Scrapy spider.

Both run as subprocesses with one request at a time per domain and no delay, against the
same DemoSite on 127.0.0.1, for every demo bank; the figure is items per second of wall
time including process start. Usage: python bench/bench_crawl.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slukh.demo_site import DemoSite  # noqa: E402
from spiders.run import run_crawl  # noqa: E402

FAST = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False}
BANKS = ("severny", "zarya", "polyus")


def ours(base: str) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as home:
        t0 = time.perf_counter()
        items = sum(run_crawl("banki_ru", b, b, home, base_url=base, settings=FAST,
                              spider_args={"horizon_days": 0})["items"] for b in BANKS)
        return items, time.perf_counter() - t0


def bare(base: str) -> tuple[int, float]:
    t0 = time.perf_counter()
    items = 0
    for b in BANKS:
        out = subprocess.run([sys.executable, str(ROOT / "bench" / "bare_banki_spider.py"), base, b],
                             capture_output=True, text=True, check=True)
        items += json.loads(out.stdout.strip().splitlines()[-1])["items"]
    return items, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rates: dict[str, list[float]] = {"slukh": [], "bare scrapy": []}
    with DemoSite() as site:
        for _ in range(args.repeat):
            for name, fn in (("slukh", ours), ("bare scrapy", bare)):
                n, s = fn(site.base_url)
                rates[name].append(n / s)
                print(f"{name:12s} {n} items in {s:.2f} s = {n / s:.0f} items/s", flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"\nmedian of {args.repeat}: slukh {med['slukh']:.0f} items/s, bare scrapy "
          f"{med['bare scrapy']:.0f} items/s, ratio slukh/bare = {med['slukh'] / med['bare scrapy']:.2f}")


if __name__ == "__main__":
    main()
