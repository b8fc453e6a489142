// smtp_client_test.cc: the LAN-side client (smtp/smtp_client.h): reply
// parsing (multi-line, split at every byte, malformed), the transaction's
// results for each server answer, dot-stuffing across chunk splits, HELO
// fallback, parameter filtering, and failures that are never successes.
#include "smtp/smtp_client.h"

#include <string>
#include <vector>

#include <CppUTest/TestHarness.h>

using namespace smtpgw::smtp;

namespace {

std::span<const std::uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string take_output(Client& c) {
    std::string out(c.pending_output());
    c.consume_output(out.size());
    return out;
}

std::vector<ClientResult> results(Client& c) {
    std::vector<ClientResult> out;
    ClientResult r;
    while (c.poll_result(r))
        out.push_back(r);
    return out;
}

// A client past greeting and EHLO, with `ehlo` as the server's EHLO reply.
Client ready_client(std::string_view ehlo = "250-lan\r\n250-8BITMIME\r\n250 SIZE 1000\r\n") {
    Client c(ClientConfig{}, 0);
    c.on_connected(0);
    c.on_input(bytes("220 lan ESMTP\r\n"), 0);
    take_output(c); // EHLO
    c.on_input(bytes(ehlo), 0);
    return c;
}

// MAIL, one RCPT and DATA, each accepted: the body may follow.
void open_message(Client& c, std::uint64_t now = 0) {
    c.mail("<a@example.org>", "");
    c.rcpt("<b@example.com>", "");
    c.data();
    c.on_input(bytes("250 ok\r\n250 ok\r\n354 go\r\n"), now);
}

} // namespace

TEST_GROUP(SmtpClient){};

TEST(SmtpClient, ReplyLinesParseOrAreRefused) {
    struct Case {
        const char* line;
        bool ok;
        std::uint16_t code;
        bool last;
    };
    const Case cases[] = {
        {"250 ok", true, 250, true},     {"250-more", true, 250, false}, {"354", true, 354, true},
        {"199 low", false, 0, false},    {"600 high", false, 0, false},  {"25x no", false, 0, false},
        {"250+bad", false, 0, false},    {"25", false, 0, false},        {"", false, 0, false},
    };
    for (const auto& c : cases) {
        std::uint16_t code = 0;
        bool last = false;
        std::string_view text;
        CHECK_EQUAL_TEXT(c.ok, parse_reply_line(c.line, code, last, text), c.line);
        if (c.ok) {
            CHECK_EQUAL(c.code, code);
            CHECK_EQUAL(c.last, last);
        }
    }
}

TEST(SmtpClient, ATransactionSplitAtEveryByteGivesTheSameResults) {
    const std::string server = "220 lan ESMTP\r\n250-lan\r\n250 8BITMIME\r\n250 2.1.0 sender ok\r\n"
                               "550 5.1.1 no such user\r\n250 2.1.5 ok\r\n354 go\r\n"
                               "250 2.0.0 queued\r\n";
    for (std::size_t split = 1; split < server.size(); ++split) {
        Client c(ClientConfig{}, 0);
        c.mail("<a@example.org>", "BODY=8BITMIME");
        c.rcpt("<x@example.com>", "");
        c.rcpt("<b@example.com>", "");
        c.data();
        c.body(bytes("Subject: t\r\n\r\n.dot\r\nend\r\n"));
        c.end_body();
        c.on_connected(0);
        // Lock-step: replies only match commands in order, so the whole
        // script may arrive in any two pieces.
        c.on_input(bytes(std::string_view(server).substr(0, split)), 0);
        c.on_input(bytes(std::string_view(server).substr(split)), 0);
        std::string sent = take_output(c);
        auto r = results(c);
        CHECK_EQUAL(5u, r.size()); // mail, rcpt, rcpt, data, message
        CHECK_TRUE(r[0].step == Step::mail && r[0].reply.code == 250);
        STRCMP_EQUAL("2.1.0", r[0].reply.enhanced.c_str());
        CHECK_TRUE(r[1].step == Step::rcpt && r[1].reply.code == 550 && r[1].rcpt_index == 0);
        CHECK_TRUE(r[2].step == Step::rcpt && r[2].reply.code == 250 && r[2].rcpt_index == 1);
        CHECK_TRUE(r[3].step == Step::data && r[3].reply.code == 354);
        CHECK_TRUE(r[4].step == Step::message && r[4].reply.code == 250 && !r[4].synthetic);
        STRCMP_CONTAINS("MAIL FROM:<a@example.org> BODY=8BITMIME\r\n", sent.c_str());
        STRCMP_CONTAINS("DATA\r\nSubject: t\r\n\r\n..dot\r\nend\r\n.\r\n", sent.c_str());
    }
}

