// smtp_reply_test.cc: reply codes, enhanced codes and the wire form of
// replies (smtp/smtp_reply.h), including hostile answer text.
#include "smtp/smtp_reply.h"

#include <string>

#include <CppUTest/TestHarness.h>

using namespace smtpgw::smtp;

TEST_GROUP(SmtpReply){};

TEST(SmtpReply, ReplyCodesFollowRfc5321Digits) {
    struct Case {
        std::uint16_t code;
        bool valid;
    };
    const Case cases[] = {{200, true},  {250, true}, {354, true},  {421, true},
                          {554, true},  {559, true}, {199, false}, {600, false},
                          {260, false}, {0, false},  {999, false}, {569, false}};
    for (const auto& c : cases)
        CHECK_EQUAL_TEXT(c.valid, is_reply_code(c.code), std::to_string(c.code).c_str());
}

TEST(SmtpReply, EnhancedCodesFollowRfc3463Syntax) {
    struct Case {
        const char* text;
        bool valid;
    };
    const Case cases[] = {
        {"2.0.0", true},     {"2.1.5", true},   {"5.7.1", true},   {"4.4.2", true},
        {"5.123.999", true}, {"3.0.0", false},  {"1.0.0", false},  {"2.0", false},
        {"2.0.", false},     {"2..0", false},   {"2.01.0", false}, {"2.0.1000", false},
        {"25.0.0", false},   {"2.0.0 ", false}, {"", false},       {"2-0-0", false},
        {"2.a.0", false},    {".0.0", false},
    };
    for (const auto& c : cases)
        CHECK_EQUAL_TEXT(c.valid, is_enhanced_code(c.text), c.text);
}

TEST(SmtpReply, EnhancedCodeClassMustMatchTheReplyCode) {
    CHECK_TRUE(enhanced_matches(250, "2.1.0"));
    CHECK_TRUE(enhanced_matches(550, "5.1.1"));
    CHECK_TRUE(enhanced_matches(451, "4.3.0"));
    CHECK_FALSE(enhanced_matches(250, "5.1.1"));
    CHECK_FALSE(enhanced_matches(550, "4.1.1"));
    CHECK_FALSE(enhanced_matches(354, "3.0.0"));
    CHECK_FALSE(enhanced_matches(250, ""));
}

TEST(SmtpReply, FormatsSingleAndMultiLineReplies) {
    struct Case {
        Reply reply;
        bool enhanced;
        const char* wire;
    };
    const Case cases[] = {
        {{250, "2.1.0", "Ok"}, true, "250 2.1.0 Ok\r\n"},
        {{250, "2.1.0", "Ok"}, false, "250 Ok\r\n"},
        {{250, "", "Ok"}, true, "250 Ok\r\n"},
        {{354, "", "End data with <CR><LF>.<CR><LF>"},
         true,
         "354 End data with <CR><LF>.<CR><LF>\r\n"},
        {{250, "", "mx.example\nPIPELINING\nSIZE 100"},
         true,
         "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 100\r\n"},
        {{550, "5.1.1", "no such user\nreally"},
         true,
         "550-5.1.1 no such user\r\n550 5.1.1 really\r\n"},
        {{250, "", ""}, true, "250\r\n"},
        {{250, "2.0.0", ""}, true, "250 2.0.0\r\n"},
        {{250, "", "trailing newline\n"}, true, "250 trailing newline\r\n"},
        {{250, "", "crlf\r\nlines\r\n"}, true, "250-crlf\r\n250 lines\r\n"},
        {{221, "2.0.0", "Bye"}, true, "221 2.0.0 Bye\r\n"},
    };
    for (const auto& c : cases)
        STRCMP_EQUAL(c.wire, format_reply(c.reply, c.enhanced).c_str());
}

TEST(SmtpReply, HostileTextCannotInjectAReplyOrControlOctets) {
    // An upstream answer trying to smuggle a second reply, NUL, bare CR,
    // escape sequences and 8-bit octets: each line keeps the code, controls
    // become '?', and the reply stays one reply (the last line "250 ").
    const Reply r{250, "2.0.0", std::string("ok\r\n250 fake\rX\0Y\x1b[31m\xff", 22)};
    STRCMP_EQUAL("250-2.0.0 ok\r\n250 2.0.0 250 fake?X?Y?[31m?\r\n", format_reply(r, true).c_str());
}

TEST(SmtpReply, LinesAreCutTo512OctetsAndRepliesTo64Lines) {
    Reply long_line{250, "2.0.0", std::string(5000, 'a')};
    const std::string wire = format_reply(long_line, true);
    CHECK_EQUAL(kMaxReplyLineBytes, wire.size());
    STRCMP_EQUAL("\r\n", wire.substr(wire.size() - 2).c_str());

    std::string many;
    for (int i = 0; i < 1000; ++i)
        many += "line\n";
    const std::string w = format_reply(Reply{250, "", many}, false);
    std::size_t lines = 0, finals = 0;
    for (std::size_t pos = 0; pos < w.size(); pos = w.find("\r\n", pos) + 2) {
        ++lines;
        if (w.compare(pos, 4, "250 ") == 0)
            ++finals;
    }
    CHECK_EQUAL(kMaxReplyLines, lines);
    CHECK_EQUAL(1u, finals); // still exactly one final line
}
