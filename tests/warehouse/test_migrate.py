import duckdb

from warehouse.migrate import available, current_version, migrate

TABLES = {"schema_version", "targets", "crawl_runs", "batches", "mentions", "labels",
          "daily_aggregates", "alerts"}
VIEWS = {"v_mentions", "v_daily_brand", "v_root_cause_trend", "v_alerts"}


def _objects(con, kind):
    return {r[0] for r in con.execute(
        f"SELECT {kind}_name FROM duckdb_{kind}s() WHERE NOT internal").fetchall()}


def test_empty_file_gets_every_migration(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    applied = migrate(con)
    assert applied == [v for v, _, _ in available()]
    assert current_version(con) == max(applied)
    assert TABLES <= _objects(con, "table")
    assert VIEWS <= _objects(con, "view")
    assert migrate(con) == []          # second run: nothing to do


def test_older_file_upgrades_in_place_and_keeps_data(tmp_path):
    path = str(tmp_path / "old.duckdb")
    con = duckdb.connect(path)
    assert migrate(con, target=1) == [1]
    con.execute("""INSERT INTO mentions VALUES ('banki_ru:1', 'banki_ru', '1', 'banki_ru:zarya',
        'zarya', NULL, 'T', 'Долго ждал', 1, '2026-11-01', '2026-11-02', '2026-11-02', 'h', NULL,
        '{}', 'b1', 'b1')""")
    assert "daily_aggregates" not in _objects(con, "table")
    con.close()

    con = duckdb.connect(path)
    assert migrate(con) == [v for v, _, _ in available()][1:]
    assert current_version(con) == available()[-1][0]
    assert con.execute("SELECT mention_id, text FROM v_mentions").fetchall() == [("banki_ru:1", "Долго ждал")]


def test_columns_are_documented(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    migrate(con)
    comments = dict(con.execute(
        "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'labels'").fetchall())
    assert comments["is_complaint"].startswith("Negative sentiment")
    assert comments["root_causes"].startswith("Taxonomy ids")
