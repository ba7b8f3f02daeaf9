#!/usr/bin/env python3
"""scripts/lessons/09-errors.sock, exported by sockrepl 0.1.0.

The same socket calls, in the same order, as `sockrepl run 09-errors.sock`;
it exits 0 exactly when that run would. Run it with python3 (not -O:
the checks are asserts). Its options, before the script's arguments:
--set NAME=VALUE, --timeout DUR, --allow-exec, --netns.
"""
import errno
import os
import select
import socket
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

# Lesson 9: errors as lessons
#
# Lecture: "Socket API Overview" (connect_ex) and "Menjalankan server dan
# client" -- and a step past them: what the calls do when they fail.
#
# Socket calls fail, and each failure has a name (errno) that tells you
# exactly what went wrong. Python raises them as exceptions:
# ConnectionRefusedError is ECONNREFUSED, BrokenPipeError is EPIPE, ...
# `fails ERRNAME COMMAND` states that COMMAND must fail with that error;
# the script goes on, so one script can collect several failures.

# --- ECONNREFUSED: nobody is listening ---
# A socket bound to a port but not listening holds the port, so nothing
# else can listen there. Connecting to it is refused: the kernel answers
# the SYN with a reset (RST).
holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
holder.bind(('127.0.0.1', 0))
cli = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
err = cli.connect_ex(holder.getsockname())
print(errno.errorcode.get(err, err) if err else 0)
# connect_ex returns the error (Python: s.connect_ex(addr)); plain connect
# fails with it. A Unix stream socket that is bound but not listening
# refuses a connection the same way. (`bind upath @` lets the kernel
# choose a free abstract name: lesson 8.)
upath = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
upath.bind('')
ucli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    ucli.connect(upath.getsockname())
except OSError as e:
    assert e.errno == errno.ECONNREFUSED, e
else:
    raise AssertionError('expected a failure, but the command succeeded')
ucli.close()
upath.close()
cli.close()

# --- EADDRINUSE and SO_REUSEADDR ---
# Two servers cannot listen on the same address and port. SO_REUSEADDR
# relaxes binding (both sockets below may bind the port), but listening
# twice still fails with EADDRINUSE, "Address already in use".
one = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
one.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
one.bind(('127.0.0.1', 0))
two = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
two.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
two.bind(one.getsockname())
one.listen()
try:
    two.listen()
except OSError as e:
    assert e.errno == errno.EADDRINUSE, e
else:
    raise AssertionError('expected a failure, but the command succeeded')
two.close()

# Where SO_REUSEADDR really matters: restarting a server. The side that
# closes a connection first keeps it alive after close(): in FIN_WAIT2
# until the peer closes too, then in TIME_WAIT for about a minute (`ss
# -tan` shows it; no handle owns it). Until then a new server without
# SO_REUSEADDR cannot bind that port ("EADDRINUSE; hint: another socket
# holds ..."); with it, bind succeeds at once.
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
c.connect(one.getsockname())
conn, conn_addr = one.accept()
print('accepted', conn_addr)
conn.close()
one.close()
data = c.recv(1)
assert data == b'', data  # the end of stream
plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    plain.bind(c.getpeername())
except OSError as e:
    assert e.errno == errno.EADDRINUSE, e
else:
    raise AssertionError('expected a failure, but the command succeeded')
plain.close()
restarted = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
restarted.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
restarted.bind(c.getpeername())
restarted.listen()
restarted.close()
c.close()

# --- EPIPE and ECONNRESET: the other side is gone ---
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(('127.0.0.1', 0))
srv.listen()
w = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
w.connect(srv.getsockname())
peer, peer_addr = srv.accept()
print('accepted', peer_addr)
# The peer closes. The next send still "works" -- send only hands the
# bytes to the kernel -- but the peer's kernel answers them with a reset
# (RST), because no program will ever read them.
peer.close()
w.send(b'anyone there?')
# After the reset, the connection is dead: sending fails with EPIPE,
# "Broken pipe" (Python: BrokenPipeError).
try:
    w.send(b'hello?')
except OSError as e:
    assert e.errno == errno.EPIPE, e
else:
    raise AssertionError('expected a failure, but the command succeeded')
w.close()

# Shutting down your own writing side gives EPIPE at once.
w2 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
w2.connect(srv.getsockname())
peer2, peer2_addr = srv.accept()
print('accepted', peer2_addr)
w2.shutdown(socket.SHUT_WR)
try:
    w2.send(b'too late')
except OSError as e:
    assert e.errno == errno.EPIPE, e
else:
    raise AssertionError('expected a failure, but the command succeeded')
w2.close()
peer2.close()

# A program that closes a connection while unread data waits in it does
# not say goodbye with a FIN: its kernel sends a reset right away. The
# other side's next call fails with ECONNRESET, "Connection reset by
# peer" (Python: ConnectionResetError).
w3 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
w3.connect(srv.getsockname())
peer3, peer3_addr = srv.accept()
print('accepted', peer3_addr)
w3.sendall(b'you will never read this')
peer3.close()
try:
    data = w3.recv(1024)
    print(repr(data))
except OSError as e:
    assert e.errno == errno.ECONNRESET, e
else:
    raise AssertionError('expected a failure, but the command succeeded')
w3.close()
srv.close()

# --- TIMEOUT: nothing happens ---
# Every blocking command waits at most its timeout (5 s unless changed).
# A server with no client waits in accept() until then; sockrepl names
# that failure TIMEOUT (Python: socket.timeout).
lonely = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
lonely.bind(('127.0.0.1', 0))
lonely.listen()
lonely.settimeout(0.2)
try:
    lonely_1, lonely_1_addr = lonely.accept()
    print('accepted', lonely_1_addr)
except TimeoutError:
    pass  # TIMEOUT, as expected
else:
    raise AssertionError('expected a failure, but the command succeeded')

# An assertion that does not hold is a failure too. Here a server waits
# for a greeting from a client that never sends one. Without `fails`, that
# failure would end the script with one last line in the form
# FILE:LINE: COMMAND: MESSAGE and exit status 1:
#   09-errors.sock:127: expect: TIMEOUT (nothing arrived within 200ms; ...)
# which is how an autograder tells a student's broken server from a good one.
quiet = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
quiet.connect(lonely.getsockname())
greeter, greeter_addr = lonely.accept()
print('accepted', greeter_addr)
greeter.settimeout(0.2)
try:
    data = recvn(greeter, 6)
    assert data == b'hello\n', data
except TimeoutError:
    pass  # TIMEOUT, as expected
else:
    raise AssertionError('expected a failure, but the command succeeded')
