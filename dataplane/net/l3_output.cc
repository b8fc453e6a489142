// l3_output.cc: frames the fast path originates (see l3_output.h).
#include "net/l3_output.h"

#include <cstring>

#include "net/byte_order.h"
#include "net/checksum.h"
#include "net/wire.h"

namespace smtpgw::net {

using namespace wire;

std::optional<Ipv6Addr> next_hop(const PortAddressing& port, std::optional<Ipv4Addr> gateway4,
                                 std::optional<Ipv6Addr> gateway6, const Ipv6Addr& dst) {
    if (dst.is_v4_mapped()) {
        Ipv4Addr d = v4_unmapped(dst);
        if (port.ipv4.contains(d))
            return dst;
        return gateway4 ? std::optional<Ipv6Addr>(v4_mapped(*gateway4)) : std::nullopt;
    }
    if (dst.is_link_local() || port.ipv6.contains(dst))
        return dst;
    return gateway6;
}

void write_ether_header(std::uint8_t* out, const MacAddr& dst, const MacAddr& src,
                        std::uint16_t ether_type) {
    std::memcpy(out + kEtherDst, dst.bytes.data(), 6);
    std::memcpy(out + kEtherSrc, src.bytes.data(), 6);
    store_be16(out + kEtherType, ether_type);
}

void write_ipv4_header(std::uint8_t* out, Ipv4Addr src, Ipv4Addr dst, std::uint8_t proto,
                       std::uint16_t payload_len, std::uint16_t id) {
    constexpr std::uint16_t kDontFragment = 0x4000;
    out[kIpv4VerIhl] = 0x45;
    out[1] = 0; // DSCP/ECN
    store_be16(out + kIpv4TotalLen, static_cast<std::uint16_t>(kIpv4MinHeaderLen + payload_len));
    store_be16(out + 4, id);
    store_be16(out + kIpv4FragOff, kDontFragment);
    out[kIpv4Ttl] = kDefaultTtl;
    out[kIpv4Proto] = proto;
    store_be16(out + kIpv4Checksum, 0);
    store_be32(out + kIpv4Src, src.value);
    store_be32(out + kIpv4Dst, dst.value);
    store_be16(out + kIpv4Checksum, checksum_fold(checksum_add(0, out, kIpv4MinHeaderLen)));
}

void write_ipv6_header(std::uint8_t* out, const Ipv6Addr& src, const Ipv6Addr& dst,
                       std::uint8_t next_header, std::uint16_t payload_len) {
    store_be32(out, 0x60000000u); // version 6, traffic class 0, flow label 0
    store_be16(out + kIpv6PayloadLen, payload_len);
    out[kIpv6NextHeader] = next_header;
    out[kIpv6HopLimit] = kDefaultTtl;
    std::memcpy(out + kIpv6Src, src.bytes.data(), 16);
    std::memcpy(out + kIpv6Dst, dst.bytes.data(), 16);
}

std::size_t build_arp_request(std::span<std::uint8_t> out, const PortAddressing& port,
                              Ipv4Addr target) {
    constexpr std::size_t kLen = kEtherHeaderLen + kArpLen;
    if (out.size() < kLen)
        return 0;
    std::uint8_t* f = out.data();
    write_ether_header(f, MacAddr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, port.mac, kEtherTypeArp);
    std::uint8_t* arp = f + kEtherHeaderLen;
    store_be16(arp + kArpHtype, kArpHtypeEthernet);
    store_be16(arp + kArpPtype, kEtherTypeIpv4);
    arp[kArpHlen] = 6;
    arp[kArpPlen] = 4;
    store_be16(arp + kArpOper, kArpOpRequest);
    std::memcpy(arp + kArpSha, port.mac.bytes.data(), 6);
    store_be32(arp + kArpSpa, port.ipv4.addr.value);
    std::memset(arp + kArpTha, 0, 6); // RFC 826: "don't care" in a request
    store_be32(arp + kArpTpa, target.value);
    return kLen;
}

std::size_t build_neighbor_solicit(std::span<std::uint8_t> out, const PortAddressing& port,
                                   const Ipv6Addr& target) {
    constexpr std::size_t kOptLen = 8; // source link-layer address option
    constexpr std::size_t kIcmpLen = kNdMsgLen + kOptLen;
    constexpr std::size_t kLen = kEtherHeaderLen + kIpv6HeaderLen + kIcmpLen;
    if (out.size() < kLen)
        return 0;
    Ipv6Addr group = solicited_node_multicast(target);
    const Ipv6Addr& src = target.is_link_local() ? port.link_local : port.ipv6.addr;
    std::uint8_t* f = out.data();
    write_ether_header(f, multicast_mac(group), port.mac, kEtherTypeIpv6);
    std::uint8_t* ip = f + kEtherHeaderLen;
    write_ipv6_header(ip, src, group, kProtoIcmpv6, kIcmpLen);
    ip[kIpv6HopLimit] = kNdHopLimit; // RFC 4861 7.1.1: receivers check 255
    std::uint8_t* icmp = ip + kIpv6HeaderLen;
    std::memset(icmp, 0, kIcmpLen);
    icmp[kIcmpType] = kIcmp6NeighborSolicit;
    std::memcpy(icmp + kNdTarget, target.bytes.data(), 16);
    icmp[kNdOptions] = kNdOptSourceLinkAddr;
    icmp[kNdOptions + 1] = 1; // length in units of 8 bytes
    std::memcpy(icmp + kNdOptions + 2, port.mac.bytes.data(), 6);
    std::uint32_t sum = pseudo_header_v6(src, group, kProtoIcmpv6, kIcmpLen);
    store_be16(icmp + kIcmpChecksum, checksum_fold(checksum_add(sum, icmp, kIcmpLen)));
    return kLen;
}

} // namespace smtpgw::net
