"""The TLS rows (SPEC §15, issue 12): bulk throughput of `sendall --file` /
`recvall --into` over TLS between two sockrepl processes against OpenSSL's
own tools moving the same bytes, and the latency of one `tls` handshake
against `openssl s_client`'s.

Every peer verifies or is verified with the same certificate (made once by
`openssl req`), listens on loopback, and is started and stopped here.
"""

import os
import shutil
import subprocess
import time

from measure import BenchError, Candidate, Sample, cpu_seconds, interleave, kill_quietly, median, read_rss, reap, tail, with_rss
from peers import _exited, _listening_inodes, _socket_inodes, free_port
from rows import MiB, Check, Row, bulk_lines, progress, throughput, timing_line, write_script

TLS_BULK = 256 * MiB


def openssl():
    path = shutil.which("openssl")
    if not path:
        raise BenchError("openssl is missing (apt-get install openssl)")
    return path


def certificate(env):
    """A certificate and key for localhost and 127.0.0.1, made once."""
    cert, key = env.path("tls-cert.pem"), env.path("tls-key.pem")
    if not (os.path.exists(cert) and os.path.exists(key)):
        subprocess.run(
            [openssl(), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-days", "30", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", key, "-out", cert],
            check=True, capture_output=True,
        )
    return cert, key


def tls_file(env):
    """256 MiB of random-looking bytes, written once and reused."""
    path = env.path("tls-256MiB.bin")
    if os.path.exists(path) and os.path.getsize(path) == TLS_BULK:
        return path
    env.log(f"  writing {TLS_BULK // MiB} MiB test file {path} (once)", flush=True)
    block = os.urandom(MiB)
    with open(path + ".part", "wb") as f:
        for _ in range(TLS_BULK // MiB):
            f.write(block)
    os.replace(path + ".part", path)
    return path


class Fifo:
    """A FIFO the harness holds open for writing: `openssl s_server` reads
    its stdin and ends at its EOF, so it gets one that never ends."""

    def __init__(self, env):
        self.path = env.path("tls-stdin.fifo")
        if not os.path.exists(self.path):
            os.mkfifo(self.path)
        self.fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)

    def close(self):
        os.close(self.fd)


