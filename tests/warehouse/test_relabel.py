"""`slukh classify --relabel`: a second model version labels everything beside the first,
becomes active, and trends follow it; reposts are labelled once per run."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pytest

from slukh import pipeline
from slukh.config import Settings
from tests.warehouse.batches import review, write_batch
from warehouse.labels import active_model_version, distinct_texts
from warehouse.load import load_staging
from warehouse.migrate import migrate

A, B = "fake-a", "fake-b"


@dataclass
class FakeLabel:
    sentiment: str
    sentiment_score: float = 0.9
    is_complaint: bool = False
    root_causes: list[str] = field(default_factory=list)
    root_cause_scores: dict[str, float] = field(default_factory=dict)
    journey_stage: str | None = None


class FakeLabeller:
    """The Labeller interface (model_version, label(texts, ratings)) with chosen rules.

    Version A: every text with "очеред" is a waiting-time complaint, the rest neutral.
    Version B: A, except that "хам" makes staff_attitude a cause too and "спасибо" positive.
    """

    def __init__(self, version: str) -> None:
        self.model_version = version
        self.seen: list[str] = []
        self.reviews: list[bool] = []

    def label(self, texts, ratings=None, entities=None, reviews=None):
        self.seen += list(texts)
        self.reviews += list(reviews) if reviews is not None else [False] * len(texts)
        ratings = list(ratings) if ratings is not None else [None] * len(texts)
        return [self._one(t, r) for t, r in zip(texts, ratings, strict=True)]

    def _one(self, text: str, rating: int | None) -> FakeLabel:
        text = text.lower()
        causes = ["waiting_time"] if "очеред" in text else []
        sentiment = "negative" if causes else "neutral"
        if self.model_version == B:
            if "хам" in text:
                causes, sentiment = causes + ["staff_attitude"], "negative"
            if "спасибо" in text:
                sentiment, causes = "positive", []
        complaint = sentiment == "negative" or (rating is not None and rating <= 2)
        return FakeLabel(sentiment, is_complaint=complaint, root_causes=causes,
                         root_cause_scores={c: 0.9 for c in causes})


TEXTS = ["Очередь два часа, окно одно.", "Сотрудник хамил и очередь огромная.",
         "Спасибо, всё быстро.", "Обычный отзыв про вклад.", "Хамство на кассе."]


@pytest.fixture
def settings(tmp_path) -> Settings:
    return _loaded(tmp_path, [review(i, text=t, rating=None,
                                     published=datetime(2026, 11, 10, 9 + i))
                              for i, t in enumerate(TEXTS)])


def _loaded(tmp_path, rows) -> Settings:
    """Settings of a new warehouse in ``tmp_path`` holding ``rows`` (one loaded batch)."""
    write_batch(tmp_path / "staging" / "b1.parquet", rows)
    s = Settings(home=tmp_path, brands_file=tmp_path / "brands.yaml")
    con = duckdb.connect(str(s.db_path))
    migrate(con)
    load_staging(con, s.staging, s.runs)
    con.close()
    return s


def _q(s: Settings, sql: str, params=None):
    con = duckdb.connect(str(s.db_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_relabel_keeps_both_versions_and_switches_the_active_one(settings):
    rep_a = pipeline.classify(settings, labeller=FakeLabeller(A))
    assert (rep_a.model_version, rep_a.labelled, rep_a.pending_before, rep_a.activated) == (A, 5, 5, True)
    assert pipeline.classify(settings, labeller=FakeLabeller(A)).labelled == 0   # nothing pending
    assert pipeline.refresh_trends(settings)[0] == A

    lab_b = FakeLabeller(B)
    rep_b = pipeline.classify(settings, labeller=lab_b, relabel=True)
    assert (rep_b.labelled, rep_b.activated, rep_b.relabel) == (5, True, True)
    assert len(lab_b.seen) == 5
    assert dict(_q(settings, "SELECT model_version, count(*) FROM labels GROUP BY 1")) == {A: 5, B: 5}
    assert _q(settings, "SELECT DISTINCT model_version FROM v_labels_active") == [(B,)]
    assert _q(settings, "SELECT model_version, is_active, labelled, complaints FROM v_label_versions "
                        "ORDER BY 1") == [(A, False, 5, 2), (B, True, 5, 3)]

    diff = _q(settings, """SELECT m.text, version_a, version_b, sentiment_a, sentiment_b, causes_a,
                                  causes_b, causes_only_b, differs
                           FROM v_label_diff JOIN mentions m USING (mention_id)
                           WHERE differs ORDER BY m.text""")
    assert diff == [
        ("Сотрудник хамил и очередь огромная.", B, A, "negative", "negative",
         ["waiting_time", "staff_attitude"], ["waiting_time"], [], True),
        ("Спасибо, всё быстро.", B, A, "positive", "neutral", [], [], [], True),
        ("Хамство на кассе.", B, A, "negative", "neutral", ["staff_attitude"], [], [], True),
    ]
    assert _q(settings, "SELECT count(*) FROM v_label_diff WHERE NOT differs") == [(2,)]
    # any pair, either way round
    assert _q(settings, "SELECT count(*), list_sort(flatten(list(causes_only_b))) FROM "
                        "label_diff(version_a := 'fake-a', version_b := 'fake-b') WHERE causes_changed"
              ) == [(2, ["staff_attitude", "staff_attitude"])]

    mv, _ = pipeline.refresh_trends(settings)
    assert mv == B
    assert _q(settings, "SELECT model_version, sum(negatives), sum(complaints) FROM daily_aggregates "
                        "WHERE root_cause = '_all' GROUP BY 1 ORDER BY 1") == [(A, 2, 2), (B, 3, 3)]

    # rolling back is one command, and trends follow again
    from warehouse.labels import activate
    con = duckdb.connect(str(settings.db_path))
    activate(con, A)
    assert active_model_version(con) == A
    con.close()
    assert pipeline.refresh_trends(settings)[0] == A
    # a plain classify of B (already registered) does not steal the active mark back
    assert pipeline.classify(settings, labeller=FakeLabeller(B)).activated is False
    assert _q(settings, "SELECT active_model_version()") == [(A,)]


def test_relabel_of_the_same_version_redoes_every_label_and_leaves_others(settings):
    pipeline.classify(settings, labeller=FakeLabeller(A))
    pipeline.classify(settings, labeller=FakeLabeller(B))        # new version: labels all 5
    before_a = _q(settings, "SELECT * FROM labels WHERE model_version = ? ORDER BY 1", [A])
    lab = FakeLabeller(B)
    rep = pipeline.classify(settings, labeller=lab, relabel=True)
    assert rep.labelled == rep.pending_before == 5 and len(lab.seen) == 5
    assert _q(settings, "SELECT * FROM labels WHERE model_version = ? ORDER BY 1", [A]) == before_a


def test_a_new_version_from_plain_classify_is_registered_and_activated(settings):
    pipeline.classify(settings, labeller=FakeLabeller(A))
    rep = pipeline.classify(settings, labeller=FakeLabeller(B))
    assert rep.activated and rep.labelled == 5
    assert _q(settings, "SELECT model_version, activated_at IS NOT NULL FROM model_versions ORDER BY 1"
              ) == [(A, True), (B, True)]
    assert pipeline.refresh_trends(settings)[0] == B


def test_reposts_are_labelled_once_per_run(tmp_path):
    same = dict(title="Репост", text="Очередь два часа, окно одно.")
    rows = [review(1, **same, rating=None), review(2, **same, rating=None),
            review(3, **same, rating=1),                       # another rating: its own label
            review(4, text="Другой текст.", rating=None)]
    s = _loaded(tmp_path, rows)
    lab = FakeLabeller(A)
    rep = pipeline.classify(s, labeller=lab)
    assert (rep.labelled, rep.pending_before, rep.reused) == (4, 4, 1)
    assert sorted(lab.seen) == sorted(["Репост. Очередь два часа, окно одно."] * 2 + ["Отзыв 4. Другой текст."])
    got = _q(s, "SELECT m.external_id, l.sentiment, l.is_complaint, l.root_causes FROM labels l "
                "JOIN mentions m USING (mention_id) ORDER BY 1")
    assert got == [("1001", "negative", True, ["waiting_time"]), ("1002", "negative", True, ["waiting_time"]),
                   ("1003", "negative", True, ["waiting_time"]), ("1004", "neutral", False, [])]


def test_a_repost_in_a_later_run_copies_the_existing_label(tmp_path):
    same = dict(title="Репост", text="Очередь два часа, окно одно.")
    s = Settings(home=tmp_path, brands_file=tmp_path / "brands.yaml")
    con = duckdb.connect(str(s.db_path))
    migrate(con)
    write_batch(tmp_path / "staging" / "b1.parquet", [review(1, **same, rating=None)])
    load_staging(con, s.staging, s.runs)
    con.close()
    assert pipeline.classify(s, labeller=FakeLabeller(A)).labelled == 1
    con = duckdb.connect(str(s.db_path))
    write_batch(tmp_path / "staging" / "b2.parquet", [review(2, **same, rating=None),
                                                      review(3, text="Новый текст.", rating=None)])
    load_staging(con, s.staging, s.runs)
    con.close()
    lab = FakeLabeller(A)
    rep = pipeline.classify(s, labeller=lab)
    assert lab.seen == ["Отзыв 3. Новый текст."]  # the repost was not labelled again
    assert (rep.labelled, rep.reused) == (2, 1)
    got = _q(s, "SELECT m.external_id, l.sentiment, l.root_causes FROM labels l "
                "JOIN mentions m USING (mention_id) ORDER BY 1")
    assert got == [("1001", "negative", ["waiting_time"]), ("1002", "negative", ["waiting_time"]),
                   ("1003", "neutral", [])]


def test_the_same_text_posted_later_is_labelled_as_a_post_not_copied(tmp_path):
    same = dict(title="Репост", text="Очередь два часа, окно одно.", rating=None)
    s = _loaded(tmp_path, [review(1, **same)])
    assert pipeline.classify(s, labeller=FakeLabeller(A)).labelled == 1
    post, copy = review(2, **same), review(3, **same)
    post.update(source="telegram", target_id="telegram:zarya")
    write_batch(tmp_path / "staging" / "b2.parquet", [post, copy])
    con = duckdb.connect(str(s.db_path))
    load_staging(con, s.staging, s.runs)
    con.close()
    lab = FakeLabeller(A)
    rep = pipeline.classify(s, labeller=lab)
    # the review's copy takes the stored label; the post is labelled, as a post
    assert (lab.seen, lab.reviews) == (["Репост. Очередь два часа, окно одно."], [False])
    assert (rep.labelled, rep.reused) == (2, 1)


def test_distinct_texts_groups_by_hash_and_rating():
    rows = [("m1", "h1", "t", None), ("m2", "h2", "u", 5), ("m3", "h1", "t", None), ("m4", "h1", "t", 1)]
    groups = distinct_texts(rows)
    assert [(g.text, g.rating, g.members) for g in groups] == [
        ("t", None, [("m1", "h1"), ("m3", "h1")]), ("u", 5, [("m2", "h2")]), ("t", 1, [("m4", "h1")])]


def test_distinct_texts_keeps_a_review_apart_from_the_same_text_posted():
    rows = [("banki_ru:1", "h1", "t", None, "zarya", "banki_ru"),
            ("telegram:1", "h1", "t", None, "zarya", "telegram"),
            ("sravni_ru:1", "h1", "t", None, "zarya", "sravni_ru")]
    groups = distinct_texts(rows)
    assert [(g.review, [m for m, _ in g.members]) for g in groups] == [
        (True, ["banki_ru:1", "sravni_ru:1"]), (False, ["telegram:1"])]


def test_every_source_is_either_a_review_site_or_a_post_source():
    from spiders.run import spider_names
    from warehouse.labels import POST_SOURCES, REVIEW_SOURCES

    assert not REVIEW_SOURCES & POST_SOURCES
    # a new spider must say whether its items are reviews (the review layer reads them)
    assert set(spider_names()) == REVIEW_SOURCES | POST_SOURCES


def test_classify_tells_the_labeller_which_texts_are_reviews(tmp_path):
    post = review(2, text="Пост про очередь.", rating=None)
    post.update(source="telegram", target_id="telegram:zarya")
    s = _loaded(tmp_path, [review(1, text="Очередь в отделении.", rating=None), post])
    lab = FakeLabeller(A)
    pipeline.classify(s, labeller=lab)
    assert dict(zip(lab.seen, lab.reviews)) == {"Отзыв 1. Очередь в отделении.": True,
                                                "Отзыв 2. Пост про очередь.": False}


def test_relabel_ten_thousand_mentions(tmp_path):
    s = Settings(home=tmp_path, brands_file=tmp_path / "brands.yaml")
    con = duckdb.connect(str(s.db_path))
    migrate(con)
    con.execute("""INSERT INTO mentions
        SELECT 'vk:' || i, 'vk', i::VARCHAR, 'vk:zarya', 'zarya', NULL, NULL,
               CASE i % 3 WHEN 0 THEN 'очередь ' WHEN 1 THEN 'хамство ' ELSE 'спасибо ' END || i,
               NULL, TIMESTAMP '2026-11-01' + INTERVAL (i) MINUTE, TIMESTAMP '2026-11-20',
               TIMESTAMP '2026-11-20', 'h' || i, NULL, '{}', 'b', 'b'
        FROM range(10000) t(i)""")
    con.close()
    assert pipeline.classify(s, labeller=FakeLabeller(A), chunk=1024).labelled == 10_000
    rep = pipeline.classify(s, labeller=FakeLabeller(B), chunk=1024, relabel=True)
    assert (rep.labelled, rep.reused, rep.model_version) == (10_000, 0, B)
    assert dict(_q(s, "SELECT model_version, count(*) FROM labels GROUP BY 1")) == {A: 10_000, B: 10_000}
    assert _q(s, "SELECT count(*) FROM v_labels_active") == [(10_000,)]
    assert _q(s, "SELECT count(*), count(*) FILTER (WHERE differs) FROM v_label_diff") == [(10_000, 6_666)]