TEST(SmtpClient, RepliesSplitAtEveryByteParseTheSame) {
    const std::string reply = "250-lan.example.com\r\n250-PIPELINING\r\n250-DSN\r\n250 SIZE 5000\r\n";
    for (std::size_t split = 0; split <= reply.size(); ++split) {
        Client c(ClientConfig{}, 0);
        c.on_connected(0);
        c.on_input(bytes("220 lan\r\n"), 0);
        c.on_input(bytes(std::string_view(reply).substr(0, split)), 0);
        c.on_input(bytes(std::string_view(reply).substr(split)), 0);
        CHECK_TRUE(c.capabilities().pipelining);
        CHECK_TRUE(c.capabilities().dsn);
        CHECK_EQUAL(5000u, c.capabilities().size);
        CHECK_FALSE(c.closed());
    }
}

TEST(SmtpClient, DotStuffingHoldsAcrossEveryChunkSplit) {
    const std::string body = ".a\r\n..b\r\nc.\r\n.\r\n. \r\nend";
    for (std::size_t split = 0; split <= body.size(); ++split) {
        Client c = ready_client();
        open_message(c);
        take_output(c);
        c.body(bytes(std::string_view(body).substr(0, split)));
        c.body(bytes(std::string_view(body).substr(split)));
        c.end_body();
        STRCMP_EQUAL("..a\r\n...b\r\nc.\r\n..\r\n.. \r\nend\r\n.\r\n", take_output(c).c_str());
    }
}

TEST(SmtpClient, UnofferedParametersAreDroppedOrRefused) {
    Client c = ready_client("250-lan\r\n250 SIZE 1000\r\n"); // no 8BITMIME, DSN, SMTPUTF8
    c.mail("<a@example.org>", "SIZE=10 BODY=8BITMIME RET=HDRS");
    CHECK_EQUAL(std::string("MAIL FROM:<a@example.org> SIZE=10\r\n"), take_output(c));
    c.on_input(bytes("250 ok\r\n"), 0);
    c.rcpt("<b@example.com>", "NOTIFY=NEVER ORCPT=rfc822;b@example.com");
    CHECK_EQUAL(std::string("RCPT TO:<b@example.com>\r\n"), take_output(c));
    c.on_input(bytes("250 ok\r\n"), 0);
    results(c);
    c.rset();
    c.on_input(bytes("250 ok\r\n"), 0);
    take_output(c);
    results(c);
    c.mail("<u@example.org>", "SMTPUTF8");
    auto r = results(c);
    CHECK_EQUAL(1u, r.size());
    CHECK_EQUAL(550, r[0].reply.code);
    STRCMP_EQUAL("5.6.7", r[0].reply.enhanced.c_str());
    CHECK_EQUAL(std::string(), take_output(c)); // nothing was sent
}

