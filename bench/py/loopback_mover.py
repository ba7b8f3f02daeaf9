"""Keeps a loopback interface busy for the trace row: moves bytes over a TCP
connection of its own (kernel-chosen ports, not the session's) until
SIGTERM, then prints how many bytes it moved. It prints "moving" once the
transfer runs. Bounded: it stops by itself after LIMIT seconds.
Usage: loopback_mover.py LIMIT_SECONDS"""
import signal
import socket
import sys
import threading
import time

CHUNK = 1 << 20
limit = float(sys.argv[1])
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
sender = socket.create_connection(listener.getsockname())
receiver, _ = listener.accept()
moved = [0]


def receive():
    buffer = bytearray(CHUNK)
    while True:
        n = receiver.recv_into(buffer)
        if n == 0:
            return
        moved[0] += n


thread = threading.Thread(target=receive)
thread.start()
chunk = b"x" * CHUNK
deadline = time.monotonic() + limit
print("moving", flush=True)
while not stop.is_set() and time.monotonic() < deadline:
    sender.sendall(chunk)
sender.close()
thread.join()
print(moved[0], flush=True)
