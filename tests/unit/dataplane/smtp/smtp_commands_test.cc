// smtp_commands_test.cc: the command table, command-line classification and
// the ESMTP parameters of MAIL, RCPT and BDAT (smtp/smtp_commands.h).
#include "smtp/smtp_commands.h"

#include <string>

#include <CppUTest/TestHarness.h>

using namespace smtpgw::smtp;

TEST_GROUP(SmtpCommands){};

TEST(SmtpCommands, TableHasOneRowPerCommandWithItsFlags) {
    struct Case {
        Command c;
        const char* verb;
        bool before_tls, before_helo, in_tx, ends_group, junk;
        ArgRule args;
    };
    // RFC 5321 4.1.4 (order), RFC 2920 3.1 (group-ending), RFC 3207 4 (before TLS).
    const Case cases[] = {
        {Command::helo, "HELO", true, true, true, true, false, ArgRule::required},
        {Command::ehlo, "EHLO", true, true, true, true, false, ArgRule::required},
        {Command::mail, "MAIL", false, false, false, false, false, ArgRule::required},
        {Command::rcpt, "RCPT", false, false, true, false, false, ArgRule::required},
        {Command::data, "DATA", false, false, true, true, false, ArgRule::none},
        {Command::bdat, "BDAT", false, false, true, false, false, ArgRule::required},
        {Command::rset, "RSET", true, true, true, false, true, ArgRule::none},
        {Command::noop, "NOOP", true, true, true, true, true, ArgRule::optional},
        {Command::quit, "QUIT", true, true, true, true, false, ArgRule::none},
        {Command::help, "HELP", true, true, true, false, true, ArgRule::optional},
        {Command::vrfy, "VRFY", false, true, true, true, true, ArgRule::required},
        {Command::expn, "EXPN", false, true, true, true, true, ArgRule::required},
        {Command::starttls, "STARTTLS", true, false, false, true, false, ArgRule::none},
    };
    CHECK_EQUAL(static_cast<std::size_t>(Command::unknown) + 1, command_table().size());
    for (const auto& c : cases) {
        const CommandInfo& info = command_info(c.c);
        CHECK_TRUE_TEXT(info.command == c.c, c.verb);
        STRCMP_EQUAL(c.verb, std::string(info.verb).c_str());
        CHECK_EQUAL_TEXT(c.before_tls, (info.flags & kAllowedBeforeTls) != 0, c.verb);
        CHECK_EQUAL_TEXT(c.before_helo, (info.flags & kAllowedBeforeHelo) != 0, c.verb);
        CHECK_EQUAL_TEXT(c.in_tx, (info.flags & kAllowedInTransaction) != 0, c.verb);
        CHECK_EQUAL_TEXT(c.ends_group, (info.flags & kEndsPipelineGroup) != 0, c.verb);
        CHECK_EQUAL_TEXT(c.junk, (info.flags & kJunk) != 0, c.verb);
        CHECK_TRUE_TEXT(info.args == c.args, c.verb);
        if (info.args != ArgRule::optional)
            CHECK_FALSE_TEXT(info.usage.empty(), c.verb); // a 501 needs a text
    }
}

