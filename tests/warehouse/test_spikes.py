"""spikes.detect / spikes.save on hourly aggregates written directly (no labels needed)."""
from datetime import date, datetime, timedelta

import duckdb

from warehouse.migrate import migrate
from warehouse.spikes import detect, save

END = date(2026, 11, 20)
SPIKE = datetime(2026, 11, 20, 9)          # UTC


def _hourly(con, brand, cause, counts: dict[datetime, int]):
    for hour, n in counts.items():
        con.execute("""INSERT INTO hourly_aggregates VALUES
                       (?, ?, 'banki_ru', ?, 'mv', ?, ?, 0, ?, 0, 0)""", [hour, brand, cause, n, n, n])


def _quiet(days=40, per_day=(1, 0, 2, 1, 0, 1, 3, 1, 0, 2)):
    return {SPIKE - timedelta(days=d): per_day[d % len(per_day)] for d in range(1, days + 1)}


def test_detects_the_planted_spike_and_nothing_else():
    con = duckdb.connect()
    migrate(con)
    _hourly(con, "zarya", "waiting_time", {**_quiet(), SPIKE: 13})
    _hourly(con, "zarya", "_all", {**{h: n + 2 for h, n in _quiet().items()}, SPIKE: 16})
    _hourly(con, "polyus", "waiting_time", {**_quiet(), SPIKE: 2})
    _hourly(con, "polyus", "_all", {**{h: n + 3 for h, n in _quiet().items()}, SPIKE: 5})
    [inc] = detect(con, "mv", END)
    assert (inc.brand, inc.root_cause, inc.observed) == ("zarya", "waiting_time", 13)
    assert [d.series for d in inc.drivers] == ["waiting_time", "_all"]
    assert 0.2 < inc.expected < 2.5 and inc.ratio > 5 and inc.p_value < 1e-6
    assert 1 <= inc.severity <= 10 and inc.day == END
    assert save(con, "mv", [inc]) == 1
    save(con, "mv", detect(con, "mv", END))          # re-run updates, never duplicates
    assert con.execute("SELECT count(*), max(rule) FROM alerts").fetchone() == (1, "hourly_spike_nb")
    assert con.execute("SELECT alert_id FROM alerts").fetchone()[0] == inc.alert_id


def test_small_counts_do_not_alert():
    con = duckdb.connect()
    migrate(con)
    _hourly(con, "zarya", "_all", {**{h: 0 for h in _quiet()}, SPIKE - timedelta(days=41): 1, SPIKE: 4})
    _hourly(con, "zarya", "pricing_fees", {SPIKE: 4})
    assert detect(con, "mv", END) == []               # below the minimum volume


def test_a_day_without_data_has_no_incidents():
    con = duckdb.connect()
    migrate(con)
    assert detect(con, "mv", END) == []
    _hourly(con, "zarya", "_all", _quiet())
    assert detect(con, "mv", END + timedelta(days=3)) == []
