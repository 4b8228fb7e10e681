"""Parsed items per second per source, on saved pages (no network, no Scrapy engine).

Uses the real pages in ../shared/fixtures when present, else the project's own fixtures in
tests/fixtures. Each parser runs on its page for about `--seconds` and the best of three
rounds is reported. Usage: python bench/bench_parsers.py [--seconds 1.0]
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "fixtures"
OWN = ROOT / "tests" / "fixtures"


def _pick(shared: str, own: str) -> Path | None:
    for p in (SHARED / shared, OWN / own):
        if p.exists():
            return p
    return None


def cases() -> list[tuple[str, Path | None, Callable[[bytes], int]]]:
    from spiders.parsers import banki
    kw = {"brand": "b", "target_id": "banki_ru:b"}
    out: list[tuple[str, Path | None, Callable[[bytes], int]]] = [
        ("banki_ru ajax", _pick("banki_ru/esg_bank_responses_ajax_unicreditbank_p1.json",
                                "banki_ru/ajax_list_p1.json"),
         lambda b: len(banki.parse_ajax_list(b, base_url="https://www.banki.ru", **kw)[0])),
        ("banki_ru JSON-LD", _pick("banki_ru/esg_insurance_responses_alfastrahovanie.html",
                                   "banki_ru/jsonld_2023_list.html"),
         lambda b: len(banki.parse_jsonld_reviews(b, page_url="https://www.banki.ru/x/", **kw))),
    ]
    try:
        from bench import bench_parsers_more
        out += bench_parsers_more.cases(_pick)
    except ImportError:
        pass
    return out


def measure(fn: Callable[[bytes], int], body: bytes, seconds: float) -> tuple[int, float]:
    items = fn(body)
    best = 0.0
    for _ in range(3):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 3:
            fn(body)
            n += 1
        best = max(best, n * items / (time.perf_counter() - t0))
    return items, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=1.0)
    args = ap.parse_args()
    print(f"{'source':24s} {'page':60s} {'items':>6s} {'items/s':>10s}")
    for name, path, fn in cases():
        if path is None:
            print(f"{name:24s} (no saved page)")
            continue
        items, rate = measure(fn, path.read_bytes(), args.seconds)
        where = str(path.relative_to(path.parents[2]))
        print(f"{name:24s} {where:60s} {items:6d} {rate:10.0f}")


if __name__ == "__main__":
    main()
