// peer_limits_test.cc: unit tests of dataplane/filter/peer_limits.{h,cc}:
// the fixed-point token bucket (refill, burst, clock at 0, long and huge gaps,
// a clock that steps back), the keyed slot hash, aggregation of sources into
// peers (IPv4 /32../24, IPv6 /64 and others, v4-mapped), the rate, concurrency
// and half-open limits, counts that never underflow, table_full versus
// eviction of idle records, a flood of a million random sources, and
// determinism for a given key.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "filter/peer_limits.h"
#include "net/addr.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw::filter;
using smtpgw::net::Ipv4Addr;
using smtpgw::net::Ipv6Addr;
using smtpgw::net::parse_ipv4;
using smtpgw::net::parse_ipv6;
using smtpgw::net::to_string;
using smtpgw::net::v4_mapped;

namespace {

constexpr std::uint64_t kMs = 1'000'000ull;
constexpr std::uint64_t kSecond = 1'000'000'000ull;
constexpr std::uint64_t kMaxTime = UINT64_MAX;

constexpr PeerHashKey kKey{0x0123456789abcdefull, 0xfedcba9876543210ull};

Ipv6Addr v4(const char* t) {
    return v4_mapped(*parse_ipv4(t));
}
Ipv6Addr v6(const char* t) {
    return *parse_ipv6(t);
}

const char* verdict_name(PeerVerdict v) {
    return peer_verdict_info(v).name.data();
}

#define VERDICT_EQUAL(expected, actual) STRCMP_EQUAL(verdict_name(expected), verdict_name(actual))

// Settings with limits far away, so a test meets only the limit it studies.
PeerLimitSettings loose() {
    PeerLimitSettings s;
    s.rate_per_second = kMaxTokenRate;
    s.burst = kMaxTokenBurst;
    s.max_concurrent = kMaxPeerConnections;
    s.max_half_open = kMaxPeerConnections;
    s.table_size = 1024;
    return s;
}

std::uint64_t verdicts(const PeerLimits& pl, PeerVerdict v) {
    return pl.counters().verdicts.read(v);
}

Ipv6Addr random_source(std::mt19937_64& rng) {
    std::uint64_t r = rng();
    if (r & 1) // half IPv4, half IPv6 from all over the space
        return v4_mapped(Ipv4Addr{static_cast<std::uint32_t>(r >> 32)});
    Ipv6Addr a;
    std::uint64_t hi = rng(), lo = rng();
    for (int i = 0; i < 8; ++i) {
        a.bytes[i] = static_cast<std::uint8_t>(hi >> (56 - 8 * i));
        a.bytes[8 + i] = static_cast<std::uint8_t>(lo >> (56 - 8 * i));
    }
    a.bytes[0] = 0x20; // global unicast, never v4-mapped
    return a;
}

} // namespace

// ---------------------------------------------------------------------------

TEST_GROUP(TokenBucket){};

TEST(TokenBucket, StartsFullAndGrantsExactlyTheBurst) {
    TokenBucket b(10, 20, 5 * kSecond);
    UNSIGNED_LONGS_EQUAL(20, b.tokens(5 * kSecond));
    for (int i = 0; i < 20; ++i)
        CHECK_TRUE(b.take(5 * kSecond));
    CHECK_FALSE(b.take(5 * kSecond));
    CHECK_FALSE(b.take(5 * kSecond));
    UNSIGNED_LONGS_EQUAL(0, b.tokens(5 * kSecond));
}

