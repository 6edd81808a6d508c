#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
# zt-bytes.py sink PORT: accept TCP connections on PORT and discard what they send.
# zt-bytes.py send SRC DST PORT BYTES MODE SECONDS OUT: send BYTES per second
# (scaled each second by a uniform factor in [0.7, 1.3]) from SRC to DST:PORT,
# in 10 slots a second, for SECONDS (0: until killed). MODE one: over one
# connection (opened again if it breaks); MODE conns: a new connection per
# slot. Each second a line "T SENT FAIL" goes to OUT: bytes sent, and the
# slots whose connection or send failed. With ZT_LOAD_GO=FILE it first
# creates OUT.ready and waits for FILE to exist.
import os, random, socket, sys, threading, time

if sys.argv[1] == 'sink':
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(('0.0.0.0', int(sys.argv[2])))
    srv.listen(512)

    def drain(c):
        try:
            while c.recv(65536):
                pass
        except OSError:
            pass
        c.close()

    while True:
        c, _ = srv.accept()
        threading.Thread(target=drain, args=(c,), daemon=True).start()

src, dst, port, rate, mode, secs, out = sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), \
    sys.argv[6], float(sys.argv[7]), sys.argv[8]
go = os.environ.get('ZT_LOAD_GO')
if go:
    open(out + '.ready', 'w').close()
    while not os.path.exists(go):
        time.sleep(0.005)


def connect():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(0.3)
    s.bind((src, 0))
    s.connect((dst, port))
    return s


f = open(out, 'w', buffering=1)
t0 = time.monotonic()
conn, sent, fail, sec = None, 0, 0, 0
factor = random.uniform(0.7, 1.3)
slot = t0
while secs <= 0 or time.monotonic() - t0 < secs:
    n = int(rate * factor / 10)
    try:
        if mode == 'conns' or conn is None:
            if conn is not None:
                conn.close()
            conn = connect()
        conn.sendall(b'x' * n)
        sent += n
        if mode == 'conns':
            conn.close()
            conn = None
    except OSError:
        fail += 1
        if conn is not None:
            conn.close()
        conn = None
    slot += 0.1
    now = time.monotonic()
    if int(slot - t0) > sec:
        sec = int(slot - t0)
        f.write('%d %d %d\n' % (sec, sent, fail))
        sent = fail = 0
        factor = random.uniform(0.7, 1.3)
    if slot > now:
        time.sleep(slot - now)
    elif now - slot > 1:
        slot = now
