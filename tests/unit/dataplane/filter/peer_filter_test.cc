// peer_filter_test.cc: the peer filter as SYN admission (filter/peer_filter.h):
// lists before limits, the listed action, per-peer limits through the
// admission lifecycle, table replacement, counters by reason.
#include "filter/peer_filter.h"

#include <vector>

#include <CppUTest/TestHarness.h>

using namespace smtpgw;
using namespace smtpgw::filter;
using Verdict = tcp::SynAdmission::Verdict;

namespace {

tcp::FourTuple from(const char* peer) {
    tcp::FourTuple t;
    t.local = net::v4_mapped(*net::parse_ipv4("203.0.113.1"));
    t.remote = net::v4_mapped(*net::parse_ipv4(peer));
    t.local_port = 25;
    t.remote_port = 40000;
    return t;
}

PeerPrefix black(const char* prefix) {
    PeerPrefix p;
    p.v4 = *net::parse_ipv4_prefix(prefix);
    return p;
}

constexpr std::uint64_t kSec = 1'000'000'000;

} // namespace

TEST_GROUP(PeerFilter) {
    PeerTable table;
    std::atomic<const PeerTable*> published{nullptr};
    PeerFilterCounters counters;
    PeerListCounters list_counters;
    PeerLimitSettings limits;
    std::unique_ptr<PeerFilter> filter;

    void setup() override {
        PeerPrefix rst_list = black("198.18.1.0/24");
        rst_list.list = 2;
        std::array<ListedAction, kMaxPeerLists + 1> actions{};
        actions[2] = ListedAction::reset;
        table.build({black("198.18.0.0/24"), rst_list}, 10, actions);
        published = &table;
        limits.rate_per_second = 1;
        limits.burst = 3;
        limits.max_concurrent = 2;
        limits.max_half_open = 2;
        filter = std::make_unique<PeerFilter>(published, limits, PeerHashKey{3, 4}, counters,
                                              list_counters);
    }
};

TEST(PeerFilter, AListedPeerIsRefusedAsItsListSaysAndCountedForThatList) {
    struct Case {
        const char* peer;
        PeerListId list;
        Verdict verdict;
        PeerFilterEvent counted;
    };
    const Case cases[] = {{"198.18.0.66", 1, Verdict::drop, PeerFilterEvent::listed_dropped},
                          {"198.18.1.66", 2, Verdict::reset, PeerFilterEvent::listed_reset}};
    for (const auto& c : cases) {
        std::uint64_t before = counters.read(c.counted);
        std::uint64_t list_before = list_counters.refused[c.list].read();
        CHECK_TRUE(c.verdict == filter->on_syn(from(c.peer), true, kSec));
        CHECK_EQUAL(before + 1, counters.read(c.counted));
        CHECK_EQUAL(list_before + 1, list_counters.refused[c.list].read());
    }
    // A listed peer never reaches the limits: it cost nothing there.
    CHECK_FALSE(filter->limits().usage(from("198.18.0.66").remote, kSec).has_value());
}

TEST(PeerFilter, UnlistedPeersAreAcceptedUntilTheirLimits) {
    auto t = from("203.0.113.10");
    CHECK_TRUE(Verdict::accept == filter->on_syn(t, true, kSec));
    CHECK_TRUE(Verdict::accept == filter->on_syn(t, true, kSec));
    // Two half-open: the third is refused.
    CHECK_TRUE(Verdict::drop == filter->on_syn(t, true, kSec));
    CHECK_EQUAL(1u, counters.read(PeerFilterEvent::too_many_half_open));
    filter->on_established(t, true, kSec);
    filter->on_half_open_gone(t);
    // Rate: burst 3 spent (the refused SYN charged nothing), one left.
    CHECK_TRUE(Verdict::accept == filter->on_syn(t, true, kSec));
    CHECK_TRUE(Verdict::drop == filter->on_syn(t, true, kSec));
    CHECK_TRUE(counters.read(PeerFilterEvent::rate_limited) + counters.read(PeerFilterEvent::too_many_connections) >= 1);
    // Another peer is not affected.
    CHECK_TRUE(Verdict::accept == filter->on_syn(from("203.0.113.11"), true, kSec));
}

