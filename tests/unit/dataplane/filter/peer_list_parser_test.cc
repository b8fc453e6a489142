// peer_list_parser_test.cc: the peer list formats (filter/peer_list_parser.h).
// Good lines of each format (real-looking Spamhaus DROP/EDROP/DROPv6 and
// rbldnsd ip4set/ip6tset files), every kind of bad line with its exact
// reason and line number, range expansion checked against the definition
// of the minimal cover, the limits (entries, line length, reported errors,
// tag length), hostile input (control bytes, binary garbage, a file cut at
// every byte) and format detection.
#include "filter/peer_list_parser.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <CppUTest/TestHarness.h>

using namespace smtpgw;
using namespace smtpgw::filter;

namespace {

constexpr PeerListFormat kCidr = PeerListFormat::cidr;
constexpr PeerListFormat kDrop = PeerListFormat::drop;
constexpr PeerListFormat kRbldnsd = PeerListFormat::rbldnsd;
constexpr PeerListFormat kAllFormats[] = {kCidr, kDrop, kRbldnsd};

std::string text_of(const PeerListEntry& e) {
    std::string s = e.is_v6 ? net::to_string(e.v6) : net::to_string(e.v4);
    if (e.exclude)
        s = "!" + s;
    if (!e.tag.empty())
        s += " [" + e.tag + "]";
    return s;
}

std::string entries_of(const PeerListParse& p) {
    std::string s;
    for (const auto& e : p.entries) {
        if (!s.empty())
            s += ", ";
        s += text_of(e);
    }
    return s;
}

std::string errors_of(const PeerListParse& p) {
    std::string s;
    for (const auto& e : p.errors) {
        if (!s.empty())
            s += " | ";
        s += describe(e, "f");
    }
    return s;
}

std::string lines_of(const PeerListParse& p) {
    std::string s;
    for (const auto& e : p.entries) {
        if (!s.empty())
            s += ",";
        s += std::to_string(e.line);
    }
    return s;
}

struct GoodCase {
    PeerListFormat format;
    std::string text;
    const char* entries;
};

void check_good(const GoodCase& c) {
    auto p = parse_peer_list(c.text, c.format, 1000);
    STRCMP_EQUAL_TEXT("", errors_of(p).c_str(), c.text.c_str());
    STRCMP_EQUAL_TEXT(c.entries, entries_of(p).c_str(), c.text.c_str());
    CHECK_EQUAL_TEXT(0u, p.bad_lines, c.text.c_str());
}

std::string dotted(std::uint32_t v) {
    return net::to_string(net::Ipv4Addr{v});
}

} // namespace

TEST_GROUP(PeerListParser){};

TEST(PeerListParser, CidrListsTakeAddressesPrefixesAndComments) {
    const GoodCase cases[] = {
        {kCidr, "198.18.0.66\n", "198.18.0.66/32"},
        {kCidr, "198.18.0.0/15  # benchmarking\r\n\n; note\n2001:db8:bad::/48 ; trailing\n",
         "198.18.0.0/15, 2001:db8:bad::/48"},
        {kCidr, "2001:db8::1\n", "2001:db8::1/128"},
        {kCidr, "\t 203.0.113.7\t\r\n", "203.0.113.7/32"},
        {kCidr, "203.0.113.0/24#no blank before the comment\n", "203.0.113.0/24"},
        {kCidr, "192.0.2.1\n192.0.2.2", "192.0.2.1/32, 192.0.2.2/32"}, // no final newline
        {kCidr, "::1\n", "::1/128"}, // a leading "::" is an address, not a value line
        {kCidr, "2001:DB8:0:0:0:0:0:2\n", "2001:db8::2/128"},
        {kCidr, "64:ff9b::192.0.2.33\n", "64:ff9b::c000:221/128"}, // NAT64, not IPv4-mapped
    };
    for (const auto& c : cases)
        check_good(c);
}

TEST(PeerListParser, DropListsKeepTheSblReferenceAsTag) {
    const GoodCase cases[] = {
        {kDrop,
         "; Spamhaus DROP List 2026/11/23 - (c) 2026 The Spamhaus Project SLU\n"
         "; https://www.spamhaus.org/drop/drop.txt\n"
         "; Last-Modified: Mon, 23 Nov 2026 14:22:11 GMT\n"
         "; Expires: Mon, 23 Nov 2026 15:33:26 GMT\n"
         "1.10.16.0/20 ; SBL256894\n"
         "1.19.0.0/16 ; SBL434604\n"
         "1.32.128.0/18 ; SBL286275\n",
         "1.10.16.0/20 [SBL256894], 1.19.0.0/16 [SBL434604], 1.32.128.0/18 [SBL286275]"},
        {kDrop,
         "; Spamhaus EDROP List 2023/03/29 - (c) 2023 The Spamhaus Project\r\n"
         "; https://www.spamhaus.org/drop/edrop.txt\r\n"
         "; Last-Modified: Wed, 29 Mar 2023 11:40:07 GMT\r\n"
         "; Expires: Thu, 30 Mar 2023 12:51:33 GMT\r\n"
         "5.134.128.0/19 ; SBL270738\r\n"
         "23.236.240.0/20 ; SBL545431\r\n",
         "5.134.128.0/19 [SBL270738], 23.236.240.0/20 [SBL545431]"},
        {kDrop,
         "; Spamhaus DROPv6 List 2026/11/23 - (c) 2026 The Spamhaus Project SLU\n"
         "; https://www.spamhaus.org/drop/dropv6.txt\n"
         "2001:678:738::/48 ; SBL563442\n"
         "2a06:5280::/29 ; SBL560993\n",
         "2001:678:738::/48 [SBL563442], 2a06:5280::/29 [SBL560993]"},
        {kDrop, "1.10.16.0/20;SBL256894\n", "1.10.16.0/20 [SBL256894]"},
        {kDrop, "1.10.16.0/20\t;\tSBL256894\t\n", "1.10.16.0/20 [SBL256894]"},
        {kDrop, "1.10.16.0/20\n", "1.10.16.0/20"}, // no reference: listed all the same
        {kDrop, "# a hand-written note\n192.0.2.1 ; SBL1\n", "192.0.2.1/32 [SBL1]"},
    };
    for (const auto& c : cases)
        check_good(c);
}

