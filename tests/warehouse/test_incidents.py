"""Incidents from the warehouse: one incident is one alert, updated as it grows, explained."""
from datetime import date, datetime, timedelta

import duckdb
import numpy as np

from tests.warehouse.batches import review, write_batch
from tests.warehouse.test_digest import FakeLabel
from warehouse import labels, neardup, spikes, trends
from warehouse.incidents import explanation_lines, is_coordinated
from warehouse.load import load_staging
from warehouse.migrate import migrate

DAY = date(2026, 11, 20)                      # a Friday
SPIKE = datetime(2026, 11, 20, 11)            # UTC = 14:00 Moscow
NAMES = {"waiting_time": "Очереди и ожидание", "billing_charges": "Списания"}
WORDS = ("очередь", "окно", "касса", "оператор", "горячая линия", "талон", "отделение", "менеджер",
         "ожидание", "терминал", "приложение", "филиал", "карта", "вклад", "кредит", "перевод")


def _organic(i: int) -> str:
    """Texts that share no long character runs: every post picks its own words."""
    w = [WORDS[(i * k + k) % len(WORDS)] for k in (1, 3, 5, 7)]
    return f"{w[0]} {i} — {w[1]}, {i * 7919 % 1000} минут; {w[2]} и {w[3]} ({i * 31 % 97})"


class Warehouse:
    def __init__(self, tmp_path):
        self.tmp, self.i, self.batch = tmp_path, 0, 0
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(tmp_path / "w.duckdb"))
        migrate(self.con)
        self.causes: dict[str, list[str]] = {}

    def add(self, when, n, causes=("waiting_time",), text=None, author=None):
        rows = []
        for _ in range(n):
            r = review(self.i, published=when, rating=1,
                       text=text or _organic(self.i))
            if author:
                r["author_hash"] = author(self.i)
            self.causes[r["source"] + ":" + r["external_id"]] = list(causes)
            rows.append(r)
            self.i += 1
        write_batch(self.tmp / "staging" / f"b{self.batch:03d}.parquet", rows)
        self.batch += 1

    def process(self):
        load_staging(self.con, self.tmp / "staging", self.tmp / "runs")
        neardup.assign(self.con)
        todo = labels.pending(self.con, "mv1")
        labels.write(self.con, "mv1", [(r[0], r[1]) for r in todo],
                     [FakeLabel("negative", 0.9, True, self.causes[r[0]]) for r in todo])
        trends.refresh(self.con, "mv1")
        found = spikes.detect(self.con, "mv1", DAY)
        spikes.save(self.con, "mv1", found)
        return found


def _history(w, weeks=6, author=None):
    start = SPIKE - timedelta(days=7 * weeks)
    for d in range(7 * weeks):
        w.add(start + timedelta(days=d), 1, author=author)          # one complaint a day at 14:00


def test_one_incident_is_one_alert_that_grows(tmp_path):
    w = Warehouse(tmp_path)
    _history(w)
    w.add(SPIKE, 12)
    [first] = w.process()
    assert first.brand == "zarya" and first.root_cause == "waiting_time"
    assert [d.series for d in first.drivers] == ["waiting_time", "_all"]   # _all joins, not a 2nd alert
    assert first.observed == 12 and 0.5 < first.expected < 2 and first.day == DAY
    w.add(SPIKE + timedelta(hours=1), 20)
    w.add(SPIKE + timedelta(hours=1), 9, causes=("billing_charges",), text=None)
    [grown] = w.process()
    assert grown.alert_id == first.alert_id
    assert {d.series for d in grown.drivers} == {"waiting_time", "billing_charges", "_all"}
    rows = w.con.execute("SELECT alert_id, root_cause, observed, status FROM alerts").fetchall()
    assert rows == [(first.alert_id, "waiting_time", 32, "new")]
    inc = w.con.execute("SELECT updates, anomalous_hours, last_hour FROM incidents").fetchone()
    assert inc == (1, 2, SPIKE + timedelta(hours=1))
    w.process()                                                       # re-run: nothing new
    assert w.con.execute("SELECT count(*), max(updates) FROM incidents").fetchone() == (1, 1)
    assert w.con.execute("SELECT count(*) FROM alerts").fetchone()[0] == 1


