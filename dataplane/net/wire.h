// wire.h: on-the-wire layouts of the headers the fast path reads and writes:
// Ethernet II, ARP (RFC 826), IPv4 (RFC 791), IPv6 (RFC 8200), ICMP
// (RFC 792), ICMPv6 (RFC 4443) and Neighbor Discovery (RFC 4861).
//
// Offsets are byte positions inside each header; fields are read with
// byte_order.h helpers, never by casting to packed structs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace smtpgw::net::wire {

// Ethernet II
inline constexpr std::size_t kEtherHeaderLen = 14;
inline constexpr std::size_t kEtherDst = 0, kEtherSrc = 6, kEtherType = 12;
inline constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr std::uint16_t kEtherTypeArp = 0x0806;
inline constexpr std::uint16_t kEtherTypeIpv6 = 0x86dd;

// ARP for Ethernet/IPv4
inline constexpr std::size_t kArpLen = 28;
inline constexpr std::size_t kArpHtype = 0, kArpPtype = 2, kArpHlen = 4, kArpPlen = 5,
                             kArpOper = 6, kArpSha = 8, kArpSpa = 14, kArpTha = 18, kArpTpa = 24;
inline constexpr std::uint16_t kArpHtypeEthernet = 1;
inline constexpr std::uint16_t kArpOpRequest = 1, kArpOpReply = 2;

// IPv4
inline constexpr std::size_t kIpv4MinHeaderLen = 20;
inline constexpr std::size_t kIpv4VerIhl = 0, kIpv4TotalLen = 2, kIpv4FragOff = 6, kIpv4Ttl = 8,
                             kIpv4Proto = 9, kIpv4Checksum = 10, kIpv4Src = 12, kIpv4Dst = 16;
inline constexpr std::uint16_t kIpv4FlagMoreFragments = 0x2000;
inline constexpr std::uint16_t kIpv4FragOffsetMask = 0x1fff;
inline constexpr std::uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoIcmpv6 = 58;

// IPv6
inline constexpr std::size_t kIpv6HeaderLen = 40;
inline constexpr std::size_t kIpv6PayloadLen = 4, kIpv6NextHeader = 6, kIpv6HopLimit = 7,
                             kIpv6Src = 8, kIpv6Dst = 24;

// ICMP / ICMPv6 common part
inline constexpr std::size_t kIcmpHeaderLen = 8;
inline constexpr std::size_t kIcmpType = 0, kIcmpCode = 1, kIcmpChecksum = 2;
inline constexpr std::uint8_t kIcmpEchoReply = 0, kIcmpEchoRequest = 8;
inline constexpr std::uint8_t kIcmp6EchoRequest = 128, kIcmp6EchoReply = 129;
inline constexpr std::uint8_t kIcmp6NeighborSolicit = 135, kIcmp6NeighborAdvert = 136;

// Neighbor Discovery (RFC 4861 4.3, 4.4, 4.6.1)
inline constexpr std::size_t kNdMsgLen = 24;       // type..target
inline constexpr std::size_t kNdFlags = 4, kNdTarget = 8, kNdOptions = 24;
inline constexpr std::uint8_t kNdOptSourceLinkAddr = 1, kNdOptTargetLinkAddr = 2;
inline constexpr std::uint8_t kNdFlagRouter = 0x80, kNdFlagSolicited = 0x40,
                              kNdFlagOverride = 0x20;
inline constexpr std::uint8_t kNdHopLimit = 255;

inline constexpr std::uint8_t kDefaultTtl = 64;

} // namespace smtpgw::net::wire
