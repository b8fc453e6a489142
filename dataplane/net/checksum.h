// checksum.h: the Internet checksum (RFC 1071) and the IPv4/IPv6
// pseudo-headers used by ICMPv6, TCP and UDP (RFC 791, RFC 8200 8.1).
//
// Purpose: one implementation for validation and for building replies.
// Contract: checksum_fold(sum) returns the one's complement 16-bit value to
// store in the header; a received header validates when the fold of the sum
// over it (checksum field included) is 0.
#pragma once

#include <cstddef>
#include <cstdint>

#include "net/addr.h"

namespace smtpgw::net {

// Adds `len` bytes to a running 32-bit one's complement accumulator.
std::uint32_t checksum_add(std::uint32_t sum, const std::uint8_t* data, std::size_t len);
// Folds the accumulator to 16 bits and complements it.
std::uint16_t checksum_fold(std::uint32_t sum);

std::uint32_t pseudo_header_v4(Ipv4Addr src, Ipv4Addr dst, std::uint8_t proto,
                               std::uint16_t l4_len);
std::uint32_t pseudo_header_v6(const Ipv6Addr& src, const Ipv6Addr& dst,
                               std::uint8_t next_header, std::uint32_t l4_len);

} // namespace smtpgw::net