TEST(PeerListParser, RbldnsdIp4setTakesAbbreviationsRangesExclusionsAndValues) {
    const GoodCase cases[] = {
        {kRbldnsd,
         "# dynamic pool listing\n"
         "$SOA 3600 ns1.example.net. hostmaster.example.net. 0 600 300 86400 300\n"
         "$NS 3600 ns1.example.net.\n"
         "$TTL 2100\n"
         "$1 https://bl.example.net/lookup?ip=\n"
         ":127.0.0.2:Listed, see $1$\n"
         "127.0.0.2\n"
         "10\n"
         "192.0.2\n"
         "127/8 ; loopback\n"
         "198.18.0.0/16 :127.0.0.3:spam source\n"
         "198.51.100.7 listed for spam\n"
         "!198.18.0.1\n"
         "203.0.113.8-11\n"
         "203.0.113.40:2:value attached\n",
         "127.0.0.2/32, 10.0.0.0/8, 192.0.2.0/24, 127.0.0.0/8, "
         "198.18.0.0/16 [:127.0.0.3:spam source], 198.51.100.7/32 [listed for spam], "
         "!198.18.0.1/32, 203.0.113.8/30, 203.0.113.40/32 [:2:value attached]"},
        {kRbldnsd, "!198.18.0.1 :127.0.0.4:an exclusion's value is ignored\n", "!198.18.0.1/32"},
        {kRbldnsd, "! 198.18.0.0/30\n", "!198.18.0.0/30"},
        {kRbldnsd, "!10.0.0.3-4\n", "!10.0.0.3/32, !10.0.0.4/32"},
        {kRbldnsd, "10.0.0.3-4 both carry it\n",
         "10.0.0.3/32 [both carry it], 10.0.0.4/32 [both carry it]"},
        {kRbldnsd, "#$SOA 3600 ns1 hm 0 600 300 86400 300\n:$TTL 60\n;$NS 0 ns1\n192.0.2.9\n",
         "192.0.2.9/32"},
        {kRbldnsd, "192.0.2.9 # comment, not a value\n192.0.2.10;comment\n",
         "192.0.2.9/32, 192.0.2.10/32"},
        {kRbldnsd, "192.0.2.9 text with # and ; kept\n", "192.0.2.9/32 [text with # and ; kept]"},
        {kRbldnsd, "127.0.0/24\n127.16/12\n127.0.0.0/24\n",
         "127.0.0.0/24, 127.16.0.0/12, 127.0.0.0/24"},
        {kRbldnsd, "0\n255.255.255.255\n", "0.0.0.0/8, 255.255.255.255/32"},
    };
    for (const auto& c : cases)
        check_good(c);
}

TEST(PeerListParser, RbldnsdIp6EntriesTakeGroupPrefixesCompressedFormsAndValues) {
    const GoodCase cases[] = {
        {kRbldnsd,
         "$TTL 2100\n"
         ":127.0.0.2:Listed IPv6\n"
         "# ip6tset: /64s as four groups, /128 exclusions\n"
         "2001:20fe:23:41ed\n"
         "abac:adab:ad00:42f\n"
         "!abac:adab:ad00:42f:face:f:a:beef\n"
         "!abac:adab:ad00:42f::2\n",
         "2001:20fe:23:41ed::/64, abac:adab:ad00:42f::/64, !abac:adab:ad00:42f:face:f:a:beef/128, "
         "!abac:adab:ad00:42f::2/128"},
        {kRbldnsd, "2001:db8::/32\n", "2001:db8::/32"},
        {kRbldnsd, "2001:21ab:c000/36\n", "2001:21ab:c000::/36"},
        {kRbldnsd, "2001:db8\n", "2001:db8::/32"},
        {kRbldnsd, "::1 # localhost\n", "::1/128"},
        {kRbldnsd, "2001:db8:bad::/48 listed\n", "2001:db8:bad::/48 [listed]"},
        {kRbldnsd, "2605:6001:42::/52 :127.0.1.3:smells funny\n",
         "2605:6001:42::/52 [:127.0.1.3:smells funny]"},
    };
    for (const auto& c : cases)
        check_good(c);
}

