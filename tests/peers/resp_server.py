#!/usr/bin/env python3
"""A tiny Redis-like server speaking RESP, for sockrepl's protocol tests.

    python3 resp_server.py [CONNECTIONS]

It listens on 127.0.0.1 port 0, prints "listening on 127.0.0.1:PORT" on one
flushed line, and serves at most CONNECTIONS connections (default 5), one
after the other. Each request is a RESP array of bulk strings, as
redis-cli sends them:

    *2\\r\\n$4\\r\\nECHO\\r\\n$5\\r\\nhello\\r\\n

Commands (names in any case), with Redis's own replies:

    PING [MSG]      +PONG, or MSG as a bulk string
    ECHO MSG        MSG as a bulk string           $5\\r\\nhello\\r\\n
    SET KEY VALUE   +OK
    GET KEY         VALUE as a bulk string, or the null bulk string $-1
    INCR KEY        the new value as an integer    :1\\r\\n
    DEL KEY...      how many keys it removed, as an integer
    QUIT            +OK, then the server closes the connection

An unknown command or a wrong number of arguments gets Redis's -ERR
reply, worded as Redis 7 words it; a request that is not RESP gets
"-ERR Protocol error: ..." and the connection is closed. Its life is
bounded: it exits 30 seconds after its last connection began, or when it
has served CONNECTIONS of them, so a broken test never leaves it behind.
"""
import socket
import sys

HOST = '127.0.0.1'
IDLE_SECONDS = 30
CONNECTIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 5


class ProtocolError(Exception):
    pass


def read_line(f):
    line = f.readline()
    if not line:
        raise EOFError
    if not line.endswith(b'\r\n'):
        raise ProtocolError('expected \\r\\n at the end of a line')
    return line[:-2]


def read_request(f):
    """One RESP array of bulk strings, as a list of bytes."""
    line = read_line(f)
    if not line.startswith(b'*'):
        raise ProtocolError(f"expected '*', got {line[:1].decode('latin-1')!r}")
    count = int(line[1:])
    words = []
    for _ in range(count):
        line = read_line(f)
        if not line.startswith(b'$'):
            raise ProtocolError(f"expected '$', got {line[:1].decode('latin-1')!r}")
        length = int(line[1:])
        word = f.read(length + 2)
        if len(word) < length + 2:
            raise EOFError
        if word[-2:] != b'\r\n':
            raise ProtocolError('a bulk string longer than its $length')
        words.append(word[:-2])
    return words


def bulk(value):
    if value is None:
        return b'$-1\r\n'
    return b'$%d\r\n%s\r\n' % (len(value), value)


def error(text):
    return b'-ERR ' + text.encode('latin-1') + b'\r\n'


ARITY = {'PING': (0, 1), 'ECHO': (1, 1), 'SET': (2, 2), 'GET': (1, 1),
         'INCR': (1, 1), 'DEL': (1, None), 'QUIT': (0, 0)}


def answer(words, store):
    """The reply to one request, and whether to close afterwards."""
    name = words[0].decode('latin-1')
    command, args = name.upper(), words[1:]
    if command not in ARITY:
        shown = ''.join(f"'{a.decode('latin-1')}' " for a in args)
        return error(f"unknown command '{name}', with args beginning with: {shown}"), False
    low, high = ARITY[command]
    if len(args) < low or (high is not None and len(args) > high):
        return error(f"wrong number of arguments for '{name.lower()}' command"), False
    if command == 'PING':
        return (bulk(args[0]) if args else b'+PONG\r\n'), False
    if command == 'ECHO':
        return bulk(args[0]), False
    if command == 'SET':
        store[args[0]] = args[1]
        return b'+OK\r\n', False
    if command == 'GET':
        return bulk(store.get(args[0])), False
    if command == 'INCR':
        try:
            value = int(store.get(args[0], b'0')) + 1
        except ValueError:
            return error('value is not an integer or out of range'), False
        store[args[0]] = b'%d' % value
        return b':%d\r\n' % value, False
    if command == 'DEL':
        removed = sum(1 for key in args if store.pop(key, None) is not None)
        return b':%d\r\n' % removed, False
    return b'+OK\r\n', True  # QUIT


def serve(conn, store):
    conn.settimeout(IDLE_SECONDS)
    f = conn.makefile('rb')
    while True:
        try:
            words = read_request(f)
        except (EOFError, ConnectionError, socket.timeout):
            return
        except (ProtocolError, ValueError) as problem:
            conn.sendall(error(f'Protocol error: {problem}'))
            return
        if not words:
            continue
        reply, close = answer(words, store)
        conn.sendall(reply)
        if close:
            return


def main():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    s.listen()
    s.settimeout(IDLE_SECONDS)
    print('listening on %s:%d' % s.getsockname(), flush=True)
    store = {}
    try:
        for _ in range(CONNECTIONS):
            conn, _ = s.accept()
            with conn:
                serve(conn, store)
    except socket.timeout:
        pass
    finally:
        s.close()


if __name__ == '__main__':
    main()
