// smtp_address_test.cc: path parsing and the relay rule (smtp/smtp_address.h):
// the grammar table, the classic open-relay test vectors, SMTPUTF8, limits
// and adversarial octets.
#include "smtp/smtp_address.h"

#include <string>

#include <CppUTest/TestHarness.h>

using namespace smtpgw::smtp;

namespace {

enum class Want { ok, syntax, too_long, utf8_forbidden };

const char* want_name(Want w) {
    switch (w) {
    case Want::ok:
        return "ok";
    case Want::syntax:
        return "syntax";
    case Want::too_long:
        return "too_long";
    case Want::utf8_forbidden:
        return "utf8_forbidden";
    }
    return "?";
}

Want got(const PathResult& r) {
    switch (r.error) {
    case PathError::none:
        return Want::ok;
    case PathError::syntax:
        return Want::syntax;
    case PathError::too_long:
        return Want::too_long;
    case PathError::utf8_forbidden:
        return Want::utf8_forbidden;
    }
    return Want::syntax;
}

// The verdict a RCPT gets end to end: syntax first, then the relay rule.
enum class Rcpt { accept, relay_denied, unknown, syntax };

Rcpt rcpt_verdict(std::string_view path, const RelayPolicy& policy, bool utf8 = false) {
    const PathResult r = parse_path(path, PathKind::forward, utf8, AddressLimits{});
    if (r.error != PathError::none || r.consumed != path.size())
        return Rcpt::syntax;
    switch (check_relay(r.mailbox, policy)) {
    case RelayVerdict::accept:
        return Rcpt::accept;
    case RelayVerdict::relay_denied:
        return Rcpt::relay_denied;
    case RelayVerdict::unknown_recipient:
        return Rcpt::unknown;
    }
    return Rcpt::syntax;
}

const char* rcpt_name(Rcpt v) {
    switch (v) {
    case Rcpt::accept:
        return "accept";
    case Rcpt::relay_denied:
        return "relay_denied";
    case Rcpt::unknown:
        return "unknown";
    case Rcpt::syntax:
        return "syntax";
    }
    return "?";
}

} // namespace

TEST_GROUP(SmtpAddress){};

