// l3_output_test.cc: frames the fast path originates (net/l3_output.h),
// checked by the receive side itself: an ARP request or Neighbor
// Solicitation we build must be answered by a peer running l3_input, and
// the answer must teach our neighbor cache.
#include <vector>

#include "frame_builder.h"
#include "net/byte_order.h"
#include "net/checksum.h"
#include "net/l3_output.h"
#include "net/wire.h"

#include <CppUTest/TestHarness.h>

using namespace smtpgw;
using namespace smtpgw::net;
using namespace smtpgw::test;

namespace {
PortAddressing ours() { return {lab::kOurMac, lab::kOurIpv4, lab::kOurIpv6, lab::kOurLinkLocal}; }
PortAddressing peer() {
    return {lab::kPeerMac, Ipv4Prefix{lab::kPeerIpv4, 24}, Ipv6Prefix{lab::kPeerIpv6, 64},
            lab::kPeerLinkLocal};
}
constexpr std::uint64_t kNow = 1'000'000'000;
} // namespace

TEST_GROUP(L3Output) {
    PortL3State us{ours(), NeighborCache(64, 300'000'000'000ull)};
    PortL3State them{peer(), NeighborCache(64, 300'000'000'000ull)};

    // Delivers `frame` to the peer, then its reply (there must be one) to us.
    void exchange(std::vector<std::uint8_t>& frame) {
        frame.resize(frame.size() + 64); // room for a longer reply
        FrameBuffer fb{frame.data(), frame.size() - 64, frame.size()};
        FrameResult r = handle_frame(fb, them, kNow);
        CHECK(r.verdict == FrameVerdict::transmit);
        FrameBuffer back{frame.data(), fb.length, frame.size()};
        FrameResult r2 = handle_frame(back, us, kNow);
        CHECK(r2.verdict == FrameVerdict::consumed);
    }
};

TEST(L3Output, ArpRequestIsAnsweredAndTheAnswerIsLearned) {
    std::vector<std::uint8_t> f(64);
    std::size_t n = build_arp_request(f, ours(), lab::kPeerIpv4);
    LONGS_EQUAL(42, n);
    f.resize(n);
    CHECK_TRUE(mac_at(f, 0).is_broadcast());
    CHECK_FALSE(us.neighbors.lookup(lab::kPeerIpv4, kNow).has_value());
    exchange(f);
    auto learned = us.neighbors.lookup(lab::kPeerIpv4, kNow);
    CHECK_TRUE(learned.has_value());
    CHECK_TRUE(*learned == lab::kPeerMac);
}

TEST(L3Output, NeighborSolicitIsAnsweredAndTheAdvertIsLearned) {
    struct Case {
        Ipv6Addr target;
        Ipv6Addr expected_source;
    };
    const Case cases[] = {
        {lab::kPeerIpv6, lab::kOurIpv6.addr},     // global: from our global address
        {lab::kPeerLinkLocal, lab::kOurLinkLocal}, // link-local: from our link-local
    };
    for (const auto& c : cases) {
        std::vector<std::uint8_t> f(128);
        std::size_t n = build_neighbor_solicit(f, ours(), c.target);
        LONGS_EQUAL(14 + 40 + 32, n);
        f.resize(n);
        CHECK_TRUE(ip6_at(f, 14 + 8) == c.expected_source);
        CHECK_TRUE(ip6_at(f, 14 + 24) == solicited_node_multicast(c.target));
        CHECK_TRUE(mac_at(f, 0) == multicast_mac(solicited_node_multicast(c.target)));
        LONGS_EQUAL(255, f[14 + 7]); // RFC 4861 7.1.1 hop limit
        exchange(f);
        auto learned = us.neighbors.lookup(c.target, kNow);
        CHECK_TRUE(learned.has_value());
        CHECK_TRUE(*learned == lab::kPeerMac);
    }
}

TEST(L3Output, BuildersRefuseBuffersThatAreTooSmall) {
    for (std::size_t size : {0, 1, 41}) {
        std::vector<std::uint8_t> f(size, 0xee);
        LONGS_EQUAL(0, build_arp_request(f, ours(), lab::kPeerIpv4));
        for (auto b : f)
            LONGS_EQUAL(0xee, b); // nothing written
    }
    std::vector<std::uint8_t> f(85, 0xee);
    LONGS_EQUAL(0, build_neighbor_solicit(f, ours(), lab::kPeerIpv6));
}

TEST(L3Output, NextHopIsTheDestinationOnLinkElseTheGateway) {
    const auto gw4 = ip4("203.0.113.254");
    const auto gw6 = ip6("2001:db8:1::254");
    struct Case {
        Ipv6Addr dst;
        bool with_gateways;
        std::optional<Ipv6Addr> expected;
    };
    const Case cases[] = {
        {v4_mapped(ip4("203.0.113.10")), true, v4_mapped(ip4("203.0.113.10"))},
        {v4_mapped(ip4("198.18.0.7")), true, v4_mapped(gw4)},
        {v4_mapped(ip4("198.18.0.7")), false, std::nullopt},
        {ip6("2001:db8:1::10"), true, ip6("2001:db8:1::10")},
        {ip6("2001:db8:bad::1"), true, gw6},
        {ip6("2001:db8:bad::1"), false, std::nullopt},
        {ip6("fe80::1"), false, ip6("fe80::1")},
    };
    for (const auto& c : cases) {
        auto hop = c.with_gateways ? next_hop(ours(), gw4, gw6, c.dst)
                                   : next_hop(ours(), std::nullopt, std::nullopt, c.dst);
        CHECK_EQUAL(c.expected.has_value(), hop.has_value());
        if (c.expected)
            CHECK_TRUE(*hop == *c.expected);
    }
}

TEST(L3Output, Ipv4HeaderVerifiesAndNeverAllowsFragmentation) {
    std::uint8_t h[20];
    write_ipv4_header(h, ip4("203.0.113.1"), ip4("203.0.113.10"), wire::kProtoTcp, 1000, 77);
    LONGS_EQUAL(0, checksum_fold(checksum_add(0, h, 20)) & 0xffff ? 1 : 0);
    LONGS_EQUAL(0x45, h[0]);
    LONGS_EQUAL(1020, load_be16(h + 2));
    LONGS_EQUAL(0x4000, load_be16(h + 6)); // DF, offset 0
    LONGS_EQUAL(64, h[8]);
    LONGS_EQUAL(6, h[9]);
}

TEST(L3Output, Ipv6HeaderCarriesLengthAndNextHeader) {
    std::uint8_t h[40];
    write_ipv6_header(h, lab::kOurIpv6.addr, lab::kPeerIpv6, wire::kProtoTcp, 1440);
    LONGS_EQUAL(6, h[0] >> 4);
    LONGS_EQUAL(1440, load_be16(h + 4));
    LONGS_EQUAL(6, h[6]);
    LONGS_EQUAL(64, h[7]);
}
