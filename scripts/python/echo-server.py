#!/usr/bin/env python3
"""The lecture's echo server, adapted for exercises and tests.

As in the lecture: socket(), bind(), listen(), then for each client
accept(), one recv(1024) and sendall() of what came back. The changes:

- the port comes from argv[1] (default 0: the kernel chooses a free one),
  and the server prints "listening on 127.0.0.1:PORT" (flushed) so a
  script or a test can read the real port back;
- its lifetime is bounded: it serves at most argv[2] connections
  (default 10) and gives up after 30 seconds without a new connection,
  so a forgotten server never lingers.

Run:   python3 scripts/python/echo-server.py        (then, in another shell)
       sockrepl run scripts/echo-client.sock 127.0.0.1:PORT
"""
import socket
import sys

HOST = '127.0.0.1'  # loopback: the data never leaves this machine
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 0
MAX_CONNECTIONS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
IDLE_SECONDS = 30

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
                continue  # the client closed without sending anything
            conn.sendall(data)
except socket.timeout:
    print(f'no connection for {IDLE_SECONDS}s: exiting', flush=True)
finally:
    s.close()
