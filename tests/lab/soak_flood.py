#!/usr/bin/python3
"""A bounded SYN flood from spoofed sources (run in smtpgw-wan by
tests/lab/soak.py): COUNT SYNs to the gateway's port 25 from random
addresses of 198.18.0.0/15 (RFC 2544's benchmarking range, inside the lab),
random source ports, sent with scapy on wan0 for at most SECONDS. Prints the
number sent and the rate."""
import argparse
import ipaddress
import random
import time

from scapy.all import Ether, IP, TCP, conf, sendp

conf.verb = 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gw-mac", required=True)
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--avoid", default="", help="comma-separated sources never spoofed")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    net = ipaddress.ip_network("198.18.0.0/15")
    avoid = set(a.avoid.split(",")) if a.avoid else set()
    batch = []
    while len(batch) < 2000:
        src = str(net[rng.randrange(1, net.num_addresses - 1)])
        if src in avoid:
            continue
        batch.append(Ether(dst=a.gw_mac) / IP(src=src, dst="203.0.113.1") /
                     TCP(sport=rng.randrange(1024, 65535), dport=25, flags="S",
                         seq=rng.randrange(1 << 32)))
    sent, t0 = 0, time.time()
    sock = conf.L2socket(iface="wan0")
    try:
        while sent < a.count and time.time() - t0 < a.seconds:
            n = min(len(batch), a.count - sent)
            for p in batch[:n]:
                sock.send(p)
            sent += n
    finally:
        sock.close()
    dt = time.time() - t0
    print(f"flood: {sent} SYNs in {dt:.1f} s ({sent / dt:.0f}/s)", flush=True)


if __name__ == "__main__":
    main()
