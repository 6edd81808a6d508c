#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""zt-sock: socket helpers of the attack tests (tests/netns/hole-*.sh, revoke.sh).

  zt-sock.py udp-hold [-t TTL] LPORT DST DPORT SECONDS
      A UDP socket bound to LPORT and connected to DST:DPORT, with
      IP_RECVERR / IPV6_RECVERR on, sends one datagram and then, until
      SIGTERM (at most SECONDS), reports what reaches it: "ready" once the datagram is sent, "data"
      per datagram received, "err ERRNO TYPE CODE OFFENDER INFO" per ICMP
      error queued to it (ERRNO as a name: ECONNREFUSED, EMSGSIZE, ...;
      OFFENDER the address the error came from), "sockerr ERRNO" for a
      pending socket error. -t sets the datagram's TTL / hop limit.
  zt-sock.py tcp-xfer DST PORT BYTES SECONDS
      Sends BYTES over one TCP connection to a sink (below), closes its
      side and reads the sink's count: "ok BYTES MS" when the sink got them
      all within SECONDS, else "fail sent S: REASON".
  zt-sock.py sink PORT
      TCP server, IPv4 and IPv6: reads each connection to its end, then
      answers "got N" (the bytes it read) and closes.
  zt-sock.py serve PORT[,PORT...]
      TCP servers on every port, IPv4 and IPv6: each line received is
      logged as "TAG SEQ T" (T: ms since the epoch at arrival) and echoed.
  zt-sock.py stream TAG DST PORT INTERVAL-MS
      One TCP connection (TCP_NODELAY) that sends "TAG SEQ" every
      INTERVAL-MS until SIGTERM; prints "connected T" or "error REASON", and
      on SIGTERM resets the connection (SO_LINGER 0: nothing left queued).
"""
import errno
import os
import select
import selectors
import signal
import socket
import struct
import sys
import time

IP_RECVERR = 11
IPV6_RECVERR = 25
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3


def now_ms():
    return int(time.time() * 1000)


def out(*words):
    print(*words, flush=True)


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def errname(e):
    return errno.errorcode.get(e, str(e))


def parse_ee(data):
    """struct sock_extended_err, then the offender's sockaddr."""
    ee_errno, origin, etype, code, _pad, info, _data = struct.unpack_from("=IBBBBII", data)
    off = "-"
    rest = data[16:]
    if len(rest) >= 2:
        fam = struct.unpack_from("=H", rest)[0]
        if fam == socket.AF_INET and len(rest) >= 8:
            off = socket.inet_ntop(socket.AF_INET, rest[4:8])
        elif fam == socket.AF_INET6 and len(rest) >= 24:
            off = socket.inet_ntop(socket.AF_INET6, rest[8:24])
    return ee_errno, origin, etype, code, info, off


