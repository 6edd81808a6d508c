#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""zt-forge: send hand-made packets for the attack tests (tests/netns/hole-*.sh).

    zt-forge.py IFACE DST-MAC COUNT EXPR

EXPR is a scapy expression for the layers above Ethernet, evaluated with
scapy's layers in scope, e.g.

    "IP(src='203.0.113.10', dst='198.51.100.2')/TCP(sport=40001, dport=80, flags='S')"
    "IPv6(src=A, dst=B, hlim=255)/ICMPv6ND_NS(tgt=B)/Raw(b'x' * 40)"

Each frame goes out of IFACE (in the caller's network namespace) to
DST-MAC, with IFACE's own address as the Ethernet source (unless EXPR
starts with "Ether(": then it is the whole frame, source MAC, tags and
type included, and DST-MAC is ignored): no routing, no
neighbour resolution and no checks on the source address, so any source
can be forged. Checksums and lengths are filled in by scapy. Prints the
packet summary; exit status 0 when every frame was sent.
"""
import sys

from scapy.all import Ether, Raw, conf, get_if_hwaddr, sendp  # noqa: F401
from scapy.layers.dhcp import BOOTP, DHCP  # noqa: F401
from scapy.layers.l2 import ARP, LLC, SNAP, Dot1AD, Dot1Q  # noqa: F401
from scapy.layers.ppp import PPPoED  # noqa: F401
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, TCPerror, UDPerror  # noqa: F401
from scapy.layers.inet6 import (  # noqa: F401
    ICMPv6DestUnreach, ICMPv6EchoRequest, ICMPv6MLDone, ICMPv6MLQuery,
    ICMPv6MLQuery2, ICMPv6MLReport, ICMPv6MLReport2, ICMPv6MLDMultAddrRec, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6ND_RS,
    ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, ICMPv6PacketTooBig,
    ICMPv6TimeExceeded, IPerror6, IPv6, IPv6ExtHdrHopByHop, RouterAlert)


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: zt-forge.py IFACE DST-MAC COUNT EXPR")
    iface, dmac, count, expr = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    conf.verb = 0
    pkt = eval(expr)  # the test script's own expression
    frame = pkt if expr.startswith("Ether(") else Ether(src=get_if_hwaddr(iface), dst=dmac) / pkt
    sendp(frame, iface=iface, count=count, verbose=False)
    print(pkt.summary())


if __name__ == "__main__":
    main()
