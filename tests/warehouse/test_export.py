import duckdb

from tests.warehouse.test_digest import _warehouse
from warehouse.export import PUBLIC_VIEWS, data_dictionary, export_parquet


def test_dictionary_lists_every_view_with_its_comments(tmp_path):
    (tmp_path / "staging").mkdir()
    con = _warehouse(tmp_path)
    text = data_dictionary(con)
    for view in PUBLIC_VIEWS:
        assert f"## {view} (view)" in text
    assert "| is_complaint | BOOLEAN | Negative sentiment, or a rating of 2 or less. |" in text
    assert "## mentions (table)" in text and "salted" in text


def test_export_round_trips_every_mention(tmp_path):
    (tmp_path / "staging").mkdir()
    con = _warehouse(tmp_path)
    paths = export_parquet(con, tmp_path / "export")
    n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{paths['v_mentions']}/**/*.parquet', hive_partitioning=true)").fetchall()[0][0]
    assert n == con.execute("SELECT count(*) FROM v_mentions").fetchone()[0] > 0
    days = {p.name for p in paths["v_mentions"].iterdir()}
    assert "day_msk=2026-11-20" in days
    alerts = duckdb.sql(f"SELECT brand, root_cause FROM '{paths['v_alerts']}' ORDER BY 2").fetchall()
    assert ("zarya", "waiting_time") in alerts
