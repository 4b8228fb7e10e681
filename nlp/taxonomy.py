"""Load and validate the root-cause taxonomy (``nlp/taxonomy.yaml``).

Why a loader with a schema: the taxonomy is edited by CX people, not engineers, so a
typo must fail loudly with the cause id and field named, not silently disable a rule.
Patterns are lemmatised here, once, with the same lemmatiser as the texts.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nlp.lemmas import lemma, tokens

SHIPPED = Path(__file__).with_name("taxonomy.yaml")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class TaxonomyError(ValueError):
    """The taxonomy file breaks the schema; the message names the file, entry and field."""


@dataclass(frozen=True)
class Pattern:
    text: str  # as written in the YAML
    lemmas: tuple[str, ...]
    weight: float = 1.0


@dataclass(frozen=True)
class Cause:
    id: str
    name: str
    owner: str
    description: str
    patterns: tuple[Pattern, ...]


@dataclass(frozen=True)
class Stage:
    id: str
    name: str
    cues: tuple[Pattern, ...]


@dataclass(frozen=True)
class Taxonomy:
    causes: tuple[Cause, ...]
    stages: tuple[Stage, ...]
    negators: frozenset[str]
    window: int
    version: int
    digest: str  # sha256 of the file's bytes; names the rules' version

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.causes]

    def cause(self, cause_id: str) -> Cause:
        for c in self.causes:
            if c.id == cause_id:
                return c
        raise KeyError(f"unknown root cause {cause_id!r}; known: {', '.join(self.ids)}")


def _pattern(raw: Any, where: str) -> Pattern:
    """A pattern is ``"слова"``, ``{слова: weight}`` or ``{pattern: ..., weight: ...}``."""
    weight: Any = 1.0
    if isinstance(raw, dict):
        if set(raw) <= {"pattern", "weight"} and "pattern" in raw:
            text, weight = raw["pattern"], raw.get("weight", 1.0)
        elif len(raw) == 1:
            ((text, weight),) = raw.items()
        else:
            raise TaxonomyError(f"{where}: pattern mapping must be {{words: weight}}, got {raw}")
    else:
        text = raw
    if not isinstance(text, (str, int)) or not str(text).strip():
        raise TaxonomyError(f"{where}: pattern must be non-empty text, got {text!r}")
    if not isinstance(weight, (int, float)) or not 0 < weight <= 1:
        raise TaxonomyError(f"{where}: weight of {text!r} must be in (0, 1], got {weight!r}")
    lemmas = tuple(lemma(t) for t in tokens(str(text)))
    if not lemmas:
        raise TaxonomyError(f"{where}: pattern {text!r} has no words")
    return Pattern(str(text), lemmas, float(weight))


def _patterns(raw: Any, where: str) -> tuple[Pattern, ...]:
    if not isinstance(raw, list) or not raw:
        raise TaxonomyError(f"{where}: needs a non-empty list")
    seen: dict[tuple[str, ...], Pattern] = {}
    for i, r in enumerate(raw):
        p = _pattern(r, f"{where}[{i}]")
        seen.setdefault(p.lemmas, p)  # the same words twice are harmless: keep the first
    return tuple(seen.values())


def _text(entry: dict, key: str, where: str) -> str:
    v = entry.get(key)
    if not isinstance(v, str) or not v.strip():
        raise TaxonomyError(f"{where}: field {key!r} is required text")
    return v.strip()


def _id(entry: Any, where: str, seen: set[str]) -> str:
    if not isinstance(entry, dict):
        raise TaxonomyError(f"{where}: must be a mapping, got {type(entry).__name__}")
    i = entry.get("id")
    if not isinstance(i, str) or not _ID.match(i):
        raise TaxonomyError(f"{where}: id must be snake_case ascii, got {i!r}")
    if i in seen:
        raise TaxonomyError(f"{where}: duplicate id {i!r}")
    seen.add(i)
    return i


def parse_taxonomy(data: Any, source: str = "<taxonomy>", digest: str = "") -> Taxonomy:
    """Validate already-parsed YAML and build a :class:`Taxonomy`."""
    if not isinstance(data, dict):
        raise TaxonomyError(f"{source}: top level must be a mapping")
    unknown = set(data) - {"version", "window", "negators", "causes", "stages"}
    if unknown:
        raise TaxonomyError(f"{source}: unknown top-level keys {sorted(unknown)}")
    if data.get("version") != 1:
        raise TaxonomyError(f"{source}: version must be 1, got {data.get('version')!r}")
    window = data.get("window", 5)
    if not isinstance(window, int) or window < 1:
        raise TaxonomyError(f"{source}: window must be a positive integer, got {window!r}")
    negators = data.get("negators", ["не", "нет", "без", "ни"])
    if not isinstance(negators, list) or not all(isinstance(n, str) for n in negators):
        raise TaxonomyError(f"{source}: negators must be a list of words")
    if not isinstance(data.get("causes"), list) or not data["causes"]:
        raise TaxonomyError(f"{source}: 'causes' must be a non-empty list")
    seen: set[str] = set()
    causes = []
    for k, e in enumerate(data["causes"]):
        where = f"{source}: causes[{k}]"
        cid = _id(e, where, seen)
        where = f"{source}: cause {cid}"
        causes.append(Cause(cid, _text(e, "name", where), _text(e, "owner", where),
                            _text(e, "description", where),
                            _patterns(e.get("patterns"), f"{where}.patterns")))
    stages = []
    seen = set()
    for k, e in enumerate(data.get("stages") or []):
        sid = _id(e, f"{source}: stages[{k}]", seen)
        where = f"{source}: stage {sid}"
        stages.append(Stage(sid, _text(e, "name", where), _patterns(e.get("cues"),
                                                                     f"{where}.cues")))
    return Taxonomy(tuple(causes), tuple(stages), frozenset(lemma(n) for n in negators),
                    window, 1, digest)


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Load ``path`` (default: the shipped ``nlp/taxonomy.yaml``) and validate it."""
    p = Path(path) if path is not None else SHIPPED
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise TaxonomyError(f"cannot read taxonomy {p}: {e}") from e
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise TaxonomyError(f"{p}: not valid YAML: {e}") from e
    return parse_taxonomy(data, str(p), hashlib.sha256(raw).hexdigest())
