// neighbor_cache_test.cc: unit tests of dataplane/net/neighbor_cache.{h,cc}:
// learning and lookup for IPv4 (v4-mapped keys) and IPv6, aging on a fake
// clock, the fixed capacity and its eviction counter under a flood, and
// snapshot_into's promise never to grow the caller's storage.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "net/addr.h"
#include "net/counters.h"
#include "net/neighbor_cache.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw::net;

namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ull;
constexpr std::uint64_t kMaxAge = 300 * kSecond;

Ipv4Addr v4(const char* t) { return *parse_ipv4(t); }
Ipv6Addr v6(const char* t) { return *parse_ipv6(t); }

MacAddr mac_n(std::uint32_t n) {
    return MacAddr{{0x02, 0x00, static_cast<std::uint8_t>(n >> 24),
                    static_cast<std::uint8_t>(n >> 16), static_cast<std::uint8_t>(n >> 8),
                    static_cast<std::uint8_t>(n)}};
}

// 198.18.0.0/15 (RFC 2544), host n.
Ipv4Addr host_n(std::uint32_t n) { return Ipv4Addr{0xc6120000u + n}; }

// A fake clock: tests move time explicitly.
struct FakeClock {
    std::uint64_t now = 1'000 * kSecond;
    void advance(std::uint64_t ns) { now += ns; }
};

std::string mac_text(const std::optional<MacAddr>& m) { return m ? to_string(*m) : "(none)"; }

} // namespace

TEST_GROUP(NeighborCache) {
    FakeClock clock;
    NeighborCounters counters;
};

TEST(NeighborCache, CapacityIsRoundedUpToAPowerOfTwoOfAtLeastTheProbeWindow) {
    UNSIGNED_LONGS_EQUAL(8, NeighborCache(0, kMaxAge).capacity());
    UNSIGNED_LONGS_EQUAL(8, NeighborCache(1, kMaxAge).capacity());
    UNSIGNED_LONGS_EQUAL(8, NeighborCache(8, kMaxAge).capacity());
    UNSIGNED_LONGS_EQUAL(16, NeighborCache(9, kMaxAge).capacity());
    UNSIGNED_LONGS_EQUAL(1024, NeighborCache(1000, kMaxAge).capacity());
    UNSIGNED_LONGS_EQUAL(1024, NeighborCache(1024, kMaxAge).capacity());
    UNSIGNED_LONGS_EQUAL(kMaxAge, NeighborCache(8, kMaxAge).max_age_ns());
}

TEST(NeighborCache, EmptyCacheFindsNothing) {
    NeighborCache cache(64, kMaxAge);
    CHECK_FALSE(cache.lookup(v4("203.0.113.10"), clock.now).has_value());
    CHECK_FALSE(cache.lookup(v6("2001:db8:1::10"), clock.now).has_value());
    CHECK_FALSE(cache.contains(v6("2001:db8:1::10")));
    UNSIGNED_LONGS_EQUAL(0, cache.snapshot(clock.now).size());
}

TEST(NeighborCache, LearnsAndFindsIpv4AndIpv6Neighbors) {
    NeighborCache cache(64, kMaxAge);
    cache.learn(v4("203.0.113.10"), mac_n(10), clock.now, counters);
    cache.learn(v6("2001:db8:1::10"), mac_n(11), clock.now, counters);
    cache.learn(v6("fe80::10"), mac_n(12), clock.now, counters);
    STRCMP_EQUAL("02:00:00:00:00:0a", mac_text(cache.lookup(v4("203.0.113.10"), clock.now)).c_str());
    STRCMP_EQUAL("02:00:00:00:00:0b",
                 mac_text(cache.lookup(v6("2001:db8:1::10"), clock.now)).c_str());
    STRCMP_EQUAL("02:00:00:00:00:0c", mac_text(cache.lookup(v6("fe80::10"), clock.now)).c_str());
    CHECK_FALSE(cache.lookup(v4("203.0.113.11"), clock.now).has_value());
    UNSIGNED_LONGS_EQUAL(3, counters.learned.read());
    UNSIGNED_LONGS_EQUAL(0, counters.updated.read());
    UNSIGNED_LONGS_EQUAL(0, counters.evicted.read());
}

