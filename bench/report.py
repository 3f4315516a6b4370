"""The annual office report over a generated campaign year, on SQLite and on PostgreSQL.

For each database: an empty schema, ``python -m bot demo-data`` (100 000 followers, a million
messages, 20 000 volunteers by default), then ``python -m bot report --period YEAR`` in a
process of its own; prints the report's wall seconds and the peak memory (max RSS) of that
process, and the same for the data generation. Target: the report under 60 s and 500 MB.

    .venv/bin/python bench/report.py
    .venv/bin/python bench/report.py --messages 100000 --followers 10000 --volunteers 2000
    .venv/bin/python bench/report.py --postgres ''            # SQLite only
    .venv/bin/python bench/report.py --format xlsx,docx        # leave the PDF out

The PostgreSQL database named by ``--postgres`` is emptied (DROP SCHEMA public CASCADE).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from webhook import empty_postgres  # noqa: E402

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/bot_reports"
YEAR = 2027


def run(argv: list[str], workdir: Path) -> tuple[float, float, str]:
    """Run ``python -m bot ARGV`` in ``workdir``: (wall seconds, peak RSS in MB, last line).

    The peak is the child's ``ru_maxrss`` from wait4: the largest of the process and anything
    it waited for (LibreOffice, when the PDF is asked for)."""
    out_path, err_path = workdir / f"{argv[0]}.out", workdir / f"{argv[0]}.err"
    started = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        child = subprocess.Popen(
            [sys.executable, "-m", "bot", *argv],
            cwd=workdir,
            stdout=out,
            stderr=err,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        _pid, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        tail = err_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise SystemExit(f"{argv[0]} failed:\n{tail}")
    lines = out_path.read_text(encoding="utf-8").strip().splitlines()
    return seconds, usage.ru_maxrss / 1024, lines[-1] if lines else ""


def config(workdir: Path, url: str) -> Path:
    path = workdir / "bot.toml"
    path.write_text(
        f'[server]\ndata_dir = "{workdir / "data"}"\n[database]\nurl = "{url}"\n',
        encoding="utf-8",
    )
    return path


def bench(name: str, url: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix=f"bench-report-{name}-") as tmp:
        workdir = Path(tmp)
        if url == "sqlite":
            url = f"sqlite+aiosqlite:///{workdir / 'bot.db'}"
        else:
            asyncio.run(empty_postgres(url))
        cfg = str(config(workdir, url))
        run(["db", "upgrade", "-c", cfg], workdir)
        gen_s, gen_mb, summary = run(
            [
                "demo-data",
                "-c",
                cfg,
                "--followers",
                str(args.followers),
                "--messages",
                str(args.messages),
                "--volunteers",
                str(args.volunteers),
                "--year",
                str(YEAR),
                "--seed",
                "1",
            ],
            workdir,
        )
        print(f"{name}: demo-data {gen_s:.1f} s, peak {gen_mb:.0f} MB ({summary})", flush=True)
        out = workdir / "out"
        out.mkdir()
        rep_s, rep_mb, _ = run(
            [
                "report",
                "-c",
                cfg,
                "--period",
                str(YEAR),
                "--format",
                args.format,
                "--out",
                str(out),
            ],
            workdir,
        )
        files = ", ".join(
            f"{p.name} {p.stat().st_size // 1024} KB" for p in sorted(out.iterdir()) if p.is_file()
        )
        verdict = "ok" if rep_s < 60 and rep_mb < 500 else "OVER TARGET"
        print(
            f"{name}: annual report {rep_s:.1f} s, peak {rep_mb:.0f} MB [{verdict}] ({files})",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--volunteers", type=int, default=20_000)
    parser.add_argument("--format", default="xlsx,docx,pdf")
    parser.add_argument("--postgres", default=DEFAULT_PG, help="'' to skip PostgreSQL")
    parser.add_argument("--sqlite", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    if args.sqlite:
        bench("sqlite", "sqlite", args)
    if args.postgres:
        bench("postgresql", args.postgres, args)
    print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
