"""The model-version registry: which version is active, with the pre-009 rule as fallback,
the views over versions, activation from the CLI, and the data dictionary."""
from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pytest
from typer.testing import CliRunner

from slukh.pipeline import latest_model_version
from warehouse.export import data_dictionary
from warehouse.labels import UnknownModelVersion, activate, active_model_version, register_version
from warehouse.migrate import migrate

T = datetime(2026, 11, 20, 10)
NEW_OBJECTS = ("model_versions", "label_feedback", "v_labels_active", "v_label_versions",
               "v_label_diff", "v_feedback_current")


def put(con, mid: str) -> None:
    con.execute("""INSERT INTO mentions VALUES (?, 'vk', ?, 'vk:zarya', 'zarya', NULL, NULL, 'текст',
                   NULL, ?, ?, ?, ?, NULL, '{}', 'b1', 'b1')""", [mid, mid, T, T, T, f"h-{mid}"])


def label(con, mid: str, mv: str, sentiment: str = "negative", at: datetime = T) -> None:
    con.execute("INSERT INTO labels VALUES (?, ?, ?, ?, 0.9, ?, [], '{}', NULL, ?)",
                [mid, mv, f"h-{mid}", sentiment, sentiment == "negative", at])


@pytest.fixture
def con():
    c = duckdb.connect()
    migrate(c)
    for i in range(3):
        put(c, f"m{i}")
        label(c, f"m{i}", "old", at=datetime(2026, 11, 1))
        label(c, f"m{i}", "new", "neutral" if i else "negative", at=datetime(2026, 11, 2))
    return c


def test_empty_registry_falls_back_to_the_newest_label(con):
    assert con.execute("SELECT count(*) FROM model_versions").fetchone()[0] == 0
    assert active_model_version(con) == latest_model_version(con) == "new"
    empty = duckdb.connect()
    migrate(empty)
    assert active_model_version(empty) is None
    with pytest.raises(LookupError, match="run `slukh classify` first"):
        latest_model_version(empty)


def test_the_most_recent_activation_wins(con):
    assert register_version(con, "old") is True              # first time: activated
    assert active_model_version(con) == "old"                # newer labels do not matter now
    assert register_version(con, "new", description="retrained", metrics={"f1": 0.8}) is True
    assert active_model_version(con) == "new"
    assert register_version(con, "new") is False             # known: left as it is
    activate(con, "old")
    assert latest_model_version(con) == "old"
    assert con.execute("SELECT DISTINCT model_version FROM v_labels_active").fetchall() == [("old",)]
    assert con.execute("SELECT model_version, description, metrics->>'f1' FROM model_versions ORDER BY 1"
                       ).fetchall() == [("new", "retrained", "0.8"), ("old", None, None)]


def test_only_labelled_versions_can_be_active(con):
    assert register_version(con, "ghost") is False
    with pytest.raises(UnknownModelVersion, match="no labels of model version 'ghost'.*new, old"):
        activate(con, "ghost")
    assert con.execute("SELECT count(*) FROM model_versions").fetchone()[0] == 0


def test_versions_view(con):
    register_version(con, "old")
    con.execute("UPDATE mentions SET content_hash = 'changed' WHERE mention_id = 'm2'")
    rows = con.execute("SELECT model_version, is_active, labelled, current_labels, complaints, "
                       "round(negative_share, 3), registered_at IS NOT NULL FROM v_label_versions "
                       "ORDER BY 1").fetchall()
    assert rows == [("new", False, 3, 2, 1, 0.333, False), ("old", True, 3, 2, 3, 1.0, True)]
    assert con.execute("SELECT mention_id, is_current FROM v_labels_active ORDER BY 1").fetchall() == [
        ("m0", True), ("m1", True), ("m2", False)]
    # v_label_diff compares labels of the current text only
    assert con.execute("SELECT mention_id, version_a, version_b, sentiment_a, sentiment_b, differs "
                       "FROM v_label_diff ORDER BY 1").fetchall() == [
        ("m0", "old", "new", "negative", "negative", False),
        ("m1", "old", "new", "negative", "neutral", True)]


def test_migration_registers_the_versions_already_labelled(tmp_path):
    c = duckdb.connect(str(tmp_path / "old.duckdb"))
    migrate(c, target=8)
    put(c, "m1")
    label(c, "m1", "v2", at=datetime(2026, 11, 2))
    label(c, "m1", "v1", at=datetime(2026, 11, 1))
    assert 9 in migrate(c)
    assert c.execute("SELECT model_version, registered_at, activated_at FROM model_versions ORDER BY 1"
                     ).fetchall() == [("v1", datetime(2026, 11, 1), datetime(2026, 11, 1)),
                                      ("v2", datetime(2026, 11, 2), datetime(2026, 11, 2))]
    assert active_model_version(c) == "v2"                   # as before 009: newest label


def test_new_tables_and_views_are_documented():
    c = duckdb.connect()
    migrate(c)
    undocumented = c.execute(
        f"""SELECT table_name, column_name FROM duckdb_columns()
            WHERE table_name IN {NEW_OBJECTS} AND (comment IS NULL OR comment = '')""").fetchall()
    assert undocumented == []
    text = data_dictionary(c)
    for name in NEW_OBJECTS:
        assert f"## {name} (" in text
    assert "the newest feedback on a mention wins" in text


def test_slukh_models_lists_and_activates(tmp_path):
    from slukh.cli import app
    c = duckdb.connect(str(tmp_path / "slukh.duckdb"))
    migrate(c)
    put(c, "m1")
    label(c, "m1", "v1", at=datetime(2026, 11, 1))
    label(c, "m1", "v2", at=datetime(2026, 11, 2))
    c.close()
    r = CliRunner().invoke(app, ["--home", str(tmp_path), "models", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert [(x["active"], x["model_version"], x["labelled"]) for x in json.loads(r.stdout)] == [
        ("*", "v2", 1), ("", "v1", 1)]
    r = CliRunner().invoke(app, ["--home", str(tmp_path), "models", "activate", "v1"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["--home", str(tmp_path), "models", "--format", "json"])
    assert [(x["active"], x["model_version"]) for x in json.loads(r.stdout)] == [("*", "v1"), ("", "v2")]
    r = CliRunner().invoke(app, ["--home", str(tmp_path), "models", "activate", "v3"])
    assert isinstance(r.exception, UnknownModelVersion)
