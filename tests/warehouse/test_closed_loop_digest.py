"""The daily digest carries the closed loop of each brand: recent actions and their verdicts."""
from datetime import date, datetime, timedelta

from tests.warehouse.batches import labelled_warehouse, review
from tests.warehouse.test_digest import FakeLabel
from warehouse.actions import add_action
from warehouse.digest import write_digest


def _warehouse(tmp_path):
    """zarya: one waiting_time complaint a day 10-22..11-19, fifteen on 11-20 (no spike run)."""
    end = datetime(2026, 11, 20, 9)
    rows = [review(i, published=end - timedelta(days=29 - i), rating=1) for i in range(29)]
    rows += [review(100 + i, published=end, rating=1) for i in range(15)]
    return labelled_warehouse(tmp_path, rows, FakeLabel("negative", 0.9, True, ["waiting_time"]))


def test_digest_shows_each_action_with_rates_and_verdict(tmp_path):
    con = _warehouse(tmp_path)
    add_action(con, brand="zarya", root_cause="waiting_time", department="operations",
               action_date=date(2026, 11, 1), description="Второе окно <i>кассы</i>")
    files = write_digest(con, "mv1", date(2026, 11, 20), tmp_path / "outbox",
                         brand_names={"zarya": "Заря Банк"}, cause_names={"waiting_time": "Очереди"})
    text = files.text.read_text(encoding="utf-8")
    html = files.html.read_text(encoding="utf-8")
    # before 10-22..10-31: 10 of 10 mentions; after 11-02..11-20: 33 of 33; window ends 11-29.
    assert ("Меры и результат (доля жалоб по причине, 28 дней до → после):\n"
            " - Очереди [operations], 01.11.2026 «Второе окно <i>кассы</i>»: 100.0% → 100.0% (+0%), "
            "рано судить (до 29.11)\n") in text
    assert "Меры и результат" in html and "рано судить (до 29.11)" in html
    assert "Второе окно &lt;i&gt;кассы&lt;/i&gt;" in html and "<i>кассы" not in html


def test_digest_without_actions_has_no_loop_section(tmp_path):
    files = write_digest(_warehouse(tmp_path), "mv1", date(2026, 11, 20), tmp_path / "outbox")
    assert "Меры и результат" not in files.text.read_text(encoding="utf-8")
    assert "Меры и результат" not in files.html.read_text(encoding="utf-8")
