// peer_list_parser_test.cc: list formats (filter/peer_list_parser.h): good
// and bad lines of each format with exact reasons and line numbers, range
// expansion, detection, limits and garbage.
#include "filter/peer_list_parser.h"

#include <random>
#include <string>
#include <vector>

#include <CppUTest/TestHarness.h>

using namespace smtpgw;
using namespace smtpgw::filter;

namespace {

std::string text_of(const PeerListEntry& e) {
    std::string s = e.is_v6 ? net::to_string(e.v6) : net::to_string(e.v4);
    if (e.exclude)
        s = "!" + s;
    if (!e.tag.empty())
        s += " [" + e.tag + "]";
    return s;
}

std::string entries(const PeerListParse& p) {
    std::string s;
    for (const auto& e : p.entries) {
        if (!s.empty())
            s += ", ";
        s += text_of(e);
    }
    return s;
}

std::string errors(const PeerListParse& p) {
    std::string s;
    for (const auto& e : p.errors) {
        if (!s.empty())
            s += " | ";
        s += describe(e, "f");
    }
    return s;
}

} // namespace

TEST_GROUP(PeerListParser){};

TEST(PeerListParser, GoodLinesOfEveryFormat) {
    struct Case {
        PeerListFormat format;
        const char* text;
        const char* entries;
    };
    const Case cases[] = {
        {PeerListFormat::cidr, "198.18.0.66\n", "198.18.0.66/32"},
        {PeerListFormat::cidr, "198.18.0.0/15  # benchmarking\r\n\n; note\n2001:db8:bad::/48\n",
         "198.18.0.0/15, 2001:db8:bad::/48"},
        {PeerListFormat::cidr, "10.1.2.3/8\n2001:db8::1\n0.0.0.0/0\n", "10.0.0.0/8, 2001:db8::1/128, 0.0.0.0/0"},
        {PeerListFormat::drop,
         "; Spamhaus DROP List 2026/11/23 - (c) 2026 The Spamhaus Project SLU\n"
         "; https://www.spamhaus.org/drop/drop.txt\n"
         "1.10.16.0/20 ; SBL256894\n1.19.0.0/16 ; SBL434604\n",
         "1.10.16.0/20 [SBL256894], 1.19.0.0/16 [SBL434604]"},
        {PeerListFormat::drop, "2001:678:738::/48 ; SBL563442\n", "2001:678:738::/48 [SBL563442]"},
        {PeerListFormat::rbldnsd,
         "$TTL 3600\n:127.0.0.2:Listed, see http://example.net/\n# comment\n"
         "127.0.0.2\n10\n192.0.2\n198.18.0.0/16 :127.0.0.3:spam source\n!198.18.0.1\n",
         "127.0.0.2/32, 10.0.0.0/8, 192.0.2.0/24, 198.18.0.0/16 [:127.0.0.3:spam source], "
         "!198.18.0.1/32"},
        {PeerListFormat::rbldnsd, "2001:db8:bad::/48 listed\n", "2001:db8:bad::/48 [listed]"},
    };
    for (const auto& c : cases) {
        auto p = parse_peer_list(c.text, c.format, 100);
        STRCMP_EQUAL_TEXT("", errors(p).c_str(), c.text);
        STRCMP_EQUAL_TEXT(c.entries, entries(p).c_str(), c.text);
    }
}

TEST(PeerListParser, RangesExpandIntoTheFewestPrefixes) {
    struct Case {
        const char* text;
        const char* entries;
    };
    const Case cases[] = {
        {"10.0.0.3-10", "10.0.0.3/32, 10.0.0.4/30, 10.0.0.8/31, 10.0.0.10/32"},
        {"10.0.0.0-255", "10.0.0.0/24"},
        {"10.0.0.7-7", "10.0.0.7/32"},
        {"10.0.4-7", "10.0.4.0/22"},
        {"10.0-1", "10.0.0.0/15"},
        {"0-255", "0.0.0.0/0"},
    };
    for (const auto& c : cases) {
        auto p = parse_peer_list(c.text, PeerListFormat::rbldnsd, 100);
        STRCMP_EQUAL_TEXT("", errors(p).c_str(), c.text);
        STRCMP_EQUAL_TEXT(c.entries, entries(p).c_str(), c.text);
    }
}