TEST(TokenBucket, RefillAfterDrainingFollowsTheTable) {
    struct Case {
        const char* name;
        std::uint32_t rate;
        std::uint32_t burst;
        std::uint64_t start_ns; // bucket made and drained here
        std::uint64_t gap_ns;   // then asked at start + gap
        std::uint32_t tokens;
    };
    const Case cases[] = {
        {"nothing without time", 10, 20, 1000 * kSecond, 0, 0},
        {"one token per 1/rate", 10, 20, 1000 * kSecond, 100 * kMs, 1},
        {"a partial token is not granted", 10, 20, 1000 * kSecond, 100 * kMs - 1, 0},
        {"rate accrues linearly", 10, 20, 1000 * kSecond, 1500 * kMs, 15},
        {"refill stops at the burst", 10, 20, 1000 * kSecond, 10 * kSecond, 20},
        {"exactly the fill time", 10, 20, 1000 * kSecond, 2 * kSecond, 20},
        {"long idle gap (a day)", 10, 20, 1000 * kSecond, 86400 * kSecond, 20},
        {"clock at zero, no time", 10, 20, 0, 0, 0},
        {"clock at zero, one ns", 10, 20, 0, 1, 0},
        {"clock at zero, 100 ms", 10, 20, 0, 100 * kMs, 1},
        {"huge gap from zero to the end of time", 10, 20, 0, kMaxTime, 20},
        {"huge gap at the largest rate and burst", kMaxTokenRate, kMaxTokenBurst, 0, kMaxTime,
         kMaxTokenBurst},
        {"near the top of the clock", 10, 20, kMaxTime - 10 * kSecond, 300 * kMs, 3},
        {"non-dividing rate: 1/3 s short by 1 ns", 3, 5, 7, 333'333'333, 0},
        {"non-dividing rate: 1/3 s rounded up", 3, 5, 7, 333'333'334, 1},
        {"rate 1, burst 1", 1, 1, 42, kSecond - 1, 0},
        {"rate 1, burst 1, after a second", 1, 1, 42, kSecond, 1},
        {"rate 0 is clamped to 1", 0, 1, 42, kSecond, 1},
        {"burst 0 is clamped to 1", 5, 0, 42, 10 * kSecond, 1},
        {"rate above the bound is clamped", 2'000'000'000u, 5, 0, 1000, 1},
    };
    for (const auto& c : cases) {
        TokenBucket b(c.rate, c.burst, c.start_ns);
        while (b.take(c.start_ns)) {
        }
        UNSIGNED_LONGS_EQUAL_TEXT(c.tokens, b.tokens(c.start_ns + c.gap_ns), c.name);
    }
}

TEST(TokenBucket, FractionalCreditIsKeptAcrossManySmallSteps) {
    // 3 tokens/s asked every 1 ns for a third of a second would lose a token to
    // rounding if each step rounded; the fixed point keeps every nano-token.
    TokenBucket b(3, 5, 0);
    while (b.take(0)) {
    }
    std::uint64_t t = 0;
    std::uint32_t granted = 0;
    for (; t < 1'000'000'000; t += 1'000) // every microsecond for one second
        granted += b.take(t) ? 1 : 0;
    UNSIGNED_LONGS_EQUAL(2, granted);  // at 333,334 us and 666,667 us
    CHECK_TRUE(b.take(1'000'000'000)); // exactly 3 tokens earned in 1 s
    CHECK_FALSE(b.take(1'000'000'000));
}

TEST(TokenBucket, ClockSteppingBackEarnsNothingAndNothingTwice) {
    TokenBucket b(10, 20, 100 * kSecond);
    while (b.take(100 * kSecond)) {
    }
    CHECK_FALSE(b.take(50 * kSecond));
    CHECK_FALSE(b.take(0));
    UNSIGNED_LONGS_EQUAL(100 * kSecond, b.state().last_ns);
    UNSIGNED_LONGS_EQUAL(1, b.tokens(100 * kSecond + 100 * kMs));
    CHECK_TRUE(b.take(100 * kSecond + 100 * kMs));
    CHECK_FALSE(b.take(kSecond));
}

TEST(TokenBucket, FullReportsWhenTheBurstIsBack) {
    TokenBucket b(10, 20, 0);
    CHECK_TRUE(b.full(0));
    CHECK_TRUE(b.take(0));
    CHECK_FALSE(b.full(100 * kMs - 1));
    CHECK_TRUE(b.full(100 * kMs));
    CHECK_TRUE(b.full(kMaxTime));
}

TEST(TokenBucket, FullAtSaturatesInsteadOfWrapping) {
    TokenBucket b(1, kMaxTokenBurst, kMaxTime - 1);
    while (b.take(kMaxTime - 1)) {
    }
    UNSIGNED_LONGS_EQUAL(kMaxTime, token_full_at(b.state(), b.shape()));
    CHECK_FALSE(b.full(kMaxTime - 1));
}

// ---------------------------------------------------------------------------

TEST_GROUP(PeerHash){};

TEST(PeerHash, IsSipHash24OfTheAddressBytes) {
    // Reference key 00..0f and message 00..0f (vectors.h of the reference code).
    PeerHashKey key{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
    Ipv6Addr a;
    for (std::uint8_t i = 0; i < 16; ++i)
        a.bytes[i] = i;
    UNSIGNED_LONGLONGS_EQUAL(0x3f2acc7f57c29bdbull, peer_hash(key, a));
}

TEST(PeerHash, DependsOnTheKey) {
    Ipv6Addr a = v4("192.0.2.1");
    CHECK(peer_hash(kKey, a) != peer_hash(PeerHashKey{kKey.k0 ^ 1, kKey.k1}, a));
    CHECK(peer_hash(kKey, a) != peer_hash(PeerHashKey{kKey.k0, kKey.k1 ^ 1}, a));
    CHECK(peer_hash(kKey, a) != peer_hash(kKey, v4("192.0.2.2")));
}

// ---------------------------------------------------------------------------

TEST_GROUP(PeerLimitSettings){};

TEST(PeerLimitSettings, DefaultsAreValid) {
    PeerLimitSettings s;
    CHECK_FALSE(peer_limit_settings_error(s).has_value());
    UNSIGNED_LONGS_EQUAL(10, s.rate_per_second);
    UNSIGNED_LONGS_EQUAL(20, s.burst);
    UNSIGNED_LONGS_EQUAL(20, s.max_concurrent);
    UNSIGNED_LONGS_EQUAL(10, s.max_half_open);
    UNSIGNED_LONGS_EQUAL(32, s.v4_prefix_len);
    UNSIGNED_LONGS_EQUAL(64, s.v6_prefix_len);
    UNSIGNED_LONGS_EQUAL(65536, s.table_size);
}

TEST(PeerLimitSettings, OutOfRangeValuesAreNamedAndClamped) {
    struct Case {
        const char* name;
        void (*apply)(PeerLimitSettings&);
        const char* error;
    };
    const Case cases[] = {
        {"rate 0", [](PeerLimitSettings& s) { s.rate_per_second = 0; },
         "rate_per_second must be 1..1000000"},
        {"rate too high", [](PeerLimitSettings& s) { s.rate_per_second = kMaxTokenRate + 1; },
         "rate_per_second must be 1..1000000"},
        {"burst 0", [](PeerLimitSettings& s) { s.burst = 0; }, "burst must be 1..1000000"},
        {"max_concurrent 0", [](PeerLimitSettings& s) { s.max_concurrent = 0; },
         "max_concurrent must be 1..1000000"},
        {"max_half_open huge", [](PeerLimitSettings& s) { s.max_half_open = UINT32_MAX; },
         "max_half_open must be 1..1000000"},
        {"v4 /23", [](PeerLimitSettings& s) { s.v4_prefix_len = 23; },
         "v4_prefix_len must be 24..32"},
        {"v4 /33", [](PeerLimitSettings& s) { s.v4_prefix_len = 33; },
         "v4_prefix_len must be 24..32"},
        {"v6 /31", [](PeerLimitSettings& s) { s.v6_prefix_len = 31; },
         "v6_prefix_len must be 32..128"},
        {"v6 /129", [](PeerLimitSettings& s) { s.v6_prefix_len = 129; },
         "v6_prefix_len must be 32..128"},
        {"table 0", [](PeerLimitSettings& s) { s.table_size = 0; },
         "table_size must be 1..16777216"},
        {"table huge", [](PeerLimitSettings& s) { s.table_size = SIZE_MAX; },
         "table_size must be 1..16777216"},
    };
    for (const auto& c : cases) {
        PeerLimitSettings s;
        c.apply(s);
        auto err = peer_limit_settings_error(s);
        CHECK_TEXT(err.has_value(), c.name);
        STRCMP_EQUAL_TEXT(c.error, std::string(*err).c_str(), c.name);
        CHECK_FALSE_TEXT(peer_limit_settings_error(clamp_peer_limit_settings(s)).has_value(),
                         c.name);
    }
}

TEST(PeerLimitSettings, TableCapacityIsAPowerOfTwoOfAtLeastTheProbeWindow) {
    struct Case {
        std::size_t asked;
        std::size_t capacity;
    };
    const Case cases[] = {{0, 8}, {1, 8}, {8, 8}, {9, 16}, {1000, 1024}, {65536, 65536}};
    for (const auto& c : cases) {
        PeerLimitSettings s;
        s.table_size = c.asked;
        UNSIGNED_LONGS_EQUAL(c.capacity, PeerLimits(s, kKey).capacity());
    }
}

// ---------------------------------------------------------------------------

TEST_GROUP(PeerAggregation){};

TEST(PeerAggregation, SourcesShareARecordExactlyWhenTheirPrefixesMatch) {
    struct Case {
        const char* name;
        std::uint8_t v4_len;
        std::uint8_t v6_len;
        Ipv6Addr a;
        Ipv6Addr b;
        bool same;
    };
    const Case cases[] = {
        {"IPv4 /32: neighbours differ", 32, 64, v4("192.0.2.1"), v4("192.0.2.2"), false},
        {"IPv4 /32: same address", 32, 64, v4("192.0.2.1"), v4("192.0.2.1"), true},
        {"IPv4 /24: same /24", 24, 64, v4("192.0.2.1"), v4("192.0.2.254"), true},
        {"IPv4 /24: next /24", 24, 64, v4("192.0.2.255"), v4("192.0.3.0"), false},
        {"IPv4 /28: inside", 28, 64, v4("192.0.2.16"), v4("192.0.2.31"), true},
        {"IPv4 /28: across", 28, 64, v4("192.0.2.15"), v4("192.0.2.16"), false},
        {"IPv6 /64: any interface id", 32, 64, v6("2001:db8:1:2::1"),
         v6("2001:db8:1:2:ffff:ffff:ffff:ffff"), true},
        {"IPv6 /64: next subnet", 32, 64, v6("2001:db8:1:2::1"), v6("2001:db8:1:3::1"), false},
        {"IPv6 /48: one site", 32, 48, v6("2001:db8:1:2::1"), v6("2001:db8:1:ffff::9"), true},
        {"IPv6 /33: bit 33 differs", 32, 33, v6("2001:db8::1"), v6("2001:db8:8000::1"), false},
        {"IPv6 /32: bit 33 ignored", 32, 32, v6("2001:db8::1"), v6("2001:db8:8000::1"), true},
        {"IPv6 /128: addresses differ", 32, 128, v6("2001:db8::1"), v6("2001:db8::2"), false},
        {"v4-mapped ignores v6_prefix_len", 32, 32, v4("192.0.2.1"), v4("198.51.100.1"), false},
        {"v4-mapped never meets ::/64", 24, 64, v4("192.0.2.1"), v6("::c000:201"), false},
        {"v4-mapped never meets a native ::/64 address", 24, 64, v4("0.0.0.1"), v6("::fffe:0:1"),
         false},
        {"v4-mapped text and v4_mapped agree", 32, 64, v6("::ffff:192.0.2.7"), v4("192.0.2.7"),
         true},
    };
    for (const auto& c : cases) {
        PeerLimitSettings s = loose();
        s.v4_prefix_len = c.v4_len;
        s.v6_prefix_len = c.v6_len;
        PeerLimits pl(s, kKey);
        VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(c.a, kSecond));
        auto u = pl.usage(c.b, kSecond);
        CHECK_EQUAL_TEXT(c.same, u.has_value(), c.name);
        CHECK_EQUAL_TEXT(c.same, pl.aggregate(c.a) == pl.aggregate(c.b), c.name);
        if (c.same)
            UNSIGNED_LONGS_EQUAL_TEXT(1, u->half_open, c.name);
        UNSIGNED_LONGS_EQUAL_TEXT(1, pl.peers(), c.name);
    }
}

TEST(PeerAggregation, UsageShowsTheAggregatePrefix) {
    struct Case {
        std::uint8_t v4_len;
        std::uint8_t v6_len;
        Ipv6Addr peer;
        const char* prefix;
    };
    const Case cases[] = {
        {32, 64, v4("192.0.2.77"), "::ffff:192.0.2.77/128"},
        {24, 64, v4("192.0.2.77"), "::ffff:192.0.2.0/120"},
        {32, 64, v6("2001:db8:a:b:c:d:e:f"), "2001:db8:a:b::/64"},
        {32, 56, v6("2001:db8:a:bbcc::1"), "2001:db8:a:bb00::/56"},
    };
    for (const auto& c : cases) {
        PeerLimitSettings s = loose();
        s.v4_prefix_len = c.v4_len;
        s.v6_prefix_len = c.v6_len;
        PeerLimits pl(s, kKey);
        pl.on_syn(c.peer, kSecond);
        auto u = pl.usage(c.peer, kSecond);
        CHECK_TRUE(u.has_value());
        std::string text = to_string(u->prefix);
        // addr.cc may or may not print v4-mapped in dotted form; compare parsed.
        auto expected = smtpgw::net::parse_ipv6_prefix(c.prefix);
        CHECK_TRUE(expected.has_value());
        CHECK_TEXT(*expected == u->prefix, text.c_str());
    }
}

// ---------------------------------------------------------------------------

TEST_GROUP(PeerLimits){};

TEST(PeerLimits, RateLimitRefusesTheNextSynThenRecoversAfterRefill) {
    PeerLimitSettings s = loose();
    s.rate_per_second = 2;
    s.burst = 3;
    PeerLimits pl(s, kKey);
    Ipv6Addr p = v4("203.0.113.9");
    std::uint64_t t = 10 * kSecond;
    for (int i = 0; i < 3; ++i) {
        VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(p, t));
        pl.on_established(p);
    }
    VERDICT_EQUAL(PeerVerdict::rate_exceeded, pl.on_syn(p, t));
    VERDICT_EQUAL(PeerVerdict::rate_exceeded, pl.on_syn(p, t + 500 * kMs - 1));
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(p, t + 500 * kMs));
    VERDICT_EQUAL(PeerVerdict::rate_exceeded, pl.on_syn(p, t + 500 * kMs));
    // Another peer is not affected.
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(v4("203.0.113.10"), t));
    UNSIGNED_LONGS_EQUAL(5, verdicts(pl, PeerVerdict::allow));
    UNSIGNED_LONGS_EQUAL(3, verdicts(pl, PeerVerdict::rate_exceeded));
    // After a long quiet spell the whole burst is back, no more.
    for (int i = 0; i < 3; ++i)
        VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(p, t + 3600 * kSecond));
    VERDICT_EQUAL(PeerVerdict::rate_exceeded, pl.on_syn(p, t + 3600 * kSecond));
}

TEST(PeerLimits, RateLimitWorksWithTheClockAtZero) {
    PeerLimitSettings s = loose();
    s.rate_per_second = 1;
    s.burst = 1;
    PeerLimits pl(s, kKey);
    Ipv6Addr p = v6("2001:db8::1");
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(p, 0));
    VERDICT_EQUAL(PeerVerdict::rate_exceeded, pl.on_syn(p, 0));
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(p, kSecond));
}

