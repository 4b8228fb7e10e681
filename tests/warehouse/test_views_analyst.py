"""v_share_of_voice and v_daily_source on a tiny hand-made warehouse, numbers worked by hand."""
import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from warehouse.export import data_dictionary
from warehouse.migrate import migrate

D10, D11 = date(2026, 11, 10), date(2026, 11, 11)


def put(con, mid, source, brand, published, *, sentiment=None, complaint=False, rating=None,
        extra="{}", causes=(), mv="mv1", stale=False):
    """One mention; with a label of ``mv`` unless ``sentiment`` is None (unlabelled)."""
    con.execute(
        """INSERT INTO mentions VALUES (?, ?, ?, ?, ?, NULL, NULL, 'текст', ?, ?, ?, ?, ?, NULL, ?,
                                        'b1', 'b1')""",
        [mid, source, mid, f"{source}:{brand}", brand, rating, published, published, published,
         f"h-{mid}", extra])
    if sentiment is not None:
        con.execute("INSERT INTO labels VALUES (?, ?, ?, ?, 0.9, ?, ?, '{}', NULL, ?)",
                    [mid, mv, "old-text" if stale else f"h-{mid}", sentiment, complaint,
                     list(causes), published])


@pytest.fixture
def con():
    c = duckdb.connect()
    migrate(c)
    at10 = datetime(2026, 11, 10, 9)
    put(c, "m1", "banki_ru", "zarya", at10, sentiment="negative", complaint=True, rating=1,
        extra=json.dumps({"agentAnswerText": "Добрый день! Разберёмся.", "commentCount": 0}))
    put(c, "m2", "banki_ru", "zarya", at10, sentiment="negative", complaint=True, rating=2,
        extra=json.dumps({"agentAnswerText": None, "commentCount": 1}))
    put(c, "m3", "sravni_ru", "zarya", at10, sentiment="positive", rating=5,
        extra=json.dumps({"hasCompanyResponse": True, "rating": 5}))
    put(c, "m4", "dgis", "polyus", at10, sentiment="positive", rating=4,
        extra=json.dumps({"official_answer": None, "likes_count": 2}))
    put(c, "m5", "telegram", "polyus", at10)                                  # not labelled yet
    put(c, "m7", "vk", "polyus", at10, sentiment="negative", stale=True)      # label of old text
    # 22:30 UTC on the 10th is 01:30 on the 11th in Moscow.
    put(c, "m6", "banki_ru", "zarya", datetime(2026, 11, 10, 22, 30), sentiment="neutral",
        extra=json.dumps({"jsonld_shape": "description"}))                   # no answer field
    put(c, "m9", "rss", "zarya", datetime(2026, 11, 11, 8), sentiment="neutral", extra="{broken")
    return c


def test_share_of_voice_per_day_and_brand(con):
    rows = con.execute(
        """SELECT day, brand, mentions, share_of_voice, negatives, positives, negative_share,
                  net_sentiment
           FROM v_share_of_voice WHERE model_version = 'mv1' ORDER BY day, brand""").fetchall()
    assert rows == [
        (D10, "polyus", 1, 0.25, 0, 1, 0.0, 1.0),
        (D10, "zarya", 3, 0.75, 2, 1, pytest.approx(2 / 3), pytest.approx(-1 / 3)),
        (D11, "polyus", 0, 0.0, 0, 0, None, None),      # silent that day: 0, not missing
        (D11, "zarya", 2, 1.0, 0, 0, 0.0, 0.0),
    ]


def test_share_of_voice_keeps_model_versions_apart(con):
    con.execute("INSERT INTO labels SELECT mention_id, 'mv2', content_hash, 'positive', 0.5, false,"
                " [], '{}', NULL, labelled_at FROM labels WHERE mention_id = 'm1'")
    assert con.execute("SELECT day, brand, mentions, share_of_voice, net_sentiment FROM v_share_of_voice"
                       " WHERE model_version = 'mv2'").fetchall() == [(D10, "zarya", 1, 1.0, 1.0)]
    assert con.execute("SELECT sum(mentions) FROM v_share_of_voice WHERE model_version = 'mv1'"
                       ).fetchone()[0] == 6


def test_daily_source_volume_sentiment_rating_and_replies(con):
    rows = con.execute(
        """SELECT day, brand, source, mentions, complaints, negative_share, net_sentiment,
                  avg_rating, reply_known, company_replies, company_reply_rate
           FROM v_daily_source WHERE model_version = 'mv1' ORDER BY day, brand, source""").fetchall()
    assert rows == [
        (D10, "polyus", "dgis", 1, 0, 0.0, 1.0, 4.0, 1, 0, 0.0),
        (D10, "zarya", "banki_ru", 2, 2, 1.0, -1.0, 1.5, 2, 1, 0.5),
        (D10, "zarya", "sravni_ru", 1, 0, 0.0, 1.0, 5.0, 1, 1, 1.0),
        # A JSON-LD banki review does not say whether the bank answered: unknown, not "no".
        (D11, "zarya", "banki_ru", 1, 0, 0.0, 0.0, None, 0, 0, None),
        # rss shows no replies, and a broken extra must not break the view.
        (D11, "zarya", "rss", 1, 0, 0.0, 0.0, None, 0, 0, None),
    ]


def test_every_new_view_and_column_is_in_the_dictionary(con):
    missing = con.execute(
        """SELECT table_name || '.' || column_name FROM duckdb_columns()
           WHERE table_name IN ('v_share_of_voice', 'v_daily_source', 'v_closed_loop', 'actions')
             AND (comment IS NULL OR comment = '')""").fetchall()
    assert missing == []
    text = data_dictionary(con)
    for name in ("v_share_of_voice (view)", "v_daily_source (view)", "v_closed_loop (view)",
                 "actions (table)"):
        assert f"## {name}" in text
    assert "| company_reply_rate | DOUBLE | company_replies / reply_known" in text


SHARED_BANKI = Path(__file__).resolve().parents[3] / "shared/fixtures/banki_ru/esg_bank_responses_ajax_unicreditbank_p1.json"


@pytest.mark.skipif(not SHARED_BANKI.exists(), reason="../shared/fixtures is not here")
def test_reply_rate_reads_what_the_banki_parser_keeps_from_a_real_page():
    from spiders.parsers.banki import parse_ajax_list

    body = SHARED_BANKI.read_bytes()
    items, _ = parse_ajax_list(body, brand="unicredit", target_id="banki_ru:unicreditbank",
                               base_url="https://www.banki.ru")
    answered = sum(1 for r in json.loads(body)["data"] if r.get("agentAnswerText"))
    assert 0 < answered < len(items)
    c = duckdb.connect()
    migrate(c)
    for it in items:
        put(c, it["external_id"], "banki_ru", "unicredit", datetime(2023, 1, 10, 9),
            sentiment="neutral", extra=json.dumps(it["extra"], ensure_ascii=False))
    assert c.execute("SELECT sum(reply_known), sum(company_replies) FROM v_daily_source").fetchone() == (
        len(items), answered)
