// siphash.cc: SipHash-2-4 (see siphash.h).
#include "net/siphash.h"

namespace smtpgw::net {

namespace {

std::uint64_t load_le64(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}

std::uint64_t rotl(std::uint64_t x, int b) {
    return (x << b) | (x >> (64 - b));
}

void sip_round(std::uint64_t& v0, std::uint64_t& v1, std::uint64_t& v2, std::uint64_t& v3) {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
}

} // namespace

std::uint64_t siphash24(const SipKey& key, std::span<const std::uint8_t> data) {
    std::uint64_t k0 = load_le64(key.bytes.data());
    std::uint64_t k1 = load_le64(key.bytes.data() + 8);
    std::uint64_t v0 = 0x736f6d6570736575ull ^ k0;
    std::uint64_t v1 = 0x646f72616e646f6dull ^ k1;
    std::uint64_t v2 = 0x6c7967656e657261ull ^ k0;
    std::uint64_t v3 = 0x7465646279746573ull ^ k1;
    std::size_t n = data.size();
    std::size_t full = n - n % 8;
    for (std::size_t i = 0; i < full; i += 8) {
        std::uint64_t m = load_le64(data.data() + i);
        v3 ^= m;
        sip_round(v0, v1, v2, v3);
        sip_round(v0, v1, v2, v3);
        v0 ^= m;
    }
    std::uint64_t last = static_cast<std::uint64_t>(n & 0xff) << 56;
    for (std::size_t i = 0; i < n % 8; ++i)
        last |= static_cast<std::uint64_t>(data[full + i]) << (8 * i);
    v3 ^= last;
    sip_round(v0, v1, v2, v3);
    sip_round(v0, v1, v2, v3);
    v0 ^= last;
    v2 ^= 0xff;
    for (int i = 0; i < 4; ++i)
        sip_round(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

} // namespace smtpgw::net
