"""The rows of the benchmark table (issue 6): each one sets up its inputs and
peers, runs its candidates side by side, and checks its targets.

Every row returns a Row: the candidates' medians (with min-max over the
runs) and the targets, each PASS or MISS. Ratios are always ratios of
medians taken in the same interleaved run.
"""

import os
import resource
import select
import shutil
import socket
import time
from dataclasses import dataclass, field

from measure import (
    BenchError,
    Candidate,
    Sample,
    interleave,
    kill_quietly,
    cpu_seconds,
    median,
    read_rss,
    reap,
    run_once,
    spawn,
    spread,
    tail,
    with_rss,
)
from peers import start_listener

MiB = 1 << 20
GiB = 1 << 30
ROUND_TRIPS = 20_000
GOLDEN_SCRIPTS = 400
SCALE_PAIRS = 5_000  # 10,000 handles
BLOCK = 100  # commands in a timed block of the scale row


@dataclass
class Check:
    what: str
    measured: str
    target: str
    passed: bool


@dataclass
class Row:
    key: str
    title: str
    lines: list = field(default_factory=list)  # (candidate, median, range, note)
    checks: list = field(default_factory=list)
    skipped: str = ""  # why the row could not run here (e.g. socat missing)
    failed: str = ""  # a candidate failed: the harness or sockrepl is broken


@dataclass
class Env:
    """What every row needs: tools, places and how many runs."""

    sockrepl: str
    python: str
    socat: str
    c_bin: dict  # name -> path of the compiled C baselines
    build: str  # scratch directory for generated scripts and files
    out_dir: str  # where received files are written (tmpfs if it fits)
    quick: bool
    runs: dict  # row key -> number of measured runs
    log: object = print

    def path(self, name):
        return os.path.join(self.build, name)


def ms(seconds):
    return f"{seconds * 1000:.2f} ms" if abs(seconds) < 1 else f"{seconds:.3f} s"


def timing_line(name, samples, note=""):
    """(candidate, median wall time, min – max, median CPU time, note)"""
    low, high = spread(samples)
    cpu = median(samples, key=lambda s: s.cpu)
    return (name, ms(median(samples)), f"{ms(low)} – {ms(high)}", ms(cpu), note)


