"""Analyst feedback: validated against the taxonomy, append-only, the newest wins, and
turned into training rows; `slukh label` records and lists it."""
from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pytest
from typer.testing import CliRunner

from warehouse.feedback import (FeedbackRejected, Vocabulary, add_feedback, list_feedback,
                                training_examples)
from warehouse.migrate import migrate

T0 = datetime(2026, 11, 20, 10)
VOCAB = Vocabulary(causes=["waiting_time", "staff_attitude", "pricing_fees"],
                   stages=["support", "payment"])


def put(con, mid: str, text: str, *, title: str | None = None, chash: str | None = None,
        rating: int | None = None) -> None:
    con.execute("""INSERT INTO mentions VALUES (?, 'banki_ru', ?, 'banki_ru:zarya', 'zarya', NULL, ?, ?,
                   ?, ?, ?, ?, ?, NULL, '{}', 'b1', 'b1')""",
                [mid, mid, title, text, rating, T0, T0, T0, chash or f"h-{mid}"])


def label(con, mid: str, mv: str, sentiment: str, causes: list[str], stage: str | None = None) -> None:
    con.execute("INSERT INTO labels SELECT ?, ?, content_hash, ?, 0.8, ?, ?, '{}', ?, ? "
                "FROM mentions WHERE mention_id = ?",
                [mid, mv, sentiment, sentiment == "negative", causes, stage, T0, mid])


@pytest.fixture
def con():
    c = duckdb.connect()
    migrate(c)
    put(c, "banki_ru:1", "Очередь два часа.", title="Очередь", rating=1)
    put(c, "banki_ru:2", "Всё хорошо, спасибо.")
    label(c, "banki_ru:1", "mv1", "negative", ["waiting_time"], "support")
    label(c, "banki_ru:2", "mv1", "neutral", [])
    return c


@pytest.mark.parametrize("kwargs, message", [
    (dict(root_causes=["queues"]), "unknown root cause 'queues'; the taxonomy has pricing_fees, "
                                   "staff_attitude, waiting_time"),
    (dict(root_causes=["queues", "rudeness"]), "unknown root causes 'queues', 'rudeness'"),
    (dict(sentiment="angry"), "unknown sentiment 'angry'; use one of negative, neutral, positive"),
    (dict(stage="checkout"), "unknown journey stage 'checkout'; the taxonomy has payment, support"),
    (dict(), "nothing to record"),
    (dict(sentiment="neutral", analyst=" "), "say who gives the feedback"),
])
def test_bad_feedback_is_refused_with_the_valid_ids(con, kwargs, message):
    kwargs = {"analyst": "anna", **kwargs}
    with pytest.raises(FeedbackRejected, match=message.replace("(", r"\(")):
        add_feedback(con, "banki_ru:1", vocabulary=VOCAB, **kwargs)
    assert con.execute("SELECT count(*) FROM label_feedback").fetchone()[0] == 0


def test_unknown_mention_is_refused(con):
    with pytest.raises(FeedbackRejected, match="no mention 'banki_ru:404' in the warehouse"):
        add_feedback(con, "banki_ru:404", sentiment="neutral", analyst="anna", vocabulary=VOCAB)


def test_the_shipped_taxonomy_is_the_default_vocabulary(con):
    with pytest.raises(FeedbackRejected, match="the taxonomy has .*waiting_time"):
        add_feedback(con, "banki_ru:1", root_causes=["queues"], analyst="anna")
    fid = add_feedback(con, "banki_ru:1", root_causes=["waiting_time"], stage="support", analyst="anna")
    assert fid == 1


def test_latest_feedback_wins_and_history_stays(con):
    f1 = add_feedback(con, "banki_ru:1", root_causes=["pricing_fees"], analyst="anna",
                      note="про комиссию", vocabulary=VOCAB, now=T0)
    f2 = add_feedback(con, "banki_ru:1", sentiment="negative", analyst="boris", vocabulary=VOCAB, now=T0)
    f3 = add_feedback(con, "banki_ru:1", root_causes=["waiting_time", "staff_attitude", "waiting_time"],
                      analyst="anna", vocabulary=VOCAB, now=T0)
    assert (f1, f2, f3) == (1, 2, 3)
    assert con.execute("SELECT feedback_id, superseded_by, root_causes, sentiment FROM label_feedback "
                       "ORDER BY 1").fetchall() == [
        (1, 2, ["pricing_fees"], None),
        (2, 3, ["pricing_fees"], "negative"),            # boris's row carries anna's causes over
        (3, None, ["waiting_time", "staff_attitude"], "negative")]
    assert con.execute("SELECT feedback_id, mention_id, root_causes, sentiment, analyst, text, "
                       "text_changed, model_version, model_root_causes FROM v_feedback_current"
                       ).fetchall() == [
        (3, "banki_ru:1", ["waiting_time", "staff_attitude"], "negative", "anna", "Очередь два часа.",
         False, "mv1", ["waiting_time"])]
    assert [f.feedback_id for f in list_feedback(con)] == [3, 2, 1]
    assert [f.feedback_id for f in list_feedback(con, current_only=True)] == [3]
    assert [f.feedback_id for f in list_feedback(con, "banki_ru:1", limit=2)] == [3, 2]


