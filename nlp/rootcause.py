"""Rule-based root-cause scores from lemma patterns (see ``nlp/taxonomy.yaml``).

Why rules first: no labelled Russian root-cause data exists for our domains, CX owners
must be able to read and edit why a review was routed to them, and a rule that fires
can be shown next to the review. A learned model can replace this class later behind the
same ``predict`` signature.
"""
from __future__ import annotations

from collections.abc import Sequence

from nlp.lemmas import lemmatize
from nlp.taxonomy import Pattern, Taxonomy, load_taxonomy

NEG_REACH = 2  # a negator affects the next two words: «не очень долго ждал»


class LemmaMatcher:
    """Finds taxonomy patterns in a lemma sequence, honouring negation cheaply."""

    def __init__(self, negators: frozenset[str], window: int) -> None:
        self.negators, self.window = negators, window
        self._unit_cache: dict[tuple[str, ...], tuple[list[tuple[str, str | None]], bool]] = {}

    def _negated(self, lem: Sequence[str], i: int) -> bool:
        before = lem[max(0, i - NEG_REACH) : i]
        return any(w in self.negators for w in before) or (
            i + 1 < len(lem) and lem[i + 1] == "нет")

    def _units(self, p: Pattern) -> list[tuple[str, str | None]]:
        """Pattern -> [(lemma, required preceding negator or None)]."""
        units: list[tuple[str, str | None]] = []
        pending: str | None = None
        for w in p.lemmas:
            if w in self.negators and pending is None:
                pending = w
                continue
            units.append((w, pending))
            pending = None
        if pending is not None:  # trailing negator («до сих пор не»): a plain word
            units.append((pending, None))
        return units

    def _positions(self, lem: Sequence[str], word: str, neg: str | None,
                   explicit: bool) -> list[int]:
        out = []
        for i, w in enumerate(lem):
            if w != word:
                continue
            if neg is not None:
                if neg in lem[max(0, i - NEG_REACH) : i]:
                    out.append(i)
            elif explicit or not self._negated(lem, i):
                out.append(i)
        return out

    def matches(self, lem: Sequence[str], p: Pattern,
                present: frozenset[str] | None = None) -> bool:
        """Whether ``p`` fires in ``lem``. ``present`` (the set of ``lem``, computed once
        per text by callers that test many patterns) skips patterns with a missing word
        without scanning the text: the rules were most of the Labeller's own time."""
        key = tuple(p.lemmas)
        cached = self._unit_cache.get(key)
        if cached is None:
            units = self._units(p)
            explicit = any(neg is not None for _, neg in units) or any(
                w in self.negators for w, _ in units)
            cached = self._unit_cache[key] = (units, explicit)
        units, explicit = cached
        if present is not None and any(w not in present for w, _ in units):
            return False
        pos = [self._positions(lem, w, neg, explicit) for w, neg in units]
        if any(not ps for ps in pos):
            return False
        if len(pos) == 1:
            return True
        return any(all(any(abs(q - a) <= self.window for q in ps) for ps in pos[1:])
                   for a in pos[0])


class RuleRootCauseLabeller:
    """``predict(texts) -> [{cause_id: score}]`` with only the causes that fired.

    Scores combine pattern weights as independent evidence, ``1 - Π(1 - w)``. Praise is
    not filtered here: the Labeller drops causes for positive texts using sentiment.
    """

    def __init__(self, taxonomy: Taxonomy | None = None) -> None:
        self.taxonomy = taxonomy or load_taxonomy()
        self.matcher = LemmaMatcher(self.taxonomy.negators, self.taxonomy.window)

    @property
    def version(self) -> str:
        return f"rules-{self.taxonomy.digest[:8]}"

    def explain(self, text: str) -> dict[str, list[str]]:
        """Which patterns fired per cause (for routing UIs and debugging rules)."""
        lem = lemmatize(text)
        present = frozenset(lem)
        out: dict[str, list[str]] = {}
        for c in self.taxonomy.causes:
            hits = [p.text for p in c.patterns if self.matcher.matches(lem, p, present)]
            if hits:
                out[c.id] = hits
        return out

    def predict_one(self, text: str) -> dict[str, float]:
        lem = lemmatize(text)
        present = frozenset(lem)
        scores: dict[str, float] = {}
        for c in self.taxonomy.causes:
            miss = 1.0
            for p in c.patterns:
                if self.matcher.matches(lem, p, present):
                    miss *= 1.0 - p.weight
            if miss < 1.0:
                scores[c.id] = round(1.0 - miss, 4)
        return scores

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if isinstance(texts, str):
            raise TypeError("predict() takes a list of texts; use predict_one for one text")
        return [self.predict_one(t) for t in texts]

    def stage(self, text: str) -> str | None:
        """Customer-journey stage with the most cue hits (ties: YAML order), or None."""
        lem = lemmatize(text)
        present = frozenset(lem)
        best, best_n = None, 0
        for s in self.taxonomy.stages:
            n = sum(self.matcher.matches(lem, p, present) for p in s.cues)
            if n > best_n:
                best, best_n = s.id, n
        return best
