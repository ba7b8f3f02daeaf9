"""A server that takes its time: it listens on the Unix socket path given
as argv[1] only after 300 ms, then echoes one line to one client."""
import socket
import sys
import time

time.sleep(0.3)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen()
s.settimeout(10)
print('listening', flush=True)
conn, _ = s.accept()
with conn:
    conn.sendall(conn.recv(1024))
s.close()