TEST(NeighborCache, Ipv4EntriesAreKeyedByTheirV4MappedForm) {
    NeighborCache cache(64, kMaxAge);
    cache.learn(v4("203.0.113.10"), mac_n(10), clock.now, counters);
    CHECK_TRUE(cache.contains(v6("::ffff:203.0.113.10")));
    STRCMP_EQUAL("02:00:00:00:00:0a",
                 mac_text(cache.lookup(v6("::ffff:203.0.113.10"), clock.now)).c_str());
    // The v4-compatible form and a global address with the same low bits are
    // other keys.
    CHECK_FALSE(cache.contains(v6("::203.0.113.10")));
    CHECK_FALSE(cache.contains(v6("2001:db8::cb00:710a")));
    auto snap = cache.snapshot(clock.now);
    UNSIGNED_LONGS_EQUAL(1, snap.size());
    STRCMP_EQUAL("::ffff:203.0.113.10", to_string(snap[0].ip).c_str());
}

TEST(NeighborCache, RelearningRefreshesAndChangesTheMacWithoutANewEntry) {
    NeighborCache cache(64, kMaxAge);
    cache.learn(v4("203.0.113.10"), mac_n(1), clock.now, counters);
    clock.advance(10 * kSecond);
    cache.learn(v4("203.0.113.10"), mac_n(2), clock.now, counters);
    STRCMP_EQUAL("02:00:00:00:00:02", mac_text(cache.lookup(v4("203.0.113.10"), clock.now)).c_str());
    UNSIGNED_LONGS_EQUAL(1, counters.learned.read());
    UNSIGNED_LONGS_EQUAL(1, counters.updated.read());
    auto snap = cache.snapshot(clock.now);
    UNSIGNED_LONGS_EQUAL(1, snap.size());
    UNSIGNED_LONGS_EQUAL(clock.now, snap[0].updated_ns);
}

TEST(NeighborCache, EntriesExpireExactlyAtMaxAge) {
    NeighborCache cache(64, kMaxAge);
    const std::uint64_t t0 = clock.now;
    cache.learn(v6("2001:db8:1::10"), mac_n(1), t0, counters);
    CHECK_TRUE(cache.lookup(v6("2001:db8:1::10"), t0 + kMaxAge - 1).has_value());
    CHECK_FALSE(cache.lookup(v6("2001:db8:1::10"), t0 + kMaxAge).has_value());
    CHECK_FALSE(cache.lookup(v6("2001:db8:1::10"), t0 + 10 * kMaxAge).has_value());
    // An expired entry still exists for RFC 826 merging, but not in snapshots.
    CHECK_TRUE(cache.contains(v6("2001:db8:1::10")));
    UNSIGNED_LONGS_EQUAL(1, cache.snapshot(t0 + kMaxAge - 1).size());
    UNSIGNED_LONGS_EQUAL(0, cache.snapshot(t0 + kMaxAge).size());
}

TEST(NeighborCache, RefreshRestartsTheAgingClock) {
    NeighborCache cache(64, kMaxAge);
    const std::uint64_t t0 = clock.now;
    cache.learn(v4("203.0.113.10"), mac_n(1), t0, counters);
    cache.learn(v4("203.0.113.10"), mac_n(1), t0 + kMaxAge - 1, counters);
    CHECK_TRUE(cache.lookup(v4("203.0.113.10"), t0 + 2 * kMaxAge - 2).has_value());
    CHECK_FALSE(cache.lookup(v4("203.0.113.10"), t0 + 2 * kMaxAge - 1).has_value());
    // Relearning an expired entry makes it visible again, as an update.
    cache.learn(v4("203.0.113.10"), mac_n(3), t0 + 5 * kMaxAge, counters);
    STRCMP_EQUAL("02:00:00:00:00:03",
                 mac_text(cache.lookup(v4("203.0.113.10"), t0 + 5 * kMaxAge)).c_str());
    UNSIGNED_LONGS_EQUAL(1, counters.learned.read());
    UNSIGNED_LONGS_EQUAL(2, counters.updated.read());
}

