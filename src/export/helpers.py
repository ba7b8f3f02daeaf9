# The helpers an exported program may use, one section each. A section
# starts with a line `#: NAME imports=MOD,MOD needs=HELPER,HELPER` and runs
# to the next; helpers.rs splits this file and the exporter copies into a
# program only the sections it uses (and those they need), in this order.
# Each keeps one sockrepl behaviour that plain `socket` calls do not.

#: fail
def fail(message):
    # A mistake sockrepl reports when the line runs: the run fails (status 1).
    raise RuntimeError(message)

#: unescape imports=re
def unescape(text):
    # An argument used as DATA: its escapes (\n, \xHH...) are decoded, as sockrepl does.
    names = {'\\': 92, "'": 39, '"': 34, 'a': 7, 'b': 8, 'f': 12, 'n': 10,
             'r': 13, 't': 9, 'v': 11, '0': 0}
    out = bytearray()
    parts = re.split(r'(\\x[0-9a-fA-F]{2}|\\.)', text)
    for part in parts:
        if part.startswith('\\x') and len(part) == 4:
            out.append(int(part[2:], 16))
        elif part.startswith('\\') and len(part) == 2 and part[1] in names:
            out.append(names[part[1]])
        elif part.startswith('\\'):
            fail(f'bad escape {part!r} in {text!r}')
        else:
            out += part.encode()
    return bytes(out)

#: addr_text
def addr_text(address):
    # An address as sockrepl writes it: 127.0.0.1:PORT, [::1]:PORT, a path, @name.
    if isinstance(address, tuple):
        host, port = address[0], address[1]
        return f'[{host}]:{port}' if ':' in host else f'{host}:{port}'
    if isinstance(address, bytes):
        return '@' + address[1:].decode(errors='replace') if address else '@'
    return address

#: addr imports=socket needs=fail
def addr(s, word):
    # An ADDR known only when the line runs, in the forms of sockrepl's
    # language: A.B.C.D:PORT, [IPV6]:PORT, HOST:PORT, :PORT, PORT, a path, @name.
    family = s.family if isinstance(s, socket.socket) else socket.AF_INET
    if word.startswith('@'):
        return b'\0' + word[1:].encode() if word[1:] else ''
    if '/' in word:
        if family != socket.AF_UNIX:
            fail(f'{word} is a Unix address but the socket is not')
        return word
    if family == socket.AF_UNIX:
        fail(f'a Unix socket takes a path containing / or an @name, not {word}')
    if word.isdigit():
        return ('::1' if family == socket.AF_INET6 else '127.0.0.1', int(word))
    if word.startswith('['):
        host, _, port = word[1:].partition(']')
        return (host, int(port[1:]) if port else 0)
    host, _, port = word.rpartition(':') if ':' in word else (word, '', '0')
    if not host:
        host = '::' if family == socket.AF_INET6 else '0.0.0.0'
    if host.replace('.', '').isdigit() and family == socket.AF_INET6:
        fail(f'{host} is an IPv4 address but the socket is IPv6')
    if not port.isdigit() or int(port) > 65535:
        fail(f'bad port in {word!r}')
    return (host, int(port))

#: duration needs=fail
def duration(word):
    # A DUR known only when the line runs: 250ms, 1.5s, 2s, 1m; none is None.
    if word == 'none':
        return None
    for unit, seconds in (('ms', 0.001), ('s', 1), ('m', 60), ('h', 3600)):
        number = word[:-len(unit)]
        if word.endswith(unit) and number.replace('.', '', 1).isdigit():
            return float(number) * seconds
    fail(f'bad duration {word!r}')

#: number needs=fail
def number(word):
    # A count known only when the line runs.
    if isinstance(word, bytes):
        word = word.decode(errors='replace')
    if not word.isdigit():
        fail(f'{word!r} is not a number')
    return int(word)

#: tmp imports=atexit,shutil,tempfile
TMP = None


def tmp():
    # ${tmp}: a private directory, made on first use and removed at the end.
    global TMP
    if TMP is None:
        TMP = tempfile.mkdtemp(prefix='sockrepl-')
        atexit.register(shutil.rmtree, TMP, True)
    return TMP

#: unlink_at_exit imports=atexit,os
BOUND_PATHS = {}


