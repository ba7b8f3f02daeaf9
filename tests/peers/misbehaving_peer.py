#!/usr/bin/env python3
"""A TCP peer that misbehaves on purpose, for sockrepl's reliability tests.

    python3 misbehaving_peer.py MODE [COUNT] [INTERVAL]

It listens on 127.0.0.1 port 0, prints "listening on 127.0.0.1:PORT" on one
flushed line, accepts ONE connection and then, by MODE:

  silent        never reads, never writes (an accepted peer that hangs)
  trickle       sends COUNT bytes b'0123456789...' one every INTERVAL
                seconds (default 1), then waits silently
  close-after   sends COUNT bytes, waits until they are acknowledged, then
                closes normally (FIN): the stream ends half way
  reset-after   sends COUNT bytes, waits until they are acknowledged, then
                resets the connection (SO_LINGER 0 + close: RST)
  reset-reading reads COUNT bytes of what the client sends, then resets
                (RST) while the client is still sending

Its life is bounded: it exits LIFETIME seconds after starting, whatever
happens, so a broken test can never leave it behind for long.
"""
import fcntl
import socket
import struct
import sys
import termios
import threading
import time
import os

LIFETIME = 30
PATTERN = b'0123456789'

MODE = sys.argv[1]
COUNT = int(sys.argv[2]) if len(sys.argv) > 2 else 10
INTERVAL = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0


def die_later():
    time.sleep(LIFETIME)
    os._exit(0)


def payload(count):
    return (PATTERN * (count // len(PATTERN) + 1))[:count]


def wait_acknowledged(conn):
    """Until the kernel's send queue is empty: the client has every byte."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        unacked = struct.unpack('i', fcntl.ioctl(conn, termios.TIOCOUTQ, b'\0' * 4))[0]
        if unacked == 0:
            return
        time.sleep(0.01)


def reset(conn):
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    conn.close()


def serve(conn):
    if MODE == 'silent':
        time.sleep(LIFETIME)
    elif MODE == 'trickle':
        for byte in payload(COUNT):
            conn.sendall(bytes([byte]))
            time.sleep(INTERVAL)
        time.sleep(LIFETIME)
    elif MODE == 'close-after':
        conn.sendall(payload(COUNT))
        wait_acknowledged(conn)
        conn.close()
    elif MODE == 'reset-after':
        conn.sendall(payload(COUNT))
        wait_acknowledged(conn)
        reset(conn)
    elif MODE == 'reset-reading':
        got = 0
        while got < COUNT:
            chunk = conn.recv(COUNT - got)
            if not chunk:
                break
            got += len(chunk)
        reset(conn)
    else:
        sys.exit(f'unknown mode {MODE!r}')
    # keep the process (not the connection) around until the client is done
    time.sleep(LIFETIME)


threading.Thread(target=die_later, daemon=True).start()
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
if MODE == 'reset-reading':
    # a small receive window, so the client is still sending at the reset
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
server.bind(('127.0.0.1', 0))
server.listen(1)
host, port = server.getsockname()
print(f'listening on {host}:{port}', flush=True)
connection, _ = server.accept()
serve(connection)
