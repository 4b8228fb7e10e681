import duckdb
import pytest

from tests.warehouse.batches import review, write_batch
from warehouse import neardup
from warehouse.load import load_staging
from warehouse.migrate import migrate

WAVE = "Банк Заря снова списал комиссию за обслуживание карты, хотя обещали бесплатно. Верните деньги!"


@pytest.mark.parametrize("a,b,same", [
    (WAVE, WAVE, True),
    (WAVE, WAVE.replace("Заря", "ЗАРЯ") + " 😡", True),          # case and emoji
    (WAVE, WAVE.replace("снова", "опять"), True),                # one word swapped
    (WAVE, "Отличный банк, всё быстро, спасибо сотрудникам отделения.", False),
    (WAVE, "Банк Заря списал комиссию за перевод, верните деньги", False),  # same topic, own words
])
def test_pairs(a, b, same):
    got = neardup.clusters([("m1", a), ("m2", b)])
    assert (got["m2"] == "m1") is same


def test_a_copy_paste_wave_is_one_cluster_in_the_warehouse(tmp_path):
    rows = [review(i, text=WAVE + f" Клиент №{i}.") for i in range(6)]
    rows += [review(10, text="Очередь в отделении два часа, работало одно окно."),
             review(11, text="Приложение вылетает при входе, поддержка молчит.")]
    write_batch(tmp_path / "staging" / "b.parquet", rows)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    migrate(con)
    load_staging(con, tmp_path / "staging", tmp_path / "runs")
    assert neardup.assign(con) == (8, 1)
    got = dict(con.execute("SELECT mention_id, cluster_size FROM near_duplicates").fetchall())
    assert sorted(got.values()) == [1, 1, 6, 6, 6, 6, 6, 6]
    assert neardup.assign(con) == (8, 1)          # recomputing the window never doubles rows
    assert con.execute("SELECT count(*) FROM near_duplicates").fetchone()[0] == 8
