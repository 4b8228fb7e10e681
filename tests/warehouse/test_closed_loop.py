"""The closed loop: did a cause's complaint rate fall after the owning department acted?

One brand, actions on 2026-10-01, windows of 28 days (09-03..09-30 and 10-02..10-29);
every count below is planted by hand and every verdict worked out by hand.
"""
import json
from datetime import date, datetime, timedelta

import duckdb
import pytest
from scipy.stats import norm
from typer.testing import CliRunner

from warehouse.actions import ActionRejected, add_action, list_actions, owner_of
from warehouse.channels.routing import load_routing
from warehouse.closed_loop import loop_lines
from warehouse.migrate import migrate

ACT = date(2026, 10, 1)
_n = 0


def plant(con, day, n, *, complaint=True, causes=(), sentiment=None, brand="zarya"):
    global _n
    for _ in range(n):
        _n += 1
        mid = f"banki_ru:{_n}"
        at = datetime.combine(day, datetime.min.time()) + timedelta(hours=9)
        con.execute("""INSERT INTO mentions VALUES (?, 'banki_ru', ?, NULL, ?, NULL, NULL, 'т', NULL,
                       ?, ?, ?, ?, NULL, '{}', 'b', 'b')""", [mid, str(_n), brand, at, at, at, f"h{_n}"])
        con.execute("INSERT INTO labels VALUES (?, 'mv1', ?, ?, 0.9, ?, ?, '{}', NULL, ?)",
                    [mid, f"h{_n}", sentiment or ("negative" if complaint else "positive"),
                     complaint, list(causes), at])


def d(month, day):
    return date(2026, month, day)


@pytest.fixture
def con():
    c = duckdb.connect()
    migrate(c)
    # before window (09-03..09-30): 100 mentions
    plant(c, d(9, 20), 25, causes=["waiting_time"])
    plant(c, d(9, 28), 5, causes=["waiting_time"])          # waiting_time: 30 / 100
    plant(c, d(9, 20), 5, causes=["pricing_fees"])          # pricing_fees:  5 / 100
    plant(c, d(9, 20), 2, causes=["staff_attitude"])        # staff:         2 / 100
    plant(c, d(9, 20), 63, complaint=False)
    plant(c, d(9, 2), 50, causes=["waiting_time"])          # before the window: ignored
    plant(c, ACT, 40, causes=["waiting_time"])              # the action day: in neither window
    # after window (10-02..10-29): 100 mentions
    plant(c, d(10, 10), 8, causes=["waiting_time"])
    plant(c, d(10, 5), 2, causes=["waiting_time"])          # waiting_time: 10 / 100
    plant(c, d(10, 10), 4, causes=["pricing_fees"])         # pricing_fees:  4 / 100
    plant(c, d(10, 10), 15, causes=["staff_attitude"])      # staff:        15 / 100
    plant(c, d(10, 10), 1, complaint=False, sentiment="neutral", causes=["waiting_time"])
    plant(c, d(10, 10), 70, complaint=False)
    plant(c, d(10, 30), 3, complaint=False)                 # newest day: the data reach 10-30
    for cause, dept, day in (("waiting_time", "operations", ACT), ("pricing_fees", "pricing", ACT),
                             ("staff_attitude", "hr", ACT), ("waiting_time", "operations", d(10, 20))):
        add_action(c, brand="zarya", root_cause=cause, department=dept, action_date=day,
                   description=f"мера против {cause}")
    add_action(c, brand="polyus", root_cause="waiting_time", department="operations",
               action_date=ACT, description="второе окно")
    return c


def _two_sided(z):
    return 2 * norm.sf(abs(z))