TEST(SmtpCommands, LinesAreClassifiedCaseInsensitively) {
    struct Case {
        const char* line;
        Command c;
        const char* arg;
    };
    const Case cases[] = {
        {"HELO mx.example", Command::helo, "mx.example"},
        {"ehlo mx.example", Command::ehlo, "mx.example"},
        {"MaIl FROM:<a@b.example>", Command::mail, "FROM:<a@b.example>"},
        {"RCPT TO:<a@b.example> NOTIFY=NEVER", Command::rcpt, "TO:<a@b.example> NOTIFY=NEVER"},
        {"DATA", Command::data, ""},
        {"BDAT 100 LAST", Command::bdat, "100 LAST"},
        {"rset", Command::rset, ""},
        {"NOOP hello", Command::noop, "hello"},
        {"QUIT", Command::quit, ""},
        {"HELP", Command::help, ""},
        {"VRFY root", Command::vrfy, "root"},
        {"EXPN staff", Command::expn, "staff"},
        {"STARTTLS", Command::starttls, ""},
        {"starttls", Command::starttls, ""},
        {"GET / HTTP/1.1", Command::forbidden, "/ HTTP/1.1"},
        {"post /x HTTP/1.0", Command::forbidden, "/x HTTP/1.0"},
        {"CONNECT 192.0.2.1:25 HTTP/1.0", Command::forbidden, "192.0.2.1:25 HTTP/1.0"},
        {"123 go", Command::forbidden, "go"},
        {"{\"json\":1}", Command::forbidden, ""},
        {"", Command::unknown, ""},
        {" HELO x", Command::unknown, "HELO x"},
        {"HELOX x", Command::unknown, "x"},
        {"MAILFROM:<a@b>", Command::unknown, ""},
        {"TURN", Command::unknown, ""},
        {"AUTH PLAIN", Command::unknown, "PLAIN"},
        {"ETRN example.com", Command::unknown, "example.com"},
        {"DAT", Command::unknown, ""},
    };
    for (const auto& c : cases) {
        const CommandLine cl = parse_command_line(c.line);
        CHECK_TRUE_TEXT(cl.command == c.c, c.line);
        STRCMP_EQUAL_TEXT(c.arg, std::string(cl.arg).c_str(), c.line);
    }
    CHECK_FALSE(parse_command_line("DATA").has_arg);
    CHECK_TRUE(parse_command_line("DATA ").has_arg);
}

TEST(SmtpCommands, ControlOctetsInACommandLineAreRefused) {
    CHECK_TRUE(command_line_octets_ok("MAIL FROM:<a@b.example>"));
    CHECK_TRUE(command_line_octets_ok("MAIL FROM:<\xc3\xa4@b.example> SMTPUTF8"));
    for (int c = 0; c < 0x20; ++c) {
        std::string line = "NOOP a";
        line.push_back(static_cast<char>(c));
        line += "b";
        CHECK_FALSE_TEXT(command_line_octets_ok(line), std::to_string(c).c_str());
    }
    CHECK_FALSE(command_line_octets_ok("NOOP \x7f"));
    CHECK_FALSE(command_line_octets_ok(std::string("QUIT\0", 5)));
}

TEST(SmtpCommands, PathKeywordIsRequiredAndSpacesAfterItTolerated) {
    CHECK_TRUE(after_path_keyword("FROM:<a@b>", "FROM:") == std::string_view("<a@b>"));
    CHECK_TRUE(after_path_keyword("from:<a@b>", "FROM:") == std::string_view("<a@b>"));
    CHECK_TRUE(after_path_keyword("FROM: <a@b>", "FROM:") == std::string_view("<a@b>"));
    CHECK_TRUE(after_path_keyword("FROM:", "FROM:") == std::string_view(""));
    CHECK_FALSE(after_path_keyword("FROM <a@b>", "FROM:").has_value());
    CHECK_FALSE(after_path_keyword("TO:<a@b>", "FROM:").has_value());
    CHECK_FALSE(after_path_keyword("FRO", "FROM:").has_value());
}

