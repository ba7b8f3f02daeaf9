"""The Python side of the `expect --re` row: receive K replies of SIZE bytes
and re.match each against PATTERN as it arrives, keeping what follows.
Usage: rematch.py PORT K SIZE PATTERN"""
import re
import socket
import sys

port, count, size, pattern = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
regex = re.compile(pattern.encode())
s = socket.create_connection(("127.0.0.1", port))
buf = b""
for _ in range(count):
    while True:
        m = regex.match(buf)
        if m:
            break
        chunk = s.recv(65536)
        assert chunk, "the peer closed before a match"
        buf += chunk
    print(f"ok: matched {m.end()} bytes")
    buf = buf[m.end():]
s.close()