def test_verdicts_and_numbers(con):
    rows = {r[0]: r[1:] for r in con.execute(
        """SELECT action_id, model_version, mentions_before, complaints_before, rate_before,
                  mentions_after, complaints_after, rate_after, relative_change, z_score, p_value,
                  verdict, before_from, after_to, data_through
           FROM v_closed_loop ORDER BY action_id""").fetchall()}
    z1 = (0.1 - 0.3) / (0.2 * 0.8 * (2 / 100)) ** 0.5                   # -3.536
    assert rows[1][:8] == ("mv1", 100, 30, 0.3, 100, 10, 0.1, pytest.approx(-2 / 3))
    assert rows[1][8] == pytest.approx(z1) and rows[1][9] == pytest.approx(_two_sided(z1), abs=1e-6)
    assert rows[1][10:] == ("fell", d(9, 3), d(10, 29), d(10, 30))
    # 5 % -> 4 % is a drop, but not a meaningful one (p = 0.73): no credit for it.
    z2 = (0.04 - 0.05) / (0.045 * 0.955 * (2 / 100)) ** 0.5
    assert rows[2][1:8] == (100, 5, 0.05, 100, 4, 0.04, pytest.approx(-0.2))
    assert rows[2][9] == pytest.approx(_two_sided(z2), abs=1e-6) and rows[2][10] == "no change"
    z3 = (0.15 - 0.02) / (0.085 * 0.915 * (2 / 100)) ** 0.5
    assert rows[3][8] == pytest.approx(z3) and rows[3][9] < 0.01 and rows[3][10] == "rose"
    assert rows[4][10] == "too early"                  # its after window ends 11-17 > 10-30
    assert rows[5][:4] == (None, 0, 0, None) and rows[5][10] == "no data"   # polyus: silent


def test_window_and_cut_off_day_are_parameters(con):
    week = con.execute("""SELECT mentions_before, complaints_before, mentions_after, complaints_after,
                                 z_score, verdict
                          FROM closed_loop(window_days := 7) WHERE action_id = 1""").fetchone()
    assert week == (5, 5, 2, 2, None, "no change")     # 100 % either side: nothing to test
    early = con.execute("""SELECT data_through, mentions_after, verdict
                           FROM closed_loop(as_of := DATE '2026-10-15') WHERE action_id = 1""").fetchone()
    assert early == (d(10, 15), 100, "too early")


def test_loop_lines_for_the_digest(con):
    lines = loop_lines(con, "mv1", d(10, 30))
    assert [(x.action_id, x.verdict, x.verdict_ru) for x in lines if x.brand == "zarya"] == [
        (4, "too early", "рано судить"), (1, "fell", "снизилась"),
        (2, "no change", "без значимых изменений"), (3, "rose", "выросла")]
    assert [x.action_id for x in lines if x.brand == "polyus"] == [5]
    # Two months on, actions whose after window ended over 28 days ago drop out of the digest.
    assert [x.action_id for x in loop_lines(con, "mv1", d(12, 20))] == []
    assert len(loop_lines(con, "mv1", d(12, 20), recent_only=False)) == 5
    assert [x.action_id for x in loop_lines(con, "mv1", d(10, 15))] == [5, 1, 2, 3]   # 4 not yet


def test_owner_comes_from_routing_and_bad_actions_are_refused(con):
    routing = load_routing(known_causes=None)
    assert owner_of("waiting_time", routing) == "operations"
    assert owner_of("premises", routing) == "facilities"
    assert owner_of("waiting_time", routing, "cx") == "cx"
    with pytest.raises(ActionRejected, match="unknown department 'nobody'"):
        owner_of("waiting_time", routing, "nobody")
    with pytest.raises(ActionRejected, match="unknown root cause 'queues'"):
        add_action(con, brand="zarya", root_cause="queues", department="operations", action_date=ACT,
                   description="x", known_causes={"waiting_time"})
    with pytest.raises(ActionRejected, match="unknown brand 'zaria'"):
        add_action(con, brand="zaria", root_cause="waiting_time", department="operations",
                   action_date=ACT, description="x", known_brands={"zarya"})
    assert [a.action_id for a in list_actions(con, "polyus")] == [5]


def test_slukh_action_add_and_list(tmp_path):
    from slukh.cli import app
    from slukh.config import REPO_ROOT
    base = ["--home", str(tmp_path), "--brands", str(REPO_ROOT / "slukh/demo_brands.yaml"), "action"]
    r = CliRunner().invoke(app, [*base, "add", "zarya", "waiting_time", "--date", "2026-10-01",
                                 "-d", "Второе окно в отделении на Ленина"])
    assert r.exit_code == 0, r.output
    assert "action 1: zarya / waiting_time by operations from 2026-10-01" in r.output
    r = CliRunner().invoke(app, [*base, "add", "zarya", "no_such_cause", "--date", "2026-10-01", "-d", "x"])
    assert r.exit_code != 0
    r = CliRunner().invoke(app, [*base, "list", "--format", "json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert [(x["action_id"], x["department"], x["verdict"]) for x in got] == [(1, "operations", "too early")]
    assert (tmp_path / "slukh.snapshot.duckdb").exists()     # a write step publishes the snapshot
