// smtp_proxy_test.cc: the before-queue proxy (smtp/smtp_proxy.h): the
// sender's final reply is the LAN server's, for every outcome; a message cut
// short never ends on the LAN side; log lines say what happened. The LAN
// server here is a small scripted RFC 5321 server (the lab tests use real
// ones: aiosmtpd and Postfix).
#include "smtp/smtp_proxy.h"

#include <memory>

#include <map>
#include <string>
#include <vector>

#include <CppUTest/TestHarness.h>

using namespace smtpgw::smtp;

namespace {

// A scripted LAN server: answers each command line by its verb from
// `replies` (default 250), collects DATA up to CRLF.CRLF and BDAT chunks.
struct LanServer {
    std::map<std::string, std::string> replies; // verb -> full reply line(s)
    std::string end_of_data_reply = "250 2.0.0 queued\r\n";
    bool in_data = false;
    std::uint64_t bdat_left = 0;
    bool bdat_last = false;
    std::string line, data, received_all;
    std::vector<std::string> messages; // bodies as received (still dot-stuffed for DATA)
    bool closed = false;

    std::string reply_for(const std::string& verb) const {
        auto it = replies.find(verb);
        if (it != replies.end())
            return it->second;
        if (verb == "EHLO")
            return "250-lan.example.com\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 "
                   "ENHANCEDSTATUSCODES\r\n";
        if (verb == "DATA")
            return "354 go ahead\r\n";
        return "250 2.0.0 ok\r\n";
    }
    // Takes octets from the proxy; returns what the server answers.
    std::string take(std::string_view in) {
        std::string out;
        received_all += in;
        for (char c : in) {
            if (bdat_left != 0) {
                data += c;
                if (--bdat_left == 0) {
                    if (bdat_last) {
                        messages.push_back(data);
                        data.clear();
                        out += end_of_data_reply;
                    } else {
                        out += "250 2.0.0 chunk ok\r\n";
                    }
                }
                continue;
            }
            if (in_data) {
                data += c;
                if (data.size() >= 5 && data.compare(data.size() - 5, 5, "\r\n.\r\n") == 0) {
                    messages.push_back(data.substr(0, data.size() - 3));
                    data.clear();
                    in_data = false;
                    out += end_of_data_reply;
                }
                continue;
            }
            line += c;
            if (line.size() < 2 || line.compare(line.size() - 2, 2, "\r\n") != 0)
                continue;
            std::string verb = line.substr(0, line.find_first_of(" \r"));
            for (auto& ch : verb)
                ch = static_cast<char>(toupper(static_cast<unsigned char>(ch)));
            std::string r = reply_for(verb);
            out += r;
            if (verb == "DATA" && r[0] == '3') {
                in_data = true;
                data = "\r\n"; // so a message starting with "." is seen as a line start
            }
            line.clear();
        }
        return out;
    }
};

struct Harness {
    ProxyConfig config;
    std::unique_ptr<Proxy> proxy;
    LanServer lan;
    std::string to_sender;
    bool lan_connected = false;
    bool lan_refuses_connection = false;
    std::uint64_t now = 1000;