TEST(SmtpAddress, PathGrammarTable) {
    struct Case {
        const char* text;
        PathKind kind;
        Want want;
        const char* address; // Mailbox::address() when ok
    };
    const auto R = PathKind::reverse;
    const auto F = PathKind::forward;
    const Case cases[] = {
        {"<>", R, Want::ok, ""},
        {"<>", F, Want::syntax, nullptr},
        {"<u@example.com>", F, Want::ok, "u@example.com"},
        {"<first.last+tag@sub.example.com>", F, Want::ok, "first.last+tag@sub.example.com"},
        {"<\"john doe\"@example.com>", F, Want::ok, "\"john doe\"@example.com"},
        {"<\"a>b\"@example.com>", F, Want::ok, "\"a>b\"@example.com"},
        {"<\"q\\\"x\"@example.com>", F, Want::ok, "\"q\\\"x\"@example.com"},
        {"<u@[192.0.2.1]>", F, Want::ok, "u@[192.0.2.1]"},
        {"<u@[IPv6:2001:db8::1]>", F, Want::ok, "u@[IPv6:2001:db8::1]"},
        {"<@a.example,@b.example:u@example.com>", F, Want::ok, "u@example.com"},
        {"<Postmaster>", F, Want::ok, "Postmaster"},
        {"<POSTMASTER>", F, Want::ok, "POSTMASTER"},
        {"<Postmaster>", R, Want::syntax, nullptr},
        {"<u@x-y.example>", F, Want::ok, "u@x-y.example"},
        {"<u@localhost>", F, Want::ok, "u@localhost"},
        // Syntax errors
        {"u@example.com", F, Want::syntax, nullptr},
        {"<u@example.com", F, Want::syntax, nullptr},
        {"<u>", F, Want::syntax, nullptr},
        {"<u@>", F, Want::syntax, nullptr},
        {"<@example.com>", F, Want::syntax, nullptr},
        {"<u@example.com.>", F, Want::syntax, nullptr},
        {"<u@.example.com>", F, Want::syntax, nullptr},
        {"<u@example..com>", F, Want::syntax, nullptr},
        {"<u@-example.com>", F, Want::syntax, nullptr},
        {"<u@example-.com>", F, Want::syntax, nullptr},
        {"<u@exa_mple.com>", F, Want::syntax, nullptr},
        {"<.u@example.com>", F, Want::syntax, nullptr},
        {"<u.@example.com>", F, Want::syntax, nullptr},
        {"<u..v@example.com>", F, Want::syntax, nullptr},
        {"<u v@example.com>", F, Want::syntax, nullptr},
        {"<u@foreign.test@example.com>", F, Want::syntax, nullptr},
        {"<u\\@x@example.com>", F, Want::syntax, nullptr},
        {"<\"unterminated@example.com>", F, Want::syntax, nullptr},
        {"<u@[192.0.2.300]>", F, Want::syntax, nullptr},
        {"<u@[192.0.2.1>", F, Want::syntax, nullptr},
        {"<u@[IPv6:zz::1]>", F, Want::syntax, nullptr},
        {"<u@[x-tag:stuff]>", F, Want::syntax, nullptr},
        {"<u@[192.0.2.1].example>", F, Want::syntax, nullptr},
        {"<@a.example:>", F, Want::syntax, nullptr},
        {"<@a.example u@example.com>", F, Want::syntax, nullptr},
        {"<@:u@example.com>", F, Want::syntax, nullptr},
        {"<u@example.com%foreign.test>", F, Want::syntax, nullptr},
        {"<u@example.com:25>", F, Want::syntax, nullptr},
        {"<<u@example.com>>", F, Want::syntax, nullptr},
        {"", F, Want::syntax, nullptr},
        {"<", F, Want::syntax, nullptr},
    };
    for (const auto& c : cases) {
        const PathResult r = parse_path(c.text, c.kind, false, AddressLimits{});
        STRCMP_EQUAL_TEXT(want_name(c.want), want_name(got(r)), c.text);
        if (c.want == Want::ok) {
            STRCMP_EQUAL_TEXT(c.address, r.mailbox.address().c_str(), c.text);
            CHECK_EQUAL_TEXT(std::string_view(c.text).size(), r.consumed, c.text);
        }
    }
}

TEST(SmtpAddress, ParametersAfterThePathAreNotConsumed) {
    const std::string_view text = "<u@example.com> SIZE=10";
    const PathResult r = parse_path(text, PathKind::reverse, false, AddressLimits{});
    CHECK_TRUE(r.error == PathError::none);
    STRCMP_EQUAL(" SIZE=10", std::string(text.substr(r.consumed)).c_str());
}

TEST(SmtpAddress, SourceRouteIsDroppedAndRemembered) {
    const PathResult r =
        parse_path("<@relay.example:u@example.com>", PathKind::forward, false, AddressLimits{});
    CHECK_TRUE(r.error == PathError::none);
    CHECK_TRUE(r.mailbox.had_route);
    STRCMP_EQUAL("example.com", r.mailbox.domain.c_str());
}

TEST(SmtpAddress, QuotedLocalPartsAreUnquotedForTheRelayRule) {
    const PathResult r =
        parse_path("<\"u\\@foreign.test\"@example.com>", PathKind::forward, false, AddressLimits{});
    CHECK_TRUE(r.error == PathError::none);
    STRCMP_EQUAL("u@foreign.test", r.mailbox.local_value.c_str());
    STRCMP_EQUAL("\"u\\@foreign.test\"", r.mailbox.local_part.c_str());
}

