// addr.h: typed wire addresses (MAC, IPv4, IPv6) and prefixes.
//
// Purpose: give every address its own type so an IPv4 address cannot be
// passed where a MAC is expected, and keep parsing/formatting in one place.
// Error contract: parse_* return std::nullopt on any malformed text; they
// never throw and never accept trailing garbage.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smtpgw::net {

struct MacAddr {
    std::array<std::uint8_t, 6> bytes{};

    bool is_broadcast() const {
        for (auto b : bytes)
            if (b != 0xff)
                return false;
        return true;
    }
    bool is_multicast() const { return (bytes[0] & 0x01) != 0; }
    bool is_zero() const {
        for (auto b : bytes)
            if (b != 0)
                return false;
        return true;
    }
    auto operator<=>(const MacAddr&) const = default;
};

// IPv4 address in host byte order.
struct Ipv4Addr {
    std::uint32_t value = 0;

    bool is_unspecified() const { return value == 0; }
    bool is_loopback() const { return (value >> 24) == 127; }
    bool is_multicast() const { return (value >> 28) == 0xe; }
    bool is_limited_broadcast() const { return value == 0xffffffffu; }
    bool is_reserved_class_e() const { return (value >> 28) == 0xf; }
    auto operator<=>(const Ipv4Addr&) const = default;
};

struct Ipv6Addr {
    std::array<std::uint8_t, 16> bytes{};

    bool is_unspecified() const {
        for (auto b : bytes)
            if (b != 0)
                return false;
        return true;
    }
    bool is_multicast() const { return bytes[0] == 0xff; }
    bool is_link_local() const { return bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80; }
    bool is_loopback() const {
        for (int i = 0; i < 15; ++i)
            if (bytes[i] != 0)
                return false;
        return bytes[15] == 1;
    }
    bool is_v4_mapped() const {
        for (int i = 0; i < 10; ++i)
            if (bytes[i] != 0)
                return false;
        return bytes[10] == 0xff && bytes[11] == 0xff;
    }
    auto operator<=>(const Ipv6Addr&) const = default;
};

// The netmask of a /length IPv4 prefix (0 for /0).
constexpr std::uint32_t ipv4_mask(unsigned length) {
    return length == 0 ? 0 : ~std::uint32_t{0} << (32 - length);
}

struct Ipv4Prefix {
    Ipv4Addr addr;
    std::uint8_t length = 0; // 0..32

    bool contains(Ipv4Addr a) const {
        return (a.value & ipv4_mask(length)) == (addr.value & ipv4_mask(length));
    }
    // The same prefix with the host bits cleared (10.1.2.3/8 -> 10.0.0.0/8).
    Ipv4Prefix network() const { return {Ipv4Addr{addr.value & ipv4_mask(length)}, length}; }
    Ipv4Addr subnet_broadcast() const {
        std::uint32_t host = length >= 32 ? 0 : (~std::uint32_t{0} >> length);
        return Ipv4Addr{addr.value | host};
    }
    bool operator==(const Ipv4Prefix&) const = default;
};

struct Ipv6Prefix {
    Ipv6Addr addr;
    std::uint8_t length = 0; // 0..128

    bool contains(const Ipv6Addr& a) const;
    // The same prefix with the host bits cleared.
    Ipv6Prefix network() const;
    bool operator==(const Ipv6Prefix&) const = default;
};

// ff02::1, the link-local all-nodes group (RFC 4291 2.7.1).
inline constexpr Ipv6Addr kAllNodes{{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};

// The solicited-node multicast address ff02::1:ffXX:XXXX of `a` (RFC 4291 2.7.1).
Ipv6Addr solicited_node_multicast(const Ipv6Addr& a);
// The Ethernet multicast MAC 33:33:xx:xx:xx:xx for an IPv6 multicast group (RFC 2464 7).
MacAddr multicast_mac(const Ipv6Addr& group);
// The EUI-64 based link-local address fe80::/64 for `mac` (RFC 4291 appendix A).
Ipv6Addr link_local_from_mac(const MacAddr& mac);
// ::ffff:a.b.c.d, the form the neighbor cache uses to key IPv4 entries.
Ipv6Addr v4_mapped(Ipv4Addr a);
// The IPv4 address inside a v4-mapped address (callers check is_v4_mapped()).
Ipv4Addr v4_unmapped(const Ipv6Addr& a);

std::optional<MacAddr> parse_mac(std::string_view text);
std::optional<Ipv4Addr> parse_ipv4(std::string_view text);
std::optional<Ipv6Addr> parse_ipv6(std::string_view text);
// "a.b.c.d/len" or "x::y/len"; the address part may have host bits set (it is
// the interface address; contains() masks).
std::optional<Ipv4Prefix> parse_ipv4_prefix(std::string_view text);
std::optional<Ipv6Prefix> parse_ipv6_prefix(std::string_view text);

// The value of one hexadecimal digit, or -1.
int hex_digit(char c);
std::string to_string(const MacAddr& a);
std::string to_string(Ipv4Addr a);
std::string to_string(const Ipv6Addr& a);
std::string to_string(const Ipv4Prefix& p);
std::string to_string(const Ipv6Prefix& p);

} // namespace smtpgw::net