TEST(SmtpCommands, MailParametersTable) {
    ParamOffer all{true, true, true, true};
    struct Case {
        const char* text;
        ParamOffer offer;
        ParamError want;
        const char* canonical;
    };
    const ParamOffer none{};
    const Case cases[] = {
        {"", all, ParamError::none, ""},
        {" SIZE=1000", all, ParamError::none, "SIZE=1000"},
        {" size=0", all, ParamError::none, "size=0"},
        {" SIZE=1000 BODY=8BITMIME", all, ParamError::none, "SIZE=1000 BODY=8BITMIME"},
        {" BODY=7bit", all, ParamError::none, "BODY=7bit"},
        {" SMTPUTF8", all, ParamError::none, "SMTPUTF8"},
        {" RET=HDRS ENVID=QQ314159", all, ParamError::none, "RET=HDRS ENVID=QQ314159"},
        {" ENVID=a+2Bb", all, ParamError::none, "ENVID=a+2Bb"},
        {" SIZE=1000  ", all, ParamError::none, "SIZE=1000"},
        {"  SIZE=1", all, ParamError::none, "SIZE=1"},
        // Not offered: 555
        {" SIZE=1000", none, ParamError::unrecognized, nullptr},
        {" BODY=8BITMIME", none, ParamError::unrecognized, nullptr},
        {" SMTPUTF8", none, ParamError::unrecognized, nullptr},
        {" RET=FULL", none, ParamError::unrecognized, nullptr},
        {" ENVID=x", none, ParamError::unrecognized, nullptr},
        {" AUTH=<>", all, ParamError::unrecognized, nullptr},
        {" FOO=BAR", all, ParamError::unrecognized, nullptr},
        {" XFORWARD", all, ParamError::unrecognized, nullptr},
        // Malformed: 501
        {"SIZE=1", all, ParamError::syntax, nullptr},
        {" SIZE", all, ParamError::syntax, nullptr},
        {" SIZE=", all, ParamError::syntax, nullptr},
        {" SIZE=abc", all, ParamError::syntax, nullptr},
        {" SIZE=-1", all, ParamError::syntax, nullptr},
        {" SIZE=18446744073709551616", all, ParamError::syntax, nullptr},
        {" SIZE=999999999999999999999999", all, ParamError::syntax, nullptr},
        {" SIZE=1 SIZE=2", all, ParamError::syntax, nullptr},
        {" SIZE=1 size=2", all, ParamError::syntax, nullptr},
        {" BODY=BINARYMIME", all, ParamError::syntax, nullptr},
        {" BODY=9BIT", all, ParamError::syntax, nullptr},
        {" SMTPUTF8=yes", all, ParamError::syntax, nullptr},
        {" RET=ALL", all, ParamError::syntax, nullptr},
        {" ENVID=a=b", all, ParamError::syntax, nullptr},
        {" ENVID=a+2b", all, ParamError::syntax, nullptr},
        {" ENVID=a+2", all, ParamError::syntax, nullptr},
        {" ENVID=a+", all, ParamError::syntax, nullptr},
        {" =x", all, ParamError::syntax, nullptr},
        {" -SIZE=1", all, ParamError::syntax, nullptr},
        {" SI_ZE=1", all, ParamError::syntax, nullptr},
        {" SIZE==1", all, ParamError::syntax, nullptr},
    };
    for (const auto& c : cases) {
        MailParams p;
        std::string canonical;
        const ParamError e = parse_mail_params(c.text, c.offer, p, canonical);
        CHECK_EQUAL_TEXT(static_cast<int>(c.want), static_cast<int>(e), c.text);
        if (c.want == ParamError::none)
            STRCMP_EQUAL_TEXT(c.canonical, canonical.c_str(), c.text);
    }
    MailParams p;
    std::string canonical;
    CHECK_TRUE(parse_mail_params(" SIZE=18446744073709551615 BODY=8BITMIME SMTPUTF8 RET=FULL "
                                 "ENVID=x",
                                 all, p, canonical) == ParamError::none);
    CHECK_TRUE(p.has_size);
    CHECK_TRUE(p.size == UINT64_MAX);
    CHECK_TRUE(p.body == BodyType::eight_bit_mime);
    CHECK_TRUE(p.smtputf8);
    CHECK_TRUE(p.ret == DsnRet::full);
    STRCMP_EQUAL("x", p.envid.c_str());
    // RFC 3461 4.4: ENVID is at most 100 characters.
    CHECK_TRUE(parse_mail_params(" ENVID=" + std::string(100, 'a'), all, p, canonical) ==
               ParamError::none);
    CHECK_TRUE(parse_mail_params(" ENVID=" + std::string(101, 'a'), all, p, canonical) ==
               ParamError::syntax);
    // Controls and NUL in a value.
    CHECK_TRUE(parse_mail_params(std::string(" ENVID=a\0b", 10), all, p, canonical) ==
               ParamError::syntax);
}

