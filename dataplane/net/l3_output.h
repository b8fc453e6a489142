// l3_output.h: building the frames the fast path originates: Ethernet,
// IPv4 and IPv6 headers for transport segments, ARP requests and Neighbor
// Solicitations for address resolution, and the next-hop choice.
//
// Purpose: the transmit-side counterpart of l3_input.h, as pure functions on
// caller buffers (no DPDK, clock or allocation) so they are unit-testable
// against l3_input itself.
// RFCs: 826 (ARP request), 791 (IPv4 header, DF set: we never fragment),
// 8200 (IPv6 header), 4861 7.2.2 (NS to the solicited-node multicast address
// with our link-layer address), 1122 3.3.1 (on-link or default gateway).
// Security: every builder checks the buffer size first and writes nothing
// when it is too small (returning 0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "net/addr.h"
#include "net/l3_input.h"

namespace smtpgw::net {

// Where a datagram to `dst` goes from a port: `dst` itself when on-link,
// else the port's gateway; nullopt when off-link without a gateway.
// IPv4 destinations are v4-mapped; so is the result.
std::optional<Ipv6Addr> next_hop(const PortAddressing& port, std::optional<Ipv4Addr> gateway4,
                                 std::optional<Ipv6Addr> gateway6, const Ipv6Addr& dst);

// Writes an Ethernet II header at out[0..14).
void write_ether_header(std::uint8_t* out, const MacAddr& dst, const MacAddr& src,
                        std::uint16_t ether_type);

// Writes a 20-byte IPv4 header (DF, TTL 64, checksum filled) for a payload
// of `payload_len` bytes.
void write_ipv4_header(std::uint8_t* out, Ipv4Addr src, Ipv4Addr dst, std::uint8_t proto,
                       std::uint16_t payload_len, std::uint16_t id);
// Writes a 40-byte IPv6 header (hop limit 64).
void write_ipv6_header(std::uint8_t* out, const Ipv6Addr& src, const Ipv6Addr& dst,
                       std::uint8_t next_header, std::uint16_t payload_len);

// A broadcast ARP request for `target` from the port. Returns the frame
// length (42), or 0 when `out` is too small.
std::size_t build_arp_request(std::span<std::uint8_t> out, const PortAddressing& port,
                              Ipv4Addr target);

// A Neighbor Solicitation for `target` to its solicited-node multicast
// address, from the port's address in the target's scope, with our
// source link-layer address option. Returns the frame length, or 0.
std::size_t build_neighbor_solicit(std::span<std::uint8_t> out, const PortAddressing& port,
                                   const Ipv6Addr& target);

} // namespace smtpgw::net
