// checksum.cc: RFC 1071 Internet checksum (see checksum.h).
#include "net/checksum.h"

namespace smtpgw::net {

std::uint32_t checksum_add(std::uint32_t sum, const std::uint8_t* data, std::size_t len) {
    // 64-bit accumulator so carries never overflow for any frame size.
    std::uint64_t acc = sum;
    std::size_t i = 0;
    for (; i + 1 < len; i += 2)
        acc += (std::uint32_t{data[i]} << 8) | data[i + 1];
    if (i < len)
        acc += std::uint32_t{data[i]} << 8; // RFC 1071: pad the odd byte with zero
    while (acc >> 32)
        acc = (acc & 0xffffffffu) + (acc >> 32);
    return static_cast<std::uint32_t>(acc);
}

std::uint16_t checksum_fold(std::uint32_t sum) {
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum & 0xffff);
}

std::uint32_t pseudo_header_v4(Ipv4Addr src, Ipv4Addr dst, std::uint8_t proto,
                               std::uint16_t l4_len) {
    std::uint64_t s = (src.value >> 16) + (src.value & 0xffff) + (dst.value >> 16) +
                      (dst.value & 0xffff) + proto + l4_len;
    while (s >> 32)
        s = (s & 0xffffffffu) + (s >> 32);
    return static_cast<std::uint32_t>(s);
}

std::uint32_t pseudo_header_v6(const Ipv6Addr& src, const Ipv6Addr& dst,
                               std::uint8_t next_header, std::uint32_t l4_len) {
    std::uint32_t s = checksum_add(0, src.bytes.data(), 16);
    s = checksum_add(s, dst.bytes.data(), 16);
    std::uint8_t tail[8] = {static_cast<std::uint8_t>(l4_len >> 24),
                            static_cast<std::uint8_t>(l4_len >> 16),
                            static_cast<std::uint8_t>(l4_len >> 8),
                            static_cast<std::uint8_t>(l4_len),
                            0,
                            0,
                            0,
                            next_header};
    return checksum_add(s, tail, sizeof tail);
}

} // namespace smtpgw::net