// The classic open-relay test vectors (the abuse.net / Russell Nelson relay
// tests), relay domain example.com, foreign domain foreign.test. Not one may
// be accepted; each is refused as relay denied (554 5.7.1) or as a syntax
// error (501 5.1.x).
TEST(SmtpAddress, OpenRelayVectorsNeverRelay) {
    RelayPolicy policy;
    policy.domains = {"example.com"};
    struct Case {
        const char* path;
        Rcpt want;
    };
    const Case cases[] = {
        {"<u@foreign.test>", Rcpt::relay_denied},
        {"<u%foreign.test@example.com>", Rcpt::relay_denied},
        {"<u%foreign.test>", Rcpt::syntax},
        {"<\"u@foreign.test\">", Rcpt::syntax},
        {"<\"u@foreign.test\"@example.com>", Rcpt::relay_denied},
        {"<\"u%foreign.test\"@example.com>", Rcpt::relay_denied},
        {"<\"u\\@foreign.test\"@example.com>", Rcpt::relay_denied},
        {"<\"foreign.test!u\"@example.com>", Rcpt::relay_denied},
        {"<u@foreign.test@example.com>", Rcpt::syntax},
        {"<u@example.com@foreign.test>", Rcpt::syntax},
        {"<@example.com:u@foreign.test>", Rcpt::relay_denied},
        {"<@example.com,@example.com:u@foreign.test>", Rcpt::relay_denied},
        {"<foreign.test!u@example.com>", Rcpt::relay_denied},
        {"<foreign.test!u>", Rcpt::syntax},
        {"<u%foreign.test%example.com@example.com>", Rcpt::relay_denied},
        {"<u@[192.0.2.1]>", Rcpt::relay_denied},
        {"<u%foreign.test@[192.0.2.1]>", Rcpt::relay_denied},
        {"<u@[IPv6:2001:db8::1]>", Rcpt::relay_denied},
        {"<\"u%foreign.test\">", Rcpt::syntax},
        {"<u@foreign.test.>", Rcpt::syntax},
        {"<u@example.com.>", Rcpt::syntax},
        {"<u@example.com.foreign.test>", Rcpt::relay_denied},
        {"<u@evilexample.com>", Rcpt::relay_denied},
        {"<u@sub.example.com>", Rcpt::relay_denied},
        {"<u@example.co>", Rcpt::relay_denied},
        {"<u@localhost>", Rcpt::relay_denied},
        {"<u@foreign.test:example.com>", Rcpt::syntax},
        {"<u@>", Rcpt::syntax},
        {"<@>", Rcpt::syntax},
        {"<>", Rcpt::syntax},
        {"<u>", Rcpt::syntax},
        {"<postmaster@foreign.test>", Rcpt::relay_denied},
        {"u@example.com", Rcpt::syntax},
        {"<u@example.com> ", Rcpt::syntax}, // trailing octets after the path
        {"<u@exa mple.com>", Rcpt::syntax},
        {"<u@example.com\t>", Rcpt::syntax},
        // And what is ours is accepted (the table is not just "refuse all").
        {"<u@example.com>", Rcpt::accept},
        {"<u@EXAMPLE.COM>", Rcpt::accept},
        {"<U.Ser+tag@Example.Com>", Rcpt::accept},
        {"<\"john doe\"@example.com>", Rcpt::accept},
        {"<@foreign.test:u@example.com>", Rcpt::accept}, // RFC 5321 4.1.1.3: route ignored
        {"<Postmaster>", Rcpt::accept},
    };
    for (const auto& c : cases)
        STRCMP_EQUAL_TEXT(rcpt_name(c.want), rcpt_name(rcpt_verdict(c.path, policy)), c.path);
}

TEST(SmtpAddress, NulAndControlOctetsAreSyntaxErrors) {
    RelayPolicy policy;
    policy.domains = {"example.com"};
    for (int c = 0; c < 0x20; ++c) {
        std::string path = "<u";
        path.push_back(static_cast<char>(c));
        path += "@example.com>";
        CHECK_TRUE_TEXT(rcpt_verdict(path, policy) == Rcpt::syntax, std::to_string(c).c_str());
        std::string in_domain = "<u@exam";
        in_domain.push_back(static_cast<char>(c));
        in_domain += "ple.com>";
        CHECK_TRUE_TEXT(rcpt_verdict(in_domain, policy) == Rcpt::syntax, std::to_string(c).c_str());
    }
    CHECK_TRUE(rcpt_verdict("<u\x7f@example.com>", policy) == Rcpt::syntax);
    CHECK_TRUE(rcpt_verdict("<\"u\x7f\"@example.com>", policy) == Rcpt::syntax);
}

