// checksum_test.cc: unit tests of dataplane/net/checksum.{h,cc}: the RFC 1071
// Internet checksum and the IPv4/IPv6 pseudo-headers. Expected values come
// from the RFCs, a well-known IPv4 header, and vectors computed independently
// (a separate Python implementation); a naive reference sum cross-checks
// random buffers of every length.
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "net/addr.h"
#include "net/checksum.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw::net;
using Bytes = std::vector<std::uint8_t>;

namespace {

// The textbook definition: sum 16-bit big-endian words (odd byte padded
// with zero), fold the carries, complement.
std::uint16_t reference_checksum(const Bytes& b) {
    std::uint64_t s = 0;
    for (std::size_t i = 0; i < b.size(); i += 2)
        s += (std::uint64_t{b[i]} << 8) | (i + 1 < b.size() ? b[i + 1] : 0);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint16_t>(~s & 0xffff);
}

std::uint16_t checksum_of(const Bytes& b) {
    return checksum_fold(checksum_add(0, b.data(), b.size()));
}

Ipv4Addr v4(const char* t) { return *parse_ipv4(t); }
Ipv6Addr v6(const char* t) { return *parse_ipv6(t); }

} // namespace

TEST_GROUP(Checksum){};

TEST(Checksum, Rfc1071NumericalExample) {
    // RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7, sum ddf2 (after the
    // end-around carry), checksum 220d.
    const Bytes b = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    UNSIGNED_LONGS_EQUAL(0x2ddf0u, checksum_add(0, b.data(), b.size()));
    UNSIGNED_LONGS_EQUAL(0x220du, checksum_of(b));
}

TEST(Checksum, KnownIpv4HeaderValidatesAndRecomputes) {
    // 192.168.0.1 -> 192.168.0.199, UDP, checksum b861.
    Bytes h = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
               0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    UNSIGNED_LONGS_EQUAL(0, checksum_of(h)); // a received header validates to 0
    h[10] = h[11] = 0;
    UNSIGNED_LONGS_EQUAL(0xb861u, checksum_of(h));
}

TEST(Checksum, OddLengthPadsTheLastByteWithZero) {
    const Bytes one = {0x01};
    UNSIGNED_LONGS_EQUAL(0x0100u, checksum_add(0, one.data(), one.size()));
    const Bytes three = {0xab, 0xcd, 0xef};
    UNSIGNED_LONGS_EQUAL(0xabcdu + 0xef00u, checksum_add(0, three.data(), three.size()));
    UNSIGNED_LONGS_EQUAL(0x6531u, checksum_of(three));
}

TEST(Checksum, EmptyBufferLeavesTheSumUnchanged) {
    const std::uint8_t dummy = 0xff;
    UNSIGNED_LONGS_EQUAL(0x1234u, checksum_add(0x1234, &dummy, 0));
    UNSIGNED_LONGS_EQUAL(0xffffu, checksum_fold(0));
}

TEST(Checksum, FoldAddsCarriesBackIn) {
    UNSIGNED_LONGS_EQUAL(0xfffeu, checksum_fold(0x0001ffffu)); // ffff+1 -> 1 -> ~1
    UNSIGNED_LONGS_EQUAL(0x0000u, checksum_fold(0xffffffffu));
    UNSIGNED_LONGS_EQUAL(0x0000u, checksum_fold(0x0000ffffu));
    UNSIGNED_LONGS_EQUAL(0xedcbu, checksum_fold(0x00001234u));
    UNSIGNED_LONGS_EQUAL(0xedcau, checksum_fold(0x00011234u));
}

TEST(Checksum, AccumulatorWrapsTheCarryOutOf32Bits) {
    const Bytes b = {0xff, 0xff};
    // 0xffffffff + 0xffff = 0x1_0000_fffe: the carry out of bit 31 is added back.
    UNSIGNED_LONGS_EQUAL(0x0000ffffu, checksum_add(0xffffffffu, b.data(), b.size()));
}

