#!/usr/bin/env python3
"""Bob's echo server: it answers, but in upper case."""
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
            while True:
                data = conn.recv(1024)
                if not data:
                    break
                conn.sendall(data.upper())
