#!/usr/bin/env python3
"""The lecture's echo server, as a non-Rust peer for sockrepl's tests.

socket(), bind(), listen(), then for each client accept(), one recv(1024)
and sendall() of what came, then close -- the lecture's server. Changes for
testing: it binds 127.0.0.1 port argv[1] (default 0, the kernel chooses),
prints "listening on 127.0.0.1:PORT" on one flushed line so the test can
read the port, and its life is bounded: at most argv[2] connections
(default 20) and 60 seconds without a new one.
"""
import socket
import sys

HOST = '127.0.0.1'
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 0
MAX_CONNECTIONS = int(sys.argv[2]) if len(sys.argv) > 2 else 20
IDLE_SECONDS = 60

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((HOST, PORT))
s.listen()
s.settimeout(IDLE_SECONDS)
host, port = s.getsockname()
print(f'listening on {host}:{port}', flush=True)

try:
    for _ in range(MAX_CONNECTIONS):
        conn, addr = s.accept()
        with conn:
            conn.settimeout(IDLE_SECONDS)
            print('Connected by', addr, flush=True)
            data = conn.recv(1024)
            if not data:
                continue
            conn.sendall(data)
except socket.timeout:
    print(f'no connection for {IDLE_SECONDS}s: exiting', flush=True)
finally:
    s.close()