TEST(PeerListParser, HostBitsAreClearedSilently) {
    const GoodCase cases[] = {
        {kCidr, "10.1.2.3/8\n", "10.0.0.0/8"},
        {kCidr, "2001:db8:ffff::1/33\n", "2001:db8:8000::/33"},
        {kCidr, "2001:db8::ff/121\n", "2001:db8::80/121"},
        {kDrop, "1.10.16.7/20 ; SBL256894\n", "1.10.16.0/20 [SBL256894]"},
        {kRbldnsd, "127.0.0.1/24\n", "127.0.0.0/24"},
        {kRbldnsd, "2001:db8:1:2/48\n", "2001:db8:1::/48"},
    };
    for (const auto& c : cases)
        check_good(c);
}

TEST(PeerListParser, ExtremePrefixLengthsZeroAnd32And128) {
    const GoodCase cases[] = {
        {kCidr, "0.0.0.0/0\n", "0.0.0.0/0"},
        {kCidr, "203.0.113.9/0\n", "0.0.0.0/0"},
        {kCidr, "255.255.255.255/32\n", "255.255.255.255/32"},
        {kCidr, "::/0\n", "::/0"},
        {kCidr, "2001:db8::1/0\n", "::/0"},
        {kCidr, "2001:db8::1/128\n", "2001:db8::1/128"},
        {kCidr, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128\n",
         "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"},
        {kDrop, "0.0.0.0/0 ; SBL1\n", "0.0.0.0/0 [SBL1]"},
        {kRbldnsd, "0/0\n10.0.0.1/32\n", "0.0.0.0/0, 10.0.0.1/32"},
    };
    for (const auto& c : cases)
        check_good(c);
}

TEST(PeerListParser, RangesExpandIntoTheFewestPrefixes) {
    const GoodCase cases[] = {
        {kRbldnsd, "10.0.0.3-10", "10.0.0.3/32, 10.0.0.4/30, 10.0.0.8/31, 10.0.0.10/32"},
        {kRbldnsd, "10.0.0.0-255", "10.0.0.0/24"},
        {kRbldnsd, "10.0.0.7-7", "10.0.0.7/32"},
        {kRbldnsd, "10.0.0.0-10.0.1.255", "10.0.0.0/23"},
        {kRbldnsd, "10.0.4-7", "10.0.4.0/22"},
        // rbldnsd(8)'s own examples of 127.0.0.0/24 and 127.16.0.0/12:
        {kRbldnsd, "127.0.0.0-127.0.0.255", "127.0.0.0/24"},
        {kRbldnsd, "127.16.0.0-127.31.255.255", "127.16.0.0/12"},
        {kRbldnsd, "127.16.0-127.31.255", "127.16.0.0/12"},
        {kRbldnsd, "127.16-127.31", "127.16.0.0/12"},
        {kRbldnsd, "127.16-31", "127.16.0.0/12"},
        {kRbldnsd, "127.0.0.1-255",
         "127.0.0.1/32, 127.0.0.2/31, 127.0.0.4/30, 127.0.0.8/29, 127.0.0.16/28, "
         "127.0.0.32/27, 127.0.0.64/26, 127.0.0.128/25"},
        {kRbldnsd, "10-20", "10.0.0.0/7, 12.0.0.0/6, 16.0.0.0/6, 20.0.0.0/8"},
        {kRbldnsd, "0-255", "0.0.0.0/0"},
        {kRbldnsd, "0.0.0.0-255.255.255.255", "0.0.0.0/0"},
        {kRbldnsd, "255.255.255.254-255", "255.255.255.254/31"},
    };
    for (const auto& c : cases)
        check_good(c);
    // The worst case needs kMaxRangePrefixes: 31 growing blocks, 31 shrinking.
    auto p = parse_peer_list("0.0.0.1-255.255.255.254", kRbldnsd, 1000);
    CHECK_EQUAL(kMaxRangePrefixes, p.entries.size());
    STRCMP_EQUAL("0.0.0.1/32", text_of(p.entries.front()).c_str());
    STRCMP_EQUAL("255.255.255.254/32", text_of(p.entries.back()).c_str());
}

// The minimal cover of a range is unique: the aligned blocks inside the
// range whose parent block is not. Random ranges are checked against that.
TEST(PeerListParser, RangeExpansionIsExactlyTheMinimalCover) {
    std::mt19937 rng(7);
    for (int round = 0; round < 3000; ++round) {
        std::uint32_t a = rng(), b = rng();
        if (round % 3 == 1)
            b = a + rng() % 4096; // small ranges, sometimes wrapping (then swapped)
        if (round % 3 == 2)
            a &= ~std::uint32_t{0} << (rng() % 32); // aligned starts
        if (a > b)
            std::swap(a, b);
        std::string token = dotted(a) + "-" + dotted(b);
        auto p = parse_peer_list(token, kRbldnsd, 1000);
        CHECK_TRUE_TEXT(p.errors.empty(), token.c_str());
        CHECK_TRUE_TEXT(!p.entries.empty() && p.entries.size() <= kMaxRangePrefixes, token.c_str());
        std::uint64_t next = a;
        for (const auto& e : p.entries) {
            std::uint64_t size = std::uint64_t{1} << (32 - e.v4.length);
            CHECK_EQUAL_TEXT(next, e.v4.addr.value, token.c_str()); // contiguous, in order
            CHECK_EQUAL_TEXT(0u, e.v4.addr.value & (size - 1), token.c_str()); // aligned
            if (e.v4.length > 0) {
                std::uint64_t parent = e.v4.addr.value & ~(2 * size - 1);
                bool parent_inside = parent >= a && parent + 2 * size - 1 <= b;
                CHECK_FALSE_TEXT(parent_inside, token.c_str()); // maximal
            }
            next = e.v4.addr.value + size;
        }
        CHECK_EQUAL_TEXT(std::uint64_t{b} + 1, next, token.c_str()); // up to the end exactly
    }
}