def udp_hold(args):
    ttl = None
    if args and args[0] == "-t":
        ttl = int(args[1])
        args = args[2:]
    lport, dst, dport, secs = int(args[0]), args[1], int(args[2]), float(args[3])
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    fam = family_of(dst)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        if ttl is not None:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    else:
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
        if ttl is not None:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", lport))
    s.connect((dst, dport))
    s.send(b"zt-sock\n")
    out("ready")

    def drain():
        """Report every queued error and datagram; False when there was none."""
        seen = False
        while True:
            try:
                _msg, anc, _flags, _addr = s.recvmsg(512, 1024, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            seen = True
            for level, _type, data in anc:
                if level in (socket.IPPROTO_IP, socket.IPPROTO_IPV6):
                    e, origin, etype, code, info, off = parse_ee(data)
                    if origin in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
                        out("err", errname(e), etype, code, off, info)
                    else:
                        out("err", errname(e), "local", origin, off, info)
        e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if e:
            seen = True
            out("sockerr", errname(e))
        while True:
            try:
                s.recv(2048, socket.MSG_DONTWAIT)
                seen = True
                out("data")
            except (BlockingIOError, InterruptedError):
                break
            except OSError as ex:
                seen = True
                out("sockerr", errname(ex.errno))
        return seen

    # Until SIGTERM (or SECONDS): whatever was queued by then is reported.
    end = time.monotonic() + secs
    p = select.poll()
    p.register(s, select.POLLIN | select.POLLERR)
    while not stop and time.monotonic() < end:
        if p.poll(100):
            drain()
    drain()
    out("end")


def tcp_xfer(args):
    dst, port, total, secs = args[0], int(args[1]), int(args[2]), float(args[3])
    t0 = time.monotonic()
    s = socket.socket(family_of(dst), socket.SOCK_STREAM)
    s.settimeout(secs)
    sent = 0
    try:
        s.connect((dst, port))
        payload = (b"0123456789abcdef" * 4096)[:65536]
        while sent < total:
            s.settimeout(max(0.1, t0 + secs - time.monotonic()))
            sent += s.send(payload[: min(len(payload), total - sent)])
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            s.settimeout(max(0.1, t0 + secs - time.monotonic()))
            b = s.recv(256)
            if not b:
                break
            reply += b
    except OSError as ex:
        out("fail sent %d: %s" % (sent, ex.strerror or ex))
        return
    finally:
        s.close()
    if reply.strip() == b"got %d" % total:
        out("ok", total, int((time.monotonic() - t0) * 1000))
    else:
        out("fail sent %d: sink answered %r" % (sent, reply))


def sink(args):
    port = int(args[0])
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    ls.bind(("::", port))
    ls.listen(16)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    out("listening", port)
    while True:
        for key, _ev in sel.select():
            if key.data is None:
                c, _addr = ls.accept()
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ, [0])
                continue
            c = key.fileobj
            try:
                b = c.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                b = None
            if b:
                key.data[0] += len(b)
                continue
            sel.unregister(c)
            if b is not None:
                try:
                    c.setblocking(True)
                    c.sendall(b"got %d\n" % key.data[0])
                except OSError:
                    pass
            c.close()


def serve(args):
    ports = [int(p) for p in args[0].split(",")]
    sel = selectors.DefaultSelector()
    for port in ports:
        ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        ls.bind(("::", port))
        ls.listen(64)
        ls.setblocking(False)
        sel.register(ls, selectors.EVENT_READ, None)
    out("listening", args[0])
    while True:
        for key, _ev in sel.select():
            if key.data is None:
                try:
                    c, _addr = key.fileobj.accept()
                except OSError:
                    continue
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ, [b""])
                continue
            c = key.fileobj
            try:
                b = c.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                b = b""
            if not b:
                sel.unregister(c)
                c.close()
                continue
            t = now_ms()
            buf = key.data[0] + b
            *lines, key.data[0] = buf.split(b"\n")
            for line in lines:
                out(line.decode(errors="replace"), t)
            try:
                c.send(b)
            except OSError:
                pass


def stream(args):
    tag, dst, port, interval = args[0], args[1], int(args[2]), int(args[3]) / 1000
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    s = socket.socket(family_of(dst), socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(3)
    try:
        s.connect((dst, port))
    except OSError as ex:
        out("error connect", ex.strerror or ex)
        return
    out("connected", now_ms())
    s.setblocking(False)
    seq = 0
    nxt = time.monotonic()
    while not stop:
        t = time.monotonic()
        if t >= nxt:
            try:
                s.send(b"%s %d\n" % (tag.encode(), seq))
            except BlockingIOError:
                pass
            except OSError as ex:
                out("error send", ex.strerror, now_ms())
                break
            seq += 1
            nxt += interval
        try:
            r, _w, _x = select.select([s], [], [], max(0.0, nxt - time.monotonic()))
            if r and not s.recv(65536):
                out("closed", now_ms())
                break
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as ex:
            out("error recv", ex.strerror, now_ms())
            break
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    out("end", seq, now_ms())


def main():
    cmds = {"udp-hold": udp_hold, "tcp-xfer": tcp_xfer, "sink": sink, "serve": serve, "stream": stream}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit("usage: zt-sock.py udp-hold|tcp-xfer|sink|serve|stream ...")
    cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