TEST(PeerLimits, HalfOpenLimitThenConcurrencyLimit) {
    PeerLimitSettings s = loose();
    s.max_concurrent = 4;
    s.max_half_open = 2;
    PeerLimits pl(s, kKey);
    Ipv6Addr p = v6("2001:db8:5::1");
    Ipv6Addr same_64 = v6("2001:db8:5::2");
    const std::uint64_t t = kSecond;
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(p, t));
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(same_64, t));
    VERDICT_EQUAL(PeerVerdict::too_many_half_open, pl.on_syn(p, t));
    pl.on_established(p);
    pl.on_established(same_64);
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(p, t));
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(p, t));
    // 2 established + 2 half-open: both limits are met; half-open is named.
    VERDICT_EQUAL(PeerVerdict::too_many_half_open, pl.on_syn(p, t));
    pl.on_half_open_failed(p);
    // 2 established + 1 half-open + this one would be 4: allowed; the next is not.
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(p, t));
    pl.on_established(p);
    pl.on_established(p);
    VERDICT_EQUAL(PeerVerdict::too_many_connections, pl.on_syn(p, t));
    auto u = pl.usage(p, t);
    UNSIGNED_LONGS_EQUAL(4, u->concurrent);
    UNSIGNED_LONGS_EQUAL(0, u->half_open);
    pl.on_closed(same_64);
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(p, t));
    UNSIGNED_LONGS_EQUAL(1, verdicts(pl, PeerVerdict::too_many_connections));
    UNSIGNED_LONGS_EQUAL(2, verdicts(pl, PeerVerdict::too_many_half_open));
}

