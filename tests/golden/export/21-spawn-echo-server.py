#!/usr/bin/env python3
"""scripts/lessons/21-spawn-echo-server.sock, exported by sockrepl 0.1.0.

The same socket calls, in the same order, as `sockrepl run 21-spawn-echo-server.sock`;
it exits 0 exactly when that run would. Run it with python3 (not -O:
the checks are asserts). Its options, before the script's arguments:
--set NAME=VALUE, --timeout DUR, --allow-exec, --netns.
"""
import atexit
import errno
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

if not __debug__:
    sys.exit('run this program without -O: its checks are asserts')

SCRIPT_DIR = 'scripts/lessons'  # where the script was: its programs' paths start there
DEFAULTS = []  # the arguments given to export
ALLOW_EXEC, NETNS, TIMEOUT = False, False, '5s'
SETS = {}


def fail(message):
    # A mistake sockrepl reports when the line runs: the run fails (status 1).
    raise RuntimeError(message)


def duration(word):
    # A DUR known only when the line runs: 250ms, 1.5s, 2s, 1m; none is None.
    if word == 'none':
        return None
    for unit, seconds in (('ms', 0.001), ('s', 1), ('m', 60), ('h', 3600)):
        number = word[:-len(unit)]
        if word.endswith(unit) and number.replace('.', '', 1).isdigit():
            return float(number) * seconds
    fail(f'bad duration {word!r}')


def is_program(h):
    # A program under test (a subprocess.Popen), not a socket.
    return hasattr(h, 'pid')


def timeout_of(s):
    # The handle's timeout, else the session's default (a program has none of its own).
    if hasattr(s, 'gettimeout'):
        return s.gettimeout()
    return socket.getdefaulttimeout()


def deadline_of(s):
    # sockrepl waits at most the timeout for a whole command, not per call.
    t = timeout_of(s)
    return None if t is None else time.monotonic() + t


def time_left(deadline, what='bytes'):
    if deadline is None:
        return None
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError(f'timed out waiting for {what}')
    return remaining


HELD = {}


def plain_socket(s):
    # (an ssl.SSLSocket is a socket.socket too, but has no MSG_PEEK)
    return type(s) is socket.socket


def read_some(s, n, deadline):
    # One read: a socket's recv, or a program's output pipe, bounded by the deadline.
    if is_program(s):
        ready, _, _ = select.select([s.stdout], [], [], time_left(deadline, 'output'))
        if not ready:
            raise TimeoutError('timed out waiting for output')
        return os.read(s.stdout.fileno(), n)
    t = s.gettimeout()
    if deadline is not None:
        s.settimeout(time_left(deadline) if t != 0 else 0.0)
    try:
        return s.recv(n)
    except OSError as e:
        if type(e).__name__ != 'SSLWantReadError':
            raise
        # A non-blocking TLS socket with nothing to read: EAGAIN, as for a plain one.
        raise BlockingIOError(errno.EAGAIN, 'Resource temporarily unavailable')
    finally:
        s.settimeout(t)


def receive(s, n, deadline=None, truncated_ok=True):
    # recv: a TLS connection or a program first gives what a framed receive left.
    held = HELD.pop(s, b'')
    if held:
        HELD[s] = held[n:]
        return held[:n]
    try:
        return read_some(s, n, deadline_of(s) if deadline is None else deadline)
    except OSError as e:
        if type(e).__name__ != 'SSLEOFError' or not truncated_ok:
            raise
        print('truncated: the TCP connection ended without a TLS close_notify')
        return b''


def peek_unread(s, n, seen, deadline):
    # The unread bytes, more than `seen` of them, without taking them
    # (MSG_PEEK on a socket, a buffer for TLS and programs), and whether
    # no more can come (the end of stream; a datagram is whole).
    while True:
        if plain_socket(s):
            t = s.gettimeout()
            s.settimeout(time_left(deadline) if t != 0 else 0.0)
            try:
                data = s.recv(n, socket.MSG_PEEK)
            finally:
                s.settimeout(t)
            if s.type != socket.SOCK_STREAM or not data:
                return data, True
            if len(data) > seen:
                return data, False
            p = select.poll()
            p.register(s, select.POLLRDHUP)
            if p.poll(0):
                return data, True
            time_left(deadline)
            time.sleep(0.01)
        else:
            held = HELD.get(s, b'')
            if len(held) > seen:
                return held, False
            more = read_some(s, n, deadline)
            HELD[s] = held + more
            if not more:
                return held, True


def take_unread(s, n):
    # Exactly n bytes that peek_unread saw.
    if plain_socket(s):
        return s.recv(n)
    held = HELD.pop(s, b'')
    HELD[s] = held[n:]
    return held[:n]


def recvn(s, n, deadline=None):
    # Exactly n bytes under one deadline; the end of stream first is a failure.
    deadline = deadline_of(s) if deadline is None else deadline
    data = b''
    while len(data) < n:
        chunk = receive(s, n - len(data), deadline)
        if not chunk:
            raise AssertionError(f'end of stream after {len(data)} of {n} bytes: {data!r}')
        data += chunk
    return data


def expect_re(s, pattern, most):
    # Bytes that match from their start; more may lengthen the match, so wait
    # up to 0.2 s for them, as sockrepl does; then take exactly the match.
    deadline = deadline_of(s)
    seen, ended, settle = b'', False, None
    while True:
        m = re.match(pattern, seen[:most])
        if m and (ended or m.end() < len(seen) or settle and time.monotonic() >= settle):
            take_unread(s, m.end())
            return m
        if ended or len(seen) >= most:
            raise AssertionError(f'no match for {pattern!r} in {seen[:most]!r}')
        if m and settle is None:
            settle = time.monotonic() + 0.2
        try:
            seen, ended = peek_unread(s, most, len(seen), settle if m else deadline)
        except TimeoutError:
            if not m:
                raise
            ended = True