TEST(PeerListParser, BadLinesAreReportedWithLineAndExactReasonAndGoodOnesKept) {
    struct Case {
        PeerListFormat format;
        std::string line;
        const char* reason;
    };
    const Case cases[] = {
        // Addresses, in every format.
        {kCidr, "198.18.0.256", "f:2: octet '256' out of range (0..255) in '198.18.0.256'"},
        {kCidr, "198.18.0.1000", "f:2: octet '1000' out of range (0..255) in '198.18.0.1000'"},
        {kCidr, "198.18.0.99999999999999999999",
         "f:2: octet '99999999999999999999' out of range (0..255) in "
         "'198.18.0.99999999999999999999'"},
        {kCidr, "010.0.0.1",
         "f:2: octet '010' has a leading zero (octal or decimal?) in '010.0.0.1'"},
        {kCidr, "198.18..1", "f:2: empty octet in '198.18..1'"},
        {kCidr, "198.18.0.1.", "f:2: empty octet in '198.18.0.1.'"},
        {kCidr, ".198.18.0.1", "f:2: empty octet in '.198.18.0.1'"},
        {kCidr, "198.18.0.1.5", "f:2: more than 4 octets in '198.18.0.1.5'"},
        {kCidr, "198.18.0.1x", "f:2: unexpected character 'x' in '198.18.0.1x'"},
        {kCidr, "198.18.0.1\xc3\xa9",
         "f:2: unexpected character '\\xc3' in '198.18.0.1\\xc3\\xa9'"},
        {kCidr, "spamhaus.org", "f:2: not an IP address: 'spamhaus.org'"},
        {kCidr, "198.18.0",
         "f:2: incomplete IPv4 address '198.18.0' (abbreviations are rbldnsd syntax)"},
        {kCidr, "198.18.0.0/33", "f:2: bad prefix length '33' in '198.18.0.0/33' (0..32)"},
        {kCidr, "198.18.0.0/", "f:2: missing prefix length after '/' in '198.18.0.0/'"},
        {kCidr, "198.18.0.0/2x", "f:2: bad prefix length '2x' in '198.18.0.0/2x' (0..32)"},
        {kCidr, "198.18.0.0/-1", "f:2: bad prefix length '-1' in '198.18.0.0/-1' (0..32)"},
        {kCidr, "198.18.0.0/0024", "f:2: bad prefix length '0024' in '198.18.0.0/0024' (0..32)"},
        {kCidr, "198.18.0.0/24/8", "f:2: bad prefix length '24/8' in '198.18.0.0/24/8' (0..32)"},
        {kCidr, "/24", "f:2: missing address before '/' in '/24'"},
        {kCidr, "2001:db8::/129", "f:2: bad prefix length '129' in '2001:db8::/129' (0..128)"},
        {kCidr, "2001:db8::g", "f:2: not an IPv6 address: '2001:db8::g'"},
        {kCidr, "2001:db8:::1", "f:2: not an IPv6 address: '2001:db8:::1'"},
        {kCidr, "fe80::1%eth0", "f:2: not an IPv6 address: 'fe80::1%eth0'"},
        {kCidr, "2001:db8",
         "f:2: incomplete IPv6 address '2001:db8' (abbreviations are rbldnsd syntax)"},
        {kCidr, "2001:db8::1-5", "f:2: ranges are IPv4 only: '2001:db8::1-5'"},
        {kCidr, "::ffff:198.18.0.1",
         "f:2: IPv4-mapped IPv6 address in '::ffff:198.18.0.1': write the IPv4 address"},
        {kCidr, "::ffff:0:0/96",
         "f:2: IPv4-mapped IPv6 address in '::ffff:0:0/96': write the IPv4 address"},
        {kCidr, "::198.18.0.1",
         "f:2: IPv4-compatible IPv6 address in '::198.18.0.1' (deprecated, RFC 4291 2.5.5.1): "
         "write the IPv4 address"},
        // cidr: what may follow, and rbldnsd syntax in the wrong format.
        {kCidr, "198.18.0.1 198.18.0.2", "f:2: unexpected text after the address: '198.18.0.2'"},
        {kCidr, "198.18.0.1 listed", "f:2: unexpected text after the address: 'listed'"},
        {kCidr, "198.18.0.1-5", "f:2: ranges are rbldnsd syntax: '198.18.0.1-5'"},
        {kCidr, "!198.18.0.1", "f:2: exclusions ('!') are rbldnsd syntax: '!198.18.0.1'"},
        {kCidr, "$TTL 3600", "f:2: directives ('$') are rbldnsd syntax: '$TTL'"},
        {kCidr, ":127.0.0.2:Listed",
         "f:2: default values (':') are rbldnsd syntax: ':127.0.0.2:Listed'"},
        // drop.
        {kDrop, "1.10.16.0/20 SBL256894",
         "f:2: unexpected text after the prefix: 'SBL256894' (DROP lines are 'prefix ; SBLnnn')"},
        {kDrop, "1.10.16.0/20 ; SBL", "f:2: expected an SBL reference after ';', got 'SBL'"},
        {kDrop, "1.10.16.0/20 ; see SBL256894",
         "f:2: expected an SBL reference after ';', got 'see SBL256894'"},
        {kDrop, "1.10.16.0/20 ; SBL256894 ; SBL1",
         "f:2: expected an SBL reference after ';', got 'SBL256894 ; SBL1'"},
        {kDrop, "1.10.16.0/20 ;", "f:2: expected an SBL reference after ';', got ''"},
        {kDrop, "1.10.16/20 ; SBL1",
         "f:2: incomplete IPv4 address '1.10.16' (abbreviations are rbldnsd syntax)"},
        {kDrop, "1.10.16.0/40 ; SBL1", "f:2: bad prefix length '40' in '1.10.16.0/40' (0..32)"},
        {kDrop, "2001:678:738::/129 ; SBL563442",
         "f:2: bad prefix length '129' in '2001:678:738::/129' (0..128)"},
        {kDrop, "$TTL 3600", "f:2: directives ('$') are rbldnsd syntax: '$TTL'"},
        {kDrop, "{\"cidr\":\"1.10.16.0/20\",\"sblid\":\"SBL256894\"}",
         "f:2: JSON is not read: use the text list (drop.txt, dropv6.txt)"},
        {kCidr, "{\"cidr\":\"1.10.16.0/20\"}",
         "f:2: not an IP address: '{\"cidr\":\"1.10.16.0/20\"}'"},
        {kRbldnsd, "[2001:db8::1]", "f:2: not an IP address: '[2001:db8::1]'"},
        // rbldnsd: ranges.
        {kRbldnsd, "10.0.0.10-3", "f:2: reversed range '10.0.0.10-3' (the end is below the start)"},
        {kRbldnsd, "10.0.1.0-10.0.0.255",
         "f:2: reversed range '10.0.1.0-10.0.0.255' (the end is below the start)"},
        {kRbldnsd, "10.0.0.3-300", "f:2: octet '300' out of range (0..255) in '10.0.0.3-300'"},
        {kRbldnsd, "10.0.0.3-", "f:2: empty range end in '10.0.0.3-'"},
        {kRbldnsd, "-10.0.0.3", "f:2: missing range start in '-10.0.0.3'"},
        {kRbldnsd, "10.0.0.3-10-12", "f:2: unexpected character '-' in '10.0.0.3-10-12'"},
        {kRbldnsd, "10.0.0.0-10.1",
         "f:2: range end '10.1' must have 1 octet or as many as the start (4), in '10.0.0.0-10.1'"},
        {kRbldnsd, "127-127.0.0", // rbldnsd(8) shows it, rbldnsd's ip4range() refuses it
         "f:2: range end '127.0.0' must have 1 octet or as many as the start (1), in "
         "'127-127.0.0'"},
        {kRbldnsd, "10.0.0.0/24-5", "f:2: a range cannot have a prefix length: '10.0.0.0/24-5'"},
        {kRbldnsd, "10.0.0.0-5/24", "f:2: a range cannot have a prefix length: '10.0.0.0-5/24'"},
        // rbldnsd: addresses and exclusions.
        {kRbldnsd, "10.0.0.0.1", "f:2: more than 4 octets in '10.0.0.0.1'"},
        {kRbldnsd, "10..1", "f:2: empty octet in '10..1'"},
        {kRbldnsd, "10.0.0.0/33", "f:2: bad prefix length '33' in '10.0.0.0/33' (0..32)"},
        {kRbldnsd, "1.2.3.4x listed", "f:2: unexpected character 'x' in '1.2.3.4x'"},
        {kRbldnsd, "spammer.example listed", "f:2: not an IP address: 'spammer.example'"},
        {kRbldnsd, "!", "f:2: no address after '!'"},
        {kRbldnsd, "!  # nothing to exclude", "f:2: no address after '!'"},
        // rbldnsd: IPv6 (ip6tset) mistakes, IPv4 written as IPv6 among them.
        {kRbldnsd, "2001:db8:1:2:3:4:5:6:7", "f:2: not an IPv6 address: '2001:db8:1:2:3:4:5:6:7'"},
        {kRbldnsd, "2001:db8:12345", "f:2: not an IPv6 address: '2001:db8:12345'"},
        {kRbldnsd, "2001:db8:", "f:2: not an IPv6 address: '2001:db8:'"},
        {kRbldnsd, "2001:db8:1:2/65x",
         "f:2: bad prefix length '65x' in '2001:db8:1:2/65x' (0..128)"},
        {kRbldnsd, "::ffff:10.0.0.1 listed",
         "f:2: IPv4-mapped IPv6 address in '::ffff:10.0.0.1': write the IPv4 address"},
        {kRbldnsd, "2001:db8::1-2", "f:2: ranges are IPv4 only: '2001:db8::1-2'"},
    };
    for (const auto& c : cases) {
        std::string good1 = c.format == kDrop ? "198.51.100.0/24 ; SBL1" : "198.51.100.0/24";
        std::string good3 = c.format == kDrop ? "203.0.113.0/24 ; SBL2" : "203.0.113.0/24";
        auto p = parse_peer_list(good1 + "\n" + c.line + "\n" + good3 + "\n", c.format, 100);
        STRCMP_EQUAL_TEXT(c.reason, errors_of(p).c_str(), c.line.c_str());
        STRCMP_EQUAL_TEXT("1,3", lines_of(p).c_str(), c.line.c_str()); // the good lines stay
        CHECK_EQUAL_TEXT(1u, p.bad_lines, c.line.c_str());
    }
}