def unlink_at_exit(s, path):
    # sockrepl removes the Unix socket files its binds made, at close and at the end.
    if isinstance(path, str) and path and not path.startswith('\0'):
        BOUND_PATHS[s] = (path, os.stat(path).st_ino)
        if len(BOUND_PATHS) == 1:
            atexit.register(lambda: [unlink_bound(s) for s in list(BOUND_PATHS)])


def unlink_bound(s):
    path, inode = BOUND_PATHS.pop(s, (None, None))
    try:
        if path and os.stat(path).st_ino == inode:
            os.unlink(path)
    except OSError:
        pass

#: track imports=socket
UNTIMED = []


def track(s):
    # A socket with no timeout of its own follows the session's default.
    UNTIMED.append(s)
    return s


def own_timeout(s):
    if s in UNTIMED:
        UNTIMED.remove(s)


def set_default_timeout(seconds):
    # sockrepl's `timeout` applies at once to every such socket.
    socket.setdefaulttimeout(seconds)
    for s in UNTIMED:
        if s.fileno() != -1:
            s.settimeout(seconds)

#: is_program
def is_program(h):
    # A program under test (a subprocess.Popen), not a socket.
    return hasattr(h, 'pid')

#: deadline imports=socket,time
def timeout_of(s):
    # The handle's timeout, else the session's default (a program has none of its own).
    if hasattr(s, 'gettimeout'):
        return s.gettimeout()
    return socket.getdefaulttimeout()


def deadline_of(s):
    # sockrepl waits at most the timeout for a whole command, not per call.
    t = timeout_of(s)
    return None if t is None else time.monotonic() + t


def time_left(deadline, what='bytes'):
    if deadline is None:
        return None
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError(f'timed out waiting for {what}')
    return remaining

#: io imports=errno,os,select,socket needs=deadline,is_program
HELD = {}


def plain_socket(s):
    # (an ssl.SSLSocket is a socket.socket too, but has no MSG_PEEK)
    return type(s) is socket.socket


def read_some(s, n, deadline):
    # One read: a socket's recv, or a program's output pipe, bounded by the deadline.
    if is_program(s):
        ready, _, _ = select.select([s.stdout], [], [], time_left(deadline, 'output'))
        if not ready:
            raise TimeoutError('timed out waiting for output')
        return os.read(s.stdout.fileno(), n)
    t = s.gettimeout()
    if deadline is not None:
        s.settimeout(time_left(deadline) if t != 0 else 0.0)
    try:
        return s.recv(n)
    except OSError as e:
        if type(e).__name__ != 'SSLWantReadError':
            raise
        # A non-blocking TLS socket with nothing to read: EAGAIN, as for a plain one.
        raise BlockingIOError(errno.EAGAIN, 'Resource temporarily unavailable')
    finally:
        s.settimeout(t)


def receive(s, n, deadline=None, truncated_ok=True):
    # recv: a TLS connection or a program first gives what a framed receive left.
    held = HELD.pop(s, b'')
    if held:
        HELD[s] = held[n:]
        return held[:n]
    try:
        return read_some(s, n, deadline_of(s) if deadline is None else deadline)
    except OSError as e:
        if type(e).__name__ != 'SSLEOFError' or not truncated_ok:
            raise
        print('truncated: the TCP connection ended without a TLS close_notify')
        return b''


def peek_unread(s, n, seen, deadline):
    # The unread bytes, more than `seen` of them, without taking them
    # (MSG_PEEK on a socket, a buffer for TLS and programs), and whether
    # no more can come (the end of stream; a datagram is whole).
    while True:
        if plain_socket(s):
            t = s.gettimeout()
            s.settimeout(time_left(deadline) if t != 0 else 0.0)
            try:
                data = s.recv(n, socket.MSG_PEEK)
            finally:
                s.settimeout(t)
            if s.type != socket.SOCK_STREAM or not data:
                return data, True
            if len(data) > seen:
                return data, False
            p = select.poll()
            p.register(s, select.POLLRDHUP)
            if p.poll(0):
                return data, True
            time_left(deadline)
            time.sleep(0.01)
        else:
            held = HELD.get(s, b'')
            if len(held) > seen:
                return held, False
            more = read_some(s, n, deadline)
            HELD[s] = held + more
            if not more:
                return held, True


def take_unread(s, n):
    # Exactly n bytes that peek_unread saw.
    if plain_socket(s):
        return s.recv(n)
    held = HELD.pop(s, b'')
    HELD[s] = held[n:]
    return held[:n]