    explicit Harness(LanServer server = {}, MessageInspector* inspector = nullptr)
        : lan(std::move(server)) {
        config.session.hostname = "mx.example.com";
        config.session.relay.domains = {"example.com"};
        config.client.helo_name = "mx.example.com";
        config.inspect = inspector != nullptr;
        proxy = std::make_unique<Proxy>(config, SessionPeer{"203.0.113.10", 7}, now);
        proxy->set_inspector(inspector);
        run();
    }
    // Moves octets between the three parties until nothing moves.
    void run() {
        for (int i = 0; i < 1000; ++i) {
            bool moved = false;
            std::string_view out = proxy->client_output();
            if (!out.empty()) {
                to_sender += out;
                proxy->consume_client_output(out.size());
                moved = true;
            }
            if (proxy->lan_connect_wanted()) {
                proxy->on_lan_opening();
                if (lan_refuses_connection) {
                    proxy->on_lan_closed(now);
                } else {
                    lan_connected = true;
                    lan.closed = false;
                    proxy->on_lan_connected(now);
                    std::string greeting = "220 lan.example.com ESMTP\r\n";
                    proxy->on_lan_input(
                        std::span(reinterpret_cast<const std::uint8_t*>(greeting.data()),
                                  greeting.size()),
                        now);
                }
                moved = true;
            }
            std::string_view lan_out = proxy->lan_output();
            if (lan_connected && !lan_out.empty()) {
                std::string copy(lan_out);
                proxy->consume_lan_output(copy.size());
                std::string answer = lan.take(copy);
                if (!answer.empty())
                    proxy->on_lan_input(
                        std::span(reinterpret_cast<const std::uint8_t*>(answer.data()),
                                  answer.size()),
                        now);
                moved = true;
            }
            if (lan_connected && proxy->lan_wants_close() && proxy->lan_output().empty()) {
                lan_connected = false;
                lan.closed = true;
                proxy->on_lan_closed(now);
                moved = true;
            }
            if (!moved)
                return;
        }
        FAIL("the proxy never settled");
    }
    void send(std::string_view text) {
        std::size_t off = 0;
        for (int i = 0; i < 1000 && off < text.size(); ++i) {
            off += proxy->on_client_input(
                std::span(reinterpret_cast<const std::uint8_t*>(text.data()) + off,
                          text.size() - off),
                now);
            run();
        }
        CHECK_EQUAL(text.size(), off);
    }
    std::string last_reply() const {
        auto end = to_sender.rfind("\r\n");
        auto start = to_sender.rfind("\r\n", end - 1);
        return to_sender.substr(start == std::string::npos ? 0 : start + 2,
                                end - (start == std::string::npos ? 0 : start + 2));
    }
    std::vector<std::string> logs() {
        std::vector<std::string> out;
        MessageLog m;
        while (proxy->poll_log(m))
            out.push_back(format_log_line(m));
        return out;
    }
};

// RFC 2920 3.1: EHLO ends a group (the client waits); MAIL, RCPT and DATA
// go in one batch.
const char* kEhlo = "EHLO client.example.org\r\n";
const char* kEnvelope = "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n";

} // namespace

TEST_GROUP(SmtpProxy){};

TEST(SmtpProxy, TheSendersFinalReplyIsTheLanServersForEveryOutcome) {
    struct Case {
        const char* name;
        const char* lan_end_reply;
        const char* sender_sees; // prefix of the sender's last reply
        const char* status;
    };
    const Case cases[] = {
        {"accepted", "250 2.0.0 queued as X\r\n", "250 2.0.0 queued as X", "status=sent"},
        {"temporary", "452 4.3.1 disk full\r\n", "452 4.3.1 disk full", "status=deferred"},
        {"permanent", "554 5.7.1 rejected by policy\r\n", "554 5.7.1 rejected by policy",
         "status=rejected"},
    };
    for (const auto& c : cases) {
        LanServer lan;
        lan.end_of_data_reply = c.lan_end_reply;
        Harness h(lan);
        h.send(kEhlo);
        h.send(kEnvelope);
        STRCMP_CONTAINS("354", h.last_reply().c_str());
        h.send("Subject: x\r\n\r\n..dot line\r\nbody\r\n.\r\n");
        STRCMP_CONTAINS(c.sender_sees, h.last_reply().c_str());
        CHECK_EQUAL(1u, h.lan.messages.size());
        // Dot-stuffing undone by the session and redone toward the LAN server.
        // Our trace line first (RFC 5321 4.4), then the sender's octets.
        const std::string& got = h.lan.messages[0];
        STRCMP_CONTAINS("\r\nReceived: from client.example.org ([203.0.113.10])\r\n"
                        "\tby mx.example.com (smtpgw) with ESMTP\r\n\tid ",
                        got.c_str());
        auto subject = got.find("Subject: x");
        CHECK_TRUE(subject != std::string::npos);
        STRCMP_EQUAL("Subject: x\r\n\r\n..dot line\r\nbody\r\n", got.substr(subject).c_str());
        auto logs = h.logs();
        CHECK_EQUAL(1u, logs.size());
        STRCMP_CONTAINS(c.status, logs[0].c_str());
        STRCMP_CONTAINS("client=203.0.113.10 helo=<client.example.org> from=<a@example.org> "
                        "to=<b@example.com>",
                        logs[0].c_str());
    }
}