TEST(PeerListParser, AFileOfOnlyBadLinesHasNoEntriesAndAnErrorPerBadLine) {
    auto p = parse_peer_list("junk\r\n1.2.3.256\n\n# a comment is fine\n10.0.0.0/99\n", kCidr, 100);
    CHECK_TRUE(p.entries.empty());
    STRCMP_EQUAL("f:1: not an IP address: 'junk' | "
                 "f:2: octet '256' out of range (0..255) in '1.2.3.256' | "
                 "f:5: bad prefix length '99' in '10.0.0.0/99' (0..32)",
                 errors_of(p).c_str());
    CHECK_EQUAL(3u, p.bad_lines);
}

TEST(PeerListParser, EmptyAndCommentOnlyFilesGiveNothing) {
    for (const char* text :
         {"", "\n", "\r\n", "\n\n\n", "# only\n; comments\r\n", "   \t\n\t\r\n"}) {
        for (auto f : kAllFormats) {
            auto p = parse_peer_list(text, f, 10);
            CHECK_TRUE_TEXT(p.entries.empty() && p.errors.empty() && p.bad_lines == 0, text);
        }
    }
}

TEST(PeerListParser, EntriesRecordTheirLineNumbersAcrossBlankCommentAndBadLines) {
    auto p = parse_peer_list("# head\r\n\r\n192.0.2.1\r\nbad\r\n\r\n192.0.2.1-2\r\n2001:db8::/32",
                             kRbldnsd, 100);
    STRCMP_EQUAL("3,6,6,7", lines_of(p).c_str());
    STRCMP_EQUAL("f:4: not an IP address: 'bad'", errors_of(p).c_str());
}