TEST(PeerLimits, RefusedSynsDoNotSpendTokens) {
    PeerLimitSettings s = loose();
    s.rate_per_second = 1;
    s.burst = 5;
    s.max_half_open = 1;
    PeerLimits pl(s, kKey);
    Ipv6Addr p = v4("198.51.100.1");
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(p, kSecond));
    for (int i = 0; i < 100; ++i)
        VERDICT_EQUAL(PeerVerdict::too_many_half_open, pl.on_syn(p, kSecond));
    UNSIGNED_LONGS_EQUAL(4, pl.usage(p, kSecond)->tokens);
}

TEST(PeerLimits, EstablishedNeverExceedsMaxConcurrent) {
    PeerLimitSettings s = loose();
    s.max_concurrent = 3;
    s.max_half_open = 3;
    PeerLimits pl(s, kKey);
    Ipv6Addr p = v4("198.51.100.2");
    for (int round = 0; round < 50; ++round) {
        while (pl.on_syn(p, kSecond) == PeerVerdict::allow) {
        }
        for (int i = 0; i < 5; ++i)
            pl.on_established(p); // more than there are half-opens
        auto u = pl.usage(p, kSecond);
        CHECK(u->concurrent + u->half_open <= 3);
        pl.on_closed(p);
    }
}