TEST(SmtpProxy, NoFinalReplyReachesTheSenderBeforeTheLanServerAnswers) {
    Harness h;
    h.lan.end_of_data_reply = ""; // the LAN server is slow to answer
    h.send(kEhlo);
    h.send(kEnvelope);
    h.send("Subject: x\r\n\r\nbody\r\n.\r\n");
    CHECK_EQUAL(1u, h.lan.messages.size());
    STRCMP_CONTAINS("354", h.last_reply().c_str()); // still waiting: no 250 yet
    std::string late = "250 2.0.0 queued late\r\n";
    h.proxy->on_lan_input(
        std::span(reinterpret_cast<const std::uint8_t*>(late.data()), late.size()), h.now);
    h.run();
    STRCMP_CONTAINS("250 2.0.0 queued late", h.last_reply().c_str());
}

TEST(SmtpProxy, TheLanServersRecipientVerdictIsTheSenders) {
    LanServer lan;
    lan.replies["RCPT"] = "550 5.1.1 no such user\r\n";
    Harness h(lan);
    h.send(kEhlo);
    h.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<nobody@example.com>\r\n");
    STRCMP_CONTAINS("550 5.1.1 no such user", h.last_reply().c_str());
    h.send("DATA\r\n");
    CHECK_EQUAL('5', h.last_reply()[0]); // no valid recipient: no DATA
    CHECK_EQUAL(0u, h.lan.messages.size());
}

TEST(SmtpProxy, AForeignRecipientIsRefusedWithoutAskingTheLanServer) {
    Harness h;
    h.send(kEhlo);
    h.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<v@example.org>\r\n");
    STRCMP_CONTAINS("554 5.7.1", h.last_reply().c_str());
    CHECK(h.lan.received_all.find("v@example.org") == std::string::npos);
}

TEST(SmtpProxy, AnUnreachableLanServerGivesTheSenderATemporaryFailure) {
    Harness h;
    h.lan_refuses_connection = true;
    h.send(kEhlo);
    h.send("MAIL FROM:<a@example.org>\r\n");
    CHECK_EQUAL('4', h.last_reply()[0]);
    // The session goes on: the sender may try again (a new LAN connection).
    h.lan_refuses_connection = false;
    h.send("RSET\r\nMAIL FROM:<a@example.org>\r\n");
    STRCMP_CONTAINS("250", h.last_reply().c_str());
}

TEST(SmtpProxy, ALanServerGoneMidMessageGivesATemporaryFailureAndDeliversNothing) {
    Harness h;
    h.send(kEhlo);
    h.send(kEnvelope);
    h.send("Subject: x\r\n\r\nfirst half\r\n");
    h.lan_connected = false;
    h.proxy->on_lan_closed(h.now);
    h.run();
    h.send("second half\r\n.\r\n");
    CHECK_EQUAL('4', h.last_reply()[0]);
    CHECK_EQUAL(0u, h.lan.messages.size());
    auto logs = h.logs();
    CHECK_FALSE(logs.empty());
    STRCMP_CONTAINS("status=deferred", logs.back().c_str());
}

TEST(SmtpProxy, ASenderGoneMidMessageNeverEndsTheLanSidesData) {
    Harness h;
    h.send(kEhlo);
    h.send(kEnvelope);
    h.send("Subject: x\r\n\r\nhalf a message\r\n");
    h.proxy->on_client_closed(h.now);
    h.run();
    CHECK_EQUAL(0u, h.lan.messages.size());
    CHECK_TRUE(h.lan.closed); // dropped without the final dot
    CHECK(h.lan.received_all.find("\r\n.\r\n") == std::string::npos);
    auto logs = h.logs();
    CHECK_FALSE(logs.empty());
    STRCMP_CONTAINS("status=aborted", logs.back().c_str());
}

TEST(SmtpProxy, SmugglingSequencesNeverReachTheLanServer) {
    const char* sequences[] = {"\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n", "\r\n.\r", "\r.\r\n"};
    for (const char* seq : sequences) {
        Harness h;
        h.send(kEhlo);
        h.send(kEnvelope);
        std::string body = std::string("Subject: x\r\n\r\nbody") + seq +
                           "MAIL FROM:<evil@example.org>\r\nRCPT TO:<admin@example.com>\r\nDATA\r\n"
                           "smuggled\r\n.\r\n";
        h.send(body);
        CHECK_EQUAL('5', h.last_reply()[0]);
        CHECK_EQUAL(0u, h.lan.messages.size());
        CHECK(h.lan.received_all.find("evil@example.org") == std::string::npos);
    }
}