def connect_retry(s, address, seconds):
    # --retry: a server still starting refuses; try again every 50 ms.
    end = time.monotonic() + seconds
    while True:
        try:
            return s.connect(address)
        except (ConnectionRefusedError, FileNotFoundError):
            if time.monotonic() >= end:
                raise
            time.sleep(0.05)


PROGRAMS = []


def spawn(argv, cwd=None, env=None):
    # A program under test, in its own process group, ended when we end.
    if not ALLOW_EXEC:
        fail('spawn needs --allow-exec')
    if '/' in argv[0] and not os.path.isabs(argv[0]):
        argv = [os.path.join(SCRIPT_DIR, argv[0])] + argv[1:]
    p = subprocess.Popen(argv, cwd=os.path.join(SCRIPT_DIR, cwd) if cwd else SCRIPT_DIR,
                         env={**os.environ, **(env or {})}, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    if not PROGRAMS:
        atexit.register(lambda: [end_program(p) for p in PROGRAMS])
    PROGRAMS.append(p)
    return p


def end_program(p):
    # close on a program: SIGTERM to its group, a second, then SIGKILL.
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(1)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        except ProcessLookupError:
            pass


def send_program(p, data):
    p.stdin.write(data)
    p.stdin.flush()
    return len(data)


def wait_program(p, expected):
    # wait: the exit status (a signal: its negative number), within the timeout.
    status = p.wait(timeout=socket.getdefaulttimeout())
    assert expected is None or status == expected, f'exit status {status}, expected {expected}'
    return status



argv = sys.argv[1:]
while argv and argv[0] in ('--set', '--timeout', '--allow-exec', '--netns'):
    flag = argv.pop(0)
    if flag == '--allow-exec':
        ALLOW_EXEC = True
    elif flag == '--netns':
        NETNS = True
    elif not argv:
        sys.exit(f'{flag} needs a value')
    elif flag == '--timeout':
        TIMEOUT = argv.pop(0)
    else:
        name, _, value = argv.pop(0).partition('=')
        SETS[name] = value.encode()
ARGS = argv + DEFAULTS[len(argv):]
for name, value in SETS.items():
    globals()['v_' + name] = value  # ${NAME}: bytes, as in sockrepl
if NETNS:
    if not hasattr(os, 'unshare'):
        print('--netns needs os.unshare (Python 3.12 or later)', file=sys.stderr)
        sys.exit(2)
    import fcntl
    import struct
    os.unshare(os.CLONE_NEWUSER | os.CLONE_NEWNET)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as lo:
        fcntl.ioctl(lo, 0x8914, struct.pack('16sh', b'lo', 1 | 0x40))  # SIOCSIFFLAGS: UP, RUNNING
socket.setdefaulttimeout(duration(TIMEOUT))  # sockrepl waits at most this for a call

# Lesson 21: the lecture's echo server, started by the script
#
# Lecture: "Menjalankan server dan client" -- run the echo server, then the
# client; here the script starts the server itself
#
# Lesson 4 played both parts of the echo exchange in one script. Here the
# server is the lecture's own Python program, scripts/python/echo-server.py,
# and the script starts it: no second terminal, no port to copy by hand.
#
#   sockrepl --allow-exec run scripts/lessons/21-spawn-echo-server.sock
#
# spawn starts a program as a handle: what it prints is read like bytes
# arriving on a socket, and what we send goes to its stdin. --allow-exec
# on the command line says this script may start programs.

# python3 echo-server.py 0: port 0 lets the kernel choose a free port.
# The path is from this script's folder, wherever sockrepl was started.
server = spawn(['python3', '../python/echo-server.py', '0'])

# The server prints "listening on 127.0.0.1:PORT". expect --re reads that
# line and keeps the port it chose in ${port} (shown as <port>).
m = expect_re(server, rb'listening on 127\.0\.0\.1:(?P<port>\d+)\n', 65536)
v_port = m.group('port') or b''

# The lecture's client: s.connect((HOST, PORT)), s.sendall(...), s.recv(...).
# A server that is still starting would refuse the connection: --retry
# tries again until it listens (here it already does: it said so).
client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
connect_retry(client, ('127.0.0.1', int(v_port)), 5.0)

# The server accepts and prints who connected: ('127.0.0.1', PORT), the
# client's ephemeral port. Then it waits in conn.recv(1024).
m = expect_re(server, rb"Connected by \('127\.0\.0\.1', \d+\)\n", 65536)

# Both ends side by side: the server is a program (prog, with its pid),
# the client a socket connected to it.
# sockets: the kernel's table of these sockets; in a shell: netstat -tanp (or ss -tanp)

client.sendall(b'Hello, world')
data = recvn(client, 12)
assert data == b'Hello, world', data

# The lecture's server never closes a connection itself: it goes back to
# accept() for the next client, and the client closes when it is done.
client.close()

# The server runs until it is stopped with Ctrl-C, which is SIGINT:
# Python stops with KeyboardInterrupt, and the process ends by that signal.
os.killpg(server.pid, signal.SIGINT)  # to its process group, as sockrepl does
print('exit status', wait_program(server, -signal.SIGINT))