TEST(PeerListParser, MaxEntriesStopsTheParseWithAnError) {
    std::string ten;
    for (int i = 0; i < 10; ++i)
        ten += "198.18.0." + std::to_string(i) + "\n";
    auto p = parse_peer_list(ten + "bad line after the limit\n", kCidr, 4);
    CHECK_EQUAL(4u, p.entries.size());
    STRCMP_EQUAL("f:5: too many entries (limit 4)", errors_of(p).c_str()); // nothing read after
    CHECK_EQUAL(1u, p.bad_lines);

    auto exact = parse_peer_list(ten, kCidr, 10);
    CHECK_EQUAL(10u, exact.entries.size());
    CHECK_TRUE(exact.errors.empty());

    // A range is taken whole or not at all.
    auto range = parse_peer_list("10.0.0.1\n10.0.0.3-10\n", kRbldnsd, 4);
    STRCMP_EQUAL("10.0.0.1/32", entries_of(range).c_str());
    STRCMP_EQUAL("f:2: too many entries (limit 4)", errors_of(range).c_str());

    auto none = parse_peer_list("# header\n10.0.0.1\n", kRbldnsd, 0);
    CHECK_TRUE(none.entries.empty());
    STRCMP_EQUAL("f:2: too many entries (limit 0)", errors_of(none).c_str());
}

TEST(PeerListParser, OverlongLinesAreRejectedAndTheNextLineStillParses) {
    std::string longest = "198.18.0.1" + std::string(kMaxLineBytes - 10, ' ');
    CHECK_EQUAL(kMaxLineBytes, longest.size());
    auto fits = parse_peer_list(longest + "\r\n", kCidr, 10); // the CR is not counted
    STRCMP_EQUAL("198.18.0.1/32", entries_of(fits).c_str());
    CHECK_TRUE(fits.errors.empty());

    for (auto f : kAllFormats) {
        auto p = parse_peer_list(longest + " \n198.18.0.2\n", f, 10);
        STRCMP_EQUAL("198.18.0.2/32", entries_of(p).c_str());
        STRCMP_EQUAL("f:1: line longer than 4096 bytes", errors_of(p).c_str());
    }

    std::string megabyte(1 << 20, '7'); // a whole file without a newline
    auto huge = parse_peer_list(megabyte, kRbldnsd, 10);
    CHECK_TRUE(huge.entries.empty());
    STRCMP_EQUAL("f:1: line longer than 4096 bytes", errors_of(huge).c_str());
}

