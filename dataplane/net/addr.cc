// addr.cc: parsing and formatting of typed addresses (see addr.h).
#include "net/addr.h"

#include <algorithm>

#include <arpa/inet.h>

#include <charconv>
#include <cstdio>

namespace smtpgw::net {

bool Ipv6Prefix::contains(const Ipv6Addr& a) const {
    unsigned full = length / 8, rest = length % 8;
    for (unsigned i = 0; i < full; ++i)
        if (a.bytes[i] != addr.bytes[i])
            return false;
    if (rest == 0)
        return true;
    auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (a.bytes[full] & mask) == (addr.bytes[full] & mask);
}

Ipv6Prefix Ipv6Prefix::network() const {
    Ipv6Prefix p = *this;
    for (unsigned i = 0; i < 16; ++i) {
        unsigned kept = length > 8 * i ? std::min(8u, length - 8 * i) : 0u;
        p.addr.bytes[i] &= static_cast<std::uint8_t>(0xff00u >> kept);
    }
    return p;
}

Ipv6Addr solicited_node_multicast(const Ipv6Addr& a) {
    Ipv6Addr m{};
    m.bytes[0] = 0xff;
    m.bytes[1] = 0x02;
    m.bytes[11] = 0x01;
    m.bytes[12] = 0xff;
    m.bytes[13] = a.bytes[13];
    m.bytes[14] = a.bytes[14];
    m.bytes[15] = a.bytes[15];
    return m;
}

MacAddr multicast_mac(const Ipv6Addr& group) {
    return MacAddr{{0x33, 0x33, group.bytes[12], group.bytes[13], group.bytes[14],
                    group.bytes[15]}};
}

Ipv6Addr link_local_from_mac(const MacAddr& mac) {
    Ipv6Addr a{};
    a.bytes[0] = 0xfe;
    a.bytes[1] = 0x80;
    a.bytes[8] = mac.bytes[0] ^ 0x02; // flip the universal/local bit
    a.bytes[9] = mac.bytes[1];
    a.bytes[10] = mac.bytes[2];
    a.bytes[11] = 0xff;
    a.bytes[12] = 0xfe;
    a.bytes[13] = mac.bytes[3];
    a.bytes[14] = mac.bytes[4];
    a.bytes[15] = mac.bytes[5];
    return a;
}

Ipv6Addr v4_mapped(Ipv4Addr a) {
    Ipv6Addr m{};
    m.bytes[10] = 0xff;
    m.bytes[11] = 0xff;
    m.bytes[12] = static_cast<std::uint8_t>(a.value >> 24);
    m.bytes[13] = static_cast<std::uint8_t>(a.value >> 16);
    m.bytes[14] = static_cast<std::uint8_t>(a.value >> 8);
    m.bytes[15] = static_cast<std::uint8_t>(a.value);
    return m;
}

Ipv4Addr v4_unmapped(const Ipv6Addr& a) {
    return Ipv4Addr{(std::uint32_t{a.bytes[12]} << 24) | (std::uint32_t{a.bytes[13]} << 16) |
                    (std::uint32_t{a.bytes[14]} << 8) | a.bytes[15]};
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

namespace {

// inet_pton needs a NUL-terminated string; bound the copy so hostile input
// cannot overflow. An embedded NUL would end the string early and let
// trailing garbage through ("1.2.3.4\0junk"): refuse it.
template <int Family, typename Out>
bool pton(std::string_view text, Out* out) {
    char buf[64];
    if (text.empty() || text.size() >= sizeof buf || text.find('\0') != std::string_view::npos)
        return false;
    text.copy(buf, text.size());
    buf[text.size()] = '\0';
    return inet_pton(Family, buf, out) == 1;
}

std::optional<std::uint8_t> parse_prefix_length(std::string_view text, unsigned max) {
    unsigned v = 0;
    if (text.empty() || text.size() > 3)
        return std::nullopt;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || p != text.data() + text.size() || v > max)
        return std::nullopt;
    return static_cast<std::uint8_t>(v);
}
} // namespace

std::optional<MacAddr> parse_mac(std::string_view text) {
    if (text.size() != 17)
        return std::nullopt;
    MacAddr m;
    for (int i = 0; i < 6; ++i) {
        int hi = hex_digit(text[i * 3]), lo = hex_digit(text[i * 3 + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != ':'))
            return std::nullopt;
        m.bytes[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return m;
}

std::optional<Ipv4Addr> parse_ipv4(std::string_view text) {
    in_addr a{};
    if (!pton<AF_INET>(text, &a))
        return std::nullopt;
    return Ipv4Addr{ntohl(a.s_addr)};
}

std::optional<Ipv6Addr> parse_ipv6(std::string_view text) {
    Ipv6Addr a;
    if (!pton<AF_INET6>(text, a.bytes.data()))
        return std::nullopt;
    return a;
}

namespace {
// "ADDRESS/LEN" for either family; Parse turns the address part into Addr.
template <typename Prefix, typename Parse>
std::optional<Prefix> parse_prefix(std::string_view text, unsigned max_len, Parse parse) {
    auto slash = text.find('/');
    if (slash == std::string_view::npos)
        return std::nullopt;
    auto addr = parse(text.substr(0, slash));
    auto len = parse_prefix_length(text.substr(slash + 1), max_len);
    if (!addr || !len)
        return std::nullopt;
    return Prefix{*addr, *len};
}
} // namespace

std::optional<Ipv4Prefix> parse_ipv4_prefix(std::string_view text) {
    return parse_prefix<Ipv4Prefix>(text, 32, parse_ipv4);
}

std::optional<Ipv6Prefix> parse_ipv6_prefix(std::string_view text) {
    return parse_prefix<Ipv6Prefix>(text, 128, parse_ipv6);
}

std::string to_string(const MacAddr& a) {
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", a.bytes[0], a.bytes[1],
                  a.bytes[2], a.bytes[3], a.bytes[4], a.bytes[5]);
    return buf;
}

std::string to_string(Ipv4Addr a) {
    char buf[INET_ADDRSTRLEN];
    in_addr n{htonl(a.value)};
    inet_ntop(AF_INET, &n, buf, sizeof buf);
    return buf;
}

std::string to_string(const Ipv6Addr& a) {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, a.bytes.data(), buf, sizeof buf);
    return buf;
}

std::string to_string(const Ipv4Prefix& p) {
    return to_string(p.addr) + "/" + std::to_string(p.length);
}
std::string to_string(const Ipv6Prefix& p) {
    return to_string(p.addr) + "/" + std::to_string(p.length);
}

} // namespace smtpgw::net
