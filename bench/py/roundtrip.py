"""The Python peer of the round-trip row: the same exchange as the sockrepl
script and bench/c/roundtrip.c, written the way a student would, with the
socket module and blocking sockets. Usage: roundtrip.py N"""
import socket
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen()
a = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
a.connect(srv.getsockname())
b, _ = srv.accept()
for _ in range(n):
    a.sendall(b"x")
    assert b.recv(1) == b"x"
    b.sendall(b"x")
    assert a.recv(1) == b"x"
a.close()
b.close()
srv.close()
