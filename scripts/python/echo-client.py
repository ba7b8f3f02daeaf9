#!/usr/bin/env python3
"""The lecture's echo client: connect, send b'Hello, world', print the reply.

The server's address comes from the command line instead of being fixed
at 65432, because the adapted echo-server.py binds port 0 and prints the
port the kernel chose:

    python3 scripts/python/echo-client.py 127.0.0.1:PORT
    python3 scripts/python/echo-client.py PORT          (host 127.0.0.1)

sockrepl's scripts/echo-client.sock does the same steps, one command each.
"""
import socket
import sys

if len(sys.argv) != 2:
    sys.exit('usage: echo-client.py [HOST:]PORT')
HOST, _, PORT = sys.argv[1].rpartition(':')
HOST = HOST or '127.0.0.1'
PORT = int(PORT)

with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.settimeout(5)  # never hang on a server that does not answer
    s.connect((HOST, PORT))
    s.sendall(b'Hello, world')
    data = s.recv(1024)

print('Received', repr(data))