def spawn_with(argv, stdin, stdout, stderr):
    """Like measure.spawn, with stdin from a path of our choice."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, stdin, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, stdout, flags, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, stderr, flags, 0o644),
    ]
    return os.posix_spawnp(argv[0], list(argv), os.environ, file_actions=actions, setpgroup=0)


def start_peer(make_argv, stdin, stdout, stderr, attempts=10, wait=5.0):
    """peers.start_listener, with stdin and stdout of our choice."""
    for _ in range(attempts):
        port = free_port()
        pid = spawn_with(make_argv(port), stdin, stdout, stderr)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if _exited(pid):
                break  # the port was taken meanwhile: try another
            try:
                if _listening_inodes(port) & _socket_inodes(pid):
                    return pid, port
            except FileNotFoundError:
                pass
            time.sleep(0.0005)
        else:
            kill_quietly(pid)
    raise BenchError(f"{make_argv(0)[0]} never listened on loopback:\n{tail(stderr)}")


def with_tls_peer(env, peer, client_argv, stdin="/dev/null", peer_out="/dev/null", limit=120):
    """Times a client from its spawn until it and its peer are both done."""
    peer_err, client_err, rss = env.path("peer.err"), env.path("client.err"), env.path("client.rss")
    pid, port = start_peer(peer, stdin, peer_out, peer_err)
    try:
        argv = client_argv(port)
        start = time.perf_counter()
        client = spawn_with(with_rss(argv, rss), "/dev/null", env.path("client.out"), client_err)
        deadline = time.monotonic() + limit
        status, usage = reap(client, deadline, argv[0])
        if status != 0:
            raise BenchError(f"{' '.join(argv)}: exit status {status}\n{tail(client_err)}")
        peer_status, _ = reap(pid, deadline, "peer")
        seconds = time.perf_counter() - start
    except BaseException:
        kill_quietly(pid)
        raise
    if peer_status != 0:
        raise BenchError(f"peer: exit status {peer_status}\n{tail(peer_err)}")
    return Sample(seconds, read_rss(rss), cpu_seconds(usage))


def tls_bulk(env):
    row = Row("tls-bulk", f"TLS bulk: {TLS_BULK // MiB} MiB client to server over loopback TLS 1.3")
    data = tls_file(env)
    cert, key = certificate(env)
    out = os.path.join(env.out_dir, "tls-received.bin")
    sender = write_script(
        env.path("tls-send.sock"),
        ["timeout 60s", "socket c tcp", "connect c 127.0.0.1:${1}", "tls c --ca ${2}", "sendall c --file ${3}", "close c"],
    )
    receiver = write_script(
        env.path("tls-recv.sock"),
        [
            "timeout 60s", "socket srv tcp", "bind srv 127.0.0.1:${1}", "listen srv", "accept srv conn",
            "tls conn --server --cert ${2} --key ${3}", "recvall conn --into ${4}", "close conn",
        ],
    )
    ssl = openssl()
    fifo = Fifo(env)

    def fresh(run):
        def once():
            if os.path.exists(out):
                os.unlink(out)
            return run()

        return once

    def check_size(_sample):
        got = os.path.getsize(out) if os.path.exists(out) else -1
        if got != TLS_BULK:
            raise BenchError(f"received file {out} has {got} bytes, not {TLS_BULK}")

    ours = lambda: with_tls_peer(
        env,
        lambda p: [env.sockrepl, "run", receiver, str(p), cert, key, out],
        lambda p: [env.sockrepl, "run", sender, str(p), cert, data],
    )
    by_openssl = lambda: with_tls_peer(
        env,
        lambda p: [ssl, "s_server", "-accept", f"127.0.0.1:{p}", "-cert", cert, "-key", key, "-naccept", "1", "-quiet"],
        lambda p: ["sh", "-c", f"exec {ssl} s_client -connect 127.0.0.1:{p} -quiet -no_ign_eof -nocommands "
                               f"-CAfile {cert} -verify_return_error < {data}"],
        stdin=fifo.path,
        peer_out=out,
    )
    candidates = [
        Candidate("sockrepl sendall --file → sockrepl recvall --into", fresh(ours), check_size),
        Candidate("(a) openssl s_client < FILE → s_server > FILE", fresh(by_openssl), check_size),
    ]
    if env.socat:
        by_socat = lambda: with_tls_peer(
            env,
            lambda p: [env.socat, "-u", "-b", str(MiB), f"OPENSSL-LISTEN:{p},bind=127.0.0.1,reuseaddr,cert={cert},key={key},verify=0", f"CREATE:{out}"],
            lambda p: [env.socat, "-u", "-b", str(MiB), f"OPEN:{data}", f"OPENSSL:127.0.0.1:{p},cafile={cert},commonname=localhost"],
        )
        candidates.append(Candidate("(b) socat OPEN:FILE OPENSSL:… → OPENSSL-LISTEN CREATE:FILE", fresh(by_socat), check_size))
    try:
        samples = interleave(candidates, env.runs["bulk"], progress=progress(env, row.key))
    finally:
        fifo.close()
        if os.path.exists(out):
            os.unlink(out)
    rates = [throughput(TLS_BULK, samples[c.name]) for c in candidates]
    best = max(rates[1:])
    row.lines = bulk_lines(TLS_BULK, candidates, samples)
    row.checks = [
        Check("TLS throughput vs the better of OpenSSL's tools", f"{rates[0] / best:.2f}×", "≥ 1.0×", rates[0] >= best),
    ]
    return row


def tls_handshake(env):
    row = Row("tls-handshake", "TLS handshake: one process connects, verifies the server and closes")
    cert, key = certificate(env)
    client = write_script(
        env.path("tls-handshake.sock"),
        ["socket c tcp", "connect c 127.0.0.1:${1}", "tls c --ca ${2}", "close c"],
    )
    ssl = openssl()
    fifo = Fifo(env)
    server = lambda p: [ssl, "s_server", "-accept", f"127.0.0.1:{p}", "-cert", cert, "-key", key, "-naccept", "1", "-quiet"]
    def shows(text):
        def check(_sample):
            with open(env.path("client.out"), errors="replace") as f:
                if text not in f.read():
                    raise BenchError(f"the client did not finish a verified handshake: see {env.path('client.out')}")

        return check

    candidates = [
        Candidate(
            "sockrepl run: connect, tls --ca, close",
            lambda: with_tls_peer(env, server, lambda p: [env.sockrepl, "run", client, str(p), cert], stdin=fifo.path),
            shows("verified for 127.0.0.1"),
        ),
        Candidate(
            "openssl s_client -CAfile … < /dev/null",
            lambda: with_tls_peer(
                env,
                server,
                lambda p: [ssl, "s_client", "-connect", f"127.0.0.1:{p}", "-CAfile", cert, "-verify_return_error", "-no_ign_eof"],
                stdin=fifo.path,
            ),
            shows("Verify return code: 0 (ok)"),
        ),
    ]
    try:
        samples = interleave(candidates, env.runs["startup"], warmup=2, progress=progress(env, row.key))
    finally:
        fifo.close()
    ours, theirs = (median(samples[c.name]) for c in candidates)
    ours_cpu, theirs_cpu = (median(samples[c.name], key=lambda s: s.cpu) for c in candidates)
    row.lines = [timing_line(c.name, samples[c.name]) for c in candidates]
    row.checks = [
        Check("handshake latency vs openssl s_client (wall)", f"{ours / theirs:.3f}×", "≤ 1.0×", ours <= theirs),
        Check("handshake vs openssl s_client (CPU)", f"{ours_cpu / theirs_cpu:.3f}×", "(for reference)", True),
    ]
    return row
