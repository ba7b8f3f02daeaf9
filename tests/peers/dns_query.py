#!/usr/bin/env python3
"""A DNS client from the standard library only, its query built by hand.

    python3 dns_query.py HOST:PORT NAME [TYPE]

It sends ONE query for NAME (TYPE: A, the default, or a number such as
28 for AAAA) with a random id and the recursion-desired flag, waits at
most 2 seconds for the answer, and prints what it sent and what came
back, one "key=value" a line, for the test to check:

    query_id=0x1234
    reply_id=0x1234
    rcode=0
    questions=1
    answers=1
    question=example.com
    answer=example.com A 60 127.0.0.1

It exits 0 when a reply came (whatever it says), 1 when none did.
"""
import random
import socket
import struct
import sys


def encode_name(name):
    out = b''
    for label in name.rstrip('.').split('.'):
        out += bytes([len(label)]) + label.encode('ascii')
    return out + b'\x00'


def read_name(message, at):
    """The name at offset `at` (following compression pointers), and the
    offset just past it in the record that holds it."""
    labels, end = [], None
    for _ in range(64):  # bounded: a pointer loop cannot hang us
        length = message[at]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = at + 2
            at = struct.unpack('!H', message[at:at + 2])[0] & 0x3FFF
            continue
        if length == 0:
            return '.'.join(labels), (end if end is not None else at + 1)
        labels.append(message[at + 1:at + 1 + length].decode('ascii'))
        at += 1 + length
    raise ValueError('a name with too many labels or pointers')


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit('usage: dns_query.py HOST:PORT NAME [TYPE]')
    host, _, port = sys.argv[1].rpartition(':')
    name = sys.argv[2]
    qtype = 1 if len(sys.argv) == 3 or sys.argv[3] == 'A' else int(sys.argv[3])
    query_id = random.randrange(0x10000)
    # header: id, flags 0x0100 (a standard query, recursion desired),
    # 1 question, 0 answers, 0 authority, 0 additional records
    query = struct.pack('!HHHHHH', query_id, 0x0100, 1, 0, 0, 0)
    query += encode_name(name) + struct.pack('!HH', qtype, 1)  # class IN
    print(f'query_id=0x{query_id:04x}')
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(query, (host, int(port)))
        try:
            reply, _ = s.recvfrom(512)
        except socket.timeout:
            print('no reply')
            sys.exit(1)
    reply_id, flags, qdcount, ancount, _, _ = struct.unpack('!HHHHHH', reply[:12])
    print(f'reply_id=0x{reply_id:04x}')
    print(f'rcode={flags & 0x000F}')
    print(f'questions={qdcount}')
    print(f'answers={ancount}')
    at = 12
    for _ in range(qdcount):
        qname, at = read_name(reply, at)
        at += 4  # type and class
        print(f'question={qname}')
    for _ in range(ancount):
        rname, at = read_name(reply, at)
        rtype, _, ttl, length = struct.unpack('!HHIH', reply[at:at + 10])
        data = reply[at + 10:at + 10 + length]
        at += 10 + length
        shown = socket.inet_ntoa(data) if rtype == 1 and length == 4 else data.hex()
        kind = 'A' if rtype == 1 else str(rtype)
        print(f'answer={rname} {kind} {ttl} {shown}')


if __name__ == '__main__':
    main()
