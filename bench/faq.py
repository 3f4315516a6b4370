"""FAQ understanding and speed.

1. The test set (tests/data/faq_questions.toml) through the shipped topics: top-1 accuracy,
   right / wrong / clarified / handed-to-staff shares, and off-topic questions answered.
2. Start-up: jieba's import and dictionary load (a fresh process would pay the same).
3. Speed at scale: 1,000 topics (the shipped ones with their questions reworded by swapping in
   words of other topics, so postings lists grow like a real catalogue's), the time per
   question of the matcher (segmentation + BM25) and of rank-bm25 over the same documents
   when it is installed (it is not a dependency; it was measured to choose).

    .venv/bin/python bench/faq.py
    .venv/bin/python bench/faq.py --topics 1000 --rounds 3 --misses
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.kernel.content import Texts  # noqa: E402
from handlers.faq.evaluate import evaluate, load_testset, shipped_matcher  # noqa: E402
from handlers.faq.matcher import Bm25Index  # noqa: E402
from handlers.faq.service import FaqConfig, FaqMatcher  # noqa: E402
from storage.faq import IndexedEntry  # noqa: E402

TESTSET = ROOT / "tests" / "data" / "faq_questions.toml"


def quality(texts: Texts, show_misses: bool) -> None:
    matcher = shipped_matcher(texts)
    testset = load_testset(TESTSET)
    fig = evaluate(matcher, testset)
    cfg = FaqConfig()
    print(
        f"test set: {fig.total} questions ({fig.topical} topical, {fig.off_topic} off-topic), "
        f"{len(matcher.entries)} topics, thresholds answer {cfg.answer_threshold} / "
        f"clarify {cfg.clarify_threshold}"
    )
    print(f"  top-1 accuracy (ranking, topical)   {fig.share(fig.top1, fig.topical):7.1%}")
    print(f"  right (answered right / not topical) {fig.share(fig.right):7.1%}")
    print(f"  wrong answers                        {fig.share(fig.wrong):7.1%}")
    print(f"  asked 您是想问                        {fig.share(fig.clarified):7.1%}")
    print(f"  handed to staff (topical)            {fig.share(fig.handed):7.1%}")
    off = fig.share(fig.off_topic_answered, fig.off_topic)
    print(f"  off-topic given a topical answer     {off:7.1%}")
    if show_misses:
        for miss in fig.misses:
            print("   ", miss)


APP_START = """
import asyncio, sys, tempfile, time
from aiohttp.test_utils import TestServer
from bot.app import create_app
from bot.config import load_config

async def main():
    data = tempfile.mkdtemp()
    config = load_config(None, env={}, overrides={
        "server": {"data_dir": data}, "faq": {"enabled": sys.argv[1] == "on"}})
    started = time.perf_counter()
    server = TestServer(create_app(config), host="127.0.0.1")
    await server.start_server()
    print(f"{(time.perf_counter() - started) * 1000:.0f}")
    await server.close()

asyncio.run(main())
"""


def app_start() -> None:
    ms = {}
    for switch in ("off", "on"):
        out = subprocess.run(
            [sys.executable, "-c", APP_START, switch],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        ms[switch] = int(out.stdout.split()[-1])
    print(
        f"app start-up in a fresh process (new SQLite file, migrations included): "
        f"FAQ off {ms['off']} ms, on {ms['on']} ms (+{ms['on'] - ms['off']} ms: jieba's "
        "dictionary in a thread and the index, before the first webhook)"
    )


def startup() -> None:
    code = (
        "import time; t=time.perf_counter(); import jieba; a=time.perf_counter();"
        "from handlers.faq.matcher import Tokenizer; tok=Tokenizer(); tok.wait_ready();"
        "b=time.perf_counter(); print(f'{(a-t)*1000:.0f} {(b-a)*1000:.0f}')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    print(
        f"start-up in a fresh process: import jieba {out[0]} ms, dictionary {out[1]} ms "
        "(once per process, in a thread)"
    )


def catalogue(texts: Texts, size: int, seed: int = 7) -> list[IndexedEntry]:
    """``size`` topics built from the shipped ones, questions reworded with other topics' words."""
    base = list(shipped_matcher(texts).entries.values())
    rng = random.Random(seed)
    pool = [q for e in base for q in e.questions]
    out = []
    for i in range(size):
        src = base[i % len(base)]
        questions = []
        for q in src.questions:
            other = rng.choice(pool)
            cut = rng.randint(1, max(1, len(q) - 1))
            questions.append(q[:cut] + other[rng.randint(0, len(other) - 1) :])
        out.append(
            IndexedEntry(
                id=i + 1,
                slug=f"{src.slug}-{i}",
                title=f"{src.title}{i}",
                campaign="all",
                reply_json=src.reply_json,
                keywords=src.keywords,
                questions=tuple(questions),
            )
        )
    return out


def median_us(fn: Callable[[Any], object], items: Sequence[Any], rounds: int) -> float:
    """The median over ``rounds`` of the time per item of ``fn``, in microseconds."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for item in items:
            fn(item)
        times.append((time.perf_counter() - started) / len(items))
    return statistics.median(times) * 1e6


def speed(texts: Texts, size: int, rounds: int) -> None:
    testset = load_testset(TESTSET)
    questions = [q for qs in testset.values() for q in qs]
    matcher = FaqMatcher(shipped_matcher(texts).tokenizer, FaqConfig())
    entries = catalogue(texts, size)
    started = time.perf_counter()
    matcher.build(entries)
    build_ms = (time.perf_counter() - started) * 1000
    docs = sum(len(e.questions) + 1 for e in entries)
    print(f"{size} topics, {docs} documents: index built in {build_ms:.0f} ms")

    tok = matcher.tokenizer.tokens
    segment_us = median_us(tok, questions, rounds)
    decide_us = median_us(matcher.decide, questions, rounds)
    print(f"  segmentation alone         {segment_us:8.1f} µs a question")
    print(f"  segmentation + BM25 + decide {decide_us:6.1f} µs a question")
    try:
        from rank_bm25 import BM25Okapi
    except ImportError:
        print("  rank-bm25 not installed: comparison skipped")
        return
    tokenized = [tok(q) for e in entries for q in e.questions]
    ref = BM25Okapi(tokenized)
    ours = Bm25Index.build((0, t) for t in tokenized)
    words = [tok(q) for q in questions]
    groups = [[(w,) for w in ws] for ws in words]

    ref_us = median_us(ref.get_scores, words, rounds)
    ours_us = median_us(ours.search, groups, rounds)
    print(
        f"  scoring only: rank-bm25 get_scores {ref_us:.0f} µs, postings BM25 {ours_us:.0f} µs "
        f"(ratio {ref_us / ours_us:.1f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--misses", action="store_true", help="list every question not right")
    args = parser.parse_args()
    texts = Texts.load()
    quality(texts, args.misses)
    startup()
    app_start()
    speed(texts, args.topics, args.rounds)


if __name__ == "__main__":
    main()