def test_explanation_names_causes_usual_hour_sources_and_posts(tmp_path):
    w = Warehouse(tmp_path)
    _history(w)
    w.add(SPIKE, 12)
    [inc] = w.process()
    lines = explanation_lines(w.con, inc.alert_id, NAMES)
    assert lines[0].startswith("Очереди и ожидание: ×12.")
    assert "к обычному для пятницы 14:00 МСК (12 жалоб за час при норме 1.0" in lines[0]
    assert lines[1].startswith("все негативные упоминания: ×12.")
    assert "Источники: banki_ru 100% (обычно 100%)" in lines
    assert len(inc.evidence) == 5
    assert w.con.execute("SELECT explanation FROM incidents").fetchone()[0].startswith("waiting_time: ×12.")


def test_coordinated_wave_is_flagged_and_an_organic_one_is_not(tmp_path):
    regulars = lambda i: f"regular-{i % 12}"        # noqa: E731 — 12 known customers
    organic = Warehouse(tmp_path / "organic")
    _history(organic, author=regulars)
    organic.add(SPIKE, 12, author=regulars)
    [o] = organic.process()
    assert not o.coordinated and o.near_dup_share == 0 and o.new_author_share == 0
    assert "Признаков скоординированной волны нет" in explanation_lines(organic.con, o.alert_id)[-1]

    bots = Warehouse(tmp_path / "bots")
    _history(bots, author=regulars)
    bots.add(SPIKE, 12, text="Заря Банк худший банк! Очереди по три часа, уходите все в другой банк!!!",
             author=lambda i: f"bot-{i}")
    [b] = bots.process()
    assert b.coordinated and b.near_dup_share == 1.0 and b.new_author_share == 1.0
    assert explanation_lines(bots.con, b.alert_id)[-1].startswith("Похоже на скоординированную волну: 100%")


def test_coordinated_rule():
    assert not is_coordinated(4, 1.0, 1.0)              # too few posts to say
    assert is_coordinated(10, 0.5, 0.0)
    assert is_coordinated(10, 0.25, 0.8) and not is_coordinated(10, 0.25, 0.3)
    assert not is_coordinated(10, 0.0, 1.0)             # new authors alone are not a wave


def _two_bursts_three_days_apart(w, p):
    start = SPIKE - timedelta(days=42)
    for d in range(0, 42, 2):
        w.add(start + timedelta(days=d), 1)              # a small brand: a complaint every 2 days
    tuesday = SPIKE - timedelta(days=3)
    w.add(tuesday, 12)
    w.process()                                          # load, label, aggregate
    spikes.save(w.con, "mv1", spikes.detect(w.con, "mv1", DAY - timedelta(days=3), params=p), params=p)
    w.add(SPIKE, 12)
    load_staging(w.con, w.tmp / "staging", w.tmp / "runs")
    todo = labels.pending(w.con, "mv1")
    labels.write(w.con, "mv1", [(r[0], r[1]) for r in todo],
                 [FakeLabel("negative", 0.9, True, w.causes[r[0]]) for r in todo])
    trends.refresh(w.con, "mv1")
    spikes.save(w.con, "mv1", spikes.detect(w.con, "mv1", DAY, params=p), params=p)
    return w.con.execute("SELECT started_at, last_hour FROM incidents ORDER BY 1").fetchall()


def test_a_small_brands_wave_longer_than_the_replay_stays_one_incident(tmp_path):
    # Tuesday's burst and Friday's are 72 hours apart, more than the 48 hours each day's
    # detection replays; the brand expected ~1.5 mentions in between, under the 3 that
    # close an incident, so a full replay sees one incident, and the warehouse must too
    rows = _two_bursts_three_days_apart(Warehouse(tmp_path / "a"), spikes.DEFAULT)
    assert rows == [(SPIKE - timedelta(days=3), SPIKE)]
    # closing on hours alone (the old rule), the two bursts are two incidents
    hours_only = spikes.Params(cooldown_expected=0.0)
    assert len(_two_bursts_three_days_apart(Warehouse(tmp_path / "b"), hours_only)) == 2


def test_open_since_matches_the_cooldown_of_incidents():
    rng = np.random.default_rng(3)
    for _ in range(20):
        expected = rng.gamma(0.5, 0.4, 120)
        s = int(rng.integers(30, 120))
        since = spikes.open_since(expected, s)
        for last, joined in ((since, True), (since - 1, False)):
            if last < 0:
                continue
            a = np.zeros((1, 120), dtype=bool)
            a[0, [last, s]] = True
            found = spikes.incidents(a, a.copy(), np.array([0]), expected=expected[None, :])
            assert (len(found) == 1) == joined, (s, last, since)
