#!/usr/bin/python3
"""Crafted TCP segments against the gateway, with scapy, from inside
smtpgw-wan. The source addresses are unassigned benchmarking addresses
(198.18.0.0/15), so the WAN kernel never answers for them: scapy plays the
whole peer, sniffing the gateway's replies on wan0. Bounded in count and
time; prints one JSON line.

  established GW_MAC SRC     handshake to discard (9), then bad checksum,
                             out-of-window RST, in-window RST, SYN, data far
                             outside the window, bad option length; then a
                             clean FIN exchange proves the connection lived
  vanish GW_MAC SRC PORT     handshake, then silence (the idle timeout must free it)
  synflood GW_MAC COUNT      COUNT SYNs from random sources in 198.18.0.0/15
  silent GW_MAC SRC PORT N   N SYNs from SRC: count every frame the gateway sends to SRC
"""
import json
import random
import sys
import time

from scapy.all import IP, TCP, Ether, Raw, AsyncSniffer, conf, get_if_hwaddr, sendp

conf.verb = 0
IFACE = "wan0"
GW = "203.0.113.1"


def tcp_checksum(src, dst, segment):
    data = src + dst + bytes([0, 6]) + len(segment).to_bytes(2, "big") + segment
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total & 0xFFFF).to_bytes(2, "big")


class Peer:
    def __init__(self, gw_mac, src, dport):
        self.eth = Ether(src=get_if_hwaddr(IFACE), dst=gw_mac)
        self.src, self.dport = src, dport
        self.sport = random.randint(20000, 60000)
        self.seq = random.randint(0, 2**32 - 1)
        self.got = []
        self.sniffer = AsyncSniffer(iface=IFACE, filter=f"tcp and src host {GW} and dst host {src}",
                                    store=False, prn=self.got.append)
        self.sniffer.start()
        time.sleep(0.3)  # the sniffer must be listening before the first reply
        self.seen = 0

    def send(self, flags, seq=None, ack=None, payload=b"", options=None, chksum=None, window=65535):
        tcp = TCP(sport=self.sport, dport=self.dport, flags=flags,
                  seq=self.seq if seq is None else seq, ack=ack or 0, window=window,
                  options=options or [])
        if chksum is not None:
            tcp.chksum = chksum
        pkt = self.eth / IP(src=self.src, dst=GW) / tcp
        if payload:
            pkt = pkt / Raw(payload)
        sendp(pkt, iface=IFACE)

    def replies(self, wait=0.3):
        """New replies since the last call."""
        time.sleep(wait)
        got = [p for p in list(self.got) if TCP in p][self.seen:]
        self.seen += len(got)
        return got

    def handshake(self):
        self.send("S", options=[("MSS", 1460)])
        synack = [p for p in self.replies(0.5) if p[TCP].flags & 0x12 == 0x12]
        if not synack:
            raise SystemExit(json.dumps({"error": "no SYN-ACK"}))
        self.seq += 1
        self.rcv = synack[0][TCP].seq + 1
        self.send("A", ack=self.rcv)

    def stop(self):
        self.sniffer.stop()