TEST(PeerFilter, CookieSynsChargeTheRateButHoldNoHalfOpen) {
    auto t = from("203.0.113.20");
    for (int i = 0; i < 3; ++i)
        CHECK_TRUE(Verdict::accept == filter->on_syn(t, false, kSec));
    auto u = filter->limits().usage(t.remote, kSec);
    CHECK_TRUE(u.has_value());
    CHECK_EQUAL(0u, u->half_open);
    CHECK_TRUE(Verdict::drop == filter->on_syn(t, false, kSec)); // bucket empty
    filter->on_established(t, false, kSec);                    // a cookie ACK came back
    CHECK_EQUAL(1u, filter->limits().usage(t.remote, kSec)->concurrent);
    filter->on_closed(t);
    CHECK_EQUAL(0u, filter->limits().usage(t.remote, kSec)->concurrent);
}

TEST(PeerFilter, ANewTableTakesEffectAtTheNextSyn) {
    auto t = from("203.0.113.30");
    CHECK_FALSE(filter->listed(t.remote));
    PeerTable next;
    next.build({black("203.0.113.30/32")}, 10);
    published = &next;
    CHECK_TRUE(filter->listed(t.remote));
    CHECK_TRUE(Verdict::drop == filter->on_syn(t, true, kSec));
    published = nullptr; // no table: nothing listed
    CHECK_TRUE(Verdict::accept == filter->on_syn(t, true, kSec));
}

namespace {
struct RecordingSink final : AutoListSink {
    std::vector<net::Ipv6Prefix> requests;
    bool accept = true;
    bool request(const net::Ipv6Prefix& p) override {
        if (accept)
            requests.push_back(p);
        return accept;
    }
};
} // namespace

TEST(PeerFilter, PeersOverALimitAreReportedForListingOnlyWhenEnabled) {
    RecordingSink sink;
    std::atomic<std::uint32_t> enabled{0};
    filter->set_auto_list(&sink, &enabled);
    auto t = from("203.0.113.40");
    for (int i = 0; i < 3; ++i)
        filter->on_syn(t, false, kSec); // the bucket's 3 tokens
    CHECK_TRUE(Verdict::drop == filter->on_syn(t, false, kSec));
    CHECK_EQUAL(0u, sink.requests.size()); // off
    enabled = 600;
    CHECK_TRUE(Verdict::drop == filter->on_syn(t, false, kSec));
    CHECK_EQUAL(1u, sink.requests.size());
    CHECK_EQUAL(128u, sink.requests[0].length); // the /32 aggregate, v4-mapped
    CHECK_TRUE(sink.requests[0].addr == t.remote);
    CHECK_EQUAL(1u, counters.read(PeerFilterEvent::auto_list_requested));
    sink.accept = false; // a full queue is counted, the SYN still dropped
    CHECK_TRUE(Verdict::drop == filter->on_syn(t, false, kSec));
    CHECK_EQUAL(1u, counters.read(PeerFilterEvent::auto_list_queue_full));
    // Listed peers are not reported (they never reach the limits).
    CHECK_TRUE(Verdict::drop == filter->on_syn(from("198.18.0.1"), true, kSec));
    CHECK_EQUAL(1u, sink.requests.size());
}

TEST(PeerFilter, AMisbehavingPeerIsCountedAndListedOnlyWhenEnabled) {
    RecordingSink sink;
    std::atomic<std::uint32_t> enabled{0};
    filter->set_auto_list(&sink, &enabled);
    auto peer = from("203.0.113.77").remote;
    filter->report_misbehaving(peer);
    CHECK_EQUAL(1u, counters.read(PeerFilterEvent::misbehaving_reported));
    CHECK_EQUAL(0u, sink.requests.size()); // auto-listing off
    enabled = 60;
    filter->report_misbehaving(peer);
    CHECK_EQUAL(2u, counters.read(PeerFilterEvent::misbehaving_reported));
    CHECK_EQUAL(1u, sink.requests.size());
    CHECK_TRUE(sink.requests[0].addr == peer);
}
