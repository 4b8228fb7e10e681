import pytest

from spiders.runrecord import new_run_id


@pytest.mark.parametrize("source,target,prefix", [
    ("banki_ru", "sberbank", "banki_ru-sberbank-"),
    ("dgis", "vologda/70000001019437403", "dgis-vologda_70000001019437403-"),
    ("vk", "wall:-22522055", "vk-wall_-22522055-"),
    ("telegram", "@bank_news", "telegram-bank_news-"),
])
def test_run_ids_are_safe_file_names(source, target, prefix):
    rid = new_run_id(source, target)
    assert rid.startswith(prefix) and "/" not in rid and ":" not in rid
