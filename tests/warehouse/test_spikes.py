import math
from datetime import date, timedelta

import duckdb
import pytest

from warehouse.migrate import migrate
from warehouse.spikes import detect, poisson_sf, robust_baseline, save, severity


@pytest.mark.parametrize("k,lam,expected", [
    (0, 3.0, 1.0),
    (1, 0.5, 1 - math.exp(-0.5)),
    (6, 2.0, 0.016563608480614),
    (13, 1.0, 6.3597773e-11),
    (3, 3.0, 0.57680991887),
])
def test_poisson_upper_tail(k, lam, expected):
    assert poisson_sf(k, lam) == pytest.approx(expected, rel=1e-6)


def test_poisson_tail_stays_positive_far_out():
    assert 0 < poisson_sf(60, 1.0) < 1e-70


@pytest.mark.parametrize("counts,expected", [
    ([], 0.5),
    ([0] * 28, 0.5),
    ([2] * 28, 2.0),
    ([1] * 25 + [15, 14, 13], 1.0),                       # a past incident is winsorised away
    ([0, 4] * 14, 2.0),                                   # alternating days: the mean, not the median 2
])
def test_robust_baseline(counts, expected):
    assert robust_baseline(counts) == pytest.approx(expected)


def test_severity_grows_with_ratio_and_surprise():
    assert severity(1.0, 0.5) == 1
    assert severity(3.0, 1e-4) < severity(13.0, 6e-11) <= 10


def _aggregates(con, series: dict[tuple[str, str], list[int]], end: date):
    for (brand, cause), counts in series.items():
        for i, n in enumerate(counts):
            day = end - timedelta(days=len(counts) - 1 - i)
            con.execute("INSERT INTO daily_aggregates VALUES (?, ?, ?, 'mv', ?, ?, 0, ?, NULL)",
                        [day, brand, cause, n, n, n])


def test_detects_the_planted_spike_and_nothing_else():
    con = duckdb.connect()
    migrate(con)
    end = date(2026, 11, 20)
    quiet = [1, 0, 2, 1, 0, 1, 3, 1, 0, 2] * 4
    _aggregates(con, {("zarya", "waiting_time"): quiet[:-1] + [13],
                      ("zarya", "_all"): [c + 2 for c in quiet[:-1]] + [16],
                      ("polyus", "waiting_time"): quiet,
                      ("polyus", "_all"): [c + 3 for c in quiet]}, end)
    found = detect(con, "mv", end)
    assert [(s.brand, s.root_cause, s.observed) for s in found] == [
        ("zarya", "_all", 16), ("zarya", "waiting_time", 13)]
    wt = found[1]
    assert wt.expected == pytest.approx(1.0) and wt.ratio == pytest.approx(13.0)
    assert save(con, "mv", found) == 2
    save(con, "mv", found)                            # re-run updates, never duplicates
    assert con.execute("SELECT count(*) FROM alerts").fetchone()[0] == 2


def test_small_counts_do_not_alert():
    con = duckdb.connect()
    migrate(con)
    _aggregates(con, {("zarya", "fees"): [0] * 27 + [4]}, date(2026, 11, 20))
    assert detect(con, "mv", date(2026, 11, 20)) == []   # below the minimum volume
