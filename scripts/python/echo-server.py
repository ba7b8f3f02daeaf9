#!/usr/bin/env python3
"""The lecture's echo server ("Example: Echo Client and Server"), as the
lecture writes it.

It makes a listening socket -- socket(), bind(), listen() -- and then, in
`while True`, accepts a client, prints 'Connected by' and the client's
address, receives once (at most 1024 bytes) and, unless that was b'' (a
client that closed without sending: `if not data: continue`), sends the
same bytes back. It never closes a connection itself: the client closes
it when it is done. (Python closes the server's end only when the next
accept() replaces `conn`.) It runs until you stop it with Ctrl-C.

Two additions, so that it runs where 65432 is taken, and in tests:
- the port is argv[1], default 65432 as in the lecture (0 lets the kernel
  choose a free one);
- it first prints "listening on 127.0.0.1:PORT", so that port can be read
  back, and its prints are flushed, so they show even through a pipe.

Run:   python3 scripts/python/echo-server.py                (port 65432)
and, in another terminal, the lecture's client or sockrepl's:
       python3 scripts/python/echo-client.py                (port 65432)
       sockrepl run scripts/echo-client.sock 65432
"""
import socket
import sys

HOST = '127.0.0.1'  # the loopback interface: the data never leaves this machine
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 65432

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((HOST, PORT))
s.listen()
print('listening on {}:{}'.format(*s.getsockname()), flush=True)
while True:
    conn, addr = s.accept()
    print('Connected by', addr, flush=True)
    data = conn.recv(1024)
    if not data:
        continue
    conn.sendall(data)