TEST(SmtpClient, AnEhloRefusalFallsBackToHelo) {
    Client c(ClientConfig{}, 0);
    c.on_connected(0);
    c.on_input(bytes("220 old\r\n"), 0);
    CHECK_EQUAL(0u, take_output(c).find("EHLO "));
    c.on_input(bytes("502 what\r\n"), 0);
    CHECK_EQUAL(0u, take_output(c).find("HELO "));
    c.on_input(bytes("250 hi\r\n"), 0);
    c.mail("<a@example.org>", "BODY=8BITMIME");
    CHECK_EQUAL(std::string("MAIL FROM:<a@example.org>\r\n"), take_output(c));
}

TEST(SmtpClient, FailuresAreNeverSuccesses) {
    struct Case {
        const char* name;
        int how; // 0 closed mid-DATA, 1 silent past the timeout, 2 malformed reply, 3 over-long line
        std::uint16_t code;
    };
    const Case cases[] = {{"closed", 0, 421}, {"silent", 1, 451}, {"malformed", 2, 451},
                          {"overlong", 3, 451}};
    for (const auto& k : cases) {
        Client c = ready_client();
        open_message(c, 10);
        c.body(bytes("half\r\n"));
        c.end_body();
        take_output(c);
        results(c);
        if (k.how == 0)
            c.on_peer_closed(20);
        else if (k.how == 1)
            c.on_timer(c.next_expiry());
        else if (k.how == 2)
            c.on_input(bytes("2x0 ok\r\n"), 20);
        else
            c.on_input(bytes(std::string(5000, '2')), 20);
        auto r = results(c);
        CHECK_EQUAL_TEXT(1u, r.size(), k.name);
        CHECK_TRUE_TEXT(r[0].step == Step::message, k.name);
        CHECK_EQUAL_TEXT(k.code, r[0].reply.code, k.name);
        CHECK_TRUE_TEXT(r[0].synthetic, k.name);
        CHECK_TRUE_TEXT(c.closed() && c.wants_close(), k.name);
    }
}

TEST(SmtpClient, AnAbandonedMessageNeverGetsItsFinalDot) {
    Client c = ready_client();
    open_message(c);
    c.body(bytes("part one\r\n"));
    std::string sent = take_output(c);
    c.rset();
    sent += take_output(c);
    CHECK_TRUE(sent.find("\r\n.\r\n") == std::string::npos);
    CHECK_TRUE(c.wants_close());
    auto r = results(c);
    CHECK_TRUE(!r.empty() && r.back().step == Step::message && r.back().reply.code == 451);
}

TEST(SmtpClient, ARefusedDataIsTheMessagesResultAtTheEndOfTheBody) {
    Client c = ready_client();
    c.mail("<a@example.org>", "");
    c.rcpt("<b@example.com>", "");
    c.data();
    c.on_input(bytes("250 ok\r\n250 ok\r\n451 4.3.0 later\r\n"), 0);
    c.body(bytes("dropped\r\n"));
    auto before = results(c);
    CHECK_EQUAL(3u, before.size()); // mail, rcpt, data: the message's result waits for the end
    CHECK_TRUE(before[2].step == Step::data && before[2].reply.code == 451);
    c.end_body();
    auto r = results(c);
    CHECK_EQUAL(1u, r.size());
    CHECK_TRUE(r[0].step == Step::message && r[0].reply.code == 451 && !r[0].synthetic);
    CHECK_TRUE(take_output(c).find("dropped") == std::string::npos);
}

// --- STARTTLS toward the LAN server (RFC 3207) ---