TEST(SmtpProxy, SeveralMessagesInOneSessionShareOneLanConnection) {
    Harness h;
    h.send(kEhlo);
    h.send(kEnvelope);
    h.send("Subject: 1\r\n\r\none\r\n.\r\n");
    STRCMP_CONTAINS("250", h.last_reply().c_str());
    h.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n");
    h.send("Subject: 2\r\n\r\ntwo\r\n.\r\n");
    STRCMP_CONTAINS("250", h.last_reply().c_str());
    CHECK_EQUAL(2u, h.lan.messages.size());
    std::size_t ehlos = 0;
    for (std::size_t p = 0; (p = h.lan.received_all.find("EHLO", p)) != std::string::npos; ++p)
        ++ehlos;
    CHECK_EQUAL(1u, ehlos);
}

TEST(SmtpProxy, TheLogLineQuotesTheReplyAndEscapesQuotes) {
    MessageLog m;
    m.id = "1.1";
    m.client = "203.0.113.10";
    m.helo.assign(1, 'h');
    m.from = "a@example.org";
    m.to = {"b@example.com", "c@example.com"};
    m.size = 12;
    m.status = "sent";
    m.reply = Reply{250, "2.0.0", "ok \"quoted\"\nsecond"};
    STRCMP_EQUAL("id=1.1 client=203.0.113.10 helo=<h> from=<a@example.org> "
                 "to=<b@example.com>,<c@example.com> size=12 status=sent "
                 "reply=\"250 2.0.0 ok \\\"quoted\\\" second\"",
                 format_log_line(m).c_str());
}

TEST(SmtpProxy, AnEarlyTalkerIsReportedOnce) {
    Harness h;
    // EHLO ends an RFC 2920 group: a client that does not wait is a bot.
    h.send("EHLO client.example.org\r\nMAIL FROM:<a@example.org>\r\n");
    STRCMP_CONTAINS("554", h.last_reply().c_str());
    CHECK_TRUE(h.proxy->client_wants_close());
    CHECK_TRUE(h.proxy->take_misbehaved());
    CHECK_FALSE(h.proxy->take_misbehaved());
    Harness polite;
    polite.send(kEhlo);
    CHECK_FALSE(polite.proxy->take_misbehaved());
}

TEST(SmtpProxy, ALanRefusalOfDataIsTheSendersFinalReply) {
    LanServer lan;
    lan.replies["DATA"] = "451 4.3.0 try again later\r\n";
    Harness h(lan);
    h.send(kEhlo);
    h.send(kEnvelope);
    h.send("Subject: x\r\n\r\nbody\r\n.\r\n");
    STRCMP_CONTAINS("451 4.3.0 try again later", h.last_reply().c_str());
    CHECK_EQUAL(0u, h.lan.messages.size());
    // The session goes on: the next message is delivered.
    h.lan.replies.erase("DATA");
    h.send(kEnvelope);
    h.send("Subject: y\r\n\r\nbody\r\n.\r\n");
    STRCMP_CONTAINS("250", h.last_reply().c_str());
    CHECK_EQUAL(1u, h.lan.messages.size());
}

TEST(SmtpProxy, TheReceivedHeaderTracesTheHopAsRfc5321AndRfc8314Ask) {
    struct Case {
        const char* name;
        const char* helo;
        const char* client;
        const char* tls;
        std::vector<std::string> rcpts;
        std::int64_t unix_ms;
        const char* expect;
    };
    const Case cases[] = {
        {"plain, one recipient",
         "client.example.org",
         "203.0.113.10",
         "",
         {"b@example.com"},
         0,
         "Received: from client.example.org ([203.0.113.10])\r\n"
         "\tby mx.example.com (smtpgw) with ESMTP\r\n\tid 1.1\r\n\tfor <b@example.com>; "
         "Thu, 01 Jan 1970 00:00:00 +0000\r\n"},
        {"TLS, two recipients (no for)",
         "client.example.org",
         "2001:db8::10",
         "TLSv1.3 TLS_AES_256_GCM_SHA384",
         {"a@example.com", "b@example.com"},
         1795493441352,
         "Received: from client.example.org ([IPv6:2001:db8::10])\r\n"
         "\tby mx.example.com (smtpgw) with ESMTPS\r\n"
         "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n\tid 1.1; "
         "Tue, 24 Nov 2026 04:10:41 +0000\r\n"},
        {"a HELO that is not a domain",
         "evil\r\nX-Injected: yes",
         "203.0.113.10",
         "",
         {},
         1709210096000,
         "Received: from unknown ([203.0.113.10])\r\n"
         "\tby mx.example.com (smtpgw) with ESMTP\r\n\tid 1.1; Thu, 29 Feb 2024 12:34:56 "
         "+0000\r\n"},
        {"an address literal HELO",
         "[203.0.113.10]",
         "203.0.113.10",
         "",
         {},
         951782400000,
         "Received: from [203.0.113.10] ([203.0.113.10])\r\n"
         "\tby mx.example.com (smtpgw) with ESMTP\r\n\tid 1.1; Tue, 29 Feb 2000 00:00:00 "
         "+0000\r\n"},
    };
    for (const auto& c : cases)
        STRCMP_EQUAL_TEXT(
            c.expect,
            received_header(c.helo, c.client, "mx.example.com", c.tls, "1.1", c.rcpts, c.unix_ms)
                .c_str(),
            c.name);
}