def test_no_causes_is_not_the_same_as_no_change(con):
    add_feedback(con, "banki_ru:1", root_causes=[], analyst="anna", vocabulary=VOCAB)
    add_feedback(con, "banki_ru:2", sentiment="positive", analyst="anna", vocabulary=VOCAB)
    assert con.execute("SELECT mention_id, root_causes FROM label_feedback ORDER BY 1").fetchall() == [
        ("banki_ru:1", []), ("banki_ru:2", None)]


def test_training_examples_fill_uncorrected_fields_from_the_active_model(con):
    add_feedback(con, "banki_ru:1", root_causes=["staff_attitude"], analyst="anna", vocabulary=VOCAB)
    add_feedback(con, "banki_ru:2", sentiment="positive", is_complaint=False, analyst="anna",
                 vocabulary=VOCAB)
    assert training_examples(con) == [
        {"id": "banki_ru:1", "title": "Очередь", "text": "Очередь два часа.",
         "root_causes": ["staff_attitude"], "sentiment": "negative", "journey_stage": "support",
         "rating": 1, "brand": "zarya"},
        {"id": "banki_ru:2", "title": None, "text": "Всё хорошо, спасибо.",
         "root_causes": [], "sentiment": "positive", "journey_stage": None,
         "rating": None, "brand": "zarya"}]
    assert training_examples(con, fill_from_model=False)[0] == {
        "id": "banki_ru:1", "title": "Очередь", "text": "Очередь два часа.",
        "root_causes": ["staff_attitude"], "sentiment": None, "journey_stage": None,
        "rating": 1, "brand": "zarya"}


def test_feedback_on_an_older_text_is_stale(con):
    add_feedback(con, "banki_ru:1", sentiment="neutral", analyst="anna", vocabulary=VOCAB)
    con.execute("UPDATE mentions SET text = 'Новый текст', content_hash = 'h-new' WHERE mention_id = 'banki_ru:1'")
    assert con.execute("SELECT text_changed FROM v_feedback_current").fetchall() == [(True,)]
    assert training_examples(con) == []
    # new feedback on the new text does not inherit corrections made on the old one
    add_feedback(con, "banki_ru:1", root_causes=["pricing_fees"], analyst="anna", vocabulary=VOCAB)
    assert con.execute("SELECT sentiment, root_causes, text_changed FROM v_feedback_current").fetchall() == [
        (None, ["pricing_fees"], False)]


def test_slukh_label_records_lists_and_refuses(tmp_path):
    from slukh.cli import app
    path = tmp_path / "slukh.duckdb"
    c = duckdb.connect(str(path))
    migrate(c)
    put(c, "banki_ru:1", "Очередь два часа.")
    c.close()
    base = ["--home", str(tmp_path), "label"]
    r = CliRunner().invoke(app, [*base, "-m", "banki_ru:1", "--root-causes", "waiting_time,staff_attitude",
                                 "--not-complaint", "--analyst", "anna", "--note", "очередь и хамство"])
    assert r.exit_code == 0, r.output
    assert "feedback 1 on banki_ru:1 by anna: causes waiting_time,staff_attitude; complaint false" in " ".join(r.output.split())
    r = CliRunner().invoke(app, [*base, "-m", "banki_ru:1", "--no-causes", "--sentiment", "neutral",
                                 "--analyst", "boris"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, [*base, "--list", "--format", "json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert [(x["feedback_id"], x["analyst"], x["root_causes"], x["complaint"], x["current"]) for x in got] == [
        (2, "boris", [], False, True), (1, "anna", ["waiting_time", "staff_attitude"], False, False)]
    r = CliRunner().invoke(app, [*base, "-m", "banki_ru:1", "--root-causes", "queues", "--analyst", "anna"])
    assert isinstance(r.exception, FeedbackRejected) and "unknown root cause 'queues'" in str(r.exception)
    r = CliRunner().invoke(app, [*base, "-m", "banki_ru:1", "--root-causes", "waiting_time", "--no-causes"])
    assert r.exit_code == 2 and "contradict each other" in " ".join(r.output.split())
