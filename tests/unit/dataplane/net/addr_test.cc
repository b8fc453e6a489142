// addr_test.cc: unit tests of dataplane/net/addr.{h,cc}: parsing and
// formatting of MAC, IPv4 and IPv6 addresses and prefixes, prefix membership
// and the derived addresses of RFC 4291 / RFC 2464.
#include <cstdint>
#include <string>
#include <string_view>

#include "net/addr.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw::net;
using namespace std::string_view_literals;

namespace {

Ipv4Addr v4(std::string_view text) {
    auto a = parse_ipv4(text);
    if (!a)
        FAIL_TEST(("test address does not parse: " + std::string(text)).c_str());
    return a.value_or(Ipv4Addr{});
}

Ipv6Addr v6(std::string_view text) {
    auto a = parse_ipv6(text);
    if (!a)
        FAIL_TEST(("test address does not parse: " + std::string(text)).c_str());
    return a.value_or(Ipv6Addr{});
}

} // namespace

// ------------------------------------------------------------------ MAC

TEST_GROUP(MacAddr){};

TEST(MacAddr, ParsesColonSeparatedHexInEitherCase) {
    auto lower = parse_mac("02:00:5e:10:ab:ff");
    CHECK_TRUE(lower.has_value());
    const std::uint8_t want[6] = {0x02, 0x00, 0x5e, 0x10, 0xab, 0xff};
    MEMCMP_EQUAL(want, lower->bytes.data(), 6);
    auto upper = parse_mac("02:00:5E:10:AB:FF");
    CHECK_TRUE(upper.has_value());
    CHECK_TRUE(*lower == *upper);
}

TEST(MacAddr, RefusesMalformedText) {
    const std::string_view bad[] = {
        "",
        "02:00:00:00:00",          // five groups
        "02:00:00:00:00:01:02",    // seven groups
        "02:00:00:00:00:0g",       // not hex
        "02-00-00-00-00-01",       // wrong separator
        "02:00:00:00:00:01 ",      // trailing blank
        " 02:00:00:00:00:01",      // leading blank
        "2:00:00:00:00:001",       // misplaced separator, right length
        "02:00:00:00:00:1",        // short group
        "02:00:00:00:00:01\0"sv,   // trailing NUL
        "0x:00:00:00:00:01",
    };
    for (auto text : bad)
        CHECK_FALSE_TEXT(parse_mac(text).has_value(), std::string(text).c_str());
}

TEST(MacAddr, FormatsAsLowercaseColonHex) {
    MacAddr m{{0x02, 0x00, 0x5e, 0x10, 0xab, 0xff}};
    STRCMP_EQUAL("02:00:5e:10:ab:ff", to_string(m).c_str());
    STRCMP_EQUAL("00:00:00:00:00:00", to_string(MacAddr{}).c_str());
}

