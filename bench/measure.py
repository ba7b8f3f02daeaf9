"""Timing one process precisely, and running candidates side by side.

A process is started with posix_spawn (no Python fork cost in the measured
time) and reaped with wait4. Its peak RSS cannot be taken from that wait4:
a child spawned from Python counts Python's own memory too (see
bench/c/maxrss.c), so where peak RSS matters the command runs under the
small maxrss wrapper, which reports it precisely. Every wait has a deadline:
a child that overruns it is killed, so no benchmark can hang.
"""

import os
import select
import signal
import statistics
import time
from dataclasses import dataclass, field


class BenchError(Exception):
    """A candidate failed or overran: the row cannot be measured."""


@dataclass
class Sample:
    seconds: float
    maxrss_kib: int = 0  # 0: not measured
    cpu: float = 0.0  # user + system seconds, the process and its children
    extra: dict = field(default_factory=dict)


RSS_WRAPPER = {"path": None}  # set once the C baselines are compiled


def with_rss(argv, report):
    """argv run under the maxrss wrapper, which writes the peak RSS to report."""
    return [RSS_WRAPPER["path"], report, *argv]


def read_rss(report):
    with open(report) as f:
        return int(f.read())


def spawn(argv, stdout="/dev/null", stderr=None):
    """Starts argv[0] (searched on PATH) with stdin from /dev/null."""
    actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0)]
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    actions.append((os.POSIX_SPAWN_OPEN, 1, stdout, flags, 0o644))
    if stderr is not None:
        actions.append((os.POSIX_SPAWN_OPEN, 2, stderr, flags, 0o644))
    # Its own process group: a timeout kills the command and anything it started.
    return os.posix_spawnp(argv[0], list(argv), os.environ, file_actions=actions, setpgroup=0)


def reap(pid, deadline, what):
    """Waits for pid until the monotonic deadline; returns (status, rusage).

    On overrun, or if the harness itself is interrupted meanwhile (Ctrl-C),
    the child's whole process group is killed first.
    """
    fd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        left = deadline - time.monotonic()
        ready = left > 0 and poller.poll(left * 1000)
    except BaseException:
        kill_quietly(pid)
        raise
    finally:
        os.close(fd)
    if not ready:
        kill_quietly(pid)
        raise BenchError(f"{what}: killed after its time limit")
    _, status, usage = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), usage


def kill_quietly(pid):
    """Ends a peer that is still running (used when a run fails halfway)."""
    try:
        os.killpg(pid, signal.SIGKILL)
        os.wait4(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def tail(path, lines=8):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:]).rstrip()
    except OSError:
        return ""


def run_once(argv, limit, stdout="/dev/null", stderr=None, rss_report=None):
    """Runs one process to its end; wall time from spawn to reap."""
    start = time.perf_counter()
    pid = spawn(with_rss(argv, rss_report) if rss_report else argv, stdout, stderr)
    status, usage = reap(pid, time.monotonic() + limit, argv[0])
    seconds = time.perf_counter() - start
    if status != 0:
        detail = tail(stderr) if stderr else ""
        raise BenchError(f"{' '.join(map(str, argv))}: exit status {status}\n{detail}")
    return Sample(seconds, read_rss(rss_report) if rss_report else 0, cpu_seconds(usage))


def cpu_seconds(usage):
    return usage.ru_utime + usage.ru_stime


@dataclass
class Candidate:
    """One contender of a row: `run()` measures it once."""

    name: str
    run: object
    check: object = None  # optional: called after each run, raises BenchError


def interleave(candidates, runs, warmup=1, progress=None):
    """Runs every candidate `warmup + runs` times, round-robin.

    Each round rotates the order (A B C, B C A, C A B, ...) so that no
    candidate always runs right after a particular other one. The warm-up
    rounds fill caches and are thrown away.
    """
    samples = {c.name: [] for c in candidates}
    for round_no in range(warmup + runs):
        shift = round_no % len(candidates)
        for candidate in candidates[shift:] + candidates[:shift]:
            sample = candidate.run()
            if candidate.check is not None:
                candidate.check(sample)
            if round_no >= warmup:
                samples[candidate.name].append(sample)
        if progress:
            progress(round_no + 1, warmup + runs)
    return samples


def median(samples, key=lambda s: s.seconds):
    return statistics.median(key(s) for s in samples)


def spread(samples, key=lambda s: s.seconds):
    values = [key(s) for s in samples]
    return min(values), max(values)