TEST(NeighborCache, FullTableEvictsTheOldestEntryAndCountsIt) {
    // Capacity 8 = one probe window: every address competes for the same 8 slots.
    NeighborCache cache(8, kMaxAge);
    for (std::uint32_t i = 0; i < 8; ++i) {
        cache.learn(host_n(i), mac_n(i), clock.now, counters);
        clock.advance(kSecond);
    }
    UNSIGNED_LONGS_EQUAL(0, counters.evicted.read());
    UNSIGNED_LONGS_EQUAL(8, cache.snapshot(clock.now).size());
    cache.learn(host_n(100), mac_n(100), clock.now, counters);
    UNSIGNED_LONGS_EQUAL(1, counters.evicted.read());
    UNSIGNED_LONGS_EQUAL(9, counters.learned.read());
    UNSIGNED_LONGS_EQUAL(8, cache.snapshot(clock.now).size());
    CHECK_FALSE(cache.contains(v4_mapped(host_n(0)))); // the oldest went
    for (std::uint32_t i = 1; i < 8; ++i)
        CHECK_TEXT(cache.lookup(host_n(i), clock.now).has_value(), to_string(host_n(i)).c_str());
    STRCMP_EQUAL("02:00:00:00:00:64", mac_text(cache.lookup(host_n(100), clock.now)).c_str());
}

TEST(NeighborCache, RefreshedEntrySurvivesEvictionOfOlderOnes) {
    NeighborCache cache(8, kMaxAge);
    for (std::uint32_t i = 0; i < 8; ++i) {
        cache.learn(host_n(i), mac_n(i), clock.now, counters);
        clock.advance(kSecond);
    }
    cache.learn(host_n(0), mac_n(0), clock.now, counters); // host 0 is now the newest
    clock.advance(kSecond);
    cache.learn(host_n(100), mac_n(100), clock.now, counters);
    CHECK_TRUE(cache.contains(v4_mapped(host_n(0))));
    CHECK_FALSE(cache.contains(v4_mapped(host_n(1)))); // host 1 was the oldest
    UNSIGNED_LONGS_EQUAL(1, counters.evicted.read());
}

TEST(NeighborCache, ExpiredSlotsAreReusedWithoutCountingAnEviction) {
    NeighborCache cache(8, kMaxAge);
    for (std::uint32_t i = 0; i < 8; ++i)
        cache.learn(host_n(i), mac_n(i), clock.now, counters);
    clock.advance(kMaxAge);
    for (std::uint32_t i = 100; i < 108; ++i)
        cache.learn(host_n(i), mac_n(i), clock.now, counters);
    UNSIGNED_LONGS_EQUAL(0, counters.evicted.read());
    UNSIGNED_LONGS_EQUAL(16, counters.learned.read());
    UNSIGNED_LONGS_EQUAL(8, cache.snapshot(clock.now).size());
    for (std::uint32_t i = 100; i < 108; ++i)
        CHECK_TRUE(cache.lookup(host_n(i), clock.now).has_value());
}

TEST(NeighborCache, FloodNeverGrowsPastCapacityAndKeepsTheNewest) {
    // An ARP/ND flood of 20000 distinct senders into a 1024-entry cache.
    NeighborCache cache(1024, kMaxAge);
    const std::uint32_t n = 20000;
    for (std::uint32_t i = 0; i < n; ++i) {
        cache.learn(host_n(i), mac_n(i), clock.now, counters);
        // The address just learned is always found, with its MAC.
        auto m = cache.lookup(host_n(i), clock.now);
        if (!m || *m != mac_n(i))
            FAIL_TEST(("just learned, not found: " + to_string(host_n(i))).c_str());
        clock.advance(1000);
    }
    auto snap = cache.snapshot(clock.now);
    CHECK_TRUE(snap.size() <= 1024);
    UNSIGNED_LONGS_EQUAL(n, counters.learned.read());
    UNSIGNED_LONGS_EQUAL(n - snap.size(), counters.evicted.read());
    // Every entry in the snapshot is distinct and maps to its own MAC.
    std::set<Ipv6Addr> seen;
    for (const auto& e : snap) {
        CHECK_TRUE(seen.insert(e.ip).second);
        std::uint32_t host = (std::uint32_t{e.ip.bytes[14]} << 8) | e.ip.bytes[15];
        CHECK_TRUE(e.mac == mac_n(host));
        CHECK_TRUE(e.used);
    }
}