#: read_exactly needs=io
def recvn(s, n, deadline=None):
    # Exactly n bytes under one deadline; the end of stream first is a failure.
    deadline = deadline_of(s) if deadline is None else deadline
    data = b''
    while len(data) < n:
        chunk = receive(s, n - len(data), deadline)
        if not chunk:
            raise AssertionError(f'end of stream after {len(data)} of {n} bytes: {data!r}')
        data += chunk
    return data

#: read_to_end needs=io
def recvall(s, into=None):
    # Until the peer closes, under one deadline.
    deadline = deadline_of(s)
    data, count = b'', 0
    out = open(into, 'wb') if into else None
    while chunk := receive(s, 65536, deadline):
        count += len(chunk)
        if out:
            out.write(chunk)
        else:
            data += chunk
    if out:
        out.close()
        return count
    return data

#: read_until needs=io
def recvuntil(s, end, most):
    # Up to and including `end`, taking no byte after it; at most `most` bytes.
    deadline = deadline_of(s)
    seen = b''
    while True:
        seen, ended = peek_unread(s, most + 1, len(seen), deadline)
        found = seen.find(end)
        if 0 <= found and found + len(end) <= most:
            return take_unread(s, found + len(end))
        if len(seen) >= most:
            raise AssertionError(f'no {end!r} in the first {most} bytes: {seen[:most]!r}')
        if ended:
            raise AssertionError(f'the end came before {end!r}: {seen!r}')

#: expect_re imports=re,time needs=io
def expect_re(s, pattern, most):
    # Bytes that match from their start; more may lengthen the match, so wait
    # up to 0.2 s for them, as sockrepl does; then take exactly the match.
    deadline = deadline_of(s)
    seen, ended, settle = b'', False, None
    while True:
        m = re.match(pattern, seen[:most])
        if m and (ended or m.end() < len(seen) or settle and time.monotonic() >= settle):
            take_unread(s, m.end())
            return m
        if ended or len(seen) >= most:
            raise AssertionError(f'no match for {pattern!r} in {seen[:most]!r}')
        if m and settle is None:
            settle = time.monotonic() + 0.2
        try:
            seen, ended = peek_unread(s, most, len(seen), settle if m else deadline)
        except TimeoutError:
            if not m:
                raise
            ended = True

#: expect_file needs=read_exactly
def expect_file(s, path):
    # The file's bytes, compared chunk by chunk.
    with open(path, 'rb') as f:
        while chunk := f.read(65536):
            data = recvn(s, len(chunk))
            assert data == chunk, data

#: read_datagram needs=fail
def read_datagram(path):
    # One datagram holds at most 65535 bytes: sockrepl refuses a larger file.
    with open(path, 'rb') as f:
        data = f.read(65536)
    if len(data) > 65535:
        fail(f'{path} is too large for one datagram')
    return data

#: connect_retry imports=time needs=deadline
def connect_retry(s, address, seconds):
    # --retry: a server still starting refuses; try again every 50 ms.
    end = time.monotonic() + seconds
    while True:
        try:
            return s.connect(address)
        except (ConnectionRefusedError, FileNotFoundError):
            if time.monotonic() >= end:
                raise
            time.sleep(0.05)

#: programs imports=atexit,os,signal,subprocess,sys needs=fail
PROGRAMS = []