TEST(Checksum, LargeBuffersDoNotOverflow) {
    const Bytes ones(1u << 20, 0xff); // 2^19 words of ffff
    UNSIGNED_LONGS_EQUAL(0, checksum_of(ones));
    Bytes big(70001, 0);
    for (std::size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<std::uint8_t>(i * 7 + 3);
    UNSIGNED_LONGS_EQUAL(reference_checksum(big), checksum_of(big));
}

TEST(Checksum, MatchesReferenceForRandomBuffersOfEveryLength) {
    std::mt19937 rng(1071);
    for (std::size_t len = 0; len <= 300; ++len) {
        Bytes b(len);
        for (auto& x : b)
            x = static_cast<std::uint8_t>(rng());
        UNSIGNED_LONGS_EQUAL_TEXT(reference_checksum(b), checksum_of(b),
                                  ("length " + std::to_string(len)).c_str());
    }
}

TEST(Checksum, SumsChainAcrossEvenSplits) {
    std::mt19937 rng(42);
    Bytes b(101);
    for (auto& x : b)
        x = static_cast<std::uint8_t>(rng());
    const std::uint32_t whole = checksum_add(0, b.data(), b.size());
    for (std::size_t split = 0; split <= b.size(); split += 2) {
        std::uint32_t s = checksum_add(0, b.data(), split);
        s = checksum_add(s, b.data() + split, b.size() - split);
        UNSIGNED_LONGS_EQUAL_TEXT(checksum_fold(whole), checksum_fold(s),
                                  ("split at " + std::to_string(split)).c_str());
    }
}

TEST(Checksum, InsertingTheChecksumMakesTheMessageValidate) {
    std::mt19937 rng(7);
    for (std::size_t len = 4; len < 80; ++len) {
        Bytes b(len);
        for (auto& x : b)
            x = static_cast<std::uint8_t>(rng());
        b[2] = b[3] = 0;
        std::uint16_t c = checksum_of(b);
        b[2] = static_cast<std::uint8_t>(c >> 8);
        b[3] = static_cast<std::uint8_t>(c);
        UNSIGNED_LONGS_EQUAL_TEXT(0, checksum_of(b), ("length " + std::to_string(len)).c_str());
    }
}

TEST(Checksum, EverySingleBitFlipIsDetected) {
    Bytes b = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
               0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    for (std::size_t i = 0; i < b.size(); ++i)
        for (int bit = 0; bit < 8; ++bit) {
            b[i] ^= static_cast<std::uint8_t>(1 << bit);
            CHECK_TEXT(checksum_of(b) != 0, ("byte " + std::to_string(i)).c_str());
            b[i] ^= static_cast<std::uint8_t>(1 << bit);
        }
}

TEST_GROUP(PseudoHeader){};

TEST(PseudoHeader, Ipv4SumsAddressesProtocolAndLength) {
    // 0102 + 0304 + 0506 + 0708 + 0006 + 0014
    UNSIGNED_LONGS_EQUAL(0x102eu, pseudo_header_v4(v4("1.2.3.4"), v4("5.6.7.8"), 6, 20));
    // Large words must not be lost: 4 * ffff + ff + ffff.
    UNSIGNED_LONGS_EQUAL(4u * 0xffffu + 0xffu + 0xffffu,
                         pseudo_header_v4(v4("255.255.255.255"), v4("255.255.255.255"), 0xff,
                                          0xffff));
}

TEST(PseudoHeader, Ipv4EqualsTheRfc793Layout) {
    const Ipv4Addr src = v4("203.0.113.10"), dst = v4("203.0.113.1");
    // src(4) dst(4) zero(1) proto(1) tcp length(2)
    const Bytes layout = {203, 0, 113, 10, 203, 0, 113, 1, 0, 6, 0x00, 0x14};
    UNSIGNED_LONGS_EQUAL(checksum_fold(checksum_add(0, layout.data(), layout.size())),
                         checksum_fold(pseudo_header_v4(src, dst, 6, 20)));
}

TEST(PseudoHeader, Ipv4TcpSegmentKnownVector) {
    // SYN 203.0.113.10:40000 -> 203.0.113.1:25, seq 1, window 65535.
    const Bytes seg = {0x9c, 0x40, 0x00, 0x19, 0, 0, 0, 1, 0, 0, 0, 0,
                       0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0};
    std::uint32_t s = pseudo_header_v4(v4("203.0.113.10"), v4("203.0.113.1"), 6,
                                       static_cast<std::uint16_t>(seg.size()));
    UNSIGNED_LONGS_EQUAL(0x9b7bu, checksum_fold(checksum_add(s, seg.data(), seg.size())));
}

TEST(PseudoHeader, Ipv6EqualsTheRfc8200Layout) {
    const Ipv6Addr src = v6("2001:db8:1::10"), dst = v6("ff02::1:ff00:1");
    Bytes layout(src.bytes.begin(), src.bytes.end());
    layout.insert(layout.end(), dst.bytes.begin(), dst.bytes.end());
    const Bytes tail = {0x00, 0x01, 0x02, 0x03, 0, 0, 0, 58}; // length 0x00010203, next header
    layout.insert(layout.end(), tail.begin(), tail.end());
    UNSIGNED_LONGS_EQUAL(checksum_fold(checksum_add(0, layout.data(), layout.size())),
                         checksum_fold(pseudo_header_v6(src, dst, 58, 0x00010203u)));
}

TEST(PseudoHeader, Icmpv6EchoKnownVector) {
    // Echo request 2001:db8:1::10 -> 2001:db8:1::1, id 1234, seq 1, data "abcd".
    Bytes msg = {128, 0, 0, 0, 0x12, 0x34, 0x00, 0x01, 'a', 'b', 'c', 'd'};
    const Ipv6Addr src = v6("2001:db8:1::10"), dst = v6("2001:db8:1::1");
    std::uint32_t s = pseudo_header_v6(src, dst, 58, static_cast<std::uint32_t>(msg.size()));
    UNSIGNED_LONGS_EQUAL(0x4d38u, checksum_fold(checksum_add(s, msg.data(), msg.size())));
    msg[2] = 0x4d;
    msg[3] = 0x38;
    UNSIGNED_LONGS_EQUAL(0, checksum_fold(checksum_add(s, msg.data(), msg.size())));
    // The same bytes between other addresses do not validate.
    std::uint32_t other = pseudo_header_v6(src, v6("2001:db8:1::2"), 58,
                                           static_cast<std::uint32_t>(msg.size()));
    CHECK(checksum_fold(checksum_add(other, msg.data(), msg.size())) != 0);
}
