// peer_dynamic_test.cc: dynamic entries (filter/peer_dynamic.h): expiry
// with a fake clock, the state file round trip, bad and expired lines, the
// bound, and prefix normalisation.
#include "filter/peer_dynamic.h"

#include <CppUTest/TestHarness.h>

using namespace smtpgw;
using namespace smtpgw::filter;

TEST_GROUP(DynamicPeers){};

TEST(DynamicPeers, PrefixesAreNormalisedAndBadOnesRefused) {
    struct Case {
        const char* text;
        const char* canonical; // nullptr: refused
    };
    const Case cases[] = {
        {"198.18.0.66", "198.18.0.66/32"},     {"198.18.0.66/24", "198.18.0.0/24"},
        {"2001:db8:bad::1", "2001:db8:bad::1/128"}, {"2001:db8:bad::1/48", "2001:db8:bad::/48"},
        {"0.0.0.0/0", "0.0.0.0/0"},            {"198.18.0.256", nullptr},
        {"198.18.0.0/33", nullptr},            {"::ffff:198.18.0.1", nullptr},
        {"", nullptr},                         {"banana", nullptr},
    };
    for (const auto& c : cases) {
        auto p = parse_peer_prefix(c.text);
        CHECK_EQUAL_TEXT(c.canonical != nullptr, p.has_value(), c.text);
        if (p)
            STRCMP_EQUAL_TEXT(c.canonical, peer_prefix_text(*p).c_str(), c.text);
    }
}

TEST(DynamicPeers, EntriesExpireWhenTheirTimeComes) {
    DynamicPeers d(10);
    d.add(*parse_peer_prefix("198.18.0.1"), 1000);
    d.add(*parse_peer_prefix("198.18.0.2"), 2000);
    CHECK_EQUAL(0u, d.expire(999));
    CHECK_EQUAL(1u, d.expire(1000)); // at its expiry second it is gone
    CHECK_EQUAL(1u, d.size());
    // Adding again extends.
    d.add(*parse_peer_prefix("198.18.0.2"), 5000);
    CHECK_EQUAL(0u, d.expire(2000));
    CHECK_EQUAL(1u, d.expire(5000));
    CHECK_EQUAL(0u, d.size());
}

TEST(DynamicPeers, TheStateFileRoundTripsAndSkipsExpiredAndBadLines) {
    DynamicPeers d(10);
    d.add(*parse_peer_prefix("198.18.0.1"), 1000);
    d.add(*parse_peer_prefix("2001:db8:bad::/48"), 3000);
    std::string text = d.serialize() + "garbage\n198.18.0.9 notanumber\n198.18.0.300 4000\n\n";
    DynamicPeers back(10);
    std::size_t skipped = 0;
    back.parse(text, 2000, skipped); // at 2000 the first has expired
    CHECK_EQUAL(1u, back.size());
    CHECK_TRUE(back.entries().count("2001:db8:bad::/48") == 1);
    CHECK_EQUAL(4u, skipped); // expired, garbage, bad number, bad address
}

TEST(DynamicPeers, TheTableIsBoundedButEntriesCanBeExtended) {
    DynamicPeers d(2);
    CHECK_TRUE(d.add(*parse_peer_prefix("198.18.0.1"), 100));
    CHECK_TRUE(d.add(*parse_peer_prefix("198.18.0.2"), 100));
    CHECK_FALSE(d.add(*parse_peer_prefix("198.18.0.3"), 100));
    CHECK_TRUE(d.add(*parse_peer_prefix("198.18.0.2"), 200));
    CHECK_TRUE(d.remove("198.18.0.1/32"));
    CHECK_FALSE(d.remove("198.18.0.1/32"));
    CHECK_TRUE(d.add(*parse_peer_prefix("198.18.0.3"), 100));
}
