"""The rows of programs under test and isolated networks (SPEC §13-§14):
`sockrepl test --netns` against the same run without namespaces, and
`spawn` + `wait` of /bin/true against Python's subprocess.run and against
the floor: a C loop of posix_spawn and waitpid."""

import os

from measure import BenchError, Candidate, interleave, median, run_once
from rows import GOLDEN_SCRIPTS, Check, Row, golden_dir, ms, progress, timing_line, write_script

SPAWNS = 1000
HERE = os.path.dirname(os.path.abspath(__file__))


def netns(env):
    row = Row("netns", f"`sockrepl test --netns` against `sockrepl test` on {GOLDEN_SCRIPTS} small scripts")
    root = golden_dir(env)
    out, err = env.path("netns.stdout"), env.path("netns.err")

    def all_passed(_sample):
        with open(out) as f:
            last = f.read().rstrip("\n").rsplit("\n", 1)[-1]
        if last != f"{GOLDEN_SCRIPTS} passed, 0 failed":
            raise BenchError(f"sockrepl test ended with {last!r}: see {out}")

    candidates = [
        Candidate("sockrepl test", lambda: run_once([env.sockrepl, "test", root], 120, out, err), all_passed),
        Candidate("sockrepl test --netns", lambda: run_once([env.sockrepl, "test", "--netns", root], 120, out, err), all_passed),
    ]
    samples = interleave(candidates, env.runs["golden"], progress=progress(env, row.key))
    plain, isolated = (median(samples[c.name]) for c in candidates)
    extra = (isolated - plain) / GOLDEN_SCRIPTS
    row.lines = [
        timing_line(c.name, samples[c.name], f"{median(samples[c.name]) / GOLDEN_SCRIPTS * 1000:.2f} ms per script")
        for c in candidates
    ]
    row.checks = [
        Check("--netns vs without", f"{isolated / plain:.3f}×", "≤ 1.5×", isolated <= 1.5 * plain),
        Check("--netns: time per script on top", ms(extra), "≤ 5 ms", extra <= 0.005),
    ]
    return row


def spawn(env):
    row = Row("spawn", f"`spawn` + `wait` of /bin/true, {SPAWNS:,} times, against Python's subprocess.run")
    script = write_script(
        env.path("spawn.sock"),
        [f"repeat {SPAWNS}", "spawn t -- /bin/true", "wait t", "close t", "end"],
    )
    out, err = env.path("spawn.out"), env.path("spawn.err")

    def all_waited(_sample):
        with open(out, "rb") as f:
            if f.read().count(b"\nok: it exited with status 0\n") != SPAWNS:
                raise BenchError(f"not {SPAWNS} programs waited for: see {out}")

    candidates = [
        Candidate(
            "sockrepl: spawn, wait, close",
            lambda: run_once([env.sockrepl, "--allow-exec", "run", script], 120, out, err),
            all_waited,
        ),
        Candidate(
            "Python: subprocess.run(['/bin/true'])",
            lambda: run_once([env.python, os.path.join(HERE, "py", "spawn_true.py"), str(SPAWNS)], 120, stderr=err),
        ),
        # The kernel's part alone: what no harness can go below.
        Candidate("C: posix_spawn + waitpid (the floor)", lambda: run_once([env.c_bin["spawnloop"], str(SPAWNS)], 120, stderr=err)),
    ]
    samples = interleave(candidates, env.runs["roundtrip"], progress=progress(env, row.key))
    ours, python, floor = (median(samples[c.name]) for c in candidates)
    ours_cpu, python_cpu, _ = (median(samples[c.name], key=lambda s: s.cpu) for c in candidates)
    row.lines = [
        timing_line(c.name, samples[c.name], f"{median(samples[c.name]) / SPAWNS * 1e6:.0f} µs per program")
        for c in candidates
    ]
    row.checks = [
        Check("spawn + wait vs Python subprocess.run (wall)", f"{ours / python:.3f}×", "≤ 0.5×", ours <= 0.5 * python),
        Check("spawn + wait vs Python subprocess.run (CPU)", f"{ours_cpu / python_cpu:.3f}×", "(for reference)", True),
        Check("the floor (C posix_spawn) vs Python", f"{floor / python:.3f}×", "(for reference)", True),
        Check("spawn + wait vs the floor", f"{ours / floor:.3f}×", "(for reference)", True),
    ]
    return row
