// l3_input.cc: Ethernet/ARP/IPv4/IPv6/ICMP/ND input (see l3_input.h).
#include "net/l3_input.h"

#include <cstring>

#include "net/byte_order.h"
#include "net/checksum.h"
#include "net/wire.h"

namespace smtpgw::net {

namespace {

using namespace wire;

FrameResult drop(DropReason r) { return FrameResult{FrameVerdict::drop, r, {}}; }
FrameResult transmit() { return FrameResult{FrameVerdict::transmit, DropReason::count_, {}}; }
FrameResult consumed() { return FrameResult{FrameVerdict::consumed, DropReason::count_, {}}; }

MacAddr read_mac(const std::uint8_t* p) {
    MacAddr m;
    std::memcpy(m.bytes.data(), p, 6);
    return m;
}
void write_mac(std::uint8_t* p, const MacAddr& m) { std::memcpy(p, m.bytes.data(), 6); }
Ipv6Addr read_ipv6(const std::uint8_t* p) {
    Ipv6Addr a;
    std::memcpy(a.bytes.data(), p, 16);
    return a;
}
void write_ipv6(std::uint8_t* p, const Ipv6Addr& a) { std::memcpy(p, a.bytes.data(), 16); }

// Reply frames go back to the sender's MAC, from ours.
void swap_ether_for_reply(std::uint8_t* eth, const MacAddr& ours) {
    std::memcpy(eth + kEtherDst, eth + kEtherSrc, 6);
    write_mac(eth + kEtherSrc, ours);
}

// An IPv4 address no single host may send from (RFC 1122 3.2.1.3):
// multicast, limited or subnet broadcast, loopback, class E. ARP senders and
// IPv4 sources are both checked against it.
bool never_a_host(Ipv4Addr a, const PortAddressing& addr) {
    return a.is_multicast() || a.is_limited_broadcast() || a.is_loopback() ||
           a.is_reserved_class_e() ||
           (addr.ipv4.length < 31 && a == addr.ipv4.subnet_broadcast());
}

// ---------------------------------------------------------------- ARP (RFC 826)
FrameResult handle_arp(FrameBuffer& f, PortL3State& port, std::uint64_t now_ns) {
    if (f.length < kEtherHeaderLen + kArpLen)
        return drop(DropReason::arp_malformed);
    std::uint8_t* arp = f.data + kEtherHeaderLen;
    std::uint16_t oper = load_be16(arp + kArpOper);
    if (load_be16(arp + kArpHtype) != kArpHtypeEthernet ||
        load_be16(arp + kArpPtype) != kEtherTypeIpv4 || arp[kArpHlen] != 6 ||
        arp[kArpPlen] != 4 || (oper != kArpOpRequest && oper != kArpOpReply))
        return drop(DropReason::arp_malformed);

    const auto& addr = port.addressing;
    MacAddr sha = read_mac(arp + kArpSha);
    Ipv4Addr spa{load_be32(arp + kArpSpa)};
    Ipv4Addr tpa{load_be32(arp + kArpTpa)};
    if (sha.is_multicast() || sha.is_zero() || never_a_host(spa, addr))
        return drop(DropReason::arp_bad_sender);
    if (spa == addr.ipv4.addr && sha != addr.mac)
        return drop(DropReason::arp_address_conflict);

    // RFC 826 packet reception: merge the sender into an existing entry first.
    bool learnable = !spa.is_unspecified() && addr.ipv4.contains(spa); // 0.0.0.0: RFC 5227 probe
    bool merged = false;
    if (learnable && port.neighbors.contains(v4_mapped(spa))) {
        port.learn(v4_mapped(spa), sha, now_ns);
        merged = true;
    }
    // "Am I the target protocol address?"
    if (tpa != addr.ipv4.addr)
        return merged ? consumed() : drop(DropReason::arp_not_for_us);
    if (learnable && !merged)
        port.learn(v4_mapped(spa), sha, now_ns);
    if (oper != kArpOpRequest)
        return consumed();

    // "Swap hardware and protocol fields, putting the local addresses in the sender fields."
    std::memcpy(arp + kArpTha, arp + kArpSha, 6);
    store_be32(arp + kArpTpa, spa.value);
    write_mac(arp + kArpSha, addr.mac);
    store_be32(arp + kArpSpa, addr.ipv4.addr.value);
    store_be16(arp + kArpOper, kArpOpReply);
    swap_ether_for_reply(f.data, addr.mac);
    f.length = kEtherHeaderLen + kArpLen;
    port.neighbor_counters.arp_replies_sent.add();
    return transmit();
}

// ---------------------------------------------------------------- IPv4
bool ipv4_martian_source(Ipv4Addr src, const PortAddressing& addr) {
    return src.is_unspecified() || src == addr.ipv4.addr || never_a_host(src, addr);
}

FrameResult handle_icmp_v4(FrameBuffer& f, PortL3State& port, std::size_t ihl,
                           std::size_t total_len) {
    std::uint8_t* ip = f.data + kEtherHeaderLen;
    std::size_t icmp_len = total_len - ihl;
    if (icmp_len < kIcmpHeaderLen)
        return drop(DropReason::icmp_truncated);
    std::uint8_t* icmp = ip + ihl;
    if (checksum_fold(checksum_add(0, icmp, icmp_len)) != 0)
        return drop(DropReason::icmp_bad_checksum);
    if (icmp[kIcmpType] != kIcmpEchoRequest || icmp[kIcmpCode] != 0)
        return drop(DropReason::icmp_type_unhandled);

    // RFC 792 echo reply: same identifier, sequence and data. IP options are
    // not echoed (RFC 1122 3.2.2.6 allows it; it keeps the reply simple).
    if (ihl != kIpv4MinHeaderLen) {
        std::memmove(ip + kIpv4MinHeaderLen, icmp, icmp_len);
        icmp = ip + kIpv4MinHeaderLen;
    }
    icmp[kIcmpType] = kIcmpEchoReply;
    store_be16(icmp + kIcmpChecksum, 0);
    store_be16(icmp + kIcmpChecksum, checksum_fold(checksum_add(0, icmp, icmp_len)));

    std::uint32_t src = load_be32(ip + kIpv4Src);
    ip[kIpv4VerIhl] = 0x45;
    store_be16(ip + kIpv4TotalLen, static_cast<std::uint16_t>(kIpv4MinHeaderLen + icmp_len));
    store_be16(ip + kIpv4FragOff, 0);
    ip[kIpv4Ttl] = kDefaultTtl;
    store_be32(ip + kIpv4Src, port.addressing.ipv4.addr.value);
    store_be32(ip + kIpv4Dst, src);
    store_be16(ip + kIpv4Checksum, 0);
    store_be16(ip + kIpv4Checksum, checksum_fold(checksum_add(0, ip, kIpv4MinHeaderLen)));
    swap_ether_for_reply(f.data, port.addressing.mac);
    f.length = kEtherHeaderLen + kIpv4MinHeaderLen + icmp_len;
    port.neighbor_counters.echo_replies_sent.add();
    return transmit();
}

FrameResult handle_ipv4(FrameBuffer& f, PortL3State& port) {
    std::size_t avail = f.length - kEtherHeaderLen;
    if (avail < kIpv4MinHeaderLen)
        return drop(DropReason::ipv4_truncated);
    std::uint8_t* ip = f.data + kEtherHeaderLen;
    if ((ip[kIpv4VerIhl] >> 4) != 4)
        return drop(DropReason::ipv4_bad_version);
    std::size_t ihl = std::size_t{ip[kIpv4VerIhl] & 0x0fu} * 4;
    if (ihl < kIpv4MinHeaderLen)
        return drop(DropReason::ipv4_bad_header_length);
    if (ihl > avail)
        return drop(DropReason::ipv4_truncated);
    std::size_t total_len = load_be16(ip + kIpv4TotalLen);
    if (total_len < ihl || total_len > avail)
        return drop(DropReason::ipv4_bad_total_length);
    if (checksum_fold(checksum_add(0, ip, ihl)) != 0)
        return drop(DropReason::ipv4_bad_checksum);
    std::uint16_t frag = load_be16(ip + kIpv4FragOff);
    if ((frag & kIpv4FlagMoreFragments) || (frag & kIpv4FragOffsetMask))
        return drop(DropReason::ipv4_fragment);
    const auto& addr = port.addressing;
    if (ipv4_martian_source(Ipv4Addr{load_be32(ip + kIpv4Src)}, addr))
        return drop(DropReason::ipv4_martian_source);
    if (Ipv4Addr{load_be32(ip + kIpv4Dst)} != addr.ipv4.addr)
        return drop(DropReason::ipv4_not_for_us);

    switch (ip[kIpv4Proto]) {
    case kProtoIcmp:
        return handle_icmp_v4(f, port, ihl, total_len);
    case kProtoTcp: {
        FrameResult r{FrameVerdict::deliver_tcp, DropReason::count_, {}};
        r.l4 = L4View{4, kEtherHeaderLen, kEtherHeaderLen + ihl, total_len - ihl};
        return r;
    }
    default:
        return drop(DropReason::ipv4_protocol_unsupported);
    }
}

// ---------------------------------------------------------------- IPv6
struct NdOptions {
    const std::uint8_t* link_addr = nullptr; // source or target link-layer address
    bool ok = true;
};

// RFC 4861 4.6: options are 8-byte units; a zero length is invalid.
NdOptions parse_nd_options(const std::uint8_t* p, std::size_t len, std::uint8_t wanted_type) {
    NdOptions out;
    while (len > 0) {
        if (len < 2 || p[1] == 0 || std::size_t{p[1]} * 8 > len) {
            out.ok = false;
            return out;
        }
        std::size_t opt_len = std::size_t{p[1]} * 8;
        if (p[0] == wanted_type) {
            if (opt_len != 8) { // Ethernet link-layer address option is exactly 8 bytes
                out.ok = false;
                return out;
            }
            out.link_addr = p + 2;
        }
        p += opt_len;
        len -= opt_len;
    }
    return out;
}

bool is_our_ipv6(const Ipv6Addr& a, const PortAddressing& addr) {
    return a == addr.ipv6.addr || a == addr.link_local;
}

void finish_icmp6(std::uint8_t* ip, std::size_t icmp_len) {
    std::uint8_t* icmp = ip + kIpv6HeaderLen;
    store_be16(icmp + kIcmpChecksum, 0);
    std::uint32_t sum = pseudo_header_v6(read_ipv6(ip + kIpv6Src), read_ipv6(ip + kIpv6Dst),
                                         kProtoIcmpv6, static_cast<std::uint32_t>(icmp_len));
    store_be16(icmp + kIcmpChecksum, checksum_fold(checksum_add(sum, icmp, icmp_len)));
}

// RFC 4861 7.1.1 / 7.1.2: checks shared by Solicitations and Advertisements.
// On success returns true with the target and the link-layer option of
// `option_type` (or nullptr); on failure sets `why`.
bool validate_nd(const std::uint8_t* ip, const std::uint8_t* icmp, std::size_t icmp_len,
                 std::uint8_t option_type, Ipv6Addr& target, NdOptions& opts, DropReason& why) {
    if (ip[kIpv6HopLimit] != kNdHopLimit) {
        why = DropReason::nd_bad_hop_limit;
        return false;
    }
    why = DropReason::nd_malformed;
    if (icmp[kIcmpCode] != 0 || icmp_len < kNdMsgLen)
        return false;
    target = read_ipv6(icmp + kNdTarget);
    if (target.is_multicast())
        return false;
    opts = parse_nd_options(icmp + kNdOptions, icmp_len - kNdOptions, option_type);
    return opts.ok;
}

FrameResult handle_neighbor_solicit(FrameBuffer& f, PortL3State& port, std::size_t icmp_len,
                                    std::uint64_t now_ns) {
    std::uint8_t* ip = f.data + kEtherHeaderLen;
    std::uint8_t* icmp = ip + kIpv6HeaderLen;
    const auto& addr = port.addressing;
    Ipv6Addr target;
    NdOptions opts;
    DropReason why{};
    if (!validate_nd(ip, icmp, icmp_len, kNdOptSourceLinkAddr, target, opts, why))
        return drop(why);
    Ipv6Addr src = read_ipv6(ip + kIpv6Src);
    Ipv6Addr dst = read_ipv6(ip + kIpv6Dst);
    bool dad = src.is_unspecified();
    if (dad && (dst != solicited_node_multicast(target) || opts.link_addr))
        return drop(DropReason::nd_malformed);
    if (!is_our_ipv6(target, addr))
        return drop(DropReason::nd_not_for_us);

    MacAddr reply_mac = read_mac(f.data + kEtherSrc);
    if (opts.link_addr) {
        reply_mac = read_mac(opts.link_addr);
        if (reply_mac.is_multicast() || reply_mac.is_zero())
            return drop(DropReason::nd_malformed);
        port.learn(src, reply_mac, now_ns); // RFC 4861 7.2.3
    }

    // RFC 4861 7.2.4: answer with a Neighbor Advertisement carrying our MAC.
    constexpr std::size_t na_len = kNdMsgLen + 8;
    if (kEtherHeaderLen + kIpv6HeaderLen + na_len > f.capacity)
        return drop(DropReason::reply_no_room);
    Ipv6Addr reply_dst = src;
    if (dad) {
        reply_dst = kAllNodes;
        reply_mac = multicast_mac(reply_dst);
    }
    write_mac(f.data + kEtherDst, reply_mac);
    write_mac(f.data + kEtherSrc, addr.mac);
    store_be16(ip + kIpv6PayloadLen, static_cast<std::uint16_t>(na_len));
    ip[kIpv6HopLimit] = kNdHopLimit;
    write_ipv6(ip + kIpv6Src, target);
    write_ipv6(ip + kIpv6Dst, reply_dst);
    icmp[kIcmpType] = kIcmp6NeighborAdvert;
    icmp[kIcmpCode] = 0;
    std::memset(icmp + kNdFlags, 0, 4);
    icmp[kNdFlags] = static_cast<std::uint8_t>((dad ? 0 : kNdFlagSolicited) | kNdFlagOverride);
    // target stays in place at kNdTarget
    std::uint8_t* opt = icmp + kNdOptions;
    opt[0] = kNdOptTargetLinkAddr;
    opt[1] = 1;
    write_mac(opt + 2, addr.mac);
    finish_icmp6(ip, na_len);
    f.length = kEtherHeaderLen + kIpv6HeaderLen + na_len;
    port.neighbor_counters.nd_adverts_sent.add();
    return transmit();
}

FrameResult handle_neighbor_advert(FrameBuffer& f, PortL3State& port, std::size_t icmp_len,
                                   std::uint64_t now_ns) {
    std::uint8_t* ip = f.data + kEtherHeaderLen;
    std::uint8_t* icmp = ip + kIpv6HeaderLen;
    Ipv6Addr target;
    NdOptions opts;
    DropReason why{};
    if (!validate_nd(ip, icmp, icmp_len, kNdOptTargetLinkAddr, target, opts, why))
        return drop(why);
    const auto& addr = port.addressing;
    if (opts.link_addr && (addr.ipv6.contains(target) || target.is_link_local())) {
        MacAddr mac = read_mac(opts.link_addr);
        if (mac.is_multicast() || mac.is_zero())
            return drop(DropReason::nd_malformed);
        port.learn(target, mac, now_ns);
    }
    return consumed();
}

FrameResult handle_icmp_v6(FrameBuffer& f, PortL3State& port, std::size_t payload_len,
                           std::uint64_t now_ns) {
    std::uint8_t* ip = f.data + kEtherHeaderLen;
    std::uint8_t* icmp = ip + kIpv6HeaderLen;
    if (payload_len < kIcmpHeaderLen)
        return drop(DropReason::icmp6_truncated);
    Ipv6Addr src = read_ipv6(ip + kIpv6Src);
    Ipv6Addr dst = read_ipv6(ip + kIpv6Dst);
    std::uint32_t sum = pseudo_header_v6(src, dst, kProtoIcmpv6,
                                         static_cast<std::uint32_t>(payload_len));
    if (checksum_fold(checksum_add(sum, icmp, payload_len)) != 0)
        return drop(DropReason::icmp6_bad_checksum);

    switch (icmp[kIcmpType]) {
    case kIcmp6NeighborSolicit:
        return handle_neighbor_solicit(f, port, payload_len, now_ns);
    case kIcmp6NeighborAdvert:
        return handle_neighbor_advert(f, port, payload_len, now_ns);
    case kIcmp6EchoRequest:
        break;
    default:
        return drop(DropReason::icmp6_type_unhandled);
    }
    if (icmp[kIcmpCode] != 0)
        return drop(DropReason::icmp6_type_unhandled);
    if (dst.is_multicast())
        return drop(DropReason::icmp6_echo_to_multicast);
    if (src.is_unspecified())
        return drop(DropReason::ipv6_martian_source);
    // RFC 4443 4.2: echo reply with the request's identifier, sequence and data.
    write_ipv6(ip + kIpv6Src, dst);
    write_ipv6(ip + kIpv6Dst, src);
    ip[kIpv6HopLimit] = kDefaultTtl;
    icmp[kIcmpType] = kIcmp6EchoReply;
    finish_icmp6(ip, payload_len);
    swap_ether_for_reply(f.data, port.addressing.mac);
    f.length = kEtherHeaderLen + kIpv6HeaderLen + payload_len;
    port.neighbor_counters.echo_replies_sent.add();
    return transmit();
}

FrameResult handle_ipv6(FrameBuffer& f, PortL3State& port, std::uint64_t now_ns) {
    std::size_t avail = f.length - kEtherHeaderLen;
    if (avail < kIpv6HeaderLen)
        return drop(DropReason::ipv6_truncated);
    std::uint8_t* ip = f.data + kEtherHeaderLen;
    if ((ip[0] >> 4) != 6)
        return drop(DropReason::ipv6_bad_version);
    std::size_t payload_len = load_be16(ip + kIpv6PayloadLen);
    if (payload_len > avail - kIpv6HeaderLen)
        return drop(DropReason::ipv6_bad_payload_length);

    const auto& addr = port.addressing;
    Ipv6Addr src = read_ipv6(ip + kIpv6Src);
    Ipv6Addr dst = read_ipv6(ip + kIpv6Dst);
    std::uint8_t next = ip[kIpv6NextHeader];
    if (src.is_multicast() || src.is_loopback() || src.is_v4_mapped() || is_our_ipv6(src, addr) ||
        (src.is_unspecified() && next != kProtoIcmpv6))
        return drop(DropReason::ipv6_martian_source);
    bool for_us = is_our_ipv6(dst, addr) || dst == kAllNodes ||
                  dst == solicited_node_multicast(addr.ipv6.addr) ||
                  dst == solicited_node_multicast(addr.link_local);
    if (!for_us)
        return drop(DropReason::ipv6_not_for_us);

    switch (next) {
    case kProtoIcmpv6:
        return handle_icmp_v6(f, port, payload_len, now_ns);
    case kProtoTcp: {
        if (dst.is_multicast())
            return drop(DropReason::ipv6_not_for_us);
        FrameResult r{FrameVerdict::deliver_tcp, DropReason::count_, {}};
        r.l4 = L4View{6, kEtherHeaderLen, kEtherHeaderLen + kIpv6HeaderLen, payload_len};
        return r;
    }
    default:
        return drop(DropReason::ipv6_next_header_unsupported);
    }
}

} // namespace

FrameResult handle_frame(FrameBuffer& f, PortL3State& port, std::uint64_t now_ns) {
    if (f.length < kEtherHeaderLen)
        return drop(DropReason::frame_truncated);
    const auto& addr = port.addressing;
    MacAddr dst = read_mac(f.data + kEtherDst);
    MacAddr src = read_mac(f.data + kEtherSrc);
    if (src.is_multicast() || src.is_zero() || src == addr.mac)
        return drop(DropReason::ether_bad_source); // our own MAC: a loop or a spoof
    bool ipv6_multicast = dst.bytes[0] == 0x33 && dst.bytes[1] == 0x33;
    if (dst != addr.mac && !dst.is_broadcast() && !ipv6_multicast)
        return drop(DropReason::ether_not_for_us);

    switch (load_be16(f.data + kEtherType)) {
    case kEtherTypeArp:
        return handle_arp(f, port, now_ns);
    case kEtherTypeIpv4:
        if (!dst.is_broadcast() && dst != addr.mac)
            return drop(DropReason::ether_not_for_us);
        return handle_ipv4(f, port);
    case kEtherTypeIpv6:
        if (dst.is_broadcast())
            return drop(DropReason::ether_not_for_us);
        return handle_ipv6(f, port, now_ns);
    default:
        return drop(DropReason::ether_type_unsupported);
    }
}

} // namespace smtpgw::net