TEST(SmtpProxy, JsonLogLinesEscapeWhateverTheSenderSent) {
    MessageLog m;
    m.id = "00000001.1";
    m.client = "203.0.113.10";
    m.helo = "evil\"\\\r\n\x01\xff";
    m.from = "a@example.org";
    m.to = {"b@example.com", "c@example.com"};
    m.size = 42;
    m.status = "sent";
    m.reply = Reply{250, "2.0.0", "ok"};
    STRCMP_EQUAL("{\"id\":\"00000001.1\",\"client\":\"203.0.113.10\",\"helo\":"
                 "\"evil\\\"\\\\\\u000d\\u000a\\u0001\\u00ff\",\"from\":\"a@example.org\","
                 "\"to\":[\"b@example.com\",\"c@example.com\"],\"size\":42,\"status\":\"sent\","
                 "\"reply\":{\"code\":250,\"enhanced\":\"2.0.0\",\"text\":\"ok\"}}",
                 format_log_json(m).c_str());
    m.tls = "TLSv1.3 TLS_AES_128_GCM_SHA256";
    m.detail = "RCPT TO:<x@evil.test>";
    std::string j = format_log_json(m);
    CHECK_TRUE(j.find(",\"tls\":\"TLSv1.3 TLS_AES_128_GCM_SHA256\",") != std::string::npos);
    CHECK_TRUE(j.ends_with(",\"command\":\"RCPT TO:<x@evil.test>\"}"));
}

namespace {

// The real content scan (MIME, Hyperscan) behind the proxy's inspector
// interface; `defer` holds the verdict back as the antivirus threads do.
struct ScanInspector final : MessageInspector {
    std::shared_ptr<const smtpgw::rules::RuleSet> rules;
    smtpgw::rules::RuleScratch scratch;
    std::unique_ptr<smtpgw::content::MessageScan> scan;
    bool defer = false;
    bool aborted = false;
    std::optional<smtpgw::content::MessageVerdict> held;

    ScanInspector() {
        auto r = smtpgw::rules::compile_rule_set(
            smtpgw::rules::parse_rule_file("T-BAD /forbidden words/i text reject \"bad words\"\n"
                                           "T-TAG /bitcoin/i text tag \"bitcoin\"\n"),
            "t.rules");
        rules = std::get<std::shared_ptr<const smtpgw::rules::RuleSet>>(r);
    }
    void begin(std::string_view) override {
        scan = std::make_unique<smtpgw::content::MessageScan>(rules, scratch,
                                                              smtpgw::content::ScanSettings{});
    }
    void body(std::span<const std::uint8_t> bytes) override { scan->feed(bytes); }
    bool end(smtpgw::content::MessageVerdict& out) override {
        auto outcome = scan->finish();
        out = smtpgw::content::decide(outcome, {}, rules.get());
        if (!defer)
            return true;
        held = out;
        return false;
    }
    void abort() override { aborted = true; }
};

std::string message_text(const char* body) {
    return std::string("Subject: t\r\n\r\n") + body + "\r\n.\r\n";
}

} // namespace

TEST(SmtpProxy, ARefusedMessageNeverReachesTheLanServer) {
    ScanInspector inspector;
    Harness h({}, &inspector);
    h.send(kEhlo);
    h.send(kEnvelope);
    h.send(message_text("these are forbidden words"));
    STRCMP_EQUAL("550 5.7.1 Message rejected by rule T-BAD (bad words)", h.last_reply().c_str());
    CHECK_EQUAL(0u, h.lan.messages.size());
    CHECK_TRUE(h.lan.received_all.find("DATA") == std::string::npos);
    CHECK_TRUE(h.lan.received_all.find("RSET") != std::string::npos);
    auto logs = h.logs();
    CHECK_EQUAL(1u, logs.size());
    STRCMP_CONTAINS("status=rejected", logs[0].c_str());
    STRCMP_CONTAINS("verdict=\"rule=T-BAD\" rules=T-BAD", logs[0].c_str());
    // The session goes on: the next message passes.
    h.send(kEnvelope);
    h.send(message_text("fine words"));
    STRCMP_EQUAL("250 2.0.0 queued", h.last_reply().c_str());
    CHECK_EQUAL(1u, h.lan.messages.size());
}

