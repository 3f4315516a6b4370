"""``serve --workers N``: N web processes sharing the port, and one scheduler process.

The web processes listen on the same port with SO_REUSEPORT, so the kernel spreads new
connections over them and one that dies takes only its own connections with it; the scheduler
serves /healthz on a port of its own (webhooks must never reach it). Each child is an ordinary
``python -m bot serve`` process, restarted after a second when it exits unexpectedly; SIGTERM
or SIGINT stops them all (SIGTERM, then SIGKILL after the grace time).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

from bot.kernel.config import Config
from bot.kernel.logs import log_event

log = logging.getLogger("bot.workers")
GRACE_SECONDS = 10.0


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started: float = field(default=0.0)

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, env=self.env)
        self.started = time.monotonic()
        log_event(log, "worker_started", worker=self.name, pid=self.process.pid)


def children(
    config: Config, config_path: str | None, workers: int, scheduler_port: int
) -> list[Child]:
    """The processes ``serve --workers`` runs: N web workers and one scheduler."""
    base = [sys.executable, "-m", "bot", "serve"]
    if config_path:
        base += ["--config", config_path]
    out = []
    for i in range(workers + 1):
        env = dict(os.environ)
        if config.metrics.port:
            env["BOT_METRICS_PORT"] = str(config.metrics.port + i)
        if i < workers:
            argv = [*base, "--role", "web", "--host", config.server.host]
            argv += ["--port", str(config.server.port), "--reuse-port"]
            out.append(Child(f"web-{i + 1}", argv, env))
        else:
            argv = [*base, "--role", "scheduler", "--host", config.server.host]
            argv += ["--port", str(scheduler_port)]
            out.append(Child("scheduler", argv, env))
    return out


def started_pids(log_lines: list[str]) -> dict[str, int]:
    """Worker name -> pid of its latest start, read from the supervisor's JSON log lines."""
    pids: dict[str, int] = {}
    for line in log_lines:
        if line.startswith("{") and '"worker_started"' in line:
            record = json.loads(line)
            pids[record["worker"]] = record["pid"]
    return pids


def supervise(procs: list[Child]) -> int:
    """Run ``procs`` until SIGTERM/SIGINT, restarting any that exits; returns 0."""
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in procs:
        child.start()
    while not stopping:
        time.sleep(0.2)
        for child in procs:
            assert child.process is not None
            code = child.process.poll()
            if code is None or stopping:
                continue
            log_event(
                log, "worker_exited", logging.WARNING, worker=child.name, code=code,
                pid=child.process.pid,
            )  # fmt: skip
            # A child that keeps dying young (the database unreachable, a config error) is not
            # restarted forever: five in a row that lived under 10 s stop everything.
            child.restarts = child.restarts + 1 if time.monotonic() - child.started < 10 else 1
            if child.restarts >= 5:
                log_event(log, "worker_given_up", logging.ERROR, worker=child.name)
                stopping = True
                break
            time.sleep(1)
            child.start()
    for child in procs:
        if child.process is not None and child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for child in procs:
        if child.process is None:
            continue
        try:
            child.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
    log_event(log, "workers_stopped")
    return 0
