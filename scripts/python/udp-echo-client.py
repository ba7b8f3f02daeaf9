#!/usr/bin/env python3
"""A UDP echo client in the style of the lecture's echo client.

The lecture's client speaks TCP (connect, sendall, recv). Over UDP there
is no connection: the client sends one datagram to the server's address
with sendto() and reads the answer with recvfrom(), which also says who
answered.

    python3 scripts/python/udp-echo-client.py 127.0.0.1:PORT [MESSAGE]

It prints "Received b'...'" as the lecture's client does, and exits 1 when
the answer is not its own bytes (or 2 seconds pass without one: UDP may
lose a datagram, and nobody sends it again). sockrepl's
scripts/udp-echo-server.sock is a server to try it on.
"""
import socket
import sys

if len(sys.argv) not in (2, 3):
    sys.exit('usage: udp-echo-client.py [HOST:]PORT [MESSAGE]')
HOST, _, PORT = sys.argv[1].rpartition(':')
HOST = HOST or '127.0.0.1'
PORT = int(PORT)
MESSAGE = sys.argv[2].encode() if len(sys.argv) == 3 else b'Hello, UDP'

with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(2)  # never wait for ever for a datagram that may be lost
    s.sendto(MESSAGE, (HOST, PORT))
    data, addr = s.recvfrom(1024)

print('Received', repr(data))
if data != MESSAGE:
    sys.exit(f'expected {MESSAGE!r} back, got {data!r} from {addr}')
