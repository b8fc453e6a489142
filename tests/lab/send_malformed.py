#!/usr/bin/python3
"""Sends a bounded burst of malformed frames from wan0 to the gateway MAC.
Runs inside smtpgw-wan. Prints the drop reasons it exercised, one line, so
the caller knows which counters must have moved.
usage: send_malformed.py GATEWAY_MAC COUNT_PER_KIND"""
import sys

from scapy.all import ARP, ICMP, IP, Ether, ICMPv6EchoRequest, ICMPv6ND_NS, IPv6, Raw, sendp, conf, get_if_hwaddr

conf.verb = 0
gw_mac, count = sys.argv[1], int(sys.argv[2])
my_mac = get_if_hwaddr("wan0")
GW4, ME4 = "203.0.113.1", "203.0.113.254"
GW6, ME6 = "2001:db8:1::1", "2001:db8:1::254"
eth = Ether(src=my_mac, dst=gw_mac)


def raw_ipv4(mutate):
    b = bytearray(bytes(eth / IP(src=ME4, dst=GW4) / ICMP() / Raw(b"x" * 16)))
    mutate(b)
    return Ether(bytes(b))


def bad_version(b):
    b[14] = (5 << 4) | 5


def bad_ihl(b):
    b[14] = 0x43
    b[24:26] = b"\x00\x00"


def long_total_length(b):
    b[16:18] = (2000).to_bytes(2, "big")


KINDS = {
    "ipv4_bad_checksum": eth / IP(src=ME4, dst=GW4, chksum=0x1234) / ICMP(),
    "ipv4_bad_version": raw_ipv4(bad_version),
    "ipv4_bad_header_length": raw_ipv4(bad_ihl),
    "ipv4_bad_total_length": raw_ipv4(long_total_length),
    "ipv4_truncated": Ether(bytes(eth / IP(src=ME4, dst=GW4))[:14 + 12]),
    # No "ipv4_fragment" here: DPDK 22.11's af_packet PMD opens its socket with
    # PACKET_FANOUT_FLAG_DEFRAG, so in the lab the kernel holds fragments for
    # reassembly before the gateway sees them. Unit tests cover that drop.
    "ipv4_martian_source": eth / IP(src="127.0.0.1", dst=GW4) / ICMP(),
    "icmp_bad_checksum": eth / IP(src=ME4, dst=GW4) / ICMP(chksum=0xbeef),
    "icmp6_bad_checksum": eth / IPv6(src=ME6, dst=GW6) / ICMPv6EchoRequest(cksum=0xbeef),
    "nd_bad_hop_limit": eth / IPv6(src=ME6, dst=GW6, hlim=64) / ICMPv6ND_NS(tgt=GW6),
    "arp_malformed": Ether(src=my_mac, dst="ff:ff:ff:ff:ff:ff") / ARP(hwlen=8, psrc=ME4, pdst=GW4),
    "ether_bad_source": Ether(src="01:00:5e:00:00:01", dst=gw_mac) / IP(src=ME4, dst=GW4) / ICMP(),
    "ether_type_unsupported": Ether(src=my_mac, dst=gw_mac, type=0x88CC) / Raw(b"\x00" * 46),
}

if __name__ == "__main__":
    frames = []
    for frame in KINDS.values():
        frames += [frame] * count
    sendp(frames, iface="wan0", inter=0)
    print(" ".join(KINDS))