TEST(SmtpAddress, SubdomainsRelayOnlyWhenConfiguredAndAtALabelBoundary) {
    RelayPolicy policy;
    policy.domains = {"Example.COM."}; // case and a trailing dot in the setting are tolerated
    policy.relay_subdomains = true;
    CHECK_TRUE(rcpt_verdict("<u@example.com>", policy) == Rcpt::accept);
    CHECK_TRUE(rcpt_verdict("<u@mx.example.com>", policy) == Rcpt::accept);
    CHECK_TRUE(rcpt_verdict("<u@a.b.EXAMPLE.com>", policy) == Rcpt::accept);
    CHECK_TRUE(rcpt_verdict("<u@evilexample.com>", policy) == Rcpt::relay_denied);
    CHECK_TRUE(rcpt_verdict("<u@example.com.evil.test>", policy) == Rcpt::relay_denied);
    CHECK_TRUE(rcpt_verdict("<u%x@mx.example.com>", policy) == Rcpt::relay_denied);
    RelayPolicy none; // no domains: nothing relays
    CHECK_TRUE(rcpt_verdict("<u@example.com>", none) == Rcpt::relay_denied);
    RelayPolicy empty_entry;
    empty_entry.domains = {"", "."};
    empty_entry.relay_subdomains = true;
    CHECK_TRUE(rcpt_verdict("<u@example.com>", empty_entry) == Rcpt::relay_denied);
}

TEST(SmtpAddress, RecipientListNarrowsTheRelayDomains) {
    RelayPolicy policy;
    policy.domains = {"example.com"};
    policy.recipients = {"alice@example.com", "Bob@Example.com"};
    CHECK_TRUE(rcpt_verdict("<alice@example.com>", policy) == Rcpt::accept);
    CHECK_TRUE(rcpt_verdict("<ALICE@example.COM>", policy) == Rcpt::accept);
    CHECK_TRUE(rcpt_verdict("<bob@example.com>", policy) == Rcpt::accept);
    CHECK_TRUE(rcpt_verdict("<\"alice\"@example.com>", policy) == Rcpt::accept);
    CHECK_TRUE(rcpt_verdict("<carol@example.com>", policy) == Rcpt::unknown);
    CHECK_TRUE(rcpt_verdict("<alice@foreign.test>", policy) == Rcpt::relay_denied);
    policy.accept_postmaster = false;
    CHECK_TRUE(rcpt_verdict("<Postmaster>", policy) == Rcpt::relay_denied);
}

TEST(SmtpAddress, OutboundAcceptsAnyDomainButNotTheRoutingTricks) {
    RelayPolicy policy;
    policy.any_domain = true;
    struct Case {
        const char* path;
        Rcpt want;
    };
    const Case cases[] = {
        {"<dave@example.net>", Rcpt::accept},
        {"<x@sub.foreign.test>", Rcpt::accept},
        {"<@hop.test:dave@example.net>", Rcpt::accept}, // the source route is dropped
        {"<dave%other.test@example.net>", Rcpt::relay_denied},
        {"<a!b@example.net>", Rcpt::relay_denied},
        {"<\"a@b\"@example.net>", Rcpt::relay_denied},
        {"<dave@[192.0.2.1]>", Rcpt::relay_denied},
        {"<>", Rcpt::syntax},
    };
    for (const auto& c : cases)
        STRCMP_EQUAL_TEXT(rcpt_name(c.want), rcpt_name(rcpt_verdict(c.path, policy)), c.path);
}

