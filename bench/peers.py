"""socat peers on loopback: found or installed, started and stopped here.

socat cannot report the port it listened on, so the harness picks a free
port (bind port 0, read it, close), starts socat on it, and waits until that
very socat process holds a listening socket on the port (its fd table and
/proc/net/tcp agree). If another program took the port in between, socat
fails to bind and exits; the harness then tries another port (bounded).
"""

import os
import shutil
import socket
import subprocess
import time

from measure import BenchError, kill_quietly, spawn, tail

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


def find_socat(install):
    """The socat path, or None with a clear message why it is missing."""
    path = shutil.which("socat")
    if path or not install:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("socat is missing: installing it with apt-get install -y socat ...", flush=True)
        result = subprocess.run(["apt-get", "install", "-y", "socat"], capture_output=True, text=True)
        if result.returncode != 0:
            print(result.stderr.strip()[-500:])
        return shutil.which("socat")
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening_inodes(port):
    inodes = set()
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == LISTEN and int(local.split(":")[1], 16) == port:
                inodes.add(inode)
    return inodes


def _socket_inodes(pid):
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for name in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _exited(pid):
    done, _ = os.waitpid(pid, os.WNOHANG)
    return done != 0


def start_listener(make_argv, stderr, attempts=10, wait=5.0):
    """Starts `make_argv(port)` and returns (pid, port) once it listens."""
    for _ in range(attempts):
        port = free_port()
        pid = spawn(make_argv(port), stderr=stderr)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if _exited(pid):
                break  # most likely the port was taken meanwhile: try another
            try:
                if _listening_inodes(port) & _socket_inodes(pid):
                    return pid, port
            except FileNotFoundError:
                pass
            time.sleep(0.0005)
        else:
            kill_quietly(pid)
    raise BenchError(f"{make_argv(0)[0]} never listened on loopback:\n{tail(stderr)}")
