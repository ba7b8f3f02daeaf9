#!/usr/bin/env python3
"""scripts/lessons/04-echo.sock, exported by sockrepl 0.1.0.

The same socket calls, in the same order, as `sockrepl run 04-echo.sock`;
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


def addr_text(address):
    # An address as sockrepl writes it: 127.0.0.1:PORT, [::1]:PORT, a path, @name.
    if isinstance(address, tuple):
        host, port = address[0], address[1]
        return f'[{host}]:{port}' if ':' in host else f'{host}:{port}'
    if isinstance(address, bytes):
        return '@' + address[1:].decode(errors='replace') if address else '@'
    return address


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

# Lesson 4: the echo server and client of the lecture
#
# Lecture: "Example: Echo Client and Server" and "Menjalankan server dan
# client". The lecture's two programs, run side by side in one script. The
# server (left column) and the client (right column) in Python:
#
#   s.bind((HOST, PORT))                s.connect((HOST, PORT))
#   s.listen()                          s.sendall(b'Hello, world')
#   while True:                         data = s.recv(1024)
#     conn, addr = s.accept()           print('Received', repr(data))
#     print('Connected by', addr)
#     data = conn.recv(1024)
#     if not data:
#       continue
#     conn.sendall(data)
#
# For each client the server receives ONCE, sends those bytes back and
# goes back to accept(). It never closes a connection itself: the client
# closes it, when it is done. (scripts/python/echo-server.py is this
# server, to run for real.)
#
# One script can play both parts because every call below returns as soon
# as the kernel has done its work; nothing waits for the other program.

# The server gets ready (lesson 2).
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(('127.0.0.1', 0))
s.listen()

# The client connects (lesson 3) and sends its greeting. sendall keeps
# calling send() until every byte is handed to the kernel.
client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect(s.getsockname())
client.sendall(b'Hello, world')

# The server accepts. Python prints ('Connected by', addr): the client's
# address, here with its ephemeral port.
conn, conn_addr = s.accept()
print('accepted', conn_addr)
print('Connected', 'by', addr_text(conn.getpeername()))

# data = conn.recv(1024): at most 1024 bytes, here the 12 that arrived.
# sockrepl shows received bytes the way Python's repr() does: b'...'.
data = conn.recv(1024)
print(repr(data))

# conn.sendall(data): the server echoes the same bytes back, and its loop
# goes back to accept() for the next client.
conn.sendall(b'Hello, world')

# The client's recv(1024). The lecture prints: Received b'Hello, world'
data = client.recv(1024)
print(repr(data))

# The client program ends here, which closes its socket. The server does
# not notice: it is waiting in accept(), and never reads this connection
# again.
client.close()

# A second client. In a test we would rather assert than look: `expect`
# fails unless exactly these bytes arrive.
client2 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client2.connect(s.getsockname())
client2.sendall(b'second client\n')

# conn, addr = s.accept() returns the new connection and names it `conn`.
# (Here it is conn2, so the transcript can tell the two apart.) The first
# connection, no longer named, is closed by Python then: that is the only
# close the lecture's server ever does.
conn2, conn2_addr = s.accept()
print('accepted', conn2_addr)
conn.close()
data = conn2.recv(1024)
print(repr(data))
conn2.sendall(b'second client\n')
data = recvn(client2, 14)
assert data == b'second client\n', data
client2.close()

# A client that connects and closes without sending anything: the
# server's recv() returns b'' -- zero bytes means "the peer closed", the
# end of stream -- and `if not data: continue` goes back to accept().
quiet = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
quiet.connect(s.getsockname())
quiet.close()
conn3, conn3_addr = s.accept()
print('accepted', conn3_addr)
conn2.close()
data = conn3.recv(1024)
print(repr(data))

# The lecture's server would go on forever (`while True:`); a script ends.
conn3.close()
s.close()
