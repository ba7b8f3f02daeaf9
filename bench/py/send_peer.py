"""A peer for the protocol rows: listens on 127.0.0.1:PORT, sends FILE to
the first client, then closes. Usage: send_peer.py PORT FILE"""
import socket
import sys

port, path = int(sys.argv[1]), sys.argv[2]
with open(path, "rb") as f:
    data = f.read()
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen()
srv.settimeout(60)
conn, _ = srv.accept()
conn.sendall(data)
conn.close()
srv.close()