def established(gw_mac, src):
    p = Peer(gw_mac, src, 9)
    p.handshake()
    out = {}
    p.send("PA", ack=p.rcv, payload=b"valid-1")
    p.seq += 7
    p.replies()
    # A segment whose checksum is wrong: counted, never answered.
    p.send("PA", ack=p.rcv, payload=b"bad-sum", chksum=0x1234)
    out["bad_checksum_replies"] = len(p.replies())
    # RST far outside the window: ignored (RFC 5961 3.2).
    p.send("R", seq=(p.seq + 10_000_000) % 2**32)
    out["rst_out_of_window_replies"] = len(p.replies())
    # RST inside the window but not at RCV.NXT: challenge ACK.
    p.send("R", seq=(p.seq + 100) % 2**32)
    r = p.replies()
    out["rst_in_window_challenge_acks"] = sum(1 for x in r if x[TCP].flags == 0x10)
    # SYN on an established connection: challenge ACK (RFC 5961 4.2).
    p.send("S", seq=(p.seq + 5) % 2**32)
    r = p.replies()
    out["syn_challenge_acks"] = sum(1 for x in r if x[TCP].flags == 0x10)
    # Data far beyond the window: dropped, answered with an ACK.
    p.send("PA", seq=(p.seq + 50_000_000) % 2**32, ack=p.rcv, payload=b"far")
    r = p.replies()
    out["out_of_window_data_acks"] = sum(1 for x in r if x[TCP].flags & 0x10)
    # An option whose length runs past the header: malformed, silently dropped.
    bad = TCP(sport=p.sport, dport=9, flags="PA", seq=p.seq, ack=p.rcv, window=65535,
              options=[("NOP", None)] * 4)
    raw = bytearray(bytes(IP(src=src, dst=GW) / bad))
    raw[40:44] = bytes([2, 9, 5, 0xb4])  # MSS claiming 9 bytes in a 4-byte options area
    raw[36:38] = b"\0\0"  # a valid checksum over the bad bytes: only the option is wrong
    raw[36:38] = tcp_checksum(bytes(raw[12:16]), bytes(raw[16:20]), bytes(raw[20:]))
    sendp(Ether(src=p.eth.src, dst=p.eth.dst, type=0x0800) / Raw(bytes(raw)), iface=IFACE)
    out["bad_option_replies"] = len(p.replies())
    # Still alive: more data, then FIN; the discard service answers FIN with FIN.
    p.send("PA", ack=p.rcv, payload=b"valid-2")
    p.seq += 7
    p.send("FA", ack=p.rcv)
    p.seq += 1
    r = p.replies(0.8)
    out["fin_from_gateway"] = any(x[TCP].flags & 0x01 for x in r)
    acked = [x[TCP].ack for x in r if x[TCP].flags & 0x10]
    out["all_valid_bytes_acked"] = bool(acked) and max(acked) == p.seq % 2**32
    fins = [x for x in r if x[TCP].flags & 0x01]
    if fins:
        p.send("A", ack=(fins[0][TCP].seq + 1) % 2**32)
    p.stop()
    return out


def vanish(gw_mac, src, port):
    p = Peer(gw_mac, src, port)
    p.handshake()
    p.send("PA", ack=p.rcv, payload=b"hello")
    p.replies()
    p.stop()
    return {"handshake": True}


def synflood(gw_mac, count):
    eth = Ether(src=get_if_hwaddr(IFACE), dst=gw_mac)
    pkts = []
    for i in range(count):
        src = f"198.18.{random.randint(0, 255)}.{random.randint(1, 254)}"
        pkts.append(eth / IP(src=src, dst=GW) /
                    TCP(sport=random.randint(1024, 65535), dport=7, flags="S",
                        seq=random.randint(0, 2**32 - 1), options=[("MSS", 1460)]))
    t0 = time.monotonic()
    sendp(pkts, iface=IFACE)
    return {"sent": count, "seconds": round(time.monotonic() - t0, 3)}


def silent(gw_mac, src, port, count):
    p = Peer(gw_mac, src, port)
    for i in range(count):
        p.send("S", seq=(p.seq + i * 100000) % 2**32, options=[("MSS", 1460)])
        time.sleep(0.05)
    replies = p.replies(1.5)
    p.stop()
    return {"syns": count, "frames_from_gateway": len(replies),
            "rst_from_gateway": sum(1 for x in replies if x[TCP].flags & 0x04),
            "synack_from_gateway": sum(1 for x in replies if (x[TCP].flags & 0x12) == 0x12)}


def main():
    mode = sys.argv[1]
    if mode == "established":
        r = established(sys.argv[2], sys.argv[3])
    elif mode == "vanish":
        r = vanish(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif mode == "silent":
        r = silent(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "synflood":
        r = synflood(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit("unknown mode " + mode)
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
