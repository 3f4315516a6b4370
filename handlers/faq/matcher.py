"""Matching a free-text question to FAQ topics: jieba words, BM25 ranking, a confidence.

Every example question (and each topic's title plus keywords) is one BM25 document; a topic
scores as its best document. BM25 scores are not comparable across questions, so the decision
uses a separate confidence: the share of the question's information (summed IDF of its words)
that the best topic's words explain. A question made of words no topic uses (今天天气怎么样)
has a confidence near 0 whatever its BM25 score.

rank-bm25 was measured first: its ``get_scores`` walks every document in Python for each word
(about 4 ms a question at 1,000 topics, see bench/faq.py); postings lists here touch only the
documents that share a word, well under 1 ms.
"""

from __future__ import annotations

import logging
import math
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import jieba

# jieba logs its dictionary loading at INFO on its own logger.
jieba.setLogLevel(logging.WARNING)


class Tokenizer:
    """jieba segmentation with stopwords dropped and synonyms folded to one word.

    A private ``jieba.Tokenizer`` (not the module-level one) so topic words added here never
    change segmentation elsewhere. Its dictionary ships inside the jieba package; loading it
    takes about half a second, so ``start_loading`` does it in a thread at start-up and the
    first question waits only for what is left.
    """

    def __init__(
        self,
        stopwords: Iterable[str] = (),
        synonyms: Mapping[str, str] | None = None,
        words: Iterable[str] = (),
    ) -> None:
        self.stopwords = frozenset(_fold(w) for w in stopwords)
        self.synonyms = {_fold(k): _fold(v) for k, v in (synonyms or {}).items()}
        self._words = {_fold(w) for w in words} | set(self.synonyms) | set(self.synonyms.values())
        self._jieba = jieba.Tokenizer()
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start_loading(self) -> None:
        """Load the dictionary in a background thread (idempotent)."""
        with self._lock:
            if self._thread is None and not self._ready.is_set():
                self._thread = threading.Thread(target=self._load, name="jieba-load", daemon=True)
                self._thread.start()

    def _load(self) -> None:
        with self._lock:
            if self._ready.is_set():
                return
            self._jieba.initialize()
            for word in self._words:
                if len(word) > 1:
                    # A high frequency keeps a topic word (青少年模式) in one piece.
                    self._jieba.add_word(word, freq=100_000)
            self._ready.set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the dictionary is loaded (loading it here if nobody started)."""
        if not self._ready.is_set():
            if self._thread is None:
                self._load()
            else:
                self._ready.wait(timeout)
        return self._ready.is_set()

    def tokens(self, text: str) -> list[str]:
        """The topic-bearing words of ``text``, synonyms folded, in order."""
        self.wait_ready()
        out: list[str] = []
        for piece in self._jieba.lcut_for_search(_fold(text)):
            word = piece.strip()
            if not word or word in self.stopwords or not any(ch.isalnum() for ch in word):
                continue
            out.append(self.synonyms.get(word, word))
        return out


def _fold(text: str) -> str:
    """Full-width to half-width and lower case, so 'ＡＰＰ' and 'app' are one word."""
    return unicodedata.normalize("NFKC", text).lower()


@dataclass(frozen=True)
class Hit:
    """One topic's result for a question."""

    entry_id: int
    score: float  # BM25 of the topic's best document
    confidence: float  # share of the question's IDF the topic's words cover, 0..1


@dataclass
class _Doc:
    entry_id: int
    length: int


@dataclass
class Bm25Index:
    """Okapi BM25 over short documents, with postings lists (only shared words are touched)."""

    k1: float = 1.2
    b: float = 0.75
    docs: list[_Doc] = field(default_factory=list)
    postings: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    idf: dict[str, float] = field(default_factory=dict)
    vocab: dict[int, frozenset[str]] = field(default_factory=dict)
    avg_len: float = 1.0
    unknown_idf: float = 1.0

    @classmethod
    def build(cls, documents: Iterable[tuple[int, Sequence[str]]]) -> Bm25Index:
        """An index of ``(entry_id, words)`` documents (several per entry)."""
        index = cls()
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        vocab: dict[int, set[str]] = defaultdict(set)
        total = 0
        for entry_id, words in documents:
            doc_id = len(index.docs)
            index.docs.append(_Doc(entry_id, len(words)))
            total += len(words)
            counts: dict[str, int] = defaultdict(int)
            for word in words:
                counts[word] += 1
            for word, tf in counts.items():
                postings[word].append((doc_id, tf))
            vocab[entry_id].update(words)
        n = len(index.docs)
        index.postings = dict(postings)
        index.avg_len = total / n if n else 1.0
        # The "+1" form never goes negative (Lucene's), unlike the original for common words.
        index.idf = {
            w: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for w, p in postings.items()
        }
        index.unknown_idf = math.log(1 + (n + 0.5) / 0.5)
        index.vocab = {e: frozenset(v) for e, v in vocab.items()}
        return index

    def search(self, words: Sequence[str], limit: int = 3) -> list[Hit]:
        """The best ``limit`` topics for a question's words, best first."""
        query = list(dict.fromkeys(words))  # a repeated word counts once
        if not query or not self.docs:
            return []
        doc_scores: dict[int, float] = defaultdict(float)
        k1, b, avg = self.k1, self.b, self.avg_len
        docs = self.docs
        for word in query:
            plist = self.postings.get(word)
            if plist is None:
                continue
            idf = self.idf[word]
            for doc_id, tf in plist:
                norm = k1 * (1 - b + b * docs[doc_id].length / avg)
                doc_scores[doc_id] += idf * tf * (k1 + 1) / (tf + norm)
        best: dict[int, float] = {}
        for doc_id, score in doc_scores.items():
            entry = docs[doc_id].entry_id
            if score > best.get(entry, 0.0):
                best[entry] = score
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        weights = [self.idf.get(w, self.unknown_idf) for w in query]
        total = sum(weights)
        hits = []
        for entry_id, score in ranked:
            vocab = self.vocab[entry_id]
            covered = sum(wt for w, wt in zip(query, weights, strict=True) if w in vocab)
            hits.append(Hit(entry_id, score, covered / total if total else 0.0))
        return hits
