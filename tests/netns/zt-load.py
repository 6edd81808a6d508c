#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
# zt-load.py SRC DST PORT RATE JITTER SECONDS OUT: new TCP connections from
# SRC to DST:PORT at RATE per second with natural jitter: arrivals are
# Poisson, their rate scaled each second by a uniform factor in
# [1-JITTER, 1+JITTER], for SECONDS
# (0: until killed). Each second a line "T OK FAIL" goes to OUT: connections
# that completed within 500 ms, and those that did not (dropped).
# With ZT_LOAD_GO=FILE in the environment it first creates OUT.ready and
# waits for FILE to exist: the caller starts the load at a moment it chose.
# Connections end with a reset (conntrack forgets them in 10 s), or with
# ZT_LOAD_FIN=1 in the environment with FINs (they linger in TIME_WAIT).
import math, os, random, select, socket, sys, time


def poisson(lam):
    # Knuth's method (lam is small: one 100 ms slot)
    l, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= random.random()
        if p <= l:
            return k
        k += 1


src, dst, port, rate, jitter, secs, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), \
    float(sys.argv[5]), float(sys.argv[6]), sys.argv[7]
fam = socket.AF_INET6 if ':' in dst else socket.AF_INET
pending = {}  # fd -> (sock, deadline)
ok = fail = 0
factor = random.uniform(1 - jitter, 1 + jitter)
go = os.environ.get('ZT_LOAD_GO')
fin = os.environ.get('ZT_LOAD_FIN') == '1'
if go:
    open(out + '.ready', 'w').close()
    while not os.path.exists(go):
        time.sleep(0.005)
t0 = time.monotonic()
next_slot = t0
next_report = t0 + 1
f = open(out, 'w', buffering=1)
while secs <= 0 or time.monotonic() - t0 < secs:
    now = time.monotonic()
    if now >= next_slot:
        for _ in range(min(poisson(rate * 0.1 * factor), 900 - len(pending))):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setblocking(False)
            if not fin:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
            s.bind((src, 0))
            try:
                s.connect((dst, port))
            except BlockingIOError:
                pass
            except OSError:
                fail += 1
                s.close()
                continue
            pending[s.fileno()] = (s, now + 0.5)
        next_slot += 0.1
    if now >= next_report:
        f.write("%d %d %d\n" % (int(now - t0), ok, fail))
        ok = fail = 0
        next_report += 1
        factor = random.uniform(1 - jitter, 1 + jitter)
    timeout = max(0.0, min(next_slot, next_report) - time.monotonic())
    _, w, _ = select.select([], [p[0] for p in pending.values()], [], timeout)
    for s in w:
        e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        ok += e == 0
        fail += e != 0
        del pending[s.fileno()]
        s.close()
    now = time.monotonic()
    for fd, (s, dl) in list(pending.items()):
        if now >= dl:
            fail += 1
            del pending[fd]
            s.close()