TEST(PeerListParser, TagsAreCutAtTheirLimit) {
    std::string value(1000, 'v');
    auto p = parse_peer_list("192.0.2.1 " + value + "\n192.0.2.5-6 " + value + "\n", kRbldnsd, 10);
    CHECK_EQUAL(3u, p.entries.size());
    for (const auto& e : p.entries)
        CHECK_EQUAL(std::string(kMaxTagBytes, 'v'), e.tag);
}

TEST(PeerListParser, ControlCharactersRejectTheLine) {
    struct Case {
        std::string line;
        const char* reason;
    };
    const Case cases[] = {
        {"198.18.0.1 \x1b[2J\x1b[31mlisted", "f:1: control character '\\x1b' in the line"},
        {std::string("198.18.0.1\0junk", 15), "f:1: control character '\\x00' in the line"},
        {"198.18.0.1\r198.18.0.2", "f:1: control character '\\x0d' in the line"},
        {"198.18.0.1\r\r", "f:1: control character '\\x0d' in the line"},
        {"198.18.0.1\x7f", "f:1: control character '\\x7f' in the line"},
        {"# even a comment\x07", "f:1: control character '\\x07' in the line"},
    };
    for (const auto& c : cases) {
        for (auto f : {kCidr, kRbldnsd}) {
            auto p = parse_peer_list(c.line + "\n192.0.2.1\n", f, 10);
            STRCMP_EQUAL_TEXT(c.reason, errors_of(p).c_str(), c.line.c_str());
            STRCMP_EQUAL_TEXT("192.0.2.1/32", entries_of(p).c_str(), c.line.c_str());
        }
    }
}

TEST(PeerListParser, ReasonsQuoteAtMost64BytesOfInput) {
    std::string junk = "1" + std::string(5000, 'x');
    auto p = parse_peer_list(junk.substr(0, 3000) + "\n", kCidr, 10);
    std::string expected = "f:1: unexpected character 'x' in '1";
    expected.append(63, 'x').append("...'");
    STRCMP_EQUAL(expected.c_str(), errors_of(p).c_str());
}

TEST(PeerListParser, ErrorReportsAreBoundedButEveryBadLineIsCounted) {
    std::string text;
    for (int i = 0; i < 250; ++i)
        text += "bad\n";
    auto p = parse_peer_list(text + "192.0.2.1\n", kCidr, 10);
    CHECK_EQUAL(1u, p.entries.size());
    CHECK_EQUAL(250u, p.bad_lines);
    CHECK_EQUAL(kMaxReportedErrors + 1, p.errors.size());
    STRCMP_EQUAL("f:100: not an IP address: 'bad'",
                 describe(p.errors[kMaxReportedErrors - 1], "f").c_str());
    STRCMP_EQUAL("f:101: 150 more bad lines from here on not reported (only the first 100 are)",
                 describe(p.errors.back(), "f").c_str());

    // The entry limit is reported even past the error limit, after the summary.
    auto stop = parse_peer_list(text + "192.0.2.1\n192.0.2.2\n", kCidr, 1);
    CHECK_EQUAL(kMaxReportedErrors + 2, stop.errors.size());
    STRCMP_EQUAL("f:101: 150 more bad lines from here on not reported (only the first 100 are)",
                 describe(stop.errors[kMaxReportedErrors], "f").c_str());
    STRCMP_EQUAL("f:252: too many entries (limit 1)", describe(stop.errors.back(), "f").c_str());
    CHECK_EQUAL(251u, stop.bad_lines);
}

TEST(PeerListParser, BinaryGarbageNeverCrashesAndEveryEntryIsNormalised) {
    std::mt19937 rng(3);
    const char alphabet[] = "0123456789abcdef./-:!#;$ SBL\n\r\t";
    for (int round = 0; round < 3000; ++round) {
        std::string text(rng() % 300, ' ');
        for (auto& ch : text)
            ch =
                rng() % 6 == 0 ? static_cast<char>(rng()) : alphabet[rng() % (sizeof alphabet - 1)];
        std::size_t lines =
            1 + static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
        for (auto f : kAllFormats) {
            auto p = parse_peer_list(text, f, 50);
            CHECK_TRUE(p.entries.size() <= 50);
            CHECK_TRUE(p.errors.size() <= p.bad_lines && p.errors.size() <= kMaxReportedErrors + 2);
            for (const auto& e : p.errors) {
                CHECK_TRUE(e.line >= 1 && e.line <= lines);
                for (char c : e.reason) // safe to print anywhere
                    CHECK_TRUE(c >= 0x20 && c < 0x7f);
            }
            for (const auto& e : p.entries) {
                CHECK_TRUE(e.line >= 1 && e.line <= lines);
                CHECK_TRUE(e.tag.size() <= kMaxTagBytes);
                if (e.is_v6) {
                    CHECK_TRUE(e.v6.length <= 128);
                    net::Ipv6Prefix cleared = e.v6;
                    for (unsigned i = 0; i < 16; ++i)
                        if (8 * i >= cleared.length)
                            cleared.addr.bytes[i] = 0;
                        else if (8 * i + 8 > cleared.length)
                            cleared.addr.bytes[i] &=
                                static_cast<std::uint8_t>(0xff00u >> (cleared.length - 8 * i));
                    CHECK_TRUE(cleared == e.v6);
                } else {
                    CHECK_TRUE(e.v4.length <= 32);
                    std::uint32_t mask = e.v4.length == 0 ? 0 : ~0u << (32 - e.v4.length);
                    CHECK_EQUAL(e.v4.addr.value & mask, e.v4.addr.value);
                }
            }
        }
        detect_peer_list_format(text);
    }
}