TEST(PeerLimits, CountsNeverUnderflow) {
    struct Case {
        const char* name;
        int syns;        // allowed SYNs first
        int established; // then this many on_established
        int failed;      // then on_half_open_failed
        int closed;      // then on_closed
        std::uint32_t concurrent, half_open;
        std::uint64_t strays;
    };
    const Case cases[] = {
        {"close of an unknown peer", 0, 0, 0, 1, 0, 0, 1},
        {"establish of an unknown peer", 0, 1, 0, 0, 0, 0, 1},
        {"failure of an unknown peer", 0, 0, 1, 0, 0, 0, 1},
        {"failure twice for one SYN", 1, 0, 2, 0, 0, 0, 1},
        {"establish twice for one SYN", 1, 2, 0, 0, 1, 0, 1},
        {"close without establish", 1, 0, 0, 1, 0, 1, 1},
        {"close twice", 1, 1, 0, 2, 0, 0, 1},
        {"a thousand closes", 2, 2, 0, 1000, 0, 0, 998},
        {"balanced", 3, 2, 1, 2, 0, 0, 0},
    };
    const Ipv6Addr p = v6("2001:db8:77::1");
    for (const auto& c : cases) {
        PeerLimits pl(loose(), kKey);
        for (int i = 0; i < c.syns; ++i)
            VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(p, kSecond));
        for (int i = 0; i < c.established; ++i)
            pl.on_established(p);
        for (int i = 0; i < c.failed; ++i)
            pl.on_half_open_failed(p);
        for (int i = 0; i < c.closed; ++i)
            pl.on_closed(p);
        UNSIGNED_LONGLONGS_EQUAL_TEXT(c.strays, pl.counters().strays.read(), c.name);
        auto u = pl.usage(p, kSecond);
        CHECK_EQUAL_TEXT(c.syns > 0, u.has_value(), c.name);
        UNSIGNED_LONGS_EQUAL_TEXT(c.syns > 0 ? 1 : 0, pl.peers(), c.name);
        if (u) {
            UNSIGNED_LONGS_EQUAL_TEXT(c.concurrent, u->concurrent, c.name);
            UNSIGNED_LONGS_EQUAL_TEXT(c.half_open, u->half_open, c.name);
        }
    }
}