TEST(PeerListParser, BadLinesAreReportedWithLineAndReasonAndGoodOnesKept) {
    struct Case {
        PeerListFormat format;
        const char* line;
        const char* reason;
    };
    const Case cases[] = {
        {PeerListFormat::cidr, "198.18.0.256", "f:2: not an IPv4 or IPv6 address: '198.18.0.256'"},
        {PeerListFormat::cidr, "198.18.0.0/33", "f:2: bad prefix length in '198.18.0.0/33' (0..32)"},
        {PeerListFormat::cidr, "198.18.0.0/", "f:2: bad prefix length in '198.18.0.0/' (0..32)"},
        {PeerListFormat::cidr, "2001:db8::/129", "f:2: bad prefix length in '2001:db8::/129' (0..128)"},
        {PeerListFormat::cidr, "2001:db8::g", "f:2: not an IPv6 address: '2001:db8::g'"},
        {PeerListFormat::cidr, "::ffff:1.2.3.4",
         "f:2: IPv4-mapped IPv6 address: write the IPv4 address instead"},
        {PeerListFormat::cidr, "1.2.3.4 5.6.7.8", "f:2: unexpected text after the address: '5.6.7.8'"},
        {PeerListFormat::drop, "1.10.16.0/20 SBL256894",
         "f:2: expected 'prefix ; SBLnnnn', got '1.10.16.0/20 SBL256894'"},
        {PeerListFormat::rbldnsd, "10.0.0.10-3", "f:2: reversed range '10.0.0.10-3'"},
        {PeerListFormat::rbldnsd, "10.0.0.3-300", "f:2: bad range end in '10.0.0.3-300' (0..255)"},
        {PeerListFormat::rbldnsd, "10.0.0.0.1",
         "f:2: bad IPv4 entry '10.0.0.0.1' (octets are 0..255, at most 4)"},
        {PeerListFormat::rbldnsd, "10..1", "f:2: bad IPv4 entry '10..1' (octets are 0..255, at most 4)"},
        {PeerListFormat::rbldnsd, "!", "f:2: no address on the line"},
    };
    for (const auto& c : cases) {
        std::string text = std::string("198.51.100.0/24\n") + c.line + "\n203.0.113.0/24\n";
        if (c.format == PeerListFormat::drop)
            text = "198.51.100.0/24 ; SBL1\n" + std::string(c.line) + "\n203.0.113.0/24 ; SBL2\n";
        auto p = parse_peer_list(text, c.format, 100);
        STRCMP_EQUAL_TEXT(c.reason, errors(p).c_str(), c.line);
        CHECK_EQUAL_TEXT(2u, p.entries.size(), c.line); // the good lines around it stay
        CHECK_EQUAL(3u, p.entries.back().line);
    }
}

TEST(PeerListParser, LimitsBoundTheOutput) {
    std::string text;
    for (int i = 0; i < 10; ++i)
        text += "198.18.0." + std::to_string(i) + "\n";
    auto p = parse_peer_list(text, PeerListFormat::cidr, 4);
    CHECK_EQUAL(4u, p.entries.size());
    STRCMP_EQUAL("f:5: too many entries (limit 4): the rest is ignored", errors(p).c_str());
    // A range counts entry by entry.
    auto r = parse_peer_list("10.0.0.3-10\n", PeerListFormat::rbldnsd, 2);
    CHECK_EQUAL(2u, r.entries.size());
    // Overlong lines.
    std::string longline(kMaxLineBytes + 1, '1');
    auto l = parse_peer_list(longline + "\n198.18.0.1\n", PeerListFormat::cidr, 10);
    CHECK_EQUAL(1u, l.entries.size());
    STRCMP_EQUAL("f:1: line longer than 4096 bytes", errors(l).c_str());
}

TEST(PeerListParser, EmptyAndCommentOnlyFilesGiveNothing) {
    for (const char* t : {"", "\n\n", "# only\n; comments\r\n", "   \t\n"}) {
        for (auto f : {PeerListFormat::cidr, PeerListFormat::drop, PeerListFormat::rbldnsd}) {
            auto p = parse_peer_list(t, f, 10);
            CHECK_TRUE(p.entries.empty() && p.errors.empty());
        }
    }
}

TEST(PeerListParser, GarbageNeverCrashesAndEveryEntryIsNormalised) {
    std::mt19937 rng(3);
    const char alphabet[] = "0123456789./-:!#;$ abcdef\n\r\t";
    for (int round = 0; round < 2000; ++round) {
        std::string t(rng() % 200, ' ');
        for (auto& ch : t)
            ch = rng() % 8 == 0 ? static_cast<char>(rng()) : alphabet[rng() % (sizeof alphabet - 1)];
        for (auto f : {PeerListFormat::cidr, PeerListFormat::drop, PeerListFormat::rbldnsd}) {
            auto p = parse_peer_list(t, f, 50);
            CHECK_TRUE(p.entries.size() <= 50);
            for (const auto& e : p.entries) {
                if (e.is_v6)
                    continue;
                std::uint32_t mask = e.v4.length == 0 ? 0 : ~0u << (32 - e.v4.length);
                CHECK_EQUAL(e.v4.addr.value & mask, e.v4.addr.value); // host bits cleared
            }
        }
        detect_peer_list_format(t);
    }
}

TEST(PeerListParser, TheFormatIsDetectedFromTheContent) {
    struct Case {
        const char* text;
        const char* format; // "" for none
    };
    const Case cases[] = {
        {"; Spamhaus DROP\n1.10.16.0/20 ; SBL256894\n", "drop"},
        {"$TTL 300\n127.0.0.2\n", "rbldnsd"},
        {"10.0.0.3-10\n", "rbldnsd"},
        {"192.0.2\n", "rbldnsd"},
        {"!198.18.0.1\n", "rbldnsd"},
        {"198.18.0.1 spammer\n", "rbldnsd"},
        {"# list\n198.18.0.0/15\n2001:db8::/32\n", "cidr"},
        {"198.18.0.1 # a comment\n", "cidr"},
        {"# nothing\n", ""},
    };
    for (const auto& c : cases) {
        auto f = detect_peer_list_format(c.text);
        STRCMP_EQUAL_TEXT(c.format, f ? std::string(format_name(*f)).c_str() : "", c.text);
    }
    CHECK_TRUE(parse_format_name("drop") == PeerListFormat::drop);
    CHECK_FALSE(parse_format_name("DROP").has_value());
}