def spawn(argv, cwd=None, env=None):
    # A program under test, in its own process group, ended when we end.
    if not ALLOW_EXEC:
        fail('spawn needs --allow-exec')
    if '/' in argv[0] and not os.path.isabs(argv[0]):
        argv = [os.path.join(SCRIPT_DIR, argv[0])] + argv[1:]
    p = subprocess.Popen(argv, cwd=os.path.join(SCRIPT_DIR, cwd) if cwd else SCRIPT_DIR,
                         env={**os.environ, **(env or {})}, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    if not PROGRAMS:
        atexit.register(lambda: [end_program(p) for p in PROGRAMS])
    PROGRAMS.append(p)
    return p


def end_program(p):
    # close on a program: SIGTERM to its group, a second, then SIGKILL.
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(1)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        except ProcessLookupError:
            pass


def send_program(p, data):
    p.stdin.write(data)
    p.stdin.flush()
    return len(data)

#: wait_program imports=socket
def wait_program(p, expected):
    # wait: the exit status (a signal: its negative number), within the timeout.
    status = p.wait(timeout=socket.getdefaulttimeout())
    assert expected is None or status == expected, f'exit status {status}, expected {expected}'
    return status

#: tls_cert imports=os needs=tmp
CERT = '''@CERT@'''


def tls_cert():
    # ${tls.cert}: the program carries a fixed test certificate for localhost,
    # 127.0.0.1 and ::1 (the standard library cannot make one).
    path = os.path.join(tmp(), 'tls-cert.pem')
    if not os.path.exists(path):
        with open(path, 'w') as f:
            f.write(CERT)
    return path

#: tls_ends imports=hashlib,socket,ssl,time needs=tls_cert,deadline
def tls_client(s, sni=None, alpn=None, ca=None, insecure=False):
    # tls NAME: the client's handshake; the system's roots and --ca are trusted.
    ctx = ssl._create_unverified_context() if insecure else ssl.create_default_context()
    if ca:
        ctx.load_verify_locations(ca)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    host = sni or s.getpeername()[0]
    t = s.gettimeout()
    conn = ctx.wrap_socket(s, server_hostname=host, suppress_ragged_eofs=False)
    conn.settimeout(t)
    show_tls(conn)
    return conn


def tls_server(s, cert=None, key=None, alpn=None):
    # tls NAME --server: with the given certificate, or the program's own.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert or tls_cert(), key or (None if cert else tls_cert()))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    conn = ctx.wrap_socket(s, server_side=True, suppress_ragged_eofs=False)
    show_tls(conn)
    return conn


def handshake_pair(client, server, alpn=None):
    # tls NAME --with PEER: both ends of one handshake, taking turns.
    deadline = deadline_of(client)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(tls_cert())
    cctx = ssl.create_default_context(cafile=tls_cert())
    if alpn:
        sctx.set_alpn_protocols(alpn)
        cctx.set_alpn_protocols(alpn)
    host = 'localhost' if client.family == socket.AF_UNIX else client.getpeername()[0]
    tc, ts = client.gettimeout(), server.gettimeout()
    c = cctx.wrap_socket(client, server_hostname=host, do_handshake_on_connect=False,
                         suppress_ragged_eofs=False)
    s = sctx.wrap_socket(server, server_side=True, do_handshake_on_connect=False,
                         suppress_ragged_eofs=False)
    c.setblocking(False)
    s.setblocking(False)
    pending = [c, s]
    while pending:
        for end in list(pending):
            try:
                end.do_handshake()
                pending.remove(end)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
        if pending:
            time_left(deadline, 'the handshake')
            time.sleep(0.005)
    c.settimeout(tc)
    s.settimeout(ts)
    show_tls(c)
    return c, s


def show_tls(conn):
    cert = conn.getpeercert(binary_form=True)
    print(conn.version(), conn.cipher()[0], conn.selected_alpn_protocol() or '',
          hashlib.sha256(cert).hexdigest() if cert else 'no certificate')


def close_tls(conn):
    # close_notify first, then the TCP close.
    try:
        conn.settimeout(0.0)
        conn.unwrap()
    except (OSError, ValueError):
        pass
    conn.close()

#: capture imports=socket needs=fail
def check_capture():
    # trace needs a packet socket: root, CAP_NET_RAW or the program's own --netns.
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()
    except (PermissionError, AttributeError):
        fail('trace needs the right to capture packets: run as root (or with '
             'CAP_NET_RAW), or with --netns')

#: poll_events imports=select,socket needs=is_program
def poll(handles, timeout, write=False):
    # poll: wait until one handle is ready (a timeout is sockrepl's TIMEOUT),
    # then show every handle's events.
    p = select.poll()
    for h in handles:
        fd = h.stdout.fileno() if is_program(h) else h.fileno()
        p.register(fd, select.POLLIN | (select.POLLOUT if write else 0))
    ms = None if timeout is None else int(timeout * 1000)
    ready = [h for h in handles if HELD.get(h)] if 'HELD' in globals() else []
    if not ready and not p.poll(ms):
        raise TimeoutError('no handle became ready')
    for h in handles:
        p.modify(h.stdout.fileno() if is_program(h) else h.fileno(),
                 select.POLLIN | select.POLLOUT)
    print(p.poll(0))