namespace {

struct TlsRun {
    std::string before;     // what went out in clear after the EHLO reply
    bool starttls = false;  // take_starttls() said so
    std::string after;      // what went out after the handshake
    std::vector<ClientResult> results;
};

// A client in `mode` whose server answers EHLO with `ehlo` and STARTTLS with
// `starttls_reply`; `handshake_ok` decides how the TLS layer ends; then one
// MAIL is asked for.
TlsRun run_tls(LanTls mode, std::string_view ehlo, std::string_view starttls_reply,
               bool handshake_ok) {
    ClientConfig cfg;
    cfg.tls = mode;
    Client c(cfg, 0);
    c.on_connected(0);
    c.on_input(bytes("220 lan ESMTP\r\n"), 0);
    take_output(c); // EHLO
    c.mail("<a@example.org>", "");
    c.on_input(bytes(ehlo), 0);
    TlsRun r;
    r.before = take_output(c);
    if (r.before == "STARTTLS\r\n") {
        c.on_input(bytes(starttls_reply), 0);
        r.starttls = c.take_starttls();
        CHECK_FALSE(c.take_starttls()); // once
        r.before += take_output(c);
        if (r.starttls) {
            if (handshake_ok)
                c.on_tls_established(1);
            else
                c.on_tls_failed(1);
            r.after = take_output(c);
            if (r.after == "EHLO smtpgw.invalid\r\n") {
                c.on_input(bytes("250-lan\r\n250 8BITMIME\r\n"), 2); // no STARTTLS any more
                r.after += take_output(c);
            }
        }
    }
    r.results = results(c);
    return r;
}

} // namespace

TEST(SmtpClient, StartTlsGoesFirstWhenOfferedAndEhloRunsAgainInside) {
    TlsRun r = run_tls(LanTls::opportunistic, "250-lan\r\n250 STARTTLS\r\n", "220 go ahead\r\n", true);
    STRCMP_EQUAL("STARTTLS\r\n", r.before.c_str()); // nothing else in clear
    CHECK_TRUE(r.starttls);
    STRCMP_EQUAL("EHLO smtpgw.invalid\r\nMAIL FROM:<a@example.org>\r\n", r.after.c_str());
    CHECK_TRUE(r.results.empty());
}

TEST(SmtpClient, StartTlsOutcomesFollowTheMode) {
    struct Case {
        const char* name;
        LanTls mode;
        const char* ehlo;
        const char* reply;
        bool handshake_ok;
        const char* first_out;      // after the EHLO reply, in clear
        std::uint16_t result_code; // the MAIL step's result (0: none yet, sent)
    };
    const char* offers = "250-lan\r\n250 STARTTLS\r\n";
    const char* lacks = "250-lan\r\n250 8BITMIME\r\n";
    const Case cases[] = {
        {"never, offered", LanTls::never, offers, "", true, "MAIL FROM:<a@example.org>\r\n", 0},
        {"opportunistic, not offered", LanTls::opportunistic, lacks, "", true,
         "MAIL FROM:<a@example.org>\r\n", 0},
        {"opportunistic, refused", LanTls::opportunistic, offers, "454 4.7.0 no TLS\r\n", true,
         "STARTTLS\r\nMAIL FROM:<a@example.org>\r\n", 0},
        {"required, not offered", LanTls::required, lacks, "", true, "", 451},
        {"required, refused", LanTls::required, offers, "454 4.7.0 no TLS\r\n", true, "STARTTLS\r\n",
         451},
        {"required, handshake fails", LanTls::required, offers, "220 go\r\n", false, "STARTTLS\r\n",
         451},
        {"opportunistic, handshake fails", LanTls::opportunistic, offers, "220 go\r\n", false,
         "STARTTLS\r\n", 451},
    };
    for (const auto& c : cases) {
        TlsRun r = run_tls(c.mode, c.ehlo, c.reply, c.handshake_ok);
        STRCMP_EQUAL_TEXT(c.first_out, r.before.c_str(), c.name);
        if (c.result_code == 0) {
            CHECK_TRUE_TEXT(r.results.empty(), c.name);
        } else {
            CHECK_FALSE_TEXT(r.results.empty(), c.name);
            CHECK_EQUAL_TEXT(c.result_code, r.results.front().reply.code, c.name);
            STRCMP_EQUAL_TEXT("4.7.5", r.results.front().reply.enhanced.c_str(), c.name);
            CHECK_TRUE_TEXT(r.results.front().synthetic, c.name);
        }
    }
}

// --- BDAT toward a server that offers CHUNKING (RFC 3030) ---