// A download cut short: every complete line parses as it does in the whole
// file, and the cut never crashes, wherever it falls.
TEST(PeerListParser, AFileCutAtEveryByteParsesItsCompleteLinesAlike) {
    const std::string file = "$TTL 2100\n"
                             ":127.0.0.2:Listed\r\n"
                             "192.0.2\n"
                             "10.0.0.3-10 :127.0.0.3:range\n"
                             "!10.0.0.4\n"
                             "2001:db8:1:2 v6\n"
                             "198.51.100.0/24 ; comment\n"
                             "bad line\n"
                             "203.0.113.250-255\n";
    auto whole = parse_peer_list(file, kRbldnsd, 1000);
    CHECK_EQUAL(1u, whole.bad_lines);
    for (std::size_t cut = 0; cut <= file.size(); ++cut) {
        std::string_view part(file.data(), cut);
        auto complete = static_cast<std::uint32_t>(std::count(part.begin(), part.end(), '\n'));
        auto p = parse_peer_list(part, kRbldnsd, 1000);
        std::string expected, got;
        for (const auto& e : whole.entries)
            if (e.line <= complete)
                expected += text_of(e) + "@" + std::to_string(e.line) + " ";
        for (const auto& e : p.entries)
            if (e.line <= complete)
                got += text_of(e) + "@" + std::to_string(e.line) + " ";
        STRCMP_EQUAL_TEXT(expected.c_str(), got.c_str(), std::string(part).c_str());
    }
}

TEST(PeerListParser, TheFormatIsDetectedFromTheContent) {
    struct Case {
        const char* text;
        const char* format; // "" for none
    };
    const Case cases[] = {
        {"; Spamhaus DROP List 2026/11/23\n1.10.16.0/20 ; SBL256894\n", "drop"},
        {"; Spamhaus DROPv6 List\r\n2001:678:738::/48 ; SBL563442\r\n", "drop"},
        {"1.10.16.0/20;SBL256894\n", "drop"},
        {"10.0.0.3-10\n1.10.16.0/20 ; SBL256894\n", "drop"}, // any DROP line decides
        {"$TTL 300\n127.0.0.2\n", "rbldnsd"},
        {":127.0.0.2:Listed\n127.0.0.2\n", "rbldnsd"},
        {"10.0.0.3-10\n", "rbldnsd"},
        {"192.0.2\n", "rbldnsd"},
        {"10\n", "rbldnsd"},
        {"127/8\n", "rbldnsd"},
        {"!198.18.0.1\n", "rbldnsd"},
        {"198.18.0.0/16\n198.18.0.1 spammer\n", "rbldnsd"},
        {"198.18.0.1 :2:spammer\n", "rbldnsd"},
        {"198.18.0.1:2:spammer\n", "rbldnsd"},
        {"2001:20fe:23:41ed\n", "rbldnsd"},
        {"198.18.0.1 ; SBL-like but not a reference: SBL\n198.18.0.2\n", "cidr"},
        {"# list\n198.18.0.0/15\n2001:db8::/32\n::1\n", "cidr"},
        {"198.18.0.1 # a comment\n198.18.0.2 ; another\n", "cidr"},
        {"2001:db8:0:0:0:0:0:1\n", "cidr"},
        {"hello\n", "cidr"}, // something is there: parsing will say what is wrong
        {"# nothing\n\n; at all\r\n", ""},
        {"", ""},
    };
    for (const auto& c : cases) {
        auto f = detect_peer_list_format(c.text);
        STRCMP_EQUAL_TEXT(c.format, f ? std::string(format_name(*f)).c_str() : "", c.text);
    }
    // A line over the length limit is no evidence either way.
    std::string long_drop = "1.10.16.0/20 ; SBL256894" + std::string(kMaxLineBytes, ' ');
    CHECK_TRUE(detect_peer_list_format(long_drop + "\n198.18.0.1\n") == PeerListFormat::cidr);
}

TEST(PeerListParser, FormatNamesRoundTripAndOthersAreRefused) {
    for (auto f : kAllFormats)
        CHECK_TRUE(parse_format_name(format_name(f)) == f);
    STRCMP_EQUAL("rbldnsd", std::string(format_name(kRbldnsd)).c_str());
    for (const char* name : {"", "DROP", "cidr ", "ip4set", "rbl"})
        CHECK_FALSE_TEXT(parse_format_name(name).has_value(), name);
}

TEST(PeerListParser, DescribeReportsFileLineAndReason) {
    STRCMP_EQUAL("/etc/smtpgw/drop.txt:7: empty octet in '1..2'",
                 describe({7, "empty octet in '1..2'"}, "/etc/smtpgw/drop.txt").c_str());
}