TEST(MacAddr, ClassifiesBroadcastMulticastAndZero) {
    MacAddr bcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
    MacAddr mcast{{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}};
    MacAddr ucast{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
    CHECK_TRUE(bcast.is_broadcast());
    CHECK_TRUE(bcast.is_multicast());
    CHECK_FALSE(bcast.is_zero());
    CHECK_FALSE(mcast.is_broadcast());
    CHECK_TRUE(mcast.is_multicast());
    CHECK_FALSE(ucast.is_multicast());
    CHECK_FALSE(ucast.is_broadcast());
    CHECK_FALSE(ucast.is_zero());
    CHECK_TRUE(MacAddr{}.is_zero());
}

// ------------------------------------------------------------------ IPv4

TEST_GROUP(Ipv4Addr){};

TEST(Ipv4Addr, ParsesDottedQuadIntoHostOrder) {
    UNSIGNED_LONGS_EQUAL(0xcb007101u, v4("203.0.113.1").value);
    UNSIGNED_LONGS_EQUAL(0u, v4("0.0.0.0").value);
    UNSIGNED_LONGS_EQUAL(0xffffffffu, v4("255.255.255.255").value);
    UNSIGNED_LONGS_EQUAL(0x01020304u, v4("1.2.3.4").value);
}

TEST(Ipv4Addr, RefusesMalformedTextAndTrailingGarbage) {
    const std::string_view bad[] = {
        "",
        "1.2.3",
        "1.2.3.4.5",
        "1.2.3.256",
        "1.2.3.4.",
        "01.2.3.4",          // leading zero (octal ambiguity)
        "0x1.2.3.4",
        " 1.2.3.4",
        "1.2.3.4 ",
        "1.2.3.4/32",
        "1.2.3.4\0"sv,           // a NUL is not the end of a string_view
        "1.2.3.4\0.5"sv,
        "1.2.3.4\0garbage"sv,
        "::ffff:1.2.3.4",
        "1111111111111111111111111111111111111111111111111111111111111111111.1.1.1",
    };
    for (auto text : bad)
        CHECK_FALSE_TEXT(parse_ipv4(text).has_value(), std::string(text).c_str());
}

TEST(Ipv4Addr, FormatsAsDottedQuad) {
    STRCMP_EQUAL("203.0.113.1", to_string(Ipv4Addr{0xcb007101u}).c_str());
    STRCMP_EQUAL("0.0.0.0", to_string(Ipv4Addr{}).c_str());
    STRCMP_EQUAL("255.255.255.255", to_string(Ipv4Addr{0xffffffffu}).c_str());
}

TEST(Ipv4Addr, ClassifiesSpecialRanges) {
    CHECK_TRUE(v4("0.0.0.0").is_unspecified());
    CHECK_FALSE(v4("0.0.0.1").is_unspecified());
    CHECK_TRUE(v4("127.0.0.1").is_loopback());
    CHECK_TRUE(v4("127.255.255.254").is_loopback());
    CHECK_FALSE(v4("128.0.0.1").is_loopback());
    CHECK_TRUE(v4("224.0.0.1").is_multicast());
    CHECK_TRUE(v4("239.255.255.255").is_multicast());
    CHECK_FALSE(v4("240.0.0.1").is_multicast());
    CHECK_FALSE(v4("223.255.255.255").is_multicast());
    CHECK_TRUE(v4("240.0.0.1").is_reserved_class_e());
    CHECK_TRUE(v4("255.255.255.255").is_limited_broadcast());
    CHECK_FALSE(v4("255.255.255.254").is_limited_broadcast());
    CHECK_FALSE(v4("203.0.113.1").is_unspecified() || v4("203.0.113.1").is_loopback() ||
                v4("203.0.113.1").is_multicast() || v4("203.0.113.1").is_reserved_class_e());
}

TEST(Ipv4Addr, RoundTripsThroughText) {
    const char* texts[] = {"203.0.113.1", "198.51.100.25", "10.0.0.255", "1.0.0.0"};
    for (const char* t : texts)
        STRCMP_EQUAL(t, to_string(v4(t)).c_str());
}

// ------------------------------------------------------------------ IPv6

TEST_GROUP(Ipv6Addr){};

TEST(Ipv6Addr, ParsesCompressedAndFullForms) {
    const std::uint8_t want[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    MEMCMP_EQUAL(want, v6("2001:db8:1::1").bytes.data(), 16);
    MEMCMP_EQUAL(want, v6("2001:0db8:0001:0000:0000:0000:0000:0001").bytes.data(), 16);
    MEMCMP_EQUAL(want, v6("2001:DB8:1:0:0:0:0:1").bytes.data(), 16);
    CHECK_TRUE(v6("::").is_unspecified());
    CHECK_TRUE(v6("::1").is_loopback());
    const std::uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4};
    MEMCMP_EQUAL(mapped, v6("::ffff:1.2.3.4").bytes.data(), 16);
}

TEST(Ipv6Addr, RefusesMalformedTextAndTrailingGarbage) {
    const std::string_view bad[] = {
        "",
        ":::",
        "2001:db8::1::2",
        "1:2:3:4:5:6:7:8:9",
        "1::2:3:4:5:6:7:8",
        "gggg::1",
        "2001:db8::1/64",
        "fe80::1%eth0",
        " ::1",
        "::1 ",
        "12345::1",
        "::1\0"sv,
        "2001:db8::1\0:2"sv,
        "203.0.113.1",
        "0000000000000000000000000000000000000000000000000000000000000000000::1",
    };
    for (auto text : bad)
        CHECK_FALSE_TEXT(parse_ipv6(text).has_value(), std::string(text).c_str());
}

TEST(Ipv6Addr, FormatsCanonicallyPerRfc5952) {
    STRCMP_EQUAL("2001:db8:1::1", to_string(v6("2001:0DB8:0001:0:0:0:0:0001")).c_str());
    STRCMP_EQUAL("::", to_string(Ipv6Addr{}).c_str());
    STRCMP_EQUAL("::1", to_string(v6("0:0:0:0:0:0:0:1")).c_str());
    STRCMP_EQUAL("fe80::ff:fe00:1", to_string(v6("fe80:0:0:0:0:00ff:fe00:1")).c_str());
    STRCMP_EQUAL("ff02::1:ff00:1", to_string(v6("ff02::1:ff00:1")).c_str());
}

TEST(Ipv6Addr, ClassifiesSpecialRanges) {
    CHECK_TRUE(v6("ff02::1").is_multicast());
    CHECK_FALSE(v6("fe80::1").is_multicast());
    CHECK_TRUE(v6("fe80::1").is_link_local());
    CHECK_TRUE(v6("febf:ffff::1").is_link_local());
    CHECK_FALSE(v6("fec0::1").is_link_local()); // deprecated site-local is not link-local
    CHECK_FALSE(v6("fe7f::1").is_link_local());
    CHECK_TRUE(v6("::1").is_loopback());
    CHECK_FALSE(v6("::2").is_loopback());
    CHECK_FALSE(v6("1::1").is_loopback());
    CHECK_TRUE(v6("::ffff:203.0.113.1").is_v4_mapped());
    CHECK_FALSE(v6("::203.0.113.1").is_v4_mapped()); // v4-compatible is not v4-mapped
    CHECK_FALSE(v6("1::ffff:203.0.113.1").is_v4_mapped());
    CHECK_FALSE(v6("2001:db8:1::1").is_unspecified());
}

// ------------------------------------------------------------------ prefixes

TEST_GROUP(Prefix){};

TEST(Prefix, ParsesIpv4PrefixKeepingHostBits) {
    auto p = parse_ipv4_prefix("203.0.113.1/24");
    CHECK_TRUE(p.has_value());
    UNSIGNED_LONGS_EQUAL(0xcb007101u, p->addr.value);
    UNSIGNED_LONGS_EQUAL(24, p->length);
    UNSIGNED_LONGS_EQUAL(0, parse_ipv4_prefix("0.0.0.0/0")->length);
    UNSIGNED_LONGS_EQUAL(32, parse_ipv4_prefix("1.2.3.4/32")->length);
    STRCMP_EQUAL("203.0.113.1/24", to_string(*p).c_str());
}

TEST(Prefix, RefusesMalformedIpv4Prefixes) {
    const std::string_view bad[] = {
        "203.0.113.1",     "203.0.113.1/",    "203.0.113.1/33",  "203.0.113.1/-1",
        "203.0.113.1/+24", "203.0.113.1/ 24", "203.0.113.1/24 ", "203.0.113.1/24/8",
        "203.0.113/24",    "/24",             "203.0.113.1/2a",  "203.0.113.1/1000",
        "2001:db8::/32",   "203.0.113.1/24\0"sv,
    };
    for (auto text : bad)
        CHECK_FALSE_TEXT(parse_ipv4_prefix(text).has_value(), std::string(text).c_str());
}

TEST(Prefix, ParsesIpv6Prefix) {
    auto p = parse_ipv6_prefix("2001:db8:1::1/64");
    CHECK_TRUE(p.has_value());
    CHECK_TRUE(p->addr == v6("2001:db8:1::1"));
    UNSIGNED_LONGS_EQUAL(64, p->length);
    UNSIGNED_LONGS_EQUAL(128, parse_ipv6_prefix("::1/128")->length);
    UNSIGNED_LONGS_EQUAL(0, parse_ipv6_prefix("::/0")->length);
    STRCMP_EQUAL("2001:db8:1::1/64", to_string(*p).c_str());
}

TEST(Prefix, RefusesMalformedIpv6Prefixes) {
    const std::string_view bad[] = {
        "2001:db8::1", "2001:db8::1/", "2001:db8::1/129", "2001:db8::1/1000",
        "2001:db8::1/x", "/64",        "203.0.113.1/24",  "2001:db8::1/64/1",
    };
    for (auto text : bad)
        CHECK_FALSE_TEXT(parse_ipv6_prefix(text).has_value(), std::string(text).c_str());
}

TEST(Prefix, Ipv4ContainsMasksHostBits) {
    struct Case {
        const char* prefix;
        const char* addr;
        bool inside;
    } cases[] = {
        {"203.0.113.1/24", "203.0.113.0", true},
        {"203.0.113.1/24", "203.0.113.255", true},
        {"203.0.113.1/24", "203.0.113.254", true},
        {"203.0.113.1/24", "203.0.114.1", false},
        {"203.0.113.1/24", "203.0.112.255", false},
        {"203.0.113.1/24", "75.0.113.1", false},
        {"198.18.0.0/15", "198.19.255.255", true},
        {"198.18.0.0/15", "198.20.0.0", false},
        {"203.0.113.1/32", "203.0.113.1", true},
        {"203.0.113.1/32", "203.0.113.0", false},
        {"203.0.113.0/31", "203.0.113.1", true},
        {"203.0.113.0/31", "203.0.113.2", false},
        {"0.0.0.0/0", "255.255.255.255", true},
        {"10.0.0.0/1", "127.255.255.255", true},
        {"10.0.0.0/1", "128.0.0.0", false},
    };
    for (const auto& c : cases) {
        auto p = parse_ipv4_prefix(c.prefix);
        CHECK_TRUE(p.has_value());
        CHECK_EQUAL_TEXT(c.inside, p->contains(v4(c.addr)),
                         (std::string(c.prefix) + " contains " + c.addr).c_str());
    }
}

TEST(Prefix, Ipv4SubnetBroadcastSetsAllHostBits) {
    STRCMP_EQUAL("203.0.113.255",
                 to_string(parse_ipv4_prefix("203.0.113.1/24")->subnet_broadcast()).c_str());
    STRCMP_EQUAL("198.19.255.255",
                 to_string(parse_ipv4_prefix("198.18.3.4/15")->subnet_broadcast()).c_str());
    STRCMP_EQUAL("203.0.113.1",
                 to_string(parse_ipv4_prefix("203.0.113.1/32")->subnet_broadcast()).c_str());
    STRCMP_EQUAL("255.255.255.255",
                 to_string(parse_ipv4_prefix("1.2.3.4/0")->subnet_broadcast()).c_str());
}

TEST(Prefix, Ipv6ContainsMasksWholeAndPartialBytes) {
    struct Case {
        const char* prefix;
        const char* addr;
        bool inside;
    } cases[] = {
        {"2001:db8:1::1/64", "2001:db8:1::254", true},
        {"2001:db8:1::1/64", "2001:db8:1:0:ffff:ffff:ffff:ffff", true},
        {"2001:db8:1::1/64", "2001:db8:1:1::1", false},
        {"2001:db8:1::1/64", "2001:db8:2::1", false},
        {"2001:db8:bad::/48", "2001:db8:bad:ffff::1", true},
        {"2001:db8:bad::/48", "2001:db8:bae::1", false},
        {"fc00::/7", "fdff::1", true},        // partial byte: 7 bits
        {"fc00::/7", "fe00::1", false},
        {"fe80::/10", "febf::1", true},
        {"fe80::/10", "fec0::1", false},
        {"2001:db8::1/128", "2001:db8::1", true},
        {"2001:db8::1/128", "2001:db8::2", false},
        {"2001:db8::/127", "2001:db8::1", true},
        {"2001:db8::/127", "2001:db8::2", false},
        {"::/0", "ff02::1", true},
    };
    for (const auto& c : cases) {
        auto p = parse_ipv6_prefix(c.prefix);
        CHECK_TRUE(p.has_value());
        CHECK_EQUAL_TEXT(c.inside, p->contains(v6(c.addr)),
                         (std::string(c.prefix) + " contains " + c.addr).c_str());
    }
}

// ------------------------------------------------------------------ derived addresses

TEST_GROUP(DerivedAddress){};

TEST(DerivedAddress, SolicitedNodeMulticastKeepsLow24Bits) {
    STRCMP_EQUAL("ff02::1:ff00:1", to_string(solicited_node_multicast(v6("2001:db8:1::1"))).c_str());
    STRCMP_EQUAL("ff02::1:ffdd:eeff",
                 to_string(solicited_node_multicast(v6("fe80::aabb:ccff:fedd:eeff"))).c_str());
    STRCMP_EQUAL("ff02::1:ff12:3456",
                 to_string(solicited_node_multicast(v6("2001:db8:ffff:ffff:ffff:ffff:ff12:3456")))
                     .c_str());
}

TEST(DerivedAddress, MulticastMacCopiesLow32BitsOfGroup) {
    STRCMP_EQUAL("33:33:00:00:00:01", to_string(multicast_mac(v6("ff02::1"))).c_str());
    STRCMP_EQUAL("33:33:ff:00:00:01", to_string(multicast_mac(v6("ff02::1:ff00:1"))).c_str());
    STRCMP_EQUAL("33:33:ff:dd:ee:ff", to_string(multicast_mac(v6("ff02::1:ffdd:eeff"))).c_str());
}

TEST(DerivedAddress, LinkLocalFromMacIsModifiedEui64) {
    struct Case {
        const char* mac;
        const char* link_local;
    } cases[] = {
        {"02:00:00:00:00:01", "fe80::ff:fe00:1"},         // local bit set: flipped off
        {"52:54:00:12:34:56", "fe80::5054:ff:fe12:3456"},
        {"00:1b:21:aa:bb:cc", "fe80::21b:21ff:feaa:bbcc"}, // universal: flipped on
    };
    for (const auto& c : cases) {
        auto ll = link_local_from_mac(*parse_mac(c.mac));
        STRCMP_EQUAL(c.link_local, to_string(ll).c_str());
        CHECK_TRUE(ll.is_link_local());
    }
}

TEST(DerivedAddress, V4MappedIsFfffPrefixed) {
    auto m = v4_mapped(v4("203.0.113.10"));
    STRCMP_EQUAL("::ffff:203.0.113.10", to_string(m).c_str());
    CHECK_TRUE(m.is_v4_mapped());
    CHECK_TRUE(m == v6("::ffff:203.0.113.10"));
    CHECK_FALSE(v4_mapped(v4("203.0.113.10")) == v4_mapped(v4("203.0.113.11")));
}

TEST(DerivedAddress, V4UnmappedInvertsV4Mapped) {
    for (const char* text : {"0.0.0.0", "203.0.113.10", "255.255.255.255", "198.51.100.25"})
        CHECK_TRUE(v4_unmapped(v4_mapped(v4(text))) == v4(text));
    CHECK_TRUE(v4_unmapped(v6("::ffff:198.18.0.66")) == v4("198.18.0.66"));
}

TEST(DerivedAddress, AllNodesIsFf02Colon1) {
    CHECK_TRUE(kAllNodes == v6("ff02::1"));
    CHECK_TRUE(kAllNodes.is_multicast());
}
