"""Python's side of the spawn row: what a grader written in Python does to
run a program and wait for it, N times. Usage: spawn_true.py N"""
import subprocess
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
for _ in range(n):
    subprocess.run(["/bin/true"], check=True)
