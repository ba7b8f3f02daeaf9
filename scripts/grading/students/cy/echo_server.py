#!/usr/bin/env python3
"""Cy's echo server: it crashes on the first message (str is not bytes)."""
import socket
import sys

HOST = '127.0.0.1'
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 65432

with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, PORT))
    s.listen()
    while True:
        conn, addr = s.accept()
        with conn:
            print('Connected by', addr, flush=True)
            data = conn.recv(1024)
            conn.sendall(data.decode())  # TypeError: sendall wants bytes
