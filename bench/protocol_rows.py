"""The rows of the protocol language (SPEC §10-§12): framed receives,
patterns and blocks, each against what a student would write in Python, or
a block against its lines written out."""

import os

from measure import BenchError, Candidate, interleave, median
from rows import Check, MiB, Row, progress, timing_line, with_peer, write_script

LINES = 100_000
LINE_BYTES = 104  # 100,000 lines ≈ 10 MiB
REPLIES = 100
REPLY_BYTES = 64 * 1024
BLOCK_TURNS = 100_000
HERE = os.path.dirname(os.path.abspath(__file__))


def lines_file(env):
    path = env.path("lines.txt")
    if not os.path.exists(path):
        with open(path, "w") as f:
            for i in range(LINES):
                f.write(f"line {i:08d} " + "x" * (LINE_BYTES - 15) + "\n")
    return path


def python_peer(env, path):
    return lambda port: [env.python, os.path.join(HERE, "py", "send_peer.py"), str(port), path]


def recvline(env):
    row = Row("recvline", f"`recvline` over {LINES:,} lines ({LINES * LINE_BYTES // MiB} MiB) from a peer")
    data = lines_file(env)
    script = write_script(
        env.path("recvline.sock"),
        ["socket c", "connect c 127.0.0.1:${1}", f"repeat {LINES}", "recvline c", "end", "expect_eof c"],
    )

    def check(_sample):
        with open(env.path("client.out"), "rb") as f:
            text = f.read()
        if text.count(b"\nb'line ") != LINES:
            raise BenchError(f"the transcript does not show {LINES} lines: see {env.path('client.out')}")

    candidates = [
        Candidate("sockrepl: repeat … recvline", lambda: with_peer(env, python_peer(env, data), lambda p: [env.sockrepl, "run", script, str(p)]), check),
        Candidate(
            "Python: makefile('rb').readline() loop",
            lambda: with_peer(env, python_peer(env, data), lambda p: [env.python, os.path.join(HERE, "py", "readlines.py"), str(p), str(LINES)]),
        ),
    ]
    samples = interleave(candidates, env.runs["roundtrip"], progress=progress(env, row.key))
    ours, python = (median(samples[c.name]) for c in candidates)
    ours_cpu, python_cpu = (median(samples[c.name], key=lambda s: s.cpu) for c in candidates)
    row.lines = [timing_line(c.name, samples[c.name]) for c in candidates]
    row.checks = [
        Check("recvline vs Python readline (wall)", f"{ours / python:.3f}×", "≤ 1.0×", ours <= python),
        Check("recvline vs Python readline (CPU)", f"{ours_cpu / python_cpu:.3f}×", "(for reference)", True),
    ]
    return row


def replies_file(env):
    path = env.path("replies.bin")
    if not os.path.exists(path):
        body = b"a" * (REPLY_BYTES - len(b"BEGIN\n") - len(b"\nEND\n"))
        with open(path, "wb") as f:
            for _ in range(REPLIES):
                f.write(b"BEGIN\n" + body + b"\nEND\n")
    return path


def pattern(env):
    row = Row("pattern", f"`expect --re` over {REPLIES} replies of 64 KiB from a peer")
    data = replies_file(env)
    regex = r"BEGIN\n[a-z]*\nEND\n"
    script = write_script(
        env.path("pattern.sock"),
        ["socket c", "connect c 127.0.0.1:${1}", f"repeat {REPLIES}", f"expect c --re '{regex}'", "end", "expect_eof c"],
    )

    def check(_sample):
        with open(env.path("client.out"), "rb") as f:
            if f.read().count(f"ok: matched {REPLY_BYTES} bytes".encode()) != REPLIES:
                raise BenchError(f"not {REPLIES} matches: see {env.path('client.out')}")

    candidates = [
        Candidate("sockrepl: expect --re", lambda: with_peer(env, python_peer(env, data), lambda p: [env.sockrepl, "run", script, str(p)]), check),
        Candidate(
            "Python: recv, then re.match",
            lambda: with_peer(
                env,
                python_peer(env, data),
                lambda p: [env.python, os.path.join(HERE, "py", "rematch.py"), str(p), str(REPLIES), str(REPLY_BYTES), regex],
            ),
        ),
    ]
    samples = interleave(candidates, env.runs["roundtrip"], progress=progress(env, row.key))
    ours, python = (median(samples[c.name]) for c in candidates)
    row.lines = [timing_line(c.name, samples[c.name]) for c in candidates]
    row.checks = [Check("expect --re vs Python re.match", f"{ours / python:.3f}×", "≤ 1.0×", ours <= python)]
    return row


SETUP = ["socket srv tcp", "bind srv 127.0.0.1:0", "listen srv", "socket a tcp", "connect a ${srv.addr}", "accept srv b"]
TRIP = ["sendall a x", "expect b x", "sendall b x", "expect a x"]


def block(env):
    row = Row("repeat", f"a {BLOCK_TURNS:,}-turn `repeat` of sendall/expect against its {4 * BLOCK_TURNS:,} lines written out")
    in_block = write_script(env.path("repeat-block.sock"), SETUP + [f"repeat {BLOCK_TURNS}"] + TRIP + ["end"])
    written = write_script(env.path("repeat-lines.sock"), SETUP + TRIP * BLOCK_TURNS)
    out, err = env.path("repeat.out"), env.path("repeat.err")
    from measure import run_once

    def check(_sample):
        with open(out, "rb") as f:
            if f.read().count(b"\nok: 1 byte as expected\n") != 2 * BLOCK_TURNS:
                raise BenchError(f"not {2 * BLOCK_TURNS} expects: see {out}")

    candidates = [
        Candidate("sockrepl: repeat block", lambda: run_once([env.sockrepl, "run", in_block], 120, stdout=out, stderr=err), check),
        Candidate("sockrepl: the lines written out", lambda: run_once([env.sockrepl, "run", written], 120, stdout=out, stderr=err), check),
    ]
    samples = interleave(candidates, env.runs["roundtrip"], progress=progress(env, row.key))
    ours, lines = (median(samples[c.name]) for c in candidates)
    ours_cpu, lines_cpu = (median(samples[c.name], key=lambda s: s.cpu) for c in candidates)
    row.lines = [timing_line(c.name, samples[c.name]) for c in candidates]
    row.checks = [
        Check("block vs lines written out (wall)", f"{ours / lines:.3f}×", "≤ 1.1×", ours <= 1.1 * lines),
        Check("block vs lines written out (CPU)", f"{ours_cpu / lines_cpu:.3f}×", "(for reference)", True),
    ]
    return row
