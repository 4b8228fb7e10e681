"""Benchmark: the spike detector's backtest over the settings BENCHMARKS.md quotes.

    .venv/bin/python -m bench.bench_backtest [--seed 7] [--detector PATH] [--volumes]

For each setting (default volume and noise, volume only, a spike focused on one cause, 5×
spikes, milder noise, 2,000 to 20,000 negatives a day), one synthetic year of 20 brands is
replayed through ``warehouse.backtest.run``. It prints detection, detection within 1 hour,
false alarms per brand-month (with spikes, and on the same year without them), and the two
bounds computed in the same run on the same spikes: the oracle, and the no-foresight bound.

``--detector PATH`` replays another version of ``warehouse/spikes.py`` (say, an old one from
``git show REV:warehouse/spikes.py > /tmp/spikes_old.py``) with its own defaults, so before
and after can be compared on the same data. ``--volumes`` prints the volume sweep instead
(400 to 100,000 negatives a day). Figures are printed, not asserted. A run takes about
a minute on two cores.
"""
from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from warehouse import backtest, spikes

SETTINGS: list[tuple[str, dict]] = [
    ("400/day, 14 cause series (default)", {}),
    ("400/day, volume only", {"causes": 0}),
    ("400/day, spike focus 0.5", {"spike_focus": 0.5}),
    ("5x, 400/day", {"spike_size": 5.0}),
    ("400/day, milder noise", {"noise_size": 50.0, "day_shock": 0.10}),
    ("2,000/day", {"volume": 2000.0}),
    ("2,000/day, milder noise", {"volume": 2000.0, "noise_size": 50.0, "day_shock": 0.10}),
    ("5,000/day", {"volume": 5000.0}),
    ("20,000/day", {"volume": 20000.0}),
]
VOLUMES = [400.0, 1000.0, 2000.0, 5000.0, 20000.0, 100000.0]


def _detector(path: str | None):
    if not path:
        return spikes
    spec = importlib.util.spec_from_file_location("spikes_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["spikes_under_test"] = mod       # dataclasses look their module up
    spec.loader.exec_module(mod)
    if "expected" not in inspect.signature(mod.incidents).parameters:
        plain = mod.incidents                   # before session 9: closes on hours alone

        def incidents(*args, expected=None, **kw):   # noqa: ARG001
            return plain(*args, **kw)
        mod.incidents = incidents
    return mod


def _one(job: tuple[str, dict, int, str | None]) -> tuple[str, backtest.Result]:
    name, kw, seed, path = job
    det = _detector(path)
    backtest.spikes = det        # evaluate() calls score/alpha_shares/incidents through it
    return name, backtest.run(backtest.Config(seed=seed, **kw), det.DEFAULT)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=7, help="synthetic year (7: the hold-out)")
    ap.add_argument("--detector", help="another warehouse/spikes.py to replay instead")
    ap.add_argument("--volumes", action="store_true", help="the volume sweep instead")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    jobs = ([(f"{v:,.0f}/day", {"volume": v}, a.seed, a.detector) for v in VOLUMES]
            if a.volumes else [(n, kw, a.seed, a.detector) for n, kw in SETTINGS])
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.workers) as ex:
        results = list(ex.map(_one, jobs))
    print(f"detector: {a.detector or 'warehouse/spikes.py'}; seed {a.seed}; 20 brands × 365 days;"
          f" 3x spikes unless stated; {time.perf_counter() - t0:.0f} s")
    print("| setting | detected | within 1 h | false alarms / brand-month | same year without"
          " spikes | oracle | no-foresight bound |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results:
        print(f"| {name} | {r.detection_rate:.1%} | {r.within_1h_rate:.1%} "
              f"| {r.false_alarms_per_brand_month:.2f} | {r.quiet_false_alarms_per_brand_month:.2f} "
              f"| {r.oracle_within_1h:.1%} | {r.no_foresight_within_1h:.1%} |")


if __name__ == "__main__":
    main()