TEST(SmtpCommands, RcptParametersTable) {
    const ParamOffer dsn{false, false, false, true};
    struct Case {
        const char* text;
        bool utf8_tx;
        ParamError want;
        std::uint8_t notify;
    };
    const Case cases[] = {
        {"", false, ParamError::none, 0},
        {" NOTIFY=NEVER", false, ParamError::none, kNotifyNever},
        {" NOTIFY=SUCCESS,FAILURE", false, ParamError::none, kNotifySuccess | kNotifyFailure},
        {" notify=delay,success,failure", false, ParamError::none,
         kNotifyDelay | kNotifySuccess | kNotifyFailure},
        {" ORCPT=rfc822;u@example.com", false, ParamError::none, 0},
        {" ORCPT=rfc822;u+40x@example.com NOTIFY=FAILURE", false, ParamError::none, kNotifyFailure},
        {" ORCPT=utf-8;u\\x{E4}@example.com", false, ParamError::none, 0},
        {" ORCPT=utf-8;j\xc3\xb6rg@example.com", true, ParamError::none, 0},
        {" ORCPT=utf-8;j\xc3\xb6rg@example.com", false, ParamError::syntax, 0},
        {" NOTIFY=NEVER,SUCCESS", false, ParamError::syntax, 0},
        {" NOTIFY=SUCCESS,SUCCESS", false, ParamError::syntax, 0},
        {" NOTIFY=", false, ParamError::syntax, 0},
        {" NOTIFY", false, ParamError::syntax, 0},
        {" NOTIFY=SUCCESS,", false, ParamError::syntax, 0},
        {" NOTIFY=SOMETIMES", false, ParamError::syntax, 0},
        {" ORCPT=rfc822", false, ParamError::syntax, 0},
        {" ORCPT=;u@example.com", false, ParamError::syntax, 0},
        {" ORCPT=rfc822;", false, ParamError::syntax, 0},
        {" ORCPT=x400;u@example.com", false, ParamError::syntax, 0},
        {" ORCPT=rfc822;u+4@example.com", false, ParamError::syntax, 0},
        {" ORCPT=utf-8;u\\x{}@example.com", false, ParamError::syntax, 0},
        {" ORCPT=utf-8;u\\y{41}@example.com", false, ParamError::syntax, 0},
        {" ORCPT=utf-8;u+41@example.com", false, ParamError::syntax, 0},
        {" NOTIFY=NEVER NOTIFY=NEVER", false, ParamError::syntax, 0},
        {" SIZE=10", false, ParamError::unrecognized, 0},
        {" SMTPUTF8", false, ParamError::unrecognized, 0},
    };
    for (const auto& c : cases) {
        RcptParams p;
        std::string canonical;
        const ParamError e = parse_rcpt_params(c.text, dsn, c.utf8_tx, p, canonical);
        CHECK_EQUAL_TEXT(static_cast<int>(c.want), static_cast<int>(e), c.text);
        if (c.want == ParamError::none)
            CHECK_EQUAL_TEXT(c.notify, p.notify, c.text);
    }
    RcptParams p;
    std::string canonical;
    CHECK_TRUE(parse_rcpt_params(" NOTIFY=NEVER", ParamOffer{}, false, p, canonical) ==
               ParamError::unrecognized);
    // RFC 3461 4.2: ORCPT is at most 500 characters.
    const std::string orcpt = " ORCPT=rfc822;" + std::string(500 - 7, 'a');
    CHECK_TRUE(parse_rcpt_params(orcpt, dsn, false, p, canonical) == ParamError::none);
    CHECK_TRUE(parse_rcpt_params(orcpt + "a", dsn, false, p, canonical) == ParamError::syntax);
}

TEST(SmtpCommands, BdatArgumentsTable) {
    struct Case {
        const char* arg;
        bool ok;
        std::uint64_t size;
        bool last;
    };
    const Case cases[] = {
        {"0", true, 0, false},
        {"0 LAST", true, 0, true},
        {"1 last", true, 1, true},
        {"1048576", true, 1048576, false},
        {"18446744073709551615 LAST", true, UINT64_MAX, true},
        {"18446744073709551616", false, 0, false},
        {"99999999999999999999999", false, 0, false},
        {"", false, 0, false},
        {"LAST", false, 0, false},
        {"-1", false, 0, false},
        {"+1", false, 0, false},
        {"1 LAST extra", false, 0, false},
        {"1  LAST", false, 0, false},
        {"1 FIRST", false, 0, false},
        {"0x10", false, 0, false},
        {"1 ", false, 0, false},
    };
    for (const auto& c : cases) {
        const auto a = parse_bdat_args(c.arg);
        CHECK_EQUAL_TEXT(c.ok, a.has_value(), c.arg);
        if (a && c.ok) {
            CHECK_TRUE_TEXT(a->size == c.size, c.arg);
            CHECK_EQUAL_TEXT(c.last, a->last, c.arg);
        }
    }
}
