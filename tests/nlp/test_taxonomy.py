"""Taxonomy loader: the shipped file is valid; broken files fail with a clear message."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nlp.taxonomy import TaxonomyError, load_taxonomy, parse_taxonomy

DESIGN_IDS = ["staff_attitude", "staff_competence", "waiting_time", "product_quality",
              "pricing_fees", "billing_charges", "digital_ux", "delivery_logistics",
              "availability_stock", "communication", "unresolved", "premises",
              "marketing_spam", "security_fraud"]


def test_shipped_taxonomy_has_the_design_causes() -> None:
    tax = load_taxonomy()
    assert tax.ids == DESIGN_IDS
    assert [s.id for s in tax.stages] == ["support", "payment", "purchase_onboarding",
                                          "usage", "discovery"]
    for c in tax.causes:
        assert c.name and c.owner and c.description and len(c.patterns) >= 10, c.id
    assert len(tax.digest) == 64


def test_patterns_are_lemmatised_on_load() -> None:
    billing = load_taxonomy().cause("billing_charges")
    assert ("не", "вернуть", "деньга") in {p.lemmas for p in billing.patterns}


def _minimal(**cause: object) -> dict:
    c = {"id": "x", "name": "X", "owner": "o", "description": "d", "patterns": ["очередь"]}
    c.update(cause)
    return {"version": 1, "causes": [c]}


@pytest.mark.parametrize("data,message", [
    ([], "top level"),
    ({"version": 2, "causes": []}, "version"),
    ({"version": 1, "causes": []}, "non-empty"),
    ({"version": 1, "causes": [], "typo": 1}, "unknown top-level"),
    (_minimal(id="Bad-Id"), "snake_case"),
    (_minimal(name=""), "'name'"),
    (_minimal(patterns=[]), "patterns: needs a non-empty list"),
    (_minimal(patterns=[{"очередь": 1.5}]), "weight"),
    (_minimal(patterns=["!!!"]), "no words"),
    (_minimal(patterns=[{"a": 0.5, "b": 0.5}]), "mapping"),
])
def test_schema_errors_name_the_problem(data: object, message: str) -> None:
    with pytest.raises(TaxonomyError, match=message):
        parse_taxonomy(data, "t.yaml")


def test_duplicate_ids_are_refused() -> None:
    d = _minimal()
    d["causes"].append(dict(d["causes"][0]))
    with pytest.raises(TaxonomyError, match="duplicate id 'x'"):
        parse_taxonomy(d)


def test_weight_forms(tmp_path: Path) -> None:
    d = _minimal(patterns=["долго ждать", {"ждать": 0.4}, {"pattern": "очередь", "weight": 0.7}])
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(d, allow_unicode=True), encoding="utf-8")
    weights = {p.text: p.weight for p in load_taxonomy(path).causes[0].patterns}
    assert weights == {"долго ждать": 1.0, "ждать": 0.4, "очередь": 0.7}


def test_unreadable_or_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="cannot read"):
        load_taxonomy(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("causes: [unclosed", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="not valid YAML"):
        load_taxonomy(bad)