TEST(SmtpProxy, APassedMessageIsDeliveredWithItsTraceAndTagHeaders) {
    struct Case {
        const char* body;
        const char* header; // expected after Received:, "" for none
    };
    const Case cases[] = {
        {"a plain hello", ""},
        {"pay in bitcoin", "X-Smtpgw-Verdict: tagged; rules=T-TAG; score=0\r\n"},
    };
    for (const auto& c : cases) {
        ScanInspector inspector;
        Harness h({}, &inspector);
        h.send(kEhlo);
        h.send(kEnvelope);
        h.send(message_text(c.body));
        STRCMP_EQUAL("250 2.0.0 queued", h.last_reply().c_str());
        CHECK_EQUAL(1u, h.lan.messages.size());
        const std::string& m = h.lan.messages[0];
        CHECK_TRUE(m.starts_with("\r\nReceived: from client.example.org"));
        std::string after = m.substr(m.find("+0000\r\n") + 7);
        std::string expect = std::string(c.header) + "Subject: t\r\n\r\n" + c.body + "\r\n";
        STRCMP_EQUAL(expect.c_str(), after.c_str());
    }
}

TEST(SmtpProxy, TheSenderWaitsForADeferredVerdict) {
    ScanInspector inspector;
    inspector.defer = true;
    Harness h({}, &inspector);
    h.send(kEhlo);
    h.send(kEnvelope);
    h.send(message_text("hello"));
    STRCMP_EQUAL("354 End data with <CR><LF>.<CR><LF>", h.last_reply().c_str());
    CHECK_EQUAL(0u, h.lan.messages.size());
    CHECK_TRUE(inspector.held.has_value());
    h.proxy->on_inspection(*inspector.held, h.now);
    h.run();
    STRCMP_EQUAL("250 2.0.0 queued", h.last_reply().c_str());
    CHECK_EQUAL(1u, h.lan.messages.size());
}

TEST(SmtpProxy, ATemporaryVerdictDefersAndDeliversNothing) {
    ScanInspector inspector;
    inspector.defer = true;
    Harness h({}, &inspector);
    h.send(kEhlo);
    h.send(kEnvelope);
    h.send(message_text("hello"));
    smtpgw::content::MessageVerdict v;
    v.action = smtpgw::content::Disposition::tempfail;
    v.code = 451;
    v.enhanced = "4.3.0";
    v.text = "antivirus error: timeout, try again later";
    v.reason = "av-error";
    h.proxy->on_inspection(v, h.now);
    h.run();
    STRCMP_EQUAL("451 4.3.0 antivirus error: timeout, try again later", h.last_reply().c_str());
    CHECK_EQUAL(0u, h.lan.messages.size());
    STRCMP_CONTAINS("status=deferred", h.logs()[0].c_str());
}

TEST(SmtpProxy, ASenderGoneBeforeItsVerdictGetsNothingDelivered) {
    ScanInspector inspector;
    inspector.defer = true;
    Harness h({}, &inspector);
    h.send(kEhlo);
    h.send(kEnvelope);
    h.send(message_text("hello"));
    h.proxy->on_client_closed(h.now);
    h.run();
    h.proxy->on_inspection(*inspector.held, h.now);
    h.run();
    CHECK_EQUAL(0u, h.lan.messages.size());
    STRCMP_CONTAINS("status=aborted", h.logs()[0].c_str());
}

TEST(SmtpProxy, AMessageAbandonedMidDataAbortsItsScan) {
    ScanInspector inspector;
    Harness h({}, &inspector);
    h.send(kEhlo);
    h.send(kEnvelope);
    h.send("Subject: t\r\n\r\npart of a body\r\n");
    h.proxy->on_client_closed(h.now);
    h.run();
    CHECK_TRUE(inspector.aborted);
    CHECK_EQUAL(0u, h.lan.messages.size());
}
