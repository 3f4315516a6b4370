"""Matching a free-text question to FAQ topics: jieba words, BM25 ranking, a confidence.

Every example question (and each topic's title plus keywords) is one BM25 document; a topic
scores as its best document. BM25 scores are not comparable across questions, so the decision
uses a separate confidence: the share of the question's information (summed IDF of its words)
that the best topic's words explain. A question made of words no topic uses (今天天气怎么样)
has a confidence near 0 whatever its BM25 score.

rank-bm25 was measured first: its ``get_scores`` walks every document in Python for each word,
milliseconds a question at 1,000 topics (bench/faq.py prints both); the postings lists here,
scored with numpy, take tens of microseconds.
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
import numpy as np

# jieba logs its dictionary loading at INFO on its own logger.
jieba.setLogLevel(logging.WARNING)


class _Dictionary:
    """One loaded jieba dictionary with a set of topic words added (about 65 MB).

    Shared by every ``Tokenizer`` of the process with the same topic words (``_shared``): a
    process builds one app, but the test suite builds hundreds, and a dictionary each kept
    gigabytes alive."""

    def __init__(self, words: frozenset[str]) -> None:
        self.words = words
        self.jieba = jieba.Tokenizer()
        self.ready = threading.Event()
        self._lock = threading.Lock()  # held while loading
        self._start_lock = threading.Lock()  # never held long: the event loop takes it
        self._thread: threading.Thread | None = None

    def start_loading(self) -> None:
        with self._start_lock:
            if self._thread is None and not self.ready.is_set():
                self._thread = threading.Thread(target=self.load, name="jieba-load", daemon=True)
                self._thread.start()

    def load(self) -> None:
        with self._lock:
            if self.ready.is_set():
                return
            self.jieba.initialize()
            for word in self.words:
                if len(word) > 1:
                    # A high frequency keeps a topic word (青少年模式) in one piece.
                    self.jieba.add_word(word, freq=100_000)
            self.ready.set()

    def wait_ready(self, timeout: float | None) -> bool:
        if not self.ready.is_set():
            if self._thread is None:
                self.load()
            else:
                self.ready.wait(timeout)
        return self.ready.is_set()


# The dictionaries of this process by topic-word set; the newest few are kept (an edit of the
# topics' words makes a new one, the old one goes once no tokenizer uses it).
_SHARED: dict[frozenset[str], _Dictionary] = {}
_SHARED_KEEP = 2
_SHARED_LOCK = threading.Lock()


def _shared(words: frozenset[str]) -> _Dictionary:
    with _SHARED_LOCK:
        found = _SHARED.pop(words, None) or _Dictionary(words)
        _SHARED[words] = found  # most recently used last
        while len(_SHARED) > _SHARED_KEEP:
            _SHARED.pop(next(iter(_SHARED)))
        return found


class Tokenizer:
    """jieba segmentation with stopwords dropped and synonyms folded to one word.

    A private ``jieba.Tokenizer`` (not the module-level one) so topic words added here never
    change segmentation elsewhere; tokenizers with the same topic words share it. Its
    dictionary ships inside the jieba package; loading it takes about half a second, so
    ``start_loading`` does it in a thread at start-up and the first question waits only for
    what is left.
    """

    def __init__(
        self,
        stopwords: Iterable[str] = (),
        synonyms: Mapping[str, str] | None = None,
        words: Iterable[str] = (),
    ) -> None:
        self.stopwords = frozenset(_fold(w) for w in stopwords)
        self.synonyms = {_fold(k): _fold(v) for k, v in (synonyms or {}).items()}
        self._dictionary = _shared(
            frozenset({_fold(w) for w in words} | set(self.synonyms) | set(self.synonyms.values()))
        )
        self._jieba = self._dictionary.jieba

    def start_loading(self) -> None:
        """Load the dictionary in a background thread (idempotent)."""
        self._dictionary.start_loading()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the dictionary is loaded (loading it here if nobody started)."""
        return self._dictionary.wait_ready(timeout)

    def groups(self, text: str) -> list[tuple[str, ...]]:
        """The topic-bearing words of ``text``, each with the dictionary words inside it
        (青少年模式: 青少年, 少年, 模式), synonyms folded, in order.

        The inner words let a question match a longer word of a topic and back a word no
        topic uses off to its parts; the matcher uses them only for that."""
        self.wait_ready()
        freq = self._jieba.FREQ
        out: list[tuple[str, ...]] = []
        for piece in self._jieba.cut(_fold(text)):
            word = piece.strip()
            if not word or word in self.stopwords or not any(ch.isalnum() for ch in word):
                continue
            full = self.synonyms.get(word, word)
            parts: dict[str, None] = {}
            for n in (2, 3):
                if len(word) > n:
                    for i in range(len(word) - n + 1):
                        sub = word[i : i + n]
                        if freq.get(sub) and sub not in self.stopwords:
                            parts.setdefault(self.synonyms.get(sub, sub))
            parts.pop(full, None)
            out.append((full, *parts))
        return out

    def tokens(self, text: str) -> list[str]:
        """Every word of ``groups`` in one list (what a document is indexed by)."""
        return [word for group in self.groups(text) for word in group]


