"""The rows of `trace` (SPEC §16, issue 13): what tracing costs a session,
and that a busy loopback costs a traced session nothing, because the
kernel filter keeps other programs' packets out of it.

Capturing needs root or CAP_NET_RAW; any other user runs every candidate
under --netns (so the traced and untraced runs stay comparable)."""

import os
import signal
import subprocess

from measure import BenchError, Candidate, interleave, median, run_once
from rows import GiB, ROUND_TRIPS, Check, Row, progress, timing_line, write_script

HERE = os.path.dirname(os.path.abspath(__file__))
MOVER_LIMIT = 120  # seconds: the mover stops by itself after this


def roundtrip_lines(count, traced):
    lines = ["trace on"] if traced else []
    lines += [
        "socket srv tcp",
        "bind srv 127.0.0.1:0",
        "listen srv",
        "socket a tcp",
        "connect a ${srv.addr}",
        "accept srv b",
    ]
    return lines + ["sendall a x", "expect b x", "sendall b x", "expect a x"] * count


def sockrepl(env):
    """sockrepl's argv start: --netns when this user may not capture here."""
    return [env.sockrepl] + ([] if os.geteuid() == 0 else ["--netns"])


def checked(path, traced):
    def check(_sample):
        with open(path, "rb") as f:
            text = f.read()
        if text.count(b"\nok: 1 byte as expected\n") != 2 * ROUND_TRIPS:
            raise BenchError(f"not {2 * ROUND_TRIPS} expects in {path}")
        if traced and text.count(b"PSH-ACK") < 2 * ROUND_TRIPS:
            raise BenchError(f"the trace lacks data segments: see {path}")

    return check


def trace_cost(env):
    row = Row("trace", f"`trace on`: {ROUND_TRIPS:,} one-byte round trips traced vs not, transcript to a file")
    plain = write_script(env.path("trace-plain.sock"), roundtrip_lines(ROUND_TRIPS, False))
    traced = write_script(env.path("trace-on.sock"), roundtrip_lines(ROUND_TRIPS, True))
    out_plain, out_traced, err = env.path("trace-plain.out"), env.path("trace-on.out"), env.path("trace.err")
    candidates = [
        Candidate("sockrepl run, trace on", lambda: run_once(sockrepl(env) + ["run", traced], 120, stdout=out_traced, stderr=err), checked(out_traced, True)),
        Candidate("sockrepl run, no trace", lambda: run_once(sockrepl(env) + ["run", plain], 120, stdout=out_plain, stderr=err), checked(out_plain, False)),
        Candidate("sockrepl --stable run, trace on", lambda: run_once(sockrepl(env) + ["--stable", "run", traced], 120, stdout=out_traced, stderr=err), checked(out_traced, True)),
    ]
    samples = interleave(candidates, env.runs["roundtrip"], progress=progress(env, row.key))
    on, off, stable = (median(samples[c.name]) for c in candidates)
    on_cpu, off_cpu, stable_cpu = (median(samples[c.name], key=lambda s: s.cpu) for c in candidates)
    row.lines = [timing_line(c.name, samples[c.name]) for c in candidates]
    row.checks = [
        Check("trace on vs off (wall)", f"{on / off:.3f}×", "≤ 2.0×", on / off <= 2.0),
        Check("trace on vs off (CPU)", f"{on_cpu / off_cpu:.3f}×", "(for reference)", True),
        Check("trace on, --stable, vs off (wall)", f"{stable / off:.3f}×", "≤ 2.0×", stable / off <= 2.0),
    ]
    return row


class Mover:
    """Another program moving bytes over loopback while a candidate runs."""

    def __init__(self, env):
        self.env = env

    def __enter__(self):
        argv = [self.env.python, os.path.join(HERE, "py", "loopback_mover.py"), str(MOVER_LIMIT)]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        if self.process.stdout.readline().strip() != "moving":
            self.process.kill()
            raise BenchError("the loopback mover did not start")
        return self

    def __exit__(self, *_):
        self.process.send_signal(signal.SIGTERM)
        try:
            out, _ = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise BenchError("the loopback mover did not stop")
        self.moved = int(out.strip() or 0)


def busy_loopback(env):
    row = Row("trace-busy", f"`trace on` with a busy loopback: the traced session's own CPU time, {ROUND_TRIPS:,} round trips, while another program moves bytes over loopback")
    traced = write_script(env.path("trace-on.sock"), roundtrip_lines(ROUND_TRIPS, True))
    plain = write_script(env.path("trace-plain.sock"), roundtrip_lines(ROUND_TRIPS, False))
    out, err = env.path("trace-busy.out"), env.path("trace.err")
    moved = []

    def run(script, busy):
        argv = sockrepl(env) + ["run", script]
        if not busy:
            return run_once(argv, 120, stdout=out, stderr=err)
        with Mover(env) as mover:
            sample = run_once(argv, 120, stdout=out, stderr=err)
        moved.append(mover.moved)
        sample.extra["moved"] = mover.moved
        return sample

    candidates = [
        Candidate("trace on, quiet loopback", lambda: run(traced, False)),
        Candidate("trace on, busy loopback", lambda: run(traced, True)),
        Candidate("no trace, quiet loopback", lambda: run(plain, False)),
        Candidate("no trace, busy loopback", lambda: run(plain, True)),
    ]
    samples = interleave(candidates, env.runs["roundtrip"], progress=progress(env, row.key))
    cpu = {c.name: median(samples[c.name], key=lambda s: s.cpu) for c in candidates}
    wall = {c.name: median(samples[c.name]) for c in candidates}
    least = min(moved) if moved else 0
    row.lines = [timing_line(c.name, samples[c.name], f"CPU {cpu[c.name] * 1000:.0f} ms") for c in candidates]
    traced_growth = cpu["trace on, busy loopback"] / cpu["trace on, quiet loopback"]
    plain_growth = cpu["no trace, busy loopback"] / cpu["no trace, quiet loopback"]
    row.checks = [
        Check("traced session's CPU, busy vs quiet", f"{traced_growth:.3f}×", "≤ 1.10×", traced_growth <= 1.10),
        Check("untraced session's CPU, busy vs quiet", f"{plain_growth:.3f}×", "(the machine's own share, for reference)", True),
        Check("traced session's wall time, busy vs quiet", f"{wall['trace on, busy loopback'] / wall['trace on, quiet loopback']:.3f}×", "(for reference)", True),
        Check("bytes the other program moved during each busy run (least)", f"{least / GiB:.2f} GiB", "≥ 1 GiB", least >= GiB),
    ]
    return row


ROWS = {"trace": trace_cost, "trace-busy": busy_loopback}