TEST(PeerLimits, CookieEstablishedCountsAgainstConcurrency) {
    PeerLimitSettings s = loose();
    s.max_concurrent = 2;
    PeerLimits pl(s, kKey);
    Ipv6Addr p = v4("198.51.100.3");
    // SYN answered with a cookie: allowed, then no state kept.
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(p, kSecond));
    pl.on_half_open_failed(p);
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_cookie_established(p, 2 * kSecond));
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_cookie_established(p, 2 * kSecond));
    VERDICT_EQUAL(PeerVerdict::too_many_connections, pl.on_cookie_established(p, 2 * kSecond));
    VERDICT_EQUAL(PeerVerdict::too_many_connections, pl.on_syn(p, 2 * kSecond));
    UNSIGNED_LONGS_EQUAL(2, pl.usage(p, 2 * kSecond)->concurrent);
    pl.on_closed(p);
    pl.on_closed(p);
    UNSIGNED_LONGS_EQUAL(0, pl.counters().strays.read());
    // A cookie ACK from a peer with no record creates one.
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_cookie_established(v4("198.51.100.4"), 3 * kSecond));
    UNSIGNED_LONGS_EQUAL(1, pl.usage(v4("198.51.100.4"), 3 * kSecond)->concurrent);
    UNSIGNED_LONGS_EQUAL(1, verdicts(pl, PeerVerdict::allow)); // SYNs only
}

// With table_size equal to the probe window, every peer shares one window, so
// the tests below control collisions without knowing the hash.
TEST(PeerLimits, TableFullOnlyWhenEveryRecordInTheWindowHoldsConnections) {
    PeerLimitSettings s = loose();
    s.table_size = kPeerProbeWindow;
    PeerLimits pl(s, kKey);
    std::vector<Ipv6Addr> holders;
    for (std::uint32_t i = 0; i < kPeerProbeWindow; ++i) {
        holders.push_back(v4_mapped(Ipv4Addr{0xc0000200u + i}));
        VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(holders.back(), kSecond));
    }
    UNSIGNED_LONGS_EQUAL(kPeerProbeWindow, pl.peers());
    Ipv6Addr newcomer = v6("2001:db8:99::1");
    VERDICT_EQUAL(PeerVerdict::table_full, pl.on_syn(newcomer, 2 * kSecond));
    VERDICT_EQUAL(PeerVerdict::table_full, pl.on_syn(newcomer, 10000 * kSecond));
    CHECK_FALSE(pl.usage(newcomer, kSecond).has_value());
    // A known peer is never refused for lack of room.
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(holders[3], 2 * kSecond));
    // Established connections hold a record as firmly as half-open ones.
    for (const auto& h : holders)
        pl.on_established(h);
    VERDICT_EQUAL(PeerVerdict::table_full, pl.on_syn(newcomer, 3 * kSecond));
    UNSIGNED_LONGS_EQUAL(3, verdicts(pl, PeerVerdict::table_full));
    UNSIGNED_LONGS_EQUAL(0, pl.counters().evictions.read());
    // One holder lets go: its record is evicted for the newcomer.
    pl.on_closed(holders[5]);
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(newcomer, 4 * kSecond));
    UNSIGNED_LONGS_EQUAL(1, pl.counters().evictions.read());
    CHECK_FALSE(pl.usage(holders[5], 4 * kSecond).has_value());
    for (std::size_t i = 0; i < holders.size(); ++i)
        if (i != 5)
            CHECK_TRUE(pl.usage(holders[i], 4 * kSecond).has_value());
    UNSIGNED_LONGS_EQUAL(kPeerProbeWindow, pl.peers());
}

TEST(PeerLimits, EvictionTakesTheLeastRecentlyUsedIdleRecord) {
    PeerLimitSettings s = loose();
    s.table_size = kPeerProbeWindow;
    s.rate_per_second = 1;
    s.burst = 10;
    PeerLimits pl(s, kKey);
    std::vector<Ipv6Addr> peers;
    for (std::uint32_t i = 0; i < kPeerProbeWindow; ++i) {
        peers.push_back(v4_mapped(Ipv4Addr{0xc6336400u + i}));
        // peer i last seen at second 10 + i; peers 2 and 6 become idle.
        VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(peers.back(), (10 + i) * kSecond));
    }
    pl.on_half_open_failed(peers[6]);
    pl.on_half_open_failed(peers[2]);
    // Peer 2 tries again (refused or not, it is now the more recent).
    pl.on_syn(peers[2], 20 * kSecond);
    pl.on_half_open_failed(peers[2]);
    CHECK_FALSE(pl.usage(peers[6], 21 * kSecond)->reusable); // expiry is 300 s
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(v6("2001:db8:aa::1"), 21 * kSecond));
    CHECK_FALSE(pl.usage(peers[6], 21 * kSecond).has_value());
    CHECK_TRUE(pl.usage(peers[2], 21 * kSecond).has_value());
    UNSIGNED_LONGS_EQUAL(1, pl.counters().evictions.read());
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(v6("2001:db8:bb::1"), 22 * kSecond));
    CHECK_FALSE(pl.usage(peers[2], 22 * kSecond).has_value());
    UNSIGNED_LONGS_EQUAL(2, pl.counters().evictions.read());
    VERDICT_EQUAL(PeerVerdict::table_full, pl.on_syn(v6("2001:db8:cc::1"), 23 * kSecond));
}

