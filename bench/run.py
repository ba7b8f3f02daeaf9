#!/usr/bin/env python3
"""The sockrepl benchmark (issue 6): one command from a fresh clone.

    python3 bench/run.py            full run; writes the results into BENCHMARKS.md
    python3 bench/run.py --quick    fewer runs, 64 MiB bulk transfers; prints only
    python3 bench/run.py --profile  callgrind + strace of the round-trip row

It builds sockrepl (cargo build --release), compiles the C baselines in
bench/c with gcc -O2, generates every script and file it needs under
target/bench, starts and stops every peer itself on loopback, and prints each
comparison as a ratio of medians measured side by side (interleaved rounds
after a warm-up round). Python 3 standard library only.

Exit status: 0 every target met, 1 a target missed or a row was skipped,
2 the harness could not run (build failed, a candidate failed, ...).
"""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import argparse  # noqa: E402 (after the line above, on purpose)
import datetime
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time

from measure import RSS_WRAPPER, BenchError
from peers import find_socat
from rows import ROWS, Env, MiB, Row, roundtrip_script

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"

FULL_RUNS = {"startup": 21, "roundtrip": 11, "memory": 3, "bulk": 9, "golden": 5, "scale": 11}
QUICK_RUNS = {"startup": 11, "roundtrip": 3, "memory": 1, "bulk": 3, "golden": 3, "scale": 5}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, 64 MiB bulk transfers, print only")
    parser.add_argument("--only", help="comma-separated rows: " + ",".join(ROWS))
    parser.add_argument("--runs", type=int, help="measured runs per row (overrides the defaults)")
    parser.add_argument("--write", action="store_true", help="write the results into BENCHMARKS.md even with --quick")
    parser.add_argument("--no-write", action="store_true", help="only print the results")
    parser.add_argument("--no-build", action="store_true", help="use the existing target/release/sockrepl")
    parser.add_argument("--no-install", action="store_true", help="never apt-get install a missing socat")
    parser.add_argument("--profile", action="store_true", help="profile the round-trip row (callgrind, strace) instead")
    return parser.parse_args()


def log(*args, **kwargs):
    print(*args, file=sys.stderr, **kwargs)


def run(argv, **kwargs):
    return subprocess.run(argv, check=True, text=True, capture_output=True, **kwargs).stdout.strip()


def target_dir():
    return os.path.abspath(os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target"))


def build_sockrepl(skip):
    binary = os.path.join(target_dir(), "release", "sockrepl")
    if not skip:
        log("building: cargo build --release")
        result = subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO)
        if result.returncode != 0:
            raise BenchError("cargo build --release failed")
    if not os.access(binary, os.X_OK):
        raise BenchError(f"{binary} is missing (build it, or drop --no-build)")
    return binary


def build_c(build):
    if not shutil.which("gcc"):
        raise BenchError("gcc is missing: it compiles the C baselines (apt-get install gcc)")
    binaries = {}
    for source in sorted(os.listdir(os.path.join(HERE, "c"))):
        if source.endswith(".c"):
            name = source[:-2]
            binaries[name] = os.path.join(build, name)
            run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", binaries[name], os.path.join(HERE, "c", source)])
    return binaries


def received_files_dir(build, quick):
    """A tmpfs directory when one has room (no disk write-back noise), else build."""
    need = (64 if quick else 1024) * MiB + 256 * MiB
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > need:
        return tempfile.mkdtemp(prefix="sockrepl-bench-", dir=shm)
    return build


def first_line(argv):
    try:
        return run(argv).splitlines()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "?"


