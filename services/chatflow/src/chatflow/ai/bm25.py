"""An in-memory BM25 index over knowledge-base passages (FAQ entries and document chunks).

BM25 ranks; the confidence reported with a hit is the share of the question's distinct terms
that the passage contains (0..1), which, unlike a raw BM25 score, means the same thing in a
knowledge base of 3 entries and of 3,000, so one threshold works for every tenant.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from uuid import UUID

from majlis.ai.text import Language

K1, B = 1.2, 0.75


@dataclass(frozen=True, slots=True)
class Passage:
    """One searchable unit and the answers it gives, by language."""

    kind: str  # "entry" or "document"
    source_id: UUID
    position: int  # the chunk's place in its document (0 for an entry)
    answers: dict[Language, str]
    tokens: tuple[str, ...]

    @property
    def key(self) -> str:
        """A stable id of the passage: kind, source and position."""
        return f"{self.kind}:{self.source_id}:{self.position}"


@dataclass(frozen=True, slots=True)
class Hit:
    """A ranked passage."""

    passage: Passage
    score: float
    confidence: float


class Bm25Index:
    """Postings, lengths and document frequencies of a fixed set of passages."""

    def __init__(self, passages: list[Passage]) -> None:
        """Index `passages` (the index never changes: a change builds a new one)."""
        self.passages = passages
        self._postings: dict[str, list[tuple[int, int]]] = {}
        self._lengths = [len(p.tokens) for p in passages]
        for number, passage in enumerate(passages):
            for term, count in Counter(passage.tokens).items():
                self._postings.setdefault(term, []).append((number, count))
        total = sum(self._lengths)
        self._average = total / len(passages) if passages else 0.0

    def __len__(self) -> int:
        return len(self.passages)

    def _idf(self, term: str) -> float:
        df = len(self._postings.get(term, ()))
        n = len(self.passages)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def search(self, query: list[str], limit: int = 5) -> list[Hit]:
        """The best `limit` passages for the query's tokens, best first."""
        terms = list(dict.fromkeys(query))
        if not terms or not self.passages:
            return []
        scores: dict[int, float] = {}
        matched: dict[int, int] = {}
        for term in terms:
            postings = self._postings.get(term)
            if not postings:
                continue
            idf = self._idf(term)
            for number, tf in postings:
                norm = K1 * (1 - B + B * self._lengths[number] / self._average)
                scores[number] = scores.get(number, 0.0) + idf * tf * (K1 + 1) / (tf + norm)
                matched[number] = matched.get(number, 0) + 1
        ranked = sorted(scores, key=lambda n: (-scores[n], -matched[n], n))[:limit]
        return [Hit(self.passages[n], scores[n], matched[n] / len(terms)) for n in ranked]
