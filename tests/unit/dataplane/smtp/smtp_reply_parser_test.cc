// smtp_reply_parser_test.cc: the reply parser (smtp/smtp_reply_parser.h):
// a table of single, multi-line and malformed replies, every input cut at
// every byte, several replies in one read, the bounds, and enhanced codes.
#include "smtp/smtp_reply_parser.h"

#include <string>
#include <string_view>
#include <vector>

#include <CppUTest/TestHarness.h>

using namespace smtpgw::smtp;

namespace {

std::span<const std::uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Feeds `in` in pieces cut at `cuts`; returns the replies and the final status.
std::vector<UpstreamReply> parse_all(ReplyParser& p, std::string_view in,
                                     std::vector<std::size_t> cuts, ReplyParseStatus& last) {
    std::vector<UpstreamReply> out;
    cuts.push_back(in.size());
    std::size_t from = 0;
    last = ReplyParseStatus::need_more;
    for (std::size_t cut : cuts) {
        std::string_view piece = in.substr(from, cut - from);
        from = cut;
        while (!piece.empty()) {
            std::size_t used = 0;
            last = p.feed(bytes(piece), used);
            piece.remove_prefix(used);
            if (last == ReplyParseStatus::complete)
                out.push_back(p.take());
            else if (last == ReplyParseStatus::error)
                return out;
        }
    }
    return out;
}

std::string joined(const UpstreamReply& r) {
    std::string s = std::to_string(r.code);
    for (const auto& l : r.lines) {
        s += '|';
        s += l;
    }
    return s;
}

struct Case {
    const char* name;
    std::string_view in;
    ReplyError error;     // none: one reply expected
    const char* expected; // "code|line|line"
};
const Case kCases[] = {
    {"single", "250 ok\r\n", ReplyError::none, "250|ok"},
    {"code only", "354\r\n", ReplyError::none, "354|"},
    {"empty text", "250 \r\n", ReplyError::none, "250|"},
    {"multi-line", "250-lan\r\n250-PIPELINING\r\n250 SIZE 10\r\n", ReplyError::none,
     "250|lan|PIPELINING|SIZE 10"},
    {"empty continuation", "250-\r\n250 x\r\n", ReplyError::none, "250||x"},
    {"8-bit text", "550 \xc3\xa9t\xc3\xa9\r\n", ReplyError::none, "550|\xc3\xa9t\xc3\xa9"},
    {"tab in text", "250 a\tb\r\n", ReplyError::none, "250|a\tb"},
    {"inconsistent codes", "250-a\r\n251 b\r\n", ReplyError::inconsistent_code, nullptr},
    {"class 1", "199 no\r\n", ReplyError::bad_code, nullptr},
    {"class 6", "600 no\r\n", ReplyError::bad_code, nullptr},
    {"second digit 6", "260 no\r\n", ReplyError::bad_code, nullptr},
    {"letter", "25x no\r\n", ReplyError::bad_code, nullptr},
    {"bad separator", "250+no\r\n", ReplyError::bad_code, nullptr},
    {"two digits", "25\r\n", ReplyError::bad_code, nullptr},
    {"empty line", "\r\n", ReplyError::bad_code, nullptr},
    {"leading space", " 250 ok\r\n", ReplyError::bad_code, nullptr},
    {"NUL", std::string_view("250 a\0b\r\n", 9), ReplyError::nul_byte, nullptr},
    {"bare CR", "250 a\rb\r\n", ReplyError::bare_cr, nullptr},
    {"bare LF", "250 ok\n", ReplyError::bare_lf, nullptr},
    {"CR CR LF", "250 ok\r\r\n", ReplyError::bare_cr, nullptr},
};

} // namespace

TEST_GROUP(ReplyParser){};

TEST(ReplyParser, RepliesParseOrAreRefusedAtEveryCut) {
    for (const auto& c : kCases) {
        for (std::size_t cut = 0; cut <= c.in.size(); ++cut) {
            ReplyParser p;
            ReplyParseStatus st;
            auto replies = parse_all(p, c.in, {cut}, st);
            if (c.error == ReplyError::none) {
                CHECK_EQUAL_TEXT(1u, replies.size(), c.name);
                STRCMP_EQUAL_TEXT(c.expected, joined(replies[0]).c_str(), c.name);
                STRCMP_EQUAL_TEXT(replies[0].lines[0].c_str(), replies[0].text.c_str(), c.name);
                CHECK_FALSE_TEXT(p.partial(), c.name);
            } else {
                CHECK_TRUE_TEXT(replies.empty(), c.name);
                CHECK_TRUE_TEXT(st == ReplyParseStatus::error, c.name);
                STRCMP_EQUAL_TEXT(reply_error_name(c.error), reply_error_name(p.error()), c.name);
            }
        }
    }
}

TEST(ReplyParser, AConversationCutAtEveryPairOfBytesGivesTheSameReplies) {
    const std::string in = "220 lan ESMTP\r\n250-lan\r\n250-8BITMIME\r\n250 DSN\r\n"
                           "250 2.1.0 ok\r\n550-5.1.1 no\r\n550 5.1.1 such user\r\n354 go\r\n";
    for (std::size_t i = 0; i <= in.size(); ++i)
        for (std::size_t j = i; j <= in.size(); ++j) {
            ReplyParser p;
            ReplyParseStatus st;
            auto r = parse_all(p, in, {i, j}, st);
            CHECK_EQUAL(5u, r.size());
            STRCMP_EQUAL("220|lan ESMTP", joined(r[0]).c_str());
            STRCMP_EQUAL("250|lan|8BITMIME|DSN", joined(r[1]).c_str());
            STRCMP_EQUAL("250|2.1.0 ok", joined(r[2]).c_str());
            STRCMP_EQUAL("550|5.1.1 no|5.1.1 such user", joined(r[3]).c_str());
            STRCMP_EQUAL("354|go", joined(r[4]).c_str());
        }
}