namespace {

Client chunking_client(std::size_t chunk_bytes) {
    ClientConfig cfg;
    cfg.bdat_chunk_bytes = chunk_bytes;
    Client c(cfg, 0);
    c.on_connected(0);
    c.on_input(bytes("220 lan ESMTP\r\n"), 0);
    take_output(c); // EHLO
    c.on_input(bytes("250-lan\r\n250-PIPELINING\r\n250 CHUNKING\r\n"), 0);
    c.mail("<a@example.org>", "");
    c.rcpt("<b@example.com>", "");
    c.on_input(bytes("250 ok\r\n"), 0);
    c.on_input(bytes("250 ok\r\n"), 0);
    take_output(c);
    results(c);
    return c;
}

} // namespace

TEST(SmtpClient, ChunkingServersGetTheBodyInBdatChunksUnstuffed) {
    struct Case {
        std::size_t body_size;
        std::vector<std::string> heads; // the BDAT command lines, in order
    };
    const Case cases[] = {
        {10, {"BDAT 10 LAST"}},
        {100, {"BDAT 64", "BDAT 36 LAST"}},
        {128, {"BDAT 64", "BDAT 64 LAST"}},
        {200, {"BDAT 64", "BDAT 136 LAST"}}, // the end came while a chunk was out
    };
    for (const auto& c : cases) {
        Client cl = chunking_client(64);
        cl.data();
        STRCMP_EQUAL("", take_output(cl).c_str()); // no DATA
        std::string body;
        for (std::size_t i = 0; i < c.body_size; ++i)
            body += i % 10 == 0 ? "." : i % 10 == 9 ? "\n" : "x"; // dots at line starts
        cl.body(bytes(body));
        cl.end_body();
        std::string sent;
        std::vector<std::string> heads;
        for (std::size_t k = 0; k < c.heads.size(); ++k) {
            std::string out = take_output(cl);
            auto eol = out.find("\r\n");
            CHECK_TRUE(eol != std::string::npos);
            heads.push_back(out.substr(0, eol));
            sent += out.substr(eol + 2);
            cl.on_input(bytes(k + 1 < c.heads.size() ? "250 2.0.0 chunk\r\n" : "250 2.0.0 queued\r\n"), 1);
        }
        CHECK_EQUAL(c.heads.size(), heads.size());
        for (std::size_t k = 0; k < heads.size(); ++k)
            STRCMP_EQUAL(c.heads[k].c_str(), heads[k].c_str());
        STRCMP_EQUAL(body.c_str(), sent.c_str()); // as it is: no dot-stuffing
        auto rs = results(cl);
        CHECK_FALSE(rs.empty());
        CHECK_TRUE(rs.back().step == Step::message);
        CHECK_EQUAL(250, rs.back().reply.code);
        STRCMP_EQUAL("queued", rs.back().reply.text.c_str());
    }
}

TEST(SmtpClient, ARefusedChunkFailsTheMessageAndNoChunkFollows) {
    Client cl = chunking_client(64);
    cl.data();
    cl.body(bytes(std::string(200, 'x')));
    std::string first = take_output(cl);
    CHECK_TRUE(first.starts_with("BDAT 64\r\n"));
    cl.on_input(bytes("552 5.3.4 too big\r\n"), 1);
    cl.end_body();
    auto rs = results(cl);
    CHECK_TRUE(rs.back().step == Step::message);
    CHECK_EQUAL(552, rs.back().reply.code);
    STRCMP_EQUAL("RSET\r\n", take_output(cl).c_str()); // and no more BDAT
    cl.on_input(bytes("250 ok\r\n"), 2);
    cl.mail("<c@example.org>", "");
    STRCMP_EQUAL("MAIL FROM:<c@example.org>\r\n", take_output(cl).c_str());
}

TEST(SmtpClient, WithChunkingOffThePlainDataPathIsUsed) {
    Client cl = chunking_client(0);
    cl.data();
    STRCMP_EQUAL("DATA\r\n", take_output(cl).c_str());
}
