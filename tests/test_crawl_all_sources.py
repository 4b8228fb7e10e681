"""`slukh crawl --all` through the real CLI, against the mock site of every source.

One brand with one target per source: every crawl must end `ok` with items, and the
loader must then hold mentions from every source with unique keys.
"""
import os
import subprocess
import sys

import duckdb
import pytest

from slukh.config import known_sources
from slukh.mocksite import MockSite
from slukh.mocksite.vk import MOCK_TOKEN

pytestmark = pytest.mark.slow

BRANDS = """
brands:
  - id: sber
    name: Сбербанк
    aliases: [Сбер, СберБанк]
    targets:
      banki_ru: []
      sravni_ru: ["60c7a1b2c3d4e5f601234567"]
      dgis: ["vologda/70000001000000001"]
      appstore: ["1453111111"]
      telegram: [sber_news]
      vk: ["wall:-22522055"]
      rss: [{code: news, url: /rss/atom/page-1.xml}]
      schemaorg: [{code: otzovik_sber, url: /reviews/sber/}]
"""


def test_every_source_crawls_its_mock_site_and_loads(tmp_path):
    brands = tmp_path / "brands.yaml"
    brands.write_text(BRANDS, encoding="utf-8")
    env = {**os.environ, "SLUKH_HOME": str(tmp_path / "home"), "SLUKH_BRANDS": str(brands),
           "VK_TOKEN": MOCK_TOKEN, "SLUKH_DGIS_REVIEWS_KEY": "mock-key", "COLUMNS": "200"}
    with MockSite() as site:
        crawl = subprocess.run([sys.executable, "-m", "slukh.cli", "crawl", "--all", "--site",
                                site.base_url, "--fast", "--horizon-days", "0"],
                               env=env, capture_output=True, text=True, timeout=900)
    assert crawl.returncode == 0, crawl.stdout + crawl.stderr
    load = subprocess.run([sys.executable, "-m", "slukh.cli", "load"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert load.returncode == 0, load.stderr
    con = duckdb.connect(str(tmp_path / "home" / "slukh.duckdb"), read_only=True)
    try:
        runs = con.execute("SELECT source, status, items FROM crawl_runs ORDER BY source").fetchall()
        per_source = dict(con.execute("SELECT source, count(*) FROM mentions GROUP BY 1").fetchall())
        dupes = con.execute("SELECT count(*) - count(DISTINCT (source, external_id)) FROM mentions").fetchone()[0]
    finally:
        con.close()
    expected = set(known_sources()) - {"banki_ru"}
    assert {s for s, _, _ in runs} == expected
    assert all(status == "ok" and items > 0 for _, status, items in runs), runs
    assert set(per_source) == expected and dupes == 0
    assert per_source == {s: n for s, _, n in runs}