def write_script(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def progress(env, key):
    def report(done, total):
        env.log(f" {done}/{total}", end="\n" if done == total else "", flush=True)

    return report


# -- start-up ---------------------------------------------------------------


def startup(env):
    row = Row("startup", "start-up: `sockrepl run` of a one-line script")
    script = write_script(env.path("one-line.sock"), ["socket s tcp"])
    err = env.path("startup.err")
    candidates = [
        Candidate("sockrepl run one-line.sock", lambda: run_once([env.sockrepl, "run", script], 10, stderr=err)),
        Candidate('python3 -c "import socket"', lambda: run_once([env.python, "-c", "import socket"], 10, stderr=err)),
    ]
    samples = interleave(candidates, env.runs["startup"], warmup=2, progress=progress(env, row.key))
    ours, python = (median(samples[c.name]) for c in candidates)
    row.lines = [timing_line(c.name, samples[c.name]) for c in candidates]
    row.checks = [
        Check("start-up vs Python", f"{ours / python:.3f}×", "≤ 0.25×", ours / python <= 0.25),
        Check("start-up median", ms(ours), "≤ 5 ms", ours <= 0.005),
    ]
    return row


# -- per-command cost -------------------------------------------------------


def roundtrip_script(path, count):
    lines = [
        "socket srv tcp",
        "bind srv 127.0.0.1:0",
        "listen srv",
        "socket a tcp",
        "connect a ${srv.addr}",
        "accept srv b",
    ]
    lines += ["sendall a x", "expect b x", "sendall b x", "expect a x"] * count
    return write_script(path, lines)


def roundtrip(env):
    row = Row("roundtrip", f"per-command cost: {ROUND_TRIPS:,} one-byte round trips, transcript to a file")
    script = roundtrip_script(env.path("roundtrip.sock"), ROUND_TRIPS)
    transcript, err = env.path("roundtrip.out"), env.path("roundtrip.err")
    here = os.path.dirname(os.path.abspath(__file__))

    def check_transcript(_sample):
        with open(transcript, "rb") as f:
            text = f.read()
        if text.count(b"\nok: 1 byte as expected\n") != 2 * ROUND_TRIPS or not text.endswith(b"as expected\n"):
            raise BenchError(f"sockrepl round-trip transcript is not {2 * ROUND_TRIPS:,} expects: see {transcript}")

    rss_report = env.path("roundtrip.rss")
    candidates = [
        Candidate(
            "sockrepl run (transcript to a file)",
            lambda: run_once([env.sockrepl, "run", script], 60, stdout=transcript, stderr=err, rss_report=rss_report),
            check_transcript,
        ),
        Candidate("(a) C loop, same system calls", lambda: run_once([env.c_bin["roundtrip"], str(ROUND_TRIPS)], 60, stderr=err)),
        Candidate(
            "(b) Python socket",
            lambda: run_once([env.python, os.path.join(here, "py", "roundtrip.py"), str(ROUND_TRIPS)], 60, stderr=err),
        ),
    ]
    samples = interleave(candidates, env.runs["roundtrip"], progress=progress(env, row.key))
    ours, c_loop, python = (median(samples[c.name]) for c in candidates)
    cpu = lambda c: median(samples[c.name], key=lambda s: s.cpu)
    ours_cpu, c_cpu, python_cpu = (cpu(c) for c in candidates)
    rss = max(s.maxrss_kib for s in samples[candidates[0].name]) / 1024
    per_trip = ours / ROUND_TRIPS * 1e6
    row.lines = [timing_line(c.name, samples[c.name]) for c in candidates]
    row.lines[0] = row.lines[0][:4] + (f"{per_trip:.2f} µs per round trip (4 commands); peak RSS {rss:.1f} MiB",)
    # CPU time decides (a busy machine stretches wall time); wall beside it.
    both = lambda cpu_ratio, wall_ratio: f"{cpu_ratio:.3f}× CPU ({wall_ratio:.3f}× wall)"
    row.checks = [
        Check("round trips vs C loop (a)", both(ours_cpu / c_cpu, ours / c_loop), "≤ 1.15×", ours_cpu <= 1.15 * c_cpu),
        Check("round trips vs Python (b)", both(ours_cpu / python_cpu, ours / python), "≤ 0.85×", ours_cpu <= 0.85 * python_cpu),
        Check(f"peak RSS of the {4 * ROUND_TRIPS + 6:,}-line script", f"{rss:.1f} MiB", "≤ 12 MiB", rss <= 12),
    ]
    return row


# -- a long script's memory -------------------------------------------------

LONG_SCRIPT_LINES = 1_000_000


def long_script(env):
    row = Row("memory", f"a long script's memory: `sockrepl run` of {LONG_SCRIPT_LINES:,} `print` lines")
    path = env.path("long.sock")
    write_script(path, (f"print row {i}" for i in range(LONG_SCRIPT_LINES)))
    size = os.path.getsize(path)
    out, err = env.path("long.out"), env.path("long.err")
    rss_reports = {"sockrepl": env.path("long.rss"), "python": env.path("long-py.rss")}
    printer = "import sys\nfor line in open(sys.argv[1]):\n    print(line[6:], end='')\n"

    def check_output(_sample):
        with open(out, "rb") as f:
            f.seek(-40, os.SEEK_END)
            last = f.read().splitlines()[-1]
        if last != f"row {LONG_SCRIPT_LINES - 1}".encode():
            raise BenchError(f"the long script's transcript does not end with its last line: see {out}")

    candidates = [
        Candidate(
            "sockrepl run long.sock",
            lambda: run_once([env.sockrepl, "run", path], 120, stdout=out, stderr=err, rss_report=rss_reports["sockrepl"]),
            check_output,
        ),
        Candidate(
            "(a) Python printing the same lines",
            lambda: run_once([env.python, "-c", printer, path], 120, stdout=out, stderr=err, rss_report=rss_reports["python"]),
            check_output,
        ),
    ]
    samples = interleave(candidates, env.runs["memory"], progress=progress(env, row.key))
    rss = [max(s.maxrss_kib for s in samples[c.name]) / 1024 for c in candidates]
    row.lines = [timing_line(c.name, samples[c.name], f"peak RSS {r:.1f} MiB") for c, r in zip(candidates, rss)]
    allowed = 3 * size / MiB + 10
    row.checks = [
        Check(
            f"peak RSS vs the script's {size / MiB:.1f} MiB",
            f"{rss[0]:.1f} MiB ({rss[0] * MiB / size:.2f}× its size)",
            f"≤ 3× + 10 MiB = {allowed:.1f} MiB",
            rss[0] <= allowed,
        ),
    ]
    return row


# -- bulk transfers ---------------------------------------------------------


def bulk_size(env):
    return 64 * MiB if env.quick else GiB


def bulk_file(env):
    """A real (not sparse) file of random-looking bytes, written once and reused."""
    size = bulk_size(env)
    path = env.path(f"bulk-{size // MiB}MiB.bin")
    if os.path.exists(path) and os.path.getsize(path) == size:
        return path
    need = size + 256 * MiB
    free = shutil.disk_usage(env.build).free
    if free < need:
        raise BenchError(f"not enough disk space in {env.build}: {need // MiB} MiB needed, {free // MiB} MiB free")
    env.log(f"  writing {size // MiB} MiB test file {path} (once)", flush=True)
    block = os.urandom(MiB)
    with open(path + ".part", "wb") as f:
        for _ in range(size // MiB):
            f.write(block)
    os.replace(path + ".part", path)
    return path


def with_peer(env, peer_argv, client_argv, limit=120):
    """Starts a listening socat peer, then times the client from its spawn until
    both it and the peer are done. Returns the client's Sample."""
    peer_err, client_err, rss = env.path("peer.err"), env.path("client.err"), env.path("client.rss")
    peer, port = start_listener(peer_argv, peer_err)
    try:  # reap() kills the client if need be; the peer is killed here
        argv = client_argv(port)
        start = time.perf_counter()
        client = spawn(with_rss(argv, rss), stdout=env.path("client.out"), stderr=client_err)
        deadline = time.monotonic() + limit
        status, usage = reap(client, deadline, argv[0])
        if status != 0:
            raise BenchError(f"{' '.join(argv)}: exit status {status}\n{tail(client_err)}")
        peer_status, _ = reap(peer, deadline, "socat peer")
        seconds = time.perf_counter() - start
    except BaseException:
        kill_quietly(peer)
        raise
    if peer_status != 0:
        raise BenchError(f"socat peer: exit status {peer_status}\n{tail(peer_err)}")
    return Sample(seconds, read_rss(rss), cpu_seconds(usage))


def throughput(size, samples):
    return size / median(samples) / MiB


def bulk_lines(size, candidates, samples):
    lines = []
    for c in candidates:
        rss = max(s.maxrss_kib for s in samples[c.name]) / 1024
        note = f"{throughput(size, samples[c.name]):,.0f} MiB/s; peak RSS {rss:.1f} MiB"
        lines.append(timing_line(c.name, samples[c.name], note))
    return lines


def bulk_send(env):
    size = bulk_size(env)
    row = Row("send", f"bulk send: `sendall c --file` of {size // MiB} MiB to a socat sink")
    if not env.socat:
        row.skipped = "socat is missing (install it: apt-get install socat)"
        return row
    data = bulk_file(env)
    script = write_script(
        env.path("bulk-send.sock"),
        ["timeout 60s", "socket c", "connect c 127.0.0.1:${1}", "sendall c --file ${2}", "close c"],
    )
    # The sink reads 1 MiB at a time so that it is never the bottleneck.
    sink = lambda port: [env.socat, "-u", "-b", str(MiB), f"TCP-LISTEN:{port},reuseaddr,bind=127.0.0.1", "/dev/null"]

    def check_sent(_sample):
        with open(env.path("client.out")) as f:
            if f"sent {size} bytes" not in f.read():
                raise BenchError(f"sockrepl did not report sending {size} bytes: see {env.path('client.out')}")

    candidates = [
        Candidate("sockrepl sendall --file", lambda: with_peer(env, sink, lambda p: [env.sockrepl, "run", script, str(p), data]), check_sent),
        Candidate("(a) socat -u FILE TCP:…", lambda: with_peer(env, sink, lambda p: [env.socat, "-u", data, f"TCP:127.0.0.1:{p}"])),
        Candidate("(b) C sendfile loop", lambda: with_peer(env, sink, lambda p: [env.c_bin["sendfile"], str(p), data])),
    ]
    samples = interleave(candidates, env.runs["bulk"], progress=progress(env, row.key))
    ours, via_socat, limit = (throughput(size, samples[c.name]) for c in candidates)
    row.lines = bulk_lines(size, candidates, samples)
    row.checks = [
        Check("send throughput vs socat (a)", f"{ours / via_socat:.2f}×", "≥ 1.5×", ours >= 1.5 * via_socat),
        Check("send throughput vs sendfile (b)", f"{ours / limit:.2f}×", "≥ 0.8×", ours >= 0.8 * limit),
    ]
    return row


def bulk_receive(env):
    size = bulk_size(env)
    row = Row("recv", f"bulk receive: `recvall c --into FILE` of {size // MiB} MiB from a socat source")
    if not env.socat:
        row.skipped = "socat is missing (install it: apt-get install socat)"
        return row
    data = bulk_file(env)
    out = os.path.join(env.out_dir, "received.bin")
    script = write_script(
        env.path("bulk-recv.sock"),
        ["timeout 60s", "socket c", "connect c 127.0.0.1:${1}", "recvall c --into ${2}", "close c"],
    )
    source = lambda port: [env.socat, "-u", "-b", str(MiB), data, f"TCP-LISTEN:{port},reuseaddr,bind=127.0.0.1"]

    def fresh(client_argv):
        # Each run writes a new file: truncating the last one is not timed.
        def run():
            if os.path.exists(out):
                os.unlink(out)
            return with_peer(env, source, client_argv)

        return run

    def check_size(_sample):
        got = os.path.getsize(out) if os.path.exists(out) else -1
        if got != size:
            raise BenchError(f"received file {out} has {got} bytes, not {size}")

    candidates = [
        Candidate("sockrepl recvall --into", fresh(lambda p: [env.sockrepl, "run", script, str(p), out]), check_size),
        Candidate("(a) socat -u TCP:… FILE", fresh(lambda p: [env.socat, "-u", f"TCP:127.0.0.1:{p}", f"CREATE:{out}"]), check_size),
        Candidate("(b) C recv loop, 1 MiB buffer", fresh(lambda p: [env.c_bin["recvloop"], "recv", str(p), out]), check_size),
        Candidate("(b') C splice loop", fresh(lambda p: [env.c_bin["recvloop"], "splice", str(p), out]), check_size),
    ]
    try:
        samples = interleave(candidates, env.runs["bulk"], progress=progress(env, row.key))
    finally:
        if os.path.exists(out):
            os.unlink(out)
    ours, via_socat, by_recv, by_splice = (throughput(size, samples[c.name]) for c in candidates)
    limit = max(by_recv, by_splice)
    rss = max(s.maxrss_kib for s in samples[candidates[0].name]) / 1024
    row.lines = bulk_lines(size, candidates, samples)
    row.checks = [
        Check("receive throughput vs socat (a)", f"{ours / via_socat:.2f}×", "≥ 1.2×", ours >= 1.2 * via_socat),
        Check(
            "receive throughput vs faster of (b), (b')",
            f"{ours / limit:.2f}× (median of {len(samples[candidates[0].name])} rounds)",
            "≥ 0.9×",
            ours >= 0.9 * limit,
        ),
        Check("receive peak RSS", f"{rss:.1f} MiB", "≤ 32 MiB", rss <= 32),
    ]
    return row


# -- golden runner ----------------------------------------------------------

GOLDEN_KINDS = [
    ["socketpair p q", "sendall p 'ping {i}\\n'", "expect q 'ping {i}\\n'", "close p", "expect_eof q", "close q"],
    [
        "socket srv tcp",
        "bind srv 127.0.0.1:0",
        "listen srv",
        "socket cli tcp",
        "connect cli ${{srv.addr}}",
        "accept srv conn",
        "sendall cli 'hello {i}'",
        "expect conn 'hello {i}'",
        "close cli",
        "expect_eof conn",
    ],
    [
        "socket u1 udp",
        "bind u1 127.0.0.1:0",
        "socket u2 udp",
        "sendto u2 ${{u1.addr}} 'datagram {i}'",
        "recvfrom u1",
    ],
]


def golden_dir(env):
    """400 small scripts (three kinds, in ten folders), blessed once."""
    root = env.path("golden")
    shutil.rmtree(root, ignore_errors=True)
    for i in range(GOLDEN_SCRIPTS):
        folder = os.path.join(root, f"group{i % 10}")
        os.makedirs(folder, exist_ok=True)
        lines = [line.format(i=i) for line in GOLDEN_KINDS[i % len(GOLDEN_KINDS)]]
        write_script(os.path.join(folder, f"case{i:03}.sock"), lines)
    run_once([env.sockrepl, "test", "--bless", root], 120, stderr=env.path("golden.err"))
    outs = sum(name.endswith(".out") for _, _, names in os.walk(root) for name in names)
    if outs != GOLDEN_SCRIPTS:
        raise BenchError(f"sockrepl test --bless wrote {outs} .out files, not {GOLDEN_SCRIPTS}")
    return root


def golden(env):
    row = Row("golden", f"golden runner: `sockrepl test` on {GOLDEN_SCRIPTS} small scripts")
    root = golden_dir(env)
    out, err = env.path("golden.stdout"), env.path("golden.err")

    def check_all_passed(_sample):
        with open(out) as f:
            last = f.read().rstrip("\n").rsplit("\n", 1)[-1]
        if last != f"{GOLDEN_SCRIPTS} passed, 0 failed":
            raise BenchError(f"sockrepl test ended with {last!r}: see {out}")

    cores = os.cpu_count()
    candidates = [
        Candidate(f"sockrepl test (default -j, {cores} cores)", lambda: run_once([env.sockrepl, "test", root], 120, out, err), check_all_passed),
        Candidate("sockrepl test -j 1", lambda: run_once([env.sockrepl, "test", "-j", "1", root], 120, out, err), check_all_passed),
    ]
    samples = interleave(candidates, env.runs["golden"], progress=progress(env, row.key))
    parallel, serial = (median(samples[c.name]) for c in candidates)
    per_script = parallel / GOLDEN_SCRIPTS
    row.lines = [timing_line(c.name, samples[c.name], f"{median(samples[c.name]) / GOLDEN_SCRIPTS * 1000:.2f} ms per script") for c in candidates]
    row.checks = [
        Check(f"parallel speed-up on {cores} cores", f"{serial / parallel:.2f}×", "≥ 1.7×", serial / parallel >= 1.7),
        Check("time per script, overall", ms(per_script), "≤ 5 ms", per_script <= 0.005),
    ]
    return row


# -- scale ------------------------------------------------------------------
#
# The transcript has no times, so the script reports to the harness instead:
# at each mark it sends one byte on a control connection and waits for the
# harness's reply ("expect ctl k"). The harness timestamps each mark as it
# arrives and only then replies, so marks can never pile up unseen. The
# interval between two marks is the commands in between plus a fixed cost
# (one sendall, one expect, two wake-ups); an empty pair of marks measures
# that fixed cost, which is subtracted. At each mark the harness also reads
# sockrepl's on-CPU time (/proc/PID/task/*/schedstat, ns): sockrepl is
# blocked then, so the reading is exact, and unlike wall time it does not
# grow when other processes on a busy machine preempt sockrepl. The targets
# are checked on CPU time; wall time is shown beside it.

MARKS = "abcdef"
SPANS = {"first": ("a", "b"), "last": ("c", "d"), "empty": ("d", "e"), "sockets": ("e", "f")}


def scale_script(path, pairs):
    mark = lambda m: [f"sendall ctl {m}", "expect ctl k"]
    pair = lambda i: f"socketpair p{i} q{i}"
    lines = ["timeout 30s", "socket ctl tcp", "connect ctl 127.0.0.1:${1}"]
    lines += mark("a") + [pair(i) for i in range(BLOCK)] + mark("b")
    lines += [pair(i) for i in range(BLOCK, pairs - BLOCK)]
    lines += mark("c") + [pair(i) for i in range(pairs - BLOCK, pairs)] + mark("d")
    lines += mark("e") + ["sockets"] + mark("f")
    return write_script(path, lines)


def cpu_ns(pid):
    """On-CPU time of every thread of pid so far (ns), from /proc schedstat."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


def accept_from(listener, pid, err, limit=10):
    """The control connection from sockrepl, unless sockrepl exits first."""
    with open_pidfd(pid) as exited:
        ready = select.select([listener, exited], [], [], limit)[0]
    if listener not in ready:
        raise BenchError(f"sockrepl never connected to the harness\n{tail(err)}")
    return listener.accept()[0]


class open_pidfd:
    def __init__(self, pid):
        self.fd = os.pidfd_open(pid)

    def fileno(self):
        return self.fd

    def __enter__(self):
        return self

    def __exit__(self, *_):
        os.close(self.fd)


def scale_once(env, script, limit=60):
    transcript, err = env.path("scale.out"), env.path("scale.err")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        start = time.perf_counter()
        pid = spawn([env.sockrepl, "run", script, str(listener.getsockname()[1])], transcript, err)
        try:
            wall, cpu = {}, {}
            conn = accept_from(listener, pid, err)
            with conn:
                conn.settimeout(limit)
                for expected in MARKS:
                    got = conn.recv(1)
                    wall[expected] = time.perf_counter()
                    # sockrepl now waits for our reply: its CPU time stands still.
                    cpu[expected] = cpu_ns(pid) / 1e9
                    if got != expected.encode():
                        raise BenchError(f"scale script sent {got!r}, expected mark {expected!r}\n{tail(err)}")
                    conn.sendall(b"k")
            status, usage = reap(pid, time.monotonic() + limit, "sockrepl")
        except OSError as error:  # a timeout or a reset: sockrepl stopped answering
            kill_quietly(pid)
            raise BenchError(f"scale script: {error}\n{tail(transcript)}\n{tail(err)}")
        except BaseException:
            kill_quietly(pid)
            raise
    if status != 0:
        raise BenchError(f"scale script: exit status {status}\n{tail(transcript)}\n{tail(err)}")
    extra = {}
    for clock, times in (("wall", wall), ("cpu", cpu)):
        for part, (x, y) in SPANS.items():
            extra[clock, part] = times[y] - times[x]
    return Sample(time.perf_counter() - start, 0, cpu_seconds(usage), extra)


def scale_spans(samples, clock):
    """Median of each span on one clock, less the fixed cost of the marks."""
    part = lambda name: median(samples, key=lambda s: s.extra[clock, name])
    empty = part("empty")
    return {name: part(name) - empty for name in ("first", "last", "sockets")} | {"empty": empty}


def raise_fd_limit(need):
    """Raises the soft RLIMIT_NOFILE to the hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        return f"RLIMIT_NOFILE hard limit is {hard}; this row needs {need}"
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return ""


def scale(env):
    handles = 2 * SCALE_PAIRS
    row = Row("scale", f"scale: one session opening {handles:,} handles ({SCALE_PAIRS:,} socketpairs)")
    row.skipped = raise_fd_limit(handles + 64)
    if row.skipped:
        return row
    script = scale_script(env.path("scale.sock"), SCALE_PAIRS)
    candidates = [Candidate("sockrepl run", lambda: scale_once(env, script))]
    samples = interleave(candidates, env.runs["scale"], progress=progress(env, row.key))["sockrepl run"]
    spans = {clock: scale_spans(samples, clock) for clock in ("wall", "cpu")}

    def line(label, name, note):
        return (label, ms(spans["wall"][name]), "", ms(spans["cpu"][name]), note)

    per_command = lambda name: f"{spans['cpu'][name] / BLOCK * 1e6:.1f} µs per command"
    row.lines = [
        timing_line("whole script", samples),
        line(f"first {BLOCK} socketpairs", "first", per_command("first")),
        line(f"last {BLOCK} socketpairs", "last", per_command("last")),
        line(f"`sockets` over {handles:,} handles", "sockets", "table written to the transcript file"),
        line("fixed cost of a mark, subtracted", "empty", "sendall + expect + two wake-ups"),
    ]
    first, last, table = (spans["cpu"][name] for name in ("first", "last", "sockets"))
    row.checks = [
        Check(f"last {BLOCK} commands vs first {BLOCK} (CPU time)", f"{last / first:.2f}×", "≤ 1.5×", last <= 1.5 * first),
        Check(f"`sockets` over {handles:,} handles (CPU time)", ms(table), "≤ 100 ms", table <= 0.1),
    ]
    return row


def _program_rows():
    # Imported here: program_rows imports this module's helpers.
    import program_rows

    return {"netns": program_rows.netns, "spawn": program_rows.spawn}


def _protocol_rows():
    # Imported here: protocol_rows imports this module's helpers.
    import protocol_rows

    return {
        "recvline": protocol_rows.recvline,
        "pattern": protocol_rows.pattern,
        "repeat": protocol_rows.block,
    }


def _trace_rows():
    # Imported here: trace_rows imports this module's helpers.
    import trace_rows

    return trace_rows.ROWS


def _tls_rows():
    # Imported here, as protocol_rows: tls_rows imports this module's helpers.
    import tls_rows

    return {"tls-bulk": tls_rows.tls_bulk, "tls-handshake": tls_rows.tls_handshake}


ROWS = {
    "startup": startup,
    "roundtrip": roundtrip,
    "memory": long_script,
    "send": bulk_send,
    "recv": bulk_receive,
    "golden": golden,
    "scale": scale,
    **_protocol_rows(),
    **_trace_rows(),
    **_tls_rows(),
    **_program_rows(),
}
