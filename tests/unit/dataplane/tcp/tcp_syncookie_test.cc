// tcp_syncookie_test.cc: SYN cookies (RFC 4987 3.6); SipHash is tested in
// net/siphash_test.cc.
#include <cstdint>
#include <vector>

#include "tcp/tcp_syncookie.h"

#include <CppUTest/TestHarness.h>

using namespace smtpgw;
using namespace smtpgw::tcp;

namespace {

// Any fixed secret: the cookie tests check round trips, not hash values.
SipKey cookie_key() {
    SipKey k;
    k.bytes.fill(0x5a);
    return k;
}

FourTuple tuple() {
    FourTuple t;
    t.local = net::v4_mapped(net::Ipv4Addr{0xc0000201});
    t.remote = net::v4_mapped(net::Ipv4Addr{0xcb007107});
    t.local_port = 25;
    t.remote_port = 51515;
    return t;
}

constexpr std::uint64_t kPeriod = SynCookieSettings{}.period_ns;

} // namespace

TEST_GROUP(SynCookie){};

TEST(SynCookie, RoundTripWithoutTimestamps) {
    SynCookieSettings s;
    SynCookieRequest req;
    req.tuple = tuple();
    req.peer_isn = TcpSeq(0xfffffffeu);
    req.peer_mss = 1460;
    std::uint64_t now = 1000 * kPeriod + 5;
    SynCookie c = syncookie_make(cookie_key(), s, req, now, 0);
    CHECK_FALSE(c.tsval.has_value());
    CHECK_EQUAL(1460, c.mss);
    SynCookieAccepted a;
    CHECK(syncookie_check(cookie_key(), s, req.tuple, req.peer_isn + 1, c.iss + 1, std::nullopt,
                          now + 1, a) == SynCookieError::ok);
    CHECK(a.iss == c.iss);
    CHECK(a.irs == req.peer_isn);
    CHECK_EQUAL(1460, a.mss);
    CHECK_FALSE(a.peer_wscale.has_value());
    CHECK_FALSE(a.timestamps);
}

TEST(SynCookie, MssIsRoundedDownToTheTable) {
    struct {
        std::uint16_t peer;
        std::uint16_t restored;
    } cases[] = {{1460, 1460}, {9000, 1460}, {1450, 1440}, {1300, 1300}, {600, 536}, {100, 536}};
    for (const auto& c : cases) {
        SynCookieRequest req;
        req.tuple = tuple();
        req.peer_mss = c.peer;
        SynCookie k = syncookie_make(cookie_key(), {}, req, kPeriod, 0);
        CHECK_EQUAL(c.restored, k.mss);
        SynCookieAccepted a;
        CHECK(syncookie_check(cookie_key(), {}, req.tuple, req.peer_isn + 1, k.iss + 1,
                              std::nullopt, kPeriod, a) == SynCookieError::ok);
        CHECK_EQUAL(c.restored, a.mss);
    }
}

TEST(SynCookie, OptionsRideInTheTimestamp) {
    SynCookieRequest req;
    req.tuple = tuple();
    req.peer_isn = TcpSeq(42);
    req.timestamps = true;
    req.sack_permitted = true;
    req.peer_wscale = 9;
    SynCookie c = syncookie_make(cookie_key(), {}, req, 3 * kPeriod, 0x12345678);
    CHECK_TRUE(c.tsval.has_value());
    CHECK_TRUE(*c.tsval <= 0x12345678u);
    SynCookieAccepted a;
    CHECK(syncookie_check(cookie_key(), {}, req.tuple, TcpSeq(43), c.iss + 1, *c.tsval,
                          3 * kPeriod, a) == SynCookieError::ok);
    CHECK_TRUE(a.timestamps);
    CHECK_TRUE(a.sack_permitted);
    CHECK_EQUAL(9, *a.peer_wscale);
    // A peer that edits the echoed option bits (e.g. to pick another scale) fails.
    CHECK(syncookie_check(cookie_key(), {}, req.tuple, TcpSeq(43), c.iss + 1, *c.tsval ^ 0x3,
                          3 * kPeriod, a) == SynCookieError::bad_hash);
    // Dropping the timestamps on the ACK also fails.
    CHECK(syncookie_check(cookie_key(), {}, req.tuple, TcpSeq(43), c.iss + 1, std::nullopt,
                          3 * kPeriod, a) == SynCookieError::bad_hash);
}