def _fold(text: str) -> str:
    """Full-width to half-width and lower case, so 'ＡＰＰ' and 'app' are one word."""
    return unicodedata.normalize("NFKC", text).lower()


# How many BM25 leaders are re-ranked (see Bm25Index.search).
RERANK = 10


@dataclass(frozen=True)
class Hit:
    """One topic's result for a question."""

    entry_id: int
    score: float  # BM25 of the topic's best document
    confidence: float  # share of the question's IDF the topic's words cover, 0..1


@dataclass
class Bm25Index:
    """Okapi BM25 over short documents, with postings lists: a question touches only the
    documents that share a word with it. Each posting carries its precomputed term weight
    (tf and length normalisation), so scoring a word is one vectorised multiply-add over its
    postings; a topic's documents are contiguous, so its best document is one reduceat."""

    k1: float = 1.2
    b: float = 0.75
    entry_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    n_docs: int = 0
    postings: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    idf: dict[str, float] = field(default_factory=dict)
    vocab: dict[int, frozenset[str]] = field(default_factory=dict)
    unknown_idf: float = 1.0

    @classmethod
    def build(cls, documents: Iterable[tuple[int, Sequence[str]]]) -> Bm25Index:
        """An index of ``(entry_id, words)`` documents (several per entry)."""
        index = cls()
        by_entry: dict[int, list[Sequence[str]]] = defaultdict(list)
        for entry_id, words in documents:
            by_entry[entry_id].append(words)
        docs = [(e, words) for e, group in by_entry.items() for words in group]
        n = len(docs)
        avg = sum(len(words) for _, words in docs) / n if n else 1.0
        raw: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        k1, b = index.k1, index.b
        starts: list[int] = []
        previous = None
        for doc_id, (entry_id, words) in enumerate(docs):
            if entry_id != previous:
                starts.append(doc_id)
                previous = entry_id
            counts: dict[str, int] = defaultdict(int)
            for word in words:
                counts[word] += 1
            norm = k1 * (1 - b + b * len(words) / avg) if avg else k1
            for word, tf in counts.items():
                ids, weights = raw[word]
                ids.append(doc_id)
                weights.append(tf * (k1 + 1) / (tf + norm))
        index.n_docs = n
        index.entry_ids = np.array(list(by_entry), dtype=np.int64)
        index.starts = np.array(starts, dtype=np.int64)
        index.postings = {
            w: (np.array(ids, dtype=np.int64), np.array(ws, dtype=np.float64))
            for w, (ids, ws) in raw.items()
        }
        # The "+1" form never goes negative (Lucene's), unlike the original for common words.
        index.idf = {
            word: math.log(1 + (n - len(ids) + 0.5) / (len(ids) + 0.5))
            for word, (ids, _) in raw.items()
        }
        index.unknown_idf = math.log(1 + (n + 0.5) / 0.5)
        index.vocab = {
            e: frozenset(w for words in group for w in words) for e, group in by_entry.items()
        }
        return index

    def search(self, groups: Sequence[Sequence[str]], limit: int = 3) -> list[Hit]:
        """The best ``limit`` topics for a question's word groups (see Tokenizer.groups).

        A word the index knows stands for itself; one it does not know backs off to the
        known words inside it. The confidence weighs each group by its IDF (a word no
        document has weighs most), so unknown words pull it down."""
        postings, idf = self.postings, self.idf
        used: list[tuple[str, ...]] = []
        weights: list[float] = []
        seen: set[str] = set()
        for group in groups:
            if not group or group[0] in seen:
                continue
            seen.add(group[0])
            if group[0] in postings:
                words: tuple[str, ...] = (group[0],)
            else:
                words = tuple(w for w in group[1:] if w in postings)
            used.append(words)
            weights.append(max((idf[w] for w in words), default=self.unknown_idf))
        query = list(dict.fromkeys(w for words in used for w in words))
        if not query or not self.n_docs:
            return []
        scores = np.zeros(self.n_docs)
        for word in query:
            ids, tf_weights = postings[word]
            scores[ids] += idf[word] * tf_weights  # a word is in a document once: no clash
        best = np.maximum.reduceat(scores, self.starts)
        # The BM25 leaders are re-ranked by BM25 times confidence: one close example question
        # (BM25) and a topic whose words explain the whole question (confidence) both count.
        k = min(max(limit, RERANK), len(best))
        top = np.argpartition(-best, k - 1)[:k]
        total = sum(weights)
        hits = []
        for i in top.tolist():
            if best[i] <= 0:
                continue
            entry_id = int(self.entry_ids[i])
            vocab = self.vocab[entry_id]
            covered = sum(
                wt
                for words, wt in zip(used, weights, strict=True)
                if any(w in vocab for w in words)
            )
            hits.append(Hit(entry_id, float(best[i]), covered / total if total else 0.0))
        hits.sort(key=lambda h: (-h.score * h.confidence, -h.score, h.entry_id))
        return hits[:limit]