def machine(socat):
    def cpu():
        with open("/proc/cpuinfo") as f:
            names = re.findall(r"^model name\s*:\s*(.*)$", f.read(), re.M)
        return names[0] if names else platform.processor() or "?"

    def memory():
        with open("/proc/meminfo") as f:
            kib = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
        return f"{kib / 1024 / 1024:.1f} GiB"

    def os_name():
        try:
            with open("/etc/os-release") as f:
                return re.search(r'^PRETTY_NAME="?([^"\n]*)', f.read(), re.M).group(1)
        except (OSError, AttributeError):
            return "?"

    commit = first_line(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    dirty = run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"]) if commit != "?" else ""
    return {
        "CPU": f"{cpu()}, {os.cpu_count()} cores",
        "memory": memory(),
        "OS": f"{os_name()}, Linux {platform.release()}",
        "tools": ", ".join(
            [
                first_line(["rustc", "--version"]),
                first_line(["gcc", "--version"]),
                f"Python {platform.python_version()} ({sys.executable})",
                f"socat {socat_version(socat)}",
            ]
        ),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
    }


def socat_version(socat):
    if not socat:
        return "missing"
    out = run([socat, "-V"])
    found = re.search(r"socat version (\S+)", out)
    return found.group(1) if found else "?"


def report(rows, info, quick, load_before, load_after, seconds):
    kind = "quick run (`--quick`: fewer runs, 64 MiB transfers)" if quick else "full run"
    out = [
        f"Measured {datetime.date.today().isoformat()}, {kind}, {seconds:.0f} s.",
        "",
        "| machine | |",
        "|---|---|",
    ]
    out += [f"| {key} | {value} |" for key, value in info.items()]
    out += [f"| load average | {load_before} before, {load_after} after |", ""]
    out += ["| row | candidate | median | min – max | CPU | note |", "|---|---|---:|---:|---:|---|"]
    for row in rows:
        if row.skipped or row.failed:
            status = f"skipped: {row.skipped}" if row.skipped else f"FAILED: {row.failed}"
            out.append(f"| {row.key} | — | — | — | — | {status} |")
        for name, med, rng, cpu, note in row.lines:
            out.append(f"| {row.key} | {name} | {med} | {rng} | {cpu} | {note} |")
    out += ["", "| target | measured | wanted | result |", "|---|---:|---:|---|"]
    for row in rows:
        if row.skipped:
            out.append(f"| {row.title} | — | — | **SKIPPED** ({row.skipped}) |")
        if row.failed:
            out.append(f"| {row.title} | — | — | **FAILED** ({row.failed}) |")
        for check in row.checks:
            out.append(f"| {check.what} | {check.measured} | {check.target} | {'PASS' if check.passed else '**MISS**'} |")
    return "\n".join(out) + "\n"


def write_benchmarks_md(table):
    path = os.path.join(REPO, "BENCHMARKS.md")
    with open(path) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise BenchError(f"{path} lacks the {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w") as f:
        f.write(f"{head}{BEGIN}\n{table}{END}{tail}")
    log(f"results written into {path}")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def profile(env):
    """Where the round-trip row's time goes: instructions (callgrind) and system calls (strace)."""
    count = 2_000
    script = roundtrip_script(env.path("profile.sock"), count)
    if shutil.which("strace"):
        summary = env.path("strace.txt")
        subprocess.run(["strace", "-c", "-o", summary, env.sockrepl, "run", script], stdout=subprocess.DEVNULL, check=True)
        c_summary = env.path("strace-c.txt")
        subprocess.run(["strace", "-c", "-o", c_summary, env.c_bin["roundtrip"], str(count)], check=True)
        for name, path in (("sockrepl", summary), ("C loop", c_summary)):
            print(f"\n## strace -c: {name}, {count:,} round trips\n")
            with open(path) as f:
                print(f.read())
    else:
        log("strace is missing: no system call counts")
    if not shutil.which("valgrind"):
        raise BenchError("valgrind is missing (apt-get install valgrind)")
    out = env.path("callgrind.out")
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", env.sockrepl, "run", script],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    for inclusive in ("no", "yes"):
        annotated = run(["callgrind_annotate", f"--inclusive={inclusive}", "--threshold=99", out])
        lines = annotated.splitlines()
        start = next((i for i, line in enumerate(lines) if "file:function" in line), 0)
        print(f"\n## callgrind, {count:,} round trips, inclusive={inclusive} (top 30)\n")
        print("\n".join(lines[max(0, start - 4) : start + 32]))
    print(f"\nfull profile: {out} (callgrind_annotate {out} | less)")


def main():
    args = parse_args()
    started = time.perf_counter()
    build = os.path.join(target_dir(), "bench")
    os.makedirs(build, exist_ok=True)
    selected = args.only.split(",") if args.only else list(ROWS)
    unknown = [key for key in selected if key not in ROWS]
    if unknown:
        log(f"unknown rows: {', '.join(unknown)} (rows: {', '.join(ROWS)})")
        return 2
    runs = dict(QUICK_RUNS if args.quick else FULL_RUNS)
    if args.runs:
        runs = {key: args.runs for key in runs}
    out_dir = None
    try:
        sockrepl = build_sockrepl(args.no_build)
        c_bin = build_c(build)
        RSS_WRAPPER["path"] = c_bin["maxrss"]
        socat = find_socat(install=not args.no_install)
        if not socat and ({"send", "recv"} & set(selected)):
            log("socat is MISSING: the bulk send and receive rows are skipped (install it: apt-get install socat)")
        out_dir = received_files_dir(build, args.quick)
        env = Env(sockrepl, sys.executable, socat, c_bin, build, out_dir, args.quick, runs, log)
        if args.profile:
            profile(env)
            return 0
        load_before = loadavg()
        rows = []
        for key in selected:
            log(f"{key}: rounds", end="", flush=True)
            try:
                rows.append(ROWS[key](env))
            except BenchError as error:
                log(f"\n{key} FAILED: {error}")
                rows.append(Row(key, key, failed=str(error).splitlines()[0]))
        table = report(rows, machine(socat), args.quick, load_before, loadavg(), time.perf_counter() - started)
    except BenchError as error:
        log(f"benchmark failed: {error}")
        return 2
    finally:
        if out_dir and out_dir != build:
            shutil.rmtree(out_dir, ignore_errors=True)
    print(table)
    if (args.write or not args.quick) and not args.no_write:
        write_benchmarks_md(table)
    if any(row.failed for row in rows):
        return 2
    missed = any(row.skipped or not all(c.passed for c in row.checks) for row in rows)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
