// peer_table_test.cc: the compiled peer table (filter/peer_table.h):
// prefix edge cases, whitelist over blacklist whatever the lengths, IPv6
// per-length sets, v4-mapped lookups, and a randomized cross-check against
// a naive list scan.
#include "filter/peer_table.h"

#include <algorithm>
#include <array>
#include <random>
#include <string>
#include <vector>

#include <CppUTest/TestHarness.h>

using namespace smtpgw;
using namespace smtpgw::filter;

namespace {

PeerPrefix p4(const char* text, PeerListKind kind = PeerListKind::black) {
    PeerPrefix p;
    p.v4 = *net::parse_ipv4_prefix(text);
    p.kind = kind;
    return p;
}
PeerPrefix p6(const char* text, PeerListKind kind = PeerListKind::black) {
    PeerPrefix p;
    p.is_v6 = true;
    p.v6 = *net::parse_ipv6_prefix(text);
    p.kind = kind;
    return p;
}
bool listed(const PeerTable& t, const char* addr) {
    if (auto a = net::parse_ipv4(addr))
        return t.listed(net::v4_mapped(*a));
    return t.listed(*net::parse_ipv6(addr));
}
constexpr PeerListKind kWhite = PeerListKind::white;

} // namespace

TEST_GROUP(PeerTable){};

TEST(PeerTable, AnEmptyTableListsNothingAndHoldsNoArray) {
    PeerTable t;
    CHECK_FALSE(listed(t, "198.18.0.66"));
    CHECK_FALSE(listed(t, "2001:db8::1"));
    CHECK_EQUAL(std::string(), t.build({}, 10));
    CHECK_FALSE(listed(t, "0.0.0.0"));
    CHECK_EQUAL(0u, t.stats().bytes);
}

TEST(PeerTable, PrefixesMatchExactlyTheirAddresses) {
    struct Case {
        std::vector<PeerPrefix> entries;
        const char* addr;
        bool listed;
    };
    const Case cases[] = {
        {{p4("198.18.0.66/32")}, "198.18.0.66", true},
        {{p4("198.18.0.66/32")}, "198.18.0.65", false},
        {{p4("198.18.0.66/32")}, "198.18.0.67", false},
        {{p4("198.18.0.0/24")}, "198.18.0.255", true},
        {{p4("198.18.0.0/24")}, "198.18.1.0", false},
        {{p4("198.18.0.128/25")}, "198.18.0.127", false},
        {{p4("198.18.0.128/25")}, "198.18.0.128", true},
        {{p4("198.16.0.0/12")}, "198.31.255.255", true},
        {{p4("198.16.0.0/12")}, "198.32.0.0", false},
        {{p4("0.0.0.0/0")}, "255.255.255.255", true},
        {{p4("10.1.2.3/8")}, "10.200.0.1", true}, // host bits of the prefix ignored
        {{p4("255.255.255.255/32")}, "255.255.255.255", true},
        {{p4("0.0.0.0/32")}, "0.0.0.0", true},
        {{p6("2001:db8:bad::/48")}, "2001:db8:bad:ffff::1", true},
        {{p6("2001:db8:bad::/48")}, "2001:db8:bae::1", false},
        {{p6("2001:db8::1/128")}, "2001:db8::1", true},
        {{p6("2001:db8::1/128")}, "2001:db8::2", false},
        {{p6("::/0")}, "2001:db8::2", true},
        {{p6("::/0")}, "198.18.0.1", false}, // v4-mapped lookups use the IPv4 table
        {{p4("198.18.0.0/15")}, "::ffff:198.19.1.1", true},
    };
    for (const auto& c : cases) {
        PeerTable t;
        CHECK_EQUAL(std::string(), t.build(c.entries, 100));
        CHECK_EQUAL_TEXT(c.listed, listed(t, c.addr), c.addr);
    }
}

TEST(PeerTable, TheWhitelistWinsWhateverThePrefixLengths) {
    PeerTable t;
    t.build({p4("198.18.0.0/16"), p4("198.18.5.0/24", kWhite), p4("198.18.7.7/32"),
             p4("198.18.7.0/24", kWhite), p4("198.19.0.66/32", kWhite), p4("198.19.0.0/24"),
             p6("2001:db8:bad::/48"), p6("2001:db8:bad::25/128", kWhite)},
            100);
    struct Case {
        const char* addr;
        bool listed;
    };
    const Case cases[] = {
        {"198.18.0.1", true},    {"198.18.5.9", false}, // white /24 inside black /16
        {"198.18.7.7", false},                            // black /32 inside white /24
        {"198.19.0.66", false},  {"198.19.0.67", true},  // white /32 inside black /24
        {"2001:db8:bad::24", true}, {"2001:db8:bad::25", false},
    };
    for (const auto& c : cases)
        CHECK_EQUAL_TEXT(c.listed, listed(t, c.addr), c.addr);
}

TEST(PeerTable, TooManyEntriesAreRefusedAndTheTableStaysEmpty) {
    PeerTable t;
    std::string why = t.build({p4("198.18.0.1/32"), p4("198.18.0.2/32")}, 1);
    CHECK_TRUE(why.find("too many entries") != std::string::npos);
    CHECK_FALSE(listed(t, "198.18.0.1"));
}