TEST(SynCookie, WindowScaleAbove14IsClampedAndNoneIsKept) {
    SynCookieRequest req;
    req.tuple = tuple();
    req.timestamps = true;
    req.peer_wscale = 200;
    SynCookie c = syncookie_make(cookie_key(), {}, req, kPeriod, 1 << 20);
    SynCookieAccepted a;
    CHECK(syncookie_check(cookie_key(), {}, req.tuple, req.peer_isn + 1, c.iss + 1, *c.tsval,
                          kPeriod, a) == SynCookieError::ok);
    CHECK_EQUAL(14, *a.peer_wscale);
    req.peer_wscale.reset();
    c = syncookie_make(cookie_key(), {}, req, kPeriod, 1 << 20);
    CHECK(syncookie_check(cookie_key(), {}, req.tuple, req.peer_isn + 1, c.iss + 1, *c.tsval,
                          kPeriod, a) == SynCookieError::ok);
    CHECK_FALSE(a.peer_wscale.has_value());
}

TEST(SynCookie, RefusesOtherTuplesIsnsAndKeys) {
    SynCookieRequest req;
    req.tuple = tuple();
    req.peer_isn = TcpSeq(1000);
    SynCookie c = syncookie_make(cookie_key(), {}, req, kPeriod, 0);
    SynCookieAccepted a;
    FourTuple other = tuple();
    other.remote_port++;
    CHECK(syncookie_check(cookie_key(), {}, other, TcpSeq(1001), c.iss + 1, std::nullopt,
                          kPeriod, a) == SynCookieError::bad_hash);
    other = tuple();
    other.remote.bytes[15] ^= 1;
    CHECK(syncookie_check(cookie_key(), {}, other, TcpSeq(1001), c.iss + 1, std::nullopt,
                          kPeriod, a) == SynCookieError::bad_hash);
    CHECK(syncookie_check(cookie_key(), {}, tuple(), TcpSeq(1002), c.iss + 1, std::nullopt,
                          kPeriod, a) == SynCookieError::bad_hash);
    CHECK(syncookie_check(cookie_key(), {}, tuple(), TcpSeq(1001), c.iss + 2, std::nullopt,
                          kPeriod, a) == SynCookieError::bad_hash);
    SipKey k2 = cookie_key();
    k2.bytes[0] ^= 0xff;
    CHECK(syncookie_check(k2, {}, tuple(), TcpSeq(1001), c.iss + 1, std::nullopt, kPeriod, a) ==
          SynCookieError::bad_hash);
}

TEST(SynCookie, AgesOutAfterMaxAgePeriods) {
    SynCookieSettings s;
    SynCookieRequest req;
    req.tuple = tuple();
    std::uint64_t made = 100 * kPeriod + kPeriod / 2;
    SynCookie c = syncookie_make(cookie_key(), s, req, made, 0);
    SynCookieAccepted a;
    for (std::uint32_t age = 0; age <= s.max_age_periods; ++age)
        CHECK(syncookie_check(cookie_key(), s, req.tuple, req.peer_isn + 1, c.iss + 1,
                              std::nullopt, made + age * kPeriod, a) == SynCookieError::ok);
    CHECK(syncookie_check(cookie_key(), s, req.tuple, req.peer_isn + 1, c.iss + 1, std::nullopt,
                          made + (s.max_age_periods + 1) * kPeriod, a) == SynCookieError::expired);
    // 32 periods later the 5-bit counter matches again, but the hash does not.
    CHECK(syncookie_check(cookie_key(), s, req.tuple, req.peer_isn + 1, c.iss + 1, std::nullopt,
                          made + 32 * kPeriod, a) == SynCookieError::bad_hash);
    // A cookie from the future (clock went back) is refused.
    CHECK(syncookie_check(cookie_key(), s, req.tuple, req.peer_isn + 1, c.iss + 1, std::nullopt,
                          made - kPeriod, a) == SynCookieError::expired);
}