TEST(NeighborCache, EvictionHappensOnlyWhenAProbeWindowIsFull) {
    // The probe window bounds both the work per lookup and how many slots an
    // address may use: an eviction can come before the table is full, but
    // never while fewer than kProbeWindow entries exist.
    NeighborCache cache(64, kMaxAge);
    std::uint32_t i = 0;
    while (counters.evicted.read() == 0 && i < 10000) {
        cache.learn(host_n(i), mac_n(i), clock.now, counters);
        ++i;
    }
    UNSIGNED_LONGS_EQUAL(1, counters.evicted.read());
    CHECK_TRUE(i > NeighborCache::kProbeWindow);
    CHECK_TRUE(i <= 65); // at most a full table plus the one that evicted
    UNSIGNED_LONGS_EQUAL(i - 1, cache.snapshot(clock.now).size());
}

TEST(NeighborCache, LookupInAFullTableOfOtherAddressesFindsNothing) {
    NeighborCache cache(8, kMaxAge);
    for (std::uint32_t i = 0; i < 64; ++i)
        cache.learn(host_n(i), mac_n(i), clock.now, counters);
    UNSIGNED_LONGS_EQUAL(8, cache.snapshot(clock.now).size());
    CHECK_FALSE(cache.lookup(v4("203.0.113.77"), clock.now).has_value());
    CHECK_FALSE(cache.contains(v6("2001:db8:1::77")));
}

TEST(NeighborCache, SnapshotListsOnlyFreshEntries) {
    NeighborCache cache(64, kMaxAge);
    const std::uint64_t t0 = clock.now;
    cache.learn(v4("203.0.113.10"), mac_n(1), t0, counters);
    cache.learn(v6("2001:db8:1::10"), mac_n(2), t0 + kMaxAge / 2, counters);
    auto early = cache.snapshot(t0 + kMaxAge / 2);
    UNSIGNED_LONGS_EQUAL(2, early.size());
    auto late = cache.snapshot(t0 + kMaxAge);
    UNSIGNED_LONGS_EQUAL(1, late.size());
    STRCMP_EQUAL("2001:db8:1::10", to_string(late[0].ip).c_str());
    STRCMP_EQUAL("02:00:00:00:00:02", to_string(late[0].mac).c_str());
    UNSIGNED_LONGS_EQUAL(t0 + kMaxAge / 2, late[0].updated_ns);
}

TEST(NeighborCache, SnapshotIntoNeverGrowsPastTheReservedCapacity) {
    NeighborCache cache(64, kMaxAge);
    for (std::uint32_t i = 0; i < 20; ++i)
        cache.learn(host_n(i), mac_n(i), clock.now, counters);
    UNSIGNED_LONGS_EQUAL(0, counters.evicted.read());
    std::vector<NeighborEntry> out;
    out.reserve(5);
    const auto reserved = out.capacity();
    out.push_back(NeighborEntry{}); // something the caller already had
    const auto* storage = out.data();
    cache.snapshot_into(out, clock.now);
    UNSIGNED_LONGS_EQUAL(reserved, out.size());
    UNSIGNED_LONGS_EQUAL(reserved, out.capacity());
    POINTERS_EQUAL(storage, out.data()); // no reallocation
    CHECK_FALSE(out[0].used);            // the caller's element is kept
    for (std::size_t i = 1; i < out.size(); ++i)
        CHECK_TRUE(out[i].used);
    // A second call into full storage adds nothing.
    cache.snapshot_into(out, clock.now);
    UNSIGNED_LONGS_EQUAL(reserved, out.size());
}

TEST(NeighborCache, SnapshotIntoWithRoomCopiesEveryFreshEntry) {
    NeighborCache cache(64, kMaxAge);
    for (std::uint32_t i = 0; i < 20; ++i)
        cache.learn(host_n(i), mac_n(i), clock.now + i, counters);
    UNSIGNED_LONGS_EQUAL(0, counters.evicted.read());
    std::vector<NeighborEntry> out;
    out.reserve(64);
    cache.snapshot_into(out, clock.now + 19);
    UNSIGNED_LONGS_EQUAL(20, out.size());
    UNSIGNED_LONGS_EQUAL(64, out.capacity());
    std::vector<NeighborEntry> none;
    cache.snapshot_into(none, clock.now); // no storage reserved: nothing copied
    UNSIGNED_LONGS_EQUAL(0, none.size());
    UNSIGNED_LONGS_EQUAL(0, none.capacity());
}
