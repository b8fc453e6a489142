// frame_builder.h: builds Ethernet frames byte by byte for the L2/L3 input
// tests: ARP, IPv4 with options, ICMP echo, IPv6, ICMPv6 echo, Neighbor
// Solicitation/Advertisement with link-layer options, and TCP headers.
//
// Purpose: every test frame is written from the RFC layouts here, with
// named fields a test can set to a wrong value (designated initializers:
// `arp_frame({.oper = 3})`), instead of hex dumps nobody can review.
// Checksums are filled with the checksum module (itself tested against
// known vectors in checksum_test.cc) unless a test asks for a broken one.
// The addresses are the virtual lab's WAN side (shared/lab.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/addr.h"
#include "net/checksum.h"
#include "net/wire.h"

namespace smtpgw::test {

using Bytes = std::vector<std::uint8_t>;

// Test constants must parse; a typo is a bug in the test, not a test failure.
[[noreturn]] inline void bad_constant(std::string_view what, std::string_view text) {
    std::fprintf(stderr, "frame_builder: bad %.*s constant '%.*s'\n", int(what.size()),
                 what.data(), int(text.size()), text.data());
    std::abort();
}
inline net::MacAddr mac(std::string_view t) {
    auto v = net::parse_mac(t);
    if (!v)
        bad_constant("MAC", t);
    return *v;
}
inline net::Ipv4Addr ip4(std::string_view t) {
    auto v = net::parse_ipv4(t);
    if (!v)
        bad_constant("IPv4", t);
    return *v;
}
inline net::Ipv6Addr ip6(std::string_view t) {
    auto v = net::parse_ipv6(t);
    if (!v)
        bad_constant("IPv6", t);
    return *v;
}

// The lab's WAN link: the gateway port and the upstream router as the peer.
namespace lab {
inline const net::MacAddr kOurMac = mac("02:00:00:00:00:01");
inline const net::MacAddr kPeerMac = mac("02:00:00:00:00:fe");
inline const net::MacAddr kOtherMac = mac("02:00:00:00:00:77");
inline const net::MacAddr kBroadcast = mac("ff:ff:ff:ff:ff:ff");
inline const net::Ipv4Prefix kOurIpv4{ip4("203.0.113.1"), 24};
inline const net::Ipv4Addr kPeerIpv4 = ip4("203.0.113.254");
inline const net::Ipv6Prefix kOurIpv6{ip6("2001:db8:1::1"), 64};
inline const net::Ipv6Addr kPeerIpv6 = ip6("2001:db8:1::254");
inline const net::Ipv6Addr kOurLinkLocal = net::link_local_from_mac(kOurMac);
inline const net::Ipv6Addr kPeerLinkLocal = net::link_local_from_mac(kPeerMac);
inline const net::Ipv6Addr kAllNodes = ip6("ff02::1");
inline const net::Ipv6Addr kUnspecified{};
} // namespace lab

// ------------------------------------------------------------------ raw bytes

inline void put8(Bytes& b, std::uint8_t v) { b.push_back(v); }
inline void put16(Bytes& b, std::uint16_t v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
}
inline void put32(Bytes& b, std::uint32_t v) {
    put16(b, static_cast<std::uint16_t>(v >> 16));
    put16(b, static_cast<std::uint16_t>(v));
}
inline void put(Bytes& b, const net::MacAddr& m) { b.insert(b.end(), m.bytes.begin(), m.bytes.end()); }
inline void put(Bytes& b, net::Ipv4Addr a) { put32(b, a.value); }
inline void put(Bytes& b, const net::Ipv6Addr& a) {
    b.insert(b.end(), a.bytes.begin(), a.bytes.end());
}
inline void put(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }
inline void set16(Bytes& b, std::size_t off, std::uint16_t v) {
    b.at(off) = static_cast<std::uint8_t>(v >> 8);
    b.at(off + 1) = static_cast<std::uint8_t>(v);
}

// Readers for checking replies; out-of-range offsets are test bugs.
inline std::uint16_t be16_at(const Bytes& b, std::size_t off) {
    return static_cast<std::uint16_t>((b.at(off) << 8) | b.at(off + 1));
}
inline std::uint32_t be32_at(const Bytes& b, std::size_t off) {
    return (std::uint32_t{be16_at(b, off)} << 16) | be16_at(b, off + 2);
}
inline net::MacAddr mac_at(const Bytes& b, std::size_t off) {
    net::MacAddr m;
    for (std::size_t i = 0; i < 6; ++i)
        m.bytes[i] = b.at(off + i);
    return m;
}
inline net::Ipv4Addr ip4_at(const Bytes& b, std::size_t off) { return {be32_at(b, off)}; }
inline net::Ipv6Addr ip6_at(const Bytes& b, std::size_t off) {
    net::Ipv6Addr a;
    for (std::size_t i = 0; i < 16; ++i)
        a.bytes[i] = b.at(off + i);
    return a;
}

inline Bytes text_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// ------------------------------------------------------------------ Ethernet

inline Bytes ether(const net::MacAddr& dst, const net::MacAddr& src, std::uint16_t type) {
    Bytes b;
    put(b, dst);
    put(b, src);
    put16(b, type);
    return b;
}

// ------------------------------------------------------------------ ARP (RFC 826)

struct ArpSpec {
    net::MacAddr eth_dst = lab::kBroadcast;
    net::MacAddr eth_src = lab::kPeerMac;
    std::uint16_t htype = 1;
    std::uint16_t ptype = 0x0800;
    std::uint8_t hlen = 6;
    std::uint8_t plen = 4;
    std::uint16_t oper = 1; // request
    net::MacAddr sha = lab::kPeerMac;
    net::Ipv4Addr spa = lab::kPeerIpv4;
    net::MacAddr tha{};
    net::Ipv4Addr tpa = lab::kOurIpv4.addr;
    std::size_t padding = 0; // zero bytes after the packet (60-byte minimum frames)
};

inline Bytes arp_frame(const ArpSpec& s) {
    Bytes b = ether(s.eth_dst, s.eth_src, net::wire::kEtherTypeArp);
    put16(b, s.htype);
    put16(b, s.ptype);
    put8(b, s.hlen);
    put8(b, s.plen);
    put16(b, s.oper);
    put(b, s.sha);
    put(b, s.spa);
    put(b, s.tha);
    put(b, s.tpa);
    b.resize(b.size() + s.padding, 0);
    return b;
}

// ------------------------------------------------------------------ IPv4 (RFC 791), ICMP (RFC 792)

struct Ipv4Spec {
    net::MacAddr eth_dst = lab::kOurMac;
    net::MacAddr eth_src = lab::kPeerMac;
    std::uint8_t version = 4;
    std::uint8_t tos = 0x10;
    std::uint16_t id = 0x1c46;
    std::uint16_t frag = 0x4000; // DF, offset 0
    std::uint8_t ttl = 63;
    std::uint8_t proto = net::wire::kProtoIcmp;
    net::Ipv4Addr src = lab::kPeerIpv4;
    net::Ipv4Addr dst = lab::kOurIpv4.addr;
    Bytes options{};                             // a multiple of 4 bytes; sets the IHL
    std::optional<std::uint8_t> ihl_words{};     // overrides the IHL nibble
    std::optional<std::uint16_t> total_length{}; // overrides the total length
    bool break_checksum = false;
    std::size_t padding = 0; // Ethernet padding after the datagram
};

inline Bytes ipv4_frame(const Ipv4Spec& s, const Bytes& payload) {
    Bytes b = ether(s.eth_dst, s.eth_src, net::wire::kEtherTypeIpv4);
    const std::size_t hdr_len = 20 + s.options.size();
    const std::uint8_t ihl = s.ihl_words.value_or(static_cast<std::uint8_t>(hdr_len / 4));
    put8(b, static_cast<std::uint8_t>((s.version << 4) | (ihl & 0x0f)));
    put8(b, s.tos);
    put16(b, s.total_length.value_or(static_cast<std::uint16_t>(hdr_len + payload.size())));
    put16(b, s.id);
    put16(b, s.frag);
    put8(b, s.ttl);
    put8(b, s.proto);
    put16(b, 0);
    put(b, s.src);
    put(b, s.dst);
    put(b, s.options);
    std::uint16_t c = net::checksum_fold(net::checksum_add(0, b.data() + 14, hdr_len));
    if (s.break_checksum)
        c = static_cast<std::uint16_t>(c ^ 0x0101);
    set16(b, 14 + 10, c);
    put(b, payload);
    b.resize(b.size() + s.padding, 0);
    return b;
}

inline Bytes echo_body(std::uint16_t id, std::uint16_t seq, const Bytes& data) {
    Bytes b;
    put16(b, id);
    put16(b, seq);
    put(b, data);
    return b;
}

inline Bytes default_echo_data() { return text_bytes("smtpgw lab ping 0123456789abcdef"); }

// An ICMP message with its checksum (RFC 792: over the ICMP message only).
inline Bytes icmp4(std::uint8_t type, std::uint8_t code, const Bytes& body,
                   bool break_checksum = false) {
    Bytes b{type, code, 0, 0};
    put(b, body);
    std::uint16_t c = net::checksum_fold(net::checksum_add(0, b.data(), b.size()));
    set16(b, 2, break_checksum ? static_cast<std::uint16_t>(~c) : c);
    return b;
}

inline Bytes echo4_request(const Bytes& data = default_echo_data()) {
    return icmp4(net::wire::kIcmpEchoRequest, 0, echo_body(0x4242, 7, data));
}

// A TCP header (RFC 9293) with a few payload bytes. The L3 input does not
// look inside, so only the layout matters.
inline Bytes tcp_segment(std::uint16_t src_port = 40000, std::uint16_t dst_port = 25,
                         std::string_view payload = "EHLO client.example.org\r\n") {
    Bytes b;
    put16(b, src_port);
    put16(b, dst_port);
    put32(b, 0x01020304); // sequence
    put32(b, 0);          // acknowledgment
    put8(b, 0x50);        // data offset 5 words
    put8(b, 0x18);        // PSH|ACK
    put16(b, 64240);      // window
    put16(b, 0);          // checksum (not verified by L3)
    put16(b, 0);          // urgent pointer
    put(b, text_bytes(payload));
    return b;
}

// ------------------------------------------------------------------ IPv6 (RFC 8200), ICMPv6 (RFC 4443)

struct Ipv6Spec {
    net::MacAddr eth_dst = lab::kOurMac;
    net::MacAddr eth_src = lab::kPeerMac;
    std::uint8_t version = 6;
    std::uint8_t traffic_class = 0;
    std::uint32_t flow_label = 0x12345;
    std::uint8_t next_header = net::wire::kProtoIcmpv6;
    std::uint8_t hop_limit = 64;
    net::Ipv6Addr src = lab::kPeerIpv6;
    net::Ipv6Addr dst = lab::kOurIpv6.addr;
    std::optional<std::uint16_t> payload_length{}; // overrides the payload length
    std::size_t padding = 0;
};

inline Bytes ipv6_frame(const Ipv6Spec& s, const Bytes& payload) {
    Bytes b = ether(s.eth_dst, s.eth_src, net::wire::kEtherTypeIpv6);
    put32(b, (std::uint32_t{s.version} << 28) | (std::uint32_t{s.traffic_class} << 20) |
                 (s.flow_label & 0xfffff));
    put16(b, s.payload_length.value_or(static_cast<std::uint16_t>(payload.size())));
    put8(b, s.next_header);
    put8(b, s.hop_limit);
    put(b, s.src);
    put(b, s.dst);
    put(b, payload);
    b.resize(b.size() + s.padding, 0);
    return b;
}

// An ICMPv6 message with its checksum over the RFC 8200 8.1 pseudo-header.
inline Bytes icmp6(const net::Ipv6Addr& src, const net::Ipv6Addr& dst, std::uint8_t type,
                   std::uint8_t code, const Bytes& body, bool break_checksum = false) {
    Bytes b{type, code, 0, 0};
    put(b, body);
    std::uint32_t sum = net::pseudo_header_v6(src, dst, net::wire::kProtoIcmpv6,
                                              static_cast<std::uint32_t>(b.size()));
    std::uint16_t c = net::checksum_fold(net::checksum_add(sum, b.data(), b.size()));
    set16(b, 2, break_checksum ? static_cast<std::uint16_t>(c ^ 0x8001) : c);
    return b;
}

inline Bytes icmp6_frame(const Ipv6Spec& s, std::uint8_t type, std::uint8_t code,
                         const Bytes& body, bool break_checksum = false) {
    return ipv6_frame(s, icmp6(s.src, s.dst, type, code, body, break_checksum));
}

inline Bytes echo6_request(const Ipv6Spec& s = {}, const Bytes& data = default_echo_data()) {
    return icmp6_frame(s, net::wire::kIcmp6EchoRequest, 0, echo_body(0x6262, 9, data));
}

// ------------------------------------------------------------------ Neighbor Discovery (RFC 4861)

// Source/Target Link-Layer Address option (4.6.1): type, length 1 (8 bytes), MAC.
inline Bytes ll_option(std::uint8_t type, const net::MacAddr& m) {
    Bytes b{type, 1};
    put(b, m);
    return b;
}
inline Bytes slla(const net::MacAddr& m = lab::kPeerMac) {
    return ll_option(net::wire::kNdOptSourceLinkAddr, m);
}
inline Bytes tlla(const net::MacAddr& m = lab::kPeerMac) {
    return ll_option(net::wire::kNdOptTargetLinkAddr, m);
}

// Neighbor Solicitation (4.3): reserved(4) target(16) options.
inline Bytes ns_body(const net::Ipv6Addr& target, const Bytes& options) {
    Bytes b(4, 0);
    put(b, target);
    put(b, options);
    return b;
}
// Neighbor Advertisement (4.4): R|S|O flags, reserved, target, options.
inline Bytes na_body(std::uint8_t flags, const net::Ipv6Addr& target, const Bytes& options) {
    Bytes b{flags, 0, 0, 0};
    put(b, target);
    put(b, options);
    return b;
}

// The usual IPv6 header of a multicast solicitation for `target` from `src`:
// hop limit 255, to the target's solicited-node group and its MAC.
inline Ipv6Spec ns_spec(const net::Ipv6Addr& target, const net::Ipv6Addr& src = lab::kPeerIpv6) {
    Ipv6Spec s;
    s.hop_limit = 255;
    s.src = src;
    s.dst = net::solicited_node_multicast(target);
    s.eth_dst = net::multicast_mac(s.dst);
    s.flow_label = 0;
    return s;
}

inline Bytes ns_frame(const Ipv6Spec& s, const net::Ipv6Addr& target, const Bytes& options) {
    return icmp6_frame(s, net::wire::kIcmp6NeighborSolicit, 0, ns_body(target, options));
}

inline Bytes na_frame(const Ipv6Spec& s, std::uint8_t flags, const net::Ipv6Addr& target,
                      const Bytes& options) {
    return icmp6_frame(s, net::wire::kIcmp6NeighborAdvert, 0, na_body(flags, target, options));
}

} // namespace smtpgw::test
