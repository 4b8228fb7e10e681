from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from tests.warehouse.batches import labelled_warehouse, review
from warehouse import labels, spikes
from warehouse.digest import write_digest


@dataclass
class FakeLabel:
    sentiment: str
    sentiment_score: float
    is_complaint: bool
    root_causes: list[str] = field(default_factory=list)
    root_cause_scores: dict = field(default_factory=dict)
    journey_stage: str | None = None


def _warehouse(tmp_path):
    end = datetime(2026, 11, 20, 9)
    rows, i = [], 0
    for d in range(30):
        day = end - timedelta(days=29 - d)
        n = 14 if d == 29 else 1
        for _ in range(n):
            rows.append(review(i, published=day, text=f"Очередь два часа, окно одно. #{i}", rating=1))
            i += 1
    rows.append(review(i, published=end, rating=1,
                       text="<script>alert('x')</script> Очередь огромная, никто не помог."))
    label = FakeLabel("negative", 0.9, True, ["waiting_time"], {"waiting_time": 1.0})
    con = labelled_warehouse(tmp_path, rows, label)
    spikes.save(con, "mv1", spikes.detect(con, "mv1", date(2026, 11, 20)))
    return con


def test_digest_names_the_spike_and_escapes_scraped_html(tmp_path):
    con = _warehouse(tmp_path)
    files = write_digest(con, "mv1", date(2026, 11, 20), tmp_path / "outbox",
                         brand_names={"zarya": "Заря Банк"}, cause_names={"waiting_time": "Очереди и ожидание"})
    html = files.html.read_text(encoding="utf-8")
    text = files.text.read_text(encoding="utf-8")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "Всплеск" in html and "Очереди и ожидание" in html
    assert "== Заря Банк ==" in text
    assert "<script>alert('x')</script> Очередь огромная" in text   # plain text stays verbatim
    assert "Упоминаний: 15 (обычно 1.0), жалоб: 15 (обычно 1.0), средняя оценка 1.0" in text
    assert "!! ВСПЛЕСК" in text and "Очереди и ожидание: 15 жалоб при норме 1.0 (×14.9)" in text
    assert files.chart is not None and files.chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f'src="{files.chart.name}"' in html


def test_labels_of_another_model_version_stay_queryable(tmp_path):
    con = _warehouse(tmp_path)
    todo = labels.pending(con, "mv2")
    assert len(todo) == con.execute("SELECT count(*) FROM mentions").fetchone()[0]
    labels.write(con, "mv2", [(r[0], r[1]) for r in todo], [FakeLabel("neutral", 0.5, False)] * len(todo))
    assert labels.pending(con, "mv2") == [] and labels.pending(con, "mv1") == []
    assert dict(con.execute("SELECT model_version, count(*) FROM labels GROUP BY 1").fetchall()) == {
        "mv1": len(todo), "mv2": len(todo)}
