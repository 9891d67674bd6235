"""Likely duplicates among problem statements: TF-IDF cosine over folded words.

Dependency-free and fast enough for a #WirVsVirus-sized funnel (about 2,000
statements): text is lower-cased, accent-folded (``é`` → ``e``), split into
words, French and English stop words are dropped and words are lightly
stemmed (plurals, a few common suffixes), so "Accès aux soins" and "acces
au soin" meet. Each document is a sparse TF-IDF vector; an inverted index
(term → documents) means a query only touches documents sharing a word
with it. Titles count double: they name the problem.

``bench/`` measures it at 2,000 statements; the figures are in the
challenges README section.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# Common function words of both languages, already folded (no accents).
STOP_WORDS: frozenset[str] = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    out over own same she should so some such than that the their theirs them then there these
    they this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours get gets got lot lots many much make makes made
    people need needs there's it's don't cannot can't us
    au aux avec ce ces cet cette dans de des du elle elles en et eux il ils je la le les leur
    leurs lui ma mais me meme mes moi mon ne nos notre nous on ou par pas pour qu que qui sa se
    ses son sur ta te tes toi ton tu un une vos votre vous c d j l m n s t y ete etre avoir
    ont est sont fait faire plus tres tout tous toute toutes comme aussi alors donc car sans
    sous entre chez lors dont ou quand quel quelle quels quelles cela ca ici peu beaucoup
    peut peuvent doit doivent faut il y a
    """.split()
)

_WORD = re.compile(r"[a-z0-9]+")
# Longest first: the first suffix that leaves a stem of 4+ letters is removed.
_SUFFIXES = (
    "ements",
    "ement",
    "ations",
    "ation",
    "ingly",
    "ings",
    "ing",
    "ites",
    "ite",
    "ies",
    "ees",
    "es",
    "ee",
    "s",
    "x",
    "e",
)


def fold(text: str) -> str:
    """Lower-case, accents removed (``Électricité`` → ``electricite``), œ/æ expanded."""
    text = text.casefold().replace("œ", "oe").replace("æ", "ae")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def stem(word: str) -> str:
    if len(word) <= 4 or word.isdigit():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def terms(text: str) -> list[str]:
    """The comparable words of ``text`` (folded, stop words dropped, stemmed)."""
    words = _WORD.findall(fold(text).replace("'", " ").replace("’", " "))
    return [stem(w) for w in words if len(w) > 1 and w not in STOP_WORDS]


def document_terms(title: str, body: str) -> Counter[str]:
    """Term counts for a statement: the title counts twice."""
    counts = Counter(terms(body))
    for term in terms(title):
        counts[term] += 2
    return counts


@dataclass(frozen=True)
class Match:
    doc_id: int
    score: float  # cosine similarity, 0..1


class SimilarityIndex:
    """An incremental TF-IDF index. Document ids are ints (statement ids)."""

    def __init__(self) -> None:
        self._docs: dict[int, Counter[str]] = {}
        self._postings: dict[str, dict[int, int]] = {}
        self._norms: dict[int, float] = {}
        self._idf: dict[str, float] = {}
        # term -> [(doc_id, tf-idf weight / document norm)]: what a query walks.
        self._weighted: dict[str, list[tuple[int, float]]] = {}
        self._dirty = True
        self._pending_changes = 0

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._docs

    def add(self, doc_id: int, title: str, body: str = "") -> None:
        self.remove(doc_id)
        counts = document_terms(title, body)
        self._docs[doc_id] = counts
        for term, count in counts.items():
            self._postings.setdefault(term, {})[doc_id] = count
        self._changed(doc_id, counts)

    def add_many(self, items: Iterable[tuple[int, str, str]]) -> None:
        for doc_id, title, body in items:
            self.add(doc_id, title, body)

    def remove(self, doc_id: int) -> None:
        counts = self._docs.pop(doc_id, None)
        if counts is None:
            return
        for term in counts:
            posting = self._postings.get(term)
            if posting is not None:
                posting.pop(doc_id, None)
                if not posting:
                    del self._postings[term]
            if not self._dirty and term in self._weighted:
                self._weighted[term] = [e for e in self._weighted[term] if e[0] != doc_id]
        self._norms.pop(doc_id, None)
        self._changed(None, None)

    def _changed(self, doc_id: int | None, counts: Counter[str] | None) -> None:
        """Keep the weights usable without a full recount after each submission.

        IDF hardly moves when one statement arrives among hundreds, so a new
        document is weighted with the current IDF (its new words get the IDF of
        a word seen once) and a full recount happens once a tenth of the
        documents changed since the last one.
        """
        self._pending_changes += 1
        if self._dirty or self._pending_changes * 10 > max(len(self._docs), 50):
            self._dirty = True
            return
        if doc_id is None or counts is None:
            return
        idf = self._idf
        rare = math.log((1 + len(self._docs)) / 2) + 1.0
        for term in counts:
            idf.setdefault(term, rare)
        norm = math.sqrt(sum((_tf(c) * idf[t]) ** 2 for t, c in counts.items())) or 1.0
        self._norms[doc_id] = norm
        for term, count in counts.items():
            self._weighted.setdefault(term, []).append((doc_id, _tf(count) * idf[term] / norm))

    def _refresh(self) -> None:
        """Recompute IDF and document norms (after adds/removes; O(total terms))."""
        if not self._dirty:
            return
        n = len(self._docs)
        self._idf = {
            term: math.log((1 + n) / (1 + len(posting))) + 1.0
            for term, posting in self._postings.items()
        }
        idf = self._idf
        self._norms = {
            doc_id: math.sqrt(sum((_tf(c) * idf[t]) ** 2 for t, c in counts.items())) or 1.0
            for doc_id, counts in self._docs.items()
        }
        norms = self._norms
        self._weighted = {
            term: [(d, _tf(c) * idf[term] / norms[d]) for d, c in posting.items()]
            for term, posting in self._postings.items()
        }
        self._dirty = False
        self._pending_changes = 0

    def similar_to_text(
        self,
        title: str,
        body: str = "",
        *,
        limit: int = 5,
        min_score: float = 0.2,
        exclude: Iterable[int] = (),
        among: set[int] | None = None,
    ) -> list[Match]:
        return self._query(document_terms(title, body), limit, min_score, set(exclude), among)

    def similar_to(
        self,
        doc_id: int,
        *,
        limit: int = 5,
        min_score: float = 0.2,
        among: set[int] | None = None,
    ) -> list[Match]:
        counts = self._docs.get(doc_id)
        if counts is None:
            return []
        return self._query(counts, limit, min_score, {doc_id}, among)

    def _query(
        self,
        counts: Counter[str],
        limit: int,
        min_score: float,
        exclude: set[int],
        among: set[int] | None,
    ) -> list[Match]:
        self._refresh()
        idf = self._idf
        weights = {t: _tf(c) * idf[t] for t, c in counts.items() if t in self._weighted}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        if not norm:
            return []
        scores: dict[int, float] = {}
        get = scores.get
        for term, weight in weights.items():
            weight /= norm
            for doc_id, doc_weight in self._weighted[term]:
                scores[doc_id] = get(doc_id, 0.0) + weight * doc_weight
        ranked = []
        for doc_id, score in scores.items():
            if doc_id in exclude or (among is not None and doc_id not in among):
                continue
            if score >= min_score:
                ranked.append(Match(doc_id, min(1.0, score)))
        ranked.sort(key=lambda m: (-m.score, m.doc_id))
        return ranked[:limit]


def _tf(count: int) -> float:
    # Sub-linear: a word repeated five times is not five times as telling.
    return 1.0 + math.log(count)