TEST(PeerLimits, AHandshakeProvesAPeerAndProvenRecordsAreEvictedLast) {
    PeerLimitSettings s = loose();
    s.table_size = kPeerProbeWindow;
    PeerLimits pl(s, kKey);
    std::vector<Ipv6Addr> peers;
    for (std::uint32_t i = 0; i < kPeerProbeWindow; ++i) {
        peers.push_back(v4_mapped(Ipv4Addr{0xc6336400u + i}));
        VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(peers.back(), (10 + i) * kSecond));
    }
    // Peer 0 (the oldest) completes a handshake and closes; peer 1 proves
    // itself through a cookie; the others' SYNs go nowhere (spoofed).
    pl.on_established(peers[0]);
    pl.on_closed(peers[0]);
    pl.on_half_open_failed(peers[1]);
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_cookie_established(peers[1], 19 * kSecond));
    pl.on_closed(peers[1]);
    for (std::uint32_t i = 2; i < kPeerProbeWindow; ++i)
        pl.on_half_open_failed(peers[i]);
    struct Case {
        std::size_t peer;
        bool proven;
    };
    for (const Case& c : {Case{0, true}, Case{1, true}, Case{2, false}, Case{7, false}})
        CHECK_EQUAL(c.proven, pl.proven(peers[c.peer]));
    CHECK_FALSE(pl.proven(v6("2001:db8:dd::1"))); // no record at all
    // A flood of new sources evicts every unproven idle record first.
    for (std::uint32_t i = 0; i < kPeerProbeWindow - 2; ++i) {
        VERDICT_EQUAL(PeerVerdict::allow,
                      pl.on_syn(v4_mapped(Ipv4Addr{0xc6120000u + i}), (30 + i) * kSecond));
        pl.on_half_open_failed(v4_mapped(Ipv4Addr{0xc6120000u + i}));
        CHECK_TRUE(pl.proven(peers[0]));
        CHECK_TRUE(pl.proven(peers[1]));
    }
    // Then, with nothing else idle... the flood's own records are the unproven
    // ones: the proven peers still stay.
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(v6("2001:db8:ee::1"), 40 * kSecond));
    CHECK_TRUE(pl.proven(peers[0]));
    CHECK_TRUE(pl.proven(peers[1]));
}

TEST(PeerLimits, ExpiredIdleRecordsAreRecycledWithoutCountingAnEviction) {
    PeerLimitSettings s = loose();
    s.table_size = kPeerProbeWindow;
    s.rate_per_second = 10;
    s.burst = 20;
    s.idle_expiry_ns = 60 * kSecond;
    PeerLimits pl(s, kKey);
    for (std::uint32_t i = 0; i < kPeerProbeWindow; ++i) {
        Ipv6Addr p = v4_mapped(Ipv4Addr{0x0a000000u + i});
        VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(p, kSecond));
        pl.on_half_open_failed(p);
    }
    // Each bucket is full 100 ms after its SYN; expiry runs from then.
    Ipv6Addr first = v4_mapped(Ipv4Addr{0x0a000000u});
    CHECK_FALSE(pl.usage(first, kSecond + 100 * kMs + 60 * kSecond - 1)->reusable);
    CHECK_TRUE(pl.usage(first, kSecond + 100 * kMs + 60 * kSecond)->reusable);
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(v6("2001:db8:dd::1"), 70 * kSecond));
    UNSIGNED_LONGS_EQUAL(1, pl.counters().recycled.read());
    UNSIGNED_LONGS_EQUAL(0, pl.counters().evictions.read());
    UNSIGNED_LONGS_EQUAL(kPeerProbeWindow, pl.counters().created.read());
    UNSIGNED_LONGS_EQUAL(kPeerProbeWindow, pl.peers());
}

TEST(PeerLimits, AReturningPeerFindsItsOwnRecordPastReusableOnes) {
    // A peer whose record sits after a slot that later frees up must be found,
    // not inserted a second time.
    PeerLimitSettings s = loose();
    s.table_size = kPeerProbeWindow;
    s.idle_expiry_ns = 0;
    PeerLimits pl(s, kKey);
    std::vector<Ipv6Addr> peers;
    for (std::uint32_t i = 0; i < kPeerProbeWindow; ++i) {
        peers.push_back(v4_mapped(Ipv4Addr{0x0b000000u + i}));
        pl.on_syn(peers.back(), kSecond);
    }
    for (const auto& p : peers)
        pl.on_half_open_failed(p);
    // All are reusable at 1 h; each returns, latest first (so the records of
    // its window that were placed before its own are still reusable), and
    // must find its own record.
    for (auto it = peers.rbegin(); it != peers.rend(); ++it) {
        VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(*it, 3600 * kSecond));
        pl.on_established(*it);
    }
    for (const auto& p : peers)
        pl.on_closed(p);
    UNSIGNED_LONGS_EQUAL(0, pl.counters().strays.read());
    UNSIGNED_LONGS_EQUAL(0, pl.counters().recycled.read());
    UNSIGNED_LONGS_EQUAL(kPeerProbeWindow, pl.counters().created.read());
}