TEST(SmtpAddress, Utf8AddressesNeedSmtputf8AndMustBeWellFormed) {
    RelayPolicy policy;
    policy.domains = {"example.com", "b\xc3\xbc"
                                     "cher.example"};
    const char* utf8_local = "<j\xc3\xb6rg@example.com>";
    PathResult r = parse_path(utf8_local, PathKind::forward, false, AddressLimits{});
    CHECK_TRUE(r.error == PathError::utf8_forbidden);
    r = parse_path(utf8_local, PathKind::forward, true, AddressLimits{});
    CHECK_TRUE(r.error == PathError::none);
    CHECK_TRUE(r.mailbox.is_utf8);
    CHECK_TRUE(rcpt_verdict(utf8_local, policy, true) == Rcpt::accept);
    CHECK_TRUE(rcpt_verdict("<u@b\xc3\xbc"
                            "cher.example>",
                            policy, true) == Rcpt::accept);
    CHECK_TRUE(rcpt_verdict("<\"j\xc3\xb6rg\"@example.com>", policy, true) == Rcpt::accept);
    // Malformed UTF-8: overlong, surrogate, truncated, stray continuation,
    // above U+10FFFF, and an overlong encoding of '@' (0xc0 0x80).
    const char* bad[] = {"<\xc0\xafx@example.com>",
                         "<\xed\xa0\x80@example.com>",
                         "<\xe2\x82@example.com>",
                         "<\x80@example.com>",
                         "<\xf4\x90\x80\x80@example.com>",
                         "<u\xc1\x80"
                         "foreign@example.com>",
                         "<u@example.com\xc3>"};
    for (const char* b : bad) {
        CHECK_TRUE_TEXT(
            parse_path(b, PathKind::forward, true, AddressLimits{}).error == PathError::syntax, b);
    }
}

TEST(SmtpAddress, LengthLimitsAreEnforced) {
    AddressLimits limits;
    const std::string label63(63, 'a'), label64(64, 'a');
    CHECK_TRUE(parse_path("<u@" + label63 + ".example>", PathKind::forward, false, limits).error ==
               PathError::none);
    CHECK_TRUE(parse_path("<u@" + label64 + ".example>", PathKind::forward, false, limits).error ==
               PathError::syntax);
    // A 255-octet domain passes, 257 does not.
    std::string domain;
    while (domain.size() < 255 - 64)
        domain += label63 + ".";
    domain += std::string(255 - domain.size(), 'b');
    CHECK_EQUAL(255u, domain.size());
    CHECK_TRUE(parse_path("<u@" + domain + ">", PathKind::forward, false, limits).error ==
               PathError::none);
    CHECK_TRUE(parse_path("<u@" + domain + "cc>", PathKind::forward, false, limits).error ==
               PathError::syntax);
    // The whole path is bounded (a huge local part never gets parsed).
    const std::string huge = "<" + std::string(100000, 'x') + "@example.com>";
    CHECK_TRUE(parse_path(huge, PathKind::forward, false, limits).error == PathError::too_long);
    limits.max_path_bytes = 19; // one less than "abcdefgh@example.com"
    CHECK_TRUE(parse_path("<abcdefgh@example.com>", PathKind::forward, false, limits).error ==
               PathError::too_long);
}

TEST(SmtpAddress, HeloNamesAreOneVisibleToken) {
    AddressLimits limits;
    const char* good[] = {"mx.example.com",
                          "[192.0.2.1]",
                          "[IPv6:2001:db8::1]",
                          "localhost",
                          "WIN_PC-01",
                          "b\xc3\xbc"
                          "cher.example"};
    for (const char* g : good)
        CHECK_TRUE_TEXT(is_acceptable_helo_name(g, limits), g);
    const std::string too_long(256, 'a');
    const std::string with_nul("mx\0x", 4);
    const char* bad[] = {"", "two words", "tab\there", "del\x7f", "bad\xff utf8", "\xc3"};
    for (const char* b : bad)
        CHECK_FALSE_TEXT(is_acceptable_helo_name(b, limits), b);
    CHECK_FALSE(is_acceptable_helo_name(too_long, limits));
    CHECK_FALSE(is_acceptable_helo_name(with_nul, limits));
}

TEST(SmtpAddress, CaseInsensitiveEqualityIsAsciiOnly) {
    CHECK_TRUE(equal_ignoring_ascii_case("Example.COM", "example.com"));
    CHECK_FALSE(equal_ignoring_ascii_case("example.com", "example.org"));
    CHECK_FALSE(equal_ignoring_ascii_case("a", "ab"));
    // U+00C4 and U+00E4 differ in their second octet: compared exactly.
    CHECK_FALSE(equal_ignoring_ascii_case("\xc3\x84", "\xc3\xa4"));
}
