"""The Python side of the recvline row: read N lines with
sock.makefile('rb').readline() and print each as Python shows bytes, as the
sockrepl transcript does. Usage: readlines.py PORT N"""
import socket
import sys

port, count = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
out = sys.stdout
for _ in range(count):
    line = f.readline()
    out.write(repr(line) + "\n")
s.close()