TEST(ReplyParser, OneReadWithManyRepliesStopsAfterEach) {
    ReplyParser p;
    const std::string in = "250 a\r\n251 b\r\n252 c";
    std::size_t used = 0;
    CHECK_TRUE(p.feed(bytes(in), used) == ReplyParseStatus::complete);
    CHECK_EQUAL(7u, used);
    CHECK_EQUAL(250, p.take().code);
    CHECK_TRUE(p.feed(bytes(std::string_view(in).substr(7)), used) == ReplyParseStatus::complete);
    CHECK_EQUAL(7u, used);
    CHECK_EQUAL(251, p.take().code);
    CHECK_TRUE(p.feed(bytes(std::string_view(in).substr(14)), used) == ReplyParseStatus::need_more);
    CHECK_EQUAL(5u, used);
    CHECK_TRUE(p.partial());
}

TEST(ReplyParser, LinesAreBoundedCrlfIncluded) {
    ReplyParserLimits lim;
    lim.max_reply_line = 16;
    const std::string fits = "250 " + std::string(10, 'x') + "\r\n"; // 16 bytes
    const std::string over = "250 " + std::string(11, 'x') + "\r\n"; // 17 bytes
    for (std::size_t cut = 0; cut <= over.size(); ++cut) {
        ReplyParser a(lim), b(lim);
        ReplyParseStatus st;
        CHECK_EQUAL(1u, parse_all(a, fits, {std::min(cut, fits.size())}, st).size());
        CHECK_TRUE(parse_all(b, over, {cut}, st).empty());
        CHECK_TRUE(b.error() == ReplyError::line_too_long);
    }
    // A line that never ends is refused at the bound, not buffered.
    ReplyParser p(lim);
    std::string endless(100000, '2');
    std::size_t used = 0;
    CHECK_TRUE(p.feed(bytes(endless), used) == ReplyParseStatus::error);
    CHECK_TRUE(used <= lim.max_reply_line);
}

TEST(ReplyParser, RepliesAreBoundedInLines) {
    ReplyParserLimits lim;
    lim.max_reply_lines = 3;
    ReplyParser ok(lim), over(lim);
    ReplyParseStatus st;
    CHECK_EQUAL(1u, parse_all(ok, "250-a\r\n250-b\r\n250 c\r\n", {}, st).size());
    CHECK_TRUE(parse_all(over, "250-a\r\n250-b\r\n250-c\r\n250 d\r\n", {}, st).empty());
    CHECK_TRUE(over.error() == ReplyError::too_many_lines);
    // A server that sends continuation lines forever is stopped too.
    ReplyParser endless(ReplyParserLimits{});
    std::string flood;
    for (int i = 0; i < 10000; ++i)
        flood += "250-more\r\n";
    CHECK_TRUE(parse_all(endless, flood, {}, st).empty());
    CHECK_TRUE(endless.error() == ReplyError::too_many_lines);
}

TEST(ReplyParser, AnErrorIsFinalUntilReset) {
    ReplyParser p;
    ReplyParseStatus st;
    parse_all(p, "250 ok\n", {}, st);
    CHECK_TRUE(st == ReplyParseStatus::error);
    std::size_t used = 7;
    CHECK_TRUE(p.feed(bytes("250 ok\r\n"), used) == ReplyParseStatus::error);
    CHECK_EQUAL(0u, used);
    p.reset();
    CHECK_EQUAL(1u, parse_all(p, "250 ok\r\n", {}, st).size());
}

TEST(ReplyParser, EnhancedCodesAreSplitOnlyWhenWellFormedAndOfTheSameClass) {
    struct E {
        std::uint16_t code;
        const char* line;
        const char* enhanced;
        const char* text;
    };
    const E cases[] = {
        {250, "2.1.0 sender ok", "2.1.0", "sender ok"},
        {550, "5.1.1 no such user", "5.1.1", "no such user"},
        {421, "4.4.2 bye", "4.4.2", "bye"},
        {250, "2.0.0", "2.0.0", ""},
        {250, "2.123.456 x", "2.123.456", "x"},
        {250, "5.1.1 wrong class", "", "5.1.1 wrong class"},
        {354, "3.0.0 no class 3", "", "3.0.0 no class 3"},
        {250, "2.1234.0 too long", "", "2.1234.0 too long"},
        {250, "2.1.0x glued", "", "2.1.0x glued"},
        {250, "2..0 empty", "", "2..0 empty"},
        {250, "ok", "", "ok"},
        {250, "", "", ""},
    };
    for (const auto& c : cases) {
        UpstreamReply r;
        r.code = c.code;
        r.lines = {c.line, "second"};
        r.text = c.line;
        CHECK_EQUAL_TEXT(*c.enhanced != 0, split_enhanced_code(r), c.line);
        STRCMP_EQUAL_TEXT(c.enhanced, r.enhanced.c_str(), c.line);
        STRCMP_EQUAL_TEXT(c.text, r.text.c_str(), c.line);
        CHECK_EQUAL_TEXT(2u, r.lines.size(), c.line); // lines stay as sent
    }
}