TEST(PeerTable, RandomListsAgreeWithANaiveScan) {
    std::mt19937 rng(2026);
    for (int round = 0; round < 5; ++round) {
        std::vector<PeerPrefix> entries;
        for (int i = 0; i < 2000; ++i) {
            PeerPrefix p;
            p.kind = rng() % 5 == 0 ? kWhite : PeerListKind::black;
            // Concentrate in 198.18.0.0/15 so that prefixes overlap.
            p.v4.addr = net::Ipv4Addr{static_cast<std::uint32_t>(0xc6120000u | (rng() & 0x1ffff))};
            p.v4.length = static_cast<std::uint8_t>(15 + rng() % 18);
            p.list = static_cast<PeerListId>(1 + rng() % 4);
            entries.push_back(p);
        }
        PeerTable t;
        CHECK_EQUAL(std::string(), t.build(entries, 10000));
        for (int q = 0; q < 20000; ++q) {
            auto a = static_cast<std::uint32_t>(0xc6120000u | (rng() & 0x1ffff));
            // Naively: any whitelist match un-lists; else the longest
            // blacklist match decides the list, the later of equal ones.
            bool white = false;
            int best_len = -1;
            PeerListId want = 0;
            for (const auto& e : entries) {
                std::uint32_t mask = e.v4.length == 0 ? 0 : ~0u << (32 - e.v4.length);
                if ((a & mask) != (e.v4.addr.value & mask))
                    continue;
                if (e.kind == kWhite) {
                    white = true;
                } else if (e.v4.length >= best_len) {
                    best_len = e.v4.length;
                    want = e.list;
                }
            }
            CHECK_EQUAL(white ? 0 : want, t.lookup_v4(a));
        }
    }
}

TEST(PeerTable, AMillionHostEntriesBuildAndCostAboutTheirBitmaps) {
    std::vector<PeerPrefix> entries;
    std::mt19937 rng(7);
    for (int i = 0; i < 1'000'000; ++i) {
        PeerPrefix p;
        p.v4.addr = net::Ipv4Addr{static_cast<std::uint32_t>(rng())};
        p.v4.length = 32;
        entries.push_back(p);
    }
    PeerTable t;
    CHECK_EQUAL(std::string(), t.build(entries, 1'000'000));
    for (int i = 0; i < 1000; ++i)
        CHECK_EQUAL(1, t.lookup_v4(entries[static_cast<std::size_t>(i) * 997].v4.addr.value));
    // 64 MiB of /24 words plus 48 bytes per /24 holding two or more of them
    // (one list: no id arrays); a /24 with one of them has no bitmap.
    CHECK_TRUE(t.stats().bytes <= (64u << 20) + 48u * t.stats().mixed_slash24);
    std::vector<std::uint32_t> addrs;
    for (const auto& p : entries)
        addrs.push_back(p.v4.addr.value);
    std::sort(addrs.begin(), addrs.end());
    addrs.erase(std::unique(addrs.begin(), addrs.end()), addrs.end());
    std::size_t one = 0, more = 0;
    for (std::size_t i = 0, j; i < addrs.size(); i = j) {
        for (j = i + 1; j < addrs.size() && (addrs[j] >> 8) == (addrs[i] >> 8); ++j) {
        }
        ++(j - i == 1 ? one : more);
    }
    CHECK_EQUAL(one, t.stats().one_address_slash24);
    CHECK_EQUAL(more, t.stats().mixed_slash24);
    CHECK_EQUAL(0u, t.stats().multi_list_slash24);
    CHECK_EQUAL(1'000'000u, t.stats().v4_black);
}

namespace {
PeerPrefix in_list(PeerPrefix p, PeerListId list) {
    p.list = list;
    return p;
}
PeerListId list_of(const PeerTable& t, const char* addr) {
    if (auto a = net::parse_ipv4(addr))
        return t.lookup(net::v4_mapped(*a));
    return t.lookup(*net::parse_ipv6(addr));
}
} // namespace

TEST(PeerTable, TheLongestPrefixDecidesTheListWhateverTheOrder) {
    struct Case {
        const char* addr;
        PeerListId list;
    };
    // A /16 of list 1, a /24 of list 2 inside it, a /32 of list 3 inside
    // that, and a second /32 of list 4 in the same /24 (so the /24 holds
    // addresses of three lists: per-address ids); IPv6 the same way.
    std::vector<PeerPrefix> entries{
        in_list(p4("198.18.0.66/32"), 3), in_list(p4("198.18.0.0/24"), 2),
        in_list(p4("198.18.0.0/16"), 1),  in_list(p4("198.18.0.67/32"), 4),
        in_list(p6("2001:db8:bad::/48"), 5), in_list(p6("2001:db8:bad::66/128"), 6)};
    const Case cases[] = {
        {"198.18.0.66", 3},       {"198.18.0.67", 4},          {"198.18.0.68", 2},
        {"198.18.1.1", 1},        {"198.19.0.1", 0},           {"2001:db8:bad::66", 6},
        {"2001:db8:bad::67", 5},  {"2001:db8:bae::1", 0},
    };
    for (int order = 0; order < 2; ++order) {
        PeerTable t;
        CHECK_EQUAL(std::string(), t.build(entries, 100));
        for (const auto& c : cases)
            CHECK_EQUAL_TEXT(c.list, list_of(t, c.addr), c.addr);
        std::reverse(entries.begin(), entries.end());
    }
}

