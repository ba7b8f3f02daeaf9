#!/usr/bin/env python3
"""The lecture's echo client: connect, send b'Hello, world', print the reply.

As in the lecture it talks to 127.0.0.1 port 65432; a port, or HOST:PORT,
on the command line talks to another (for a server started on port 0):

    python3 scripts/python/echo-client.py
    python3 scripts/python/echo-client.py PORT
    python3 scripts/python/echo-client.py 127.0.0.1:PORT

It receives once and ends, which closes its socket: the lecture's server
(echo-server.py) never closes a connection itself, so the client does.
sockrepl's scripts/echo-client.sock makes the same calls, one a line.
"""
import socket
import sys

HOST, _, PORT = (sys.argv[1] if len(sys.argv) > 1 else '65432').rpartition(':')
HOST = HOST or '127.0.0.1'
PORT = int(PORT)

with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.settimeout(5)  # never hang on a server that does not answer
    s.connect((HOST, PORT))
    s.sendall(b'Hello, world')
    data = s.recv(1024)

print('Received', repr(data))
