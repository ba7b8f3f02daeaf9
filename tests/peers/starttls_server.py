"""A plain-text-then-TLS server, for the STARTTLS test (tests/tls_peers.rs).

It greets in plain text as a mail server does, waits for the client's
STARTTLS, answers, and then speaks TLS over the same connection with
Python's ssl module (the certificate and key given on the command line):
it reads one line, answers it, and ends TLS with close_notify. One
connection, then it exits: 0 when the client followed the protocol.

    python3 starttls_server.py CERT KEY
    listening on 127.0.0.1:PORT
"""

import socket
import ssl
import sys

LIMIT = 10  # seconds any one wait may take


def read_line(sock):
    """One line ending in \\r\\n, read a byte at a time (nothing after it)."""
    line = b""
    while not line.endswith(b"\r\n") and len(line) < 1024:
        byte = sock.recv(1)
        if not byte:
            break
        line += byte
    return line


def main():
    cert, key = sys.argv[1], sys.argv[2]
    with socket.create_server(("127.0.0.1", 0)) as server:
        print(f"listening on 127.0.0.1:{server.getsockname()[1]}", flush=True)
        server.settimeout(LIMIT)
        conn, _ = server.accept()
    conn.settimeout(LIMIT)
    conn.sendall(b"220 starttls.test ESMTP ready\r\n")
    if read_line(conn) != b"STARTTLS\r\n":
        conn.sendall(b"500 expected STARTTLS\r\n")
        return 1
    conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    tls = context.wrap_socket(conn, server_side=True)
    line = read_line(tls)
    tls.sendall(b"250 hello " + line)
    try:
        tls.unwrap()  # close_notify
    except (OSError, ssl.SSLError):
        pass  # the client may close first
    tls.close()
    return 0 if line == b"EHLO lab\r\n" else 1


if __name__ == "__main__":
    sys.exit(main())