TEST(PeerTable, EachListHasItsOwnAction) {
    std::array<ListedAction, kMaxPeerLists + 1> actions{};
    actions[7] = ListedAction::reset;
    PeerTable t;
    CHECK_EQUAL(std::string(),
                t.build({in_list(p4("198.18.0.0/24"), 7), in_list(p4("198.18.1.0/24"), 8)}, 10,
                        actions));
    CHECK_TRUE(t.action_of(list_of(t, "198.18.0.9")) == ListedAction::reset);
    CHECK_TRUE(t.action_of(list_of(t, "198.18.1.9")) == ListedAction::drop);
}

TEST(PeerTable, ABlacklistEntryWithoutAListIsRefused) {
    PeerTable t;
    CHECK_TRUE(t.build({in_list(p4("198.18.0.0/24"), 0)}, 10).find("list id") !=
               std::string::npos);
    CHECK_FALSE(listed(t, "198.18.0.1"));
}

// A /24 left with one listed address keeps it in its /24 word (no bitmap):
// the address, its list, and nothing else of the /24, however it got there.
TEST(PeerTable, AOneAddressSlash24ListsExactlyThatAddressWithItsList) {
    struct Case {
        const char* name;
        std::vector<PeerPrefix> entries;
        const char* addr;
        PeerListId list;
        std::size_t one_address, bitmaps;
    };
    const Case cases[] = {
        {"a lone /32", {in_list(p4("198.18.0.66/32"), 9)}, "198.18.0.66", 9, 1, 0},
        {"its neighbour", {in_list(p4("198.18.0.66/32"), 9)}, "198.18.0.67", 0, 1, 0},
        {"octet 0", {in_list(p4("198.18.0.0/32"), 9)}, "198.18.0.0", 9, 1, 0},
        {"octet 0, other address", {in_list(p4("198.18.0.0/32"), 9)}, "198.18.0.1", 0, 1, 0},
        {"octet 255", {in_list(p4("198.18.0.255/32"), 255)}, "198.18.0.255", 255, 1, 0},
        {"two addresses keep a bitmap",
         {in_list(p4("198.18.0.1/32"), 3), in_list(p4("198.18.0.2/32"), 3)}, "198.18.0.2", 3, 0, 1},
        {"a /31 whose other half is whitelisted",
         {in_list(p4("198.18.0.4/31"), 4), p4("198.18.0.5/32", kWhite)}, "198.18.0.4", 4, 1, 0},
        {"... and the whitelisted half",
         {in_list(p4("198.18.0.4/31"), 4), p4("198.18.0.5/32", kWhite)}, "198.18.0.5", 0, 1, 0},
        {"a /24 whitelisted but one address",
         {in_list(p4("198.18.0.0/24"), 5), p4("198.18.0.0/25", kWhite),
          p4("198.18.0.128/26", kWhite), p4("198.18.0.192/27", kWhite),
          p4("198.18.0.224/28", kWhite), p4("198.18.0.240/29", kWhite),
          p4("198.18.0.248/30", kWhite), p4("198.18.0.252/31", kWhite),
          p4("198.18.0.254/32", kWhite)},
         "198.18.0.255", 5, 1, 0},
        {"two lists in a /24, one address whitelisted away",
         {in_list(p4("198.18.0.1/32"), 6), in_list(p4("198.18.0.2/32"), 7),
          p4("198.18.0.1/32", kWhite)},
         "198.18.0.2", 7, 1, 0},
        {"all whitelisted away",
         {in_list(p4("198.18.0.1/32"), 6), in_list(p4("198.18.0.2/32"), 7),
          p4("198.18.0.0/30", kWhite)},
         "198.18.0.2", 0, 0, 0},
    };
    for (const auto& c : cases) {
        PeerTable t;
        CHECK_EQUAL_TEXT(std::string(), t.build(c.entries, 100), c.name);
        CHECK_EQUAL_TEXT(c.list, list_of(t, c.addr), c.name);
        CHECK_EQUAL_TEXT(c.one_address, t.stats().one_address_slash24, c.name);
        CHECK_EQUAL_TEXT(c.bitmaps, t.stats().mixed_slash24, c.name);
        // Nothing else of the /24 is listed, except the other listed /32 of
        // the two-address case.
        std::size_t listed_in_slash24 = 0;
        std::uint32_t base = net::parse_ipv4(c.addr)->value & ~0xffu;
        for (std::uint32_t a = base; a <= base + 255; ++a)
            listed_in_slash24 += t.lookup_v4(a) != 0;
        CHECK_EQUAL_TEXT(c.one_address + 2 * c.bitmaps, listed_in_slash24, c.name);
    }
}