TEST(PeerLimits, MillionSourceFloodKeepsMemoryBoundedAndTheActivePeer) {
    PeerLimits pl(PeerLimitSettings{}, kKey);
    const std::size_t capacity = pl.capacity();
    Ipv6Addr active = v4("192.0.2.25");
    Ipv6Addr active6 = v6("2001:db8:25::25");
    std::uint64_t t = 1000 * kSecond;
    for (int i = 0; i < 3; ++i) {
        VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(active, t));
        pl.on_established(active);
    }
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(active6, t)); // left half-open
    std::mt19937_64 rng(20240601);
    for (int i = 0; i < 1'000'000; ++i) {
        t += 1'000; // 1 us apart: a million SYNs a second
        Ipv6Addr src = random_source(rng);
        // Answered with cookies: no half-open outlives the SYN.
        if (pl.on_syn(src, t) == PeerVerdict::allow)
            pl.on_half_open_failed(src);
    }
    UNSIGNED_LONGS_EQUAL(capacity, pl.capacity());
    CHECK(pl.peers() <= capacity);
    CHECK(pl.counters().evictions.read() > 0);
    UNSIGNED_LONGS_EQUAL(0, verdicts(pl, PeerVerdict::table_full));
    auto u = pl.usage(active, t);
    CHECK_TRUE(u.has_value());
    UNSIGNED_LONGS_EQUAL(3, u->concurrent);
    auto u6 = pl.usage(active6, t);
    CHECK_TRUE(u6.has_value());
    UNSIGNED_LONGS_EQUAL(1, u6->half_open);
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(active, t));
    pl.on_established(active6);
    for (int i = 0; i < 4; ++i)
        pl.on_closed(i < 3 ? active : active6);
    pl.on_half_open_failed(active);
    UNSIGNED_LONGS_EQUAL(0, pl.counters().strays.read());
}

TEST(PeerLimits, SpoofedFloodHoldingHalfOpensIsRefusedAndKnownPeersStillServed) {
    PeerLimitSettings s;
    s.table_size = 1024;
    PeerLimits pl(s, kKey);
    Ipv6Addr active = v4("192.0.2.26");
    std::uint64_t t = kSecond;
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(active, t));
    pl.on_established(active);
    std::mt19937_64 rng(7);
    for (int i = 0; i < 1'000'000; ++i) {
        t += 1'000;
        pl.on_syn(random_source(rng), t); // half-opens that never complete
    }
    UNSIGNED_LONGS_EQUAL(1024, pl.capacity());
    UNSIGNED_LONGS_EQUAL(1024, pl.peers());
    CHECK(verdicts(pl, PeerVerdict::table_full) > 900'000);
    UNSIGNED_LONGS_EQUAL(0, pl.counters().evictions.read());
    VERDICT_EQUAL(PeerVerdict::allow, pl.on_syn(active, t));
    UNSIGNED_LONGS_EQUAL(1, pl.usage(active, t)->concurrent);
}

TEST(PeerLimits, SameKeyAndInputsGiveTheSameDecisions) {
    auto run = [](const PeerHashKey& key) {
        PeerLimitSettings s;
        s.table_size = 64;
        s.max_half_open = 3;
        s.max_concurrent = 5;
        s.rate_per_second = 5;
        s.burst = 4;
        s.idle_expiry_ns = 2 * kSecond;
        PeerLimits pl(s, key);
        std::mt19937_64 rng(99);
        std::string trace;
        std::uint64_t t = 0;
        for (int i = 0; i < 200'000; ++i) {
            t += rng() % (50 * kMs);
            // 300 peers: enough to collide and evict in a 64-slot table.
            Ipv6Addr p = v4_mapped(Ipv4Addr{0xcb007100u + static_cast<std::uint32_t>(rng() % 300)});
            switch (rng() % 4) {
            case 0:
                trace += static_cast<char>('0' + static_cast<int>(pl.on_syn(p, t)));
                break;
            case 1:
                pl.on_established(p);
                break;
            case 2:
                pl.on_half_open_failed(p);
                break;
            default:
                pl.on_closed(p);
            }
        }
        for (std::uint64_t n : {pl.counters().evictions.read(), pl.counters().recycled.read(),
                                pl.counters().strays.read(), std::uint64_t{pl.peers()}}) {
            trace.push_back('|');
            trace.append(std::to_string(n));
        }
        return trace;
    };
    std::string a = run(kKey);
    CHECK(a == run(kKey));
    CHECK(a.find('4') != std::string::npos); // table_full happened
    CHECK(a != run(PeerHashKey{kKey.k0 + 1, kKey.k1}));
}

TEST(PeerLimits, VerdictTableNamesEveryVerdict) {
    const char* names[] = {"allow", "rate_exceeded", "too_many_connections", "too_many_half_open",
                           "table_full"};
    UNSIGNED_LONGS_EQUAL(5, kPeerVerdictCount);
    for (std::size_t i = 0; i < kPeerVerdictCount; ++i) {
        const auto& info = peer_verdict_info(static_cast<PeerVerdict>(i));
        STRCMP_EQUAL(names[i], std::string(info.name).c_str());
        CHECK(!info.sentence.empty());
    }
    STRCMP_EQUAL("none", std::string(peer_verdict_info(PeerVerdict::count_).name).c_str());
}
