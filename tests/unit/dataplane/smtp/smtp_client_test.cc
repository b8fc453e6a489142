// smtp_client_test.cc: the LAN-side client (smtp/smtp_client.h), driven by
// scripted conversations: a plain server, a PIPELINING one, a CHUNKING one,
// a HELO-only one; MAIL, one RCPT, all RCPTs, DATA and the message refused
// with 4xx and 5xx; the server closing mid-DATA and silent past every stage
// timeout; malformed and unexpected replies; parameter filtering; aborted
// messages that never get their end; the server's replies cut at every
// byte; and randomized bodies that come out stuffed (or chunked) exactly.
#include "smtp/smtp_client.h"

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <CppUTest/TestHarness.h>

using namespace smtpgw::smtp;

namespace {

std::span<const std::uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

ClientConfig test_config() {
    ClientConfig c;
    c.helo_name = "gw.test";
    return c;
}

const char* const kPlain = "250-lan.test\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n";
const char* const kPipe = "250-lan.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 1000\r\n";
const char* const kChunk =
    "250-lan.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250 8BITMIME\r\n";
const char* const kChunkLockstep = "250-lan.test\r\n250 CHUNKING\r\n";

// One client and what it wrote and reported, driven by a small script:
//   "S:<text>"          the server sends <text>
//   "mail <path> [p]"   mail(path, params); likewise "rcpt"
//   "data", "end", "rset", "quit", "body:<text>"
//   "closed"            the server closes; "t=<ms>" on_timer(ms)
//   "hold"              the adapter stops taking output
struct Run {
    Client c;
    std::string out;
    std::vector<ClientResult> res;
    std::uint64_t now = 100;
    bool drain = true; // the adapter takes the output

    explicit Run(const ClientConfig& cfg = test_config()) : c(cfg, 0) {}

    void pull() {
        if (drain) {
            out += std::string(c.pending_output());
            c.consume_output(c.pending_output().size());
        }
        ClientResult r;
        while (c.poll_result(r))
            res.push_back(r);
    }
    // The connection up to the end of EHLO; what it wrote and reported is forgotten.
    Run& greet(const char* ehlo) {
        c.on_connected(now);
        c.on_input(bytes("220 lan.test ESMTP\r\n"), now);
        c.on_input(bytes(ehlo), now);
        pull();
        out.clear();
        res.clear();
        return *this;
    }
    void act(std::string_view a) {
        auto arg = [&](std::size_t skip) {
            std::string_view rest = a.substr(skip);
            auto sp = rest.find(' ');
            return std::pair(rest.substr(0, sp), sp == std::string_view::npos
                                                     ? std::string_view()
                                                     : rest.substr(sp + 1));
        };
        if (a.starts_with("S:"))
            c.on_input(bytes(a.substr(2)), now);
        else if (a.starts_with("mail ")) {
            auto [p, params] = arg(5);
            c.mail(p, params);
        } else if (a.starts_with("rcpt ")) {
            auto [p, params] = arg(5);
            c.rcpt(p, params);
        } else if (a == "data")
            c.data();
        else if (a.starts_with("body:"))
            c.body(bytes(a.substr(5)));
        else if (a == "end")
            c.end_body();
        else if (a == "rset")
            c.rset();
        else if (a == "quit")
            c.quit();
        else if (a == "hold")
            drain = false; // the adapter stops taking output
        else if (a == "closed")
            c.on_peer_closed(now);
        else if (a.starts_with("t=")) {
            now = std::stoull(std::string(a.substr(2)));
            c.on_timer(now);
        } else
            FAIL(("unknown script action: " + std::string(a)).c_str());
        pull();
    }
    void play(const std::vector<std::string>& script) {
        for (const auto& a : script)
            act(a);
    }
    // "mail 250, rcpt#0 550, data 354*" (* = synthetic)
    std::string results() const {
        std::string s;
        for (const auto& r : res) {
            if (!s.empty())
                s += ", ";
            s += step_name(r.step);
            if (r.step == Step::rcpt) {
                s += '#';
                s += std::to_string(r.rcpt_index);
            }
            s += ' ';
            s += std::to_string(r.reply.code);
            if (r.synthetic)
                s += '*';
        }
        return s;
    }
};

struct Scenario {
    const char* name;
    const char* ehlo;
    std::vector<std::string> script;
    const char* written;
    const char* results;
    bool closed;
};

void run_scenarios(const std::vector<Scenario>& table) {
    for (const auto& sc : table) {
        Run r;
        r.greet(sc.ehlo);
        r.play(sc.script);
        STRCMP_EQUAL_TEXT(sc.written, r.out.c_str(), sc.name);
        STRCMP_EQUAL_TEXT(sc.results, r.results().c_str(), sc.name);
        CHECK_EQUAL_TEXT(sc.closed, r.c.closed(), sc.name);
    }
}

// Where a written DATA body starts and its stuffed text with the end.
std::string after_data(const std::string& out) {
    auto at = out.find("DATA\r\n");
    return at == std::string::npos ? std::string() : out.substr(at + 6);
}

} // namespace

TEST_GROUP(SmtpClient){};

TEST(SmtpClient, GreetingAndEhloAreReportedAndCapabilitiesRead) {
    Run r;
    r.c.on_connected(0);
    r.act("S:220 lan.test ESMTP\r\n");
    STRCMP_EQUAL("EHLO gw.test\r\n", r.out.c_str());
    r.act("S:250-lan.test\r\n250-pipelining\r\n250-SIZE 5000\r\n250-DSN\r\n250-CHUNKING\r\n"
          "250-AUTH PLAIN\r\n250-bad_kw\r\n250-SMTPUTF8\r\n250-STARTTLS\r\n250 X-CUSTOM\r\n");
    STRCMP_EQUAL("greeting 220, ehlo 250", r.results().c_str());
    const Capabilities& caps = r.c.capabilities();
    CHECK_TRUE(caps.esmtp && caps.pipelining && caps.dsn && caps.chunking && caps.smtputf8 &&
               caps.starttls && caps.size);
    CHECK_FALSE(caps.eightbitmime || caps.binarymime || caps.enhanced_status_codes);
    CHECK_EQUAL(5000u, caps.size_limit);
    CHECK_TRUE(caps.has("x-custom") && caps.has("AUTH"));
    CHECK_FALSE(caps.has("BAD_KW")); // not an ehlo-keyword
    CHECK_TRUE(r.c.ready_for_transaction());
}

TEST(SmtpClient, SizeKeywordWithoutAReadableNumberMeansNoLimit) {
    const char* cases[] = {"250-l\r\n250 SIZE\r\n", "250-l\r\n250 SIZE 12x\r\n",
                           "250-l\r\n250 SIZE 99999999999999999999999\r\n"};
    for (const char* ehlo : cases) {
        Run r;
        r.greet(ehlo);
        CHECK_TRUE_TEXT(r.c.capabilities().size, ehlo);
        CHECK_EQUAL_TEXT(0u, r.c.capabilities().size_limit, ehlo);
    }
}

TEST(SmtpClient, ConversationsWithEachKindOfServer) {
    run_scenarios({
        {"plain server: lock-step, enhanced codes",
         kPlain,
         {"mail <a@x.test> BODY=8BITMIME", "rcpt <b@y.test>", "rcpt c@y.test", "data",
          "body:.dot\r\n", "end", "S:250 2.1.0 ok\r\n", "S:250 2.1.5 ok\r\n",
          "S:550 5.1.1 unknown\r\n", "S:354 go\r\n", "S:250 2.0.0 queued\r\n"},
         "MAIL FROM:<a@x.test> BODY=8BITMIME\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\n"
         "DATA\r\n..dot\r\n.\r\n",
         "mail 250, rcpt#0 250, rcpt#1 550, data 354, message 250",
         false},
        {"PIPELINING server: MAIL, RCPTs and DATA in one group",
         kPipe,
         {"mail <a@x.test> SIZE=99", "rcpt <b@y.test>", "rcpt <c@y.test>", "data", "body:hi", "end",
          "S:250 ok\r\n250 ok\r\n550 no\r\n354 go\r\n", "S:250 queued\r\n"},
         "MAIL FROM:<a@x.test> SIZE=99\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\nDATA\r\n"
         "hi\r\n.\r\n",
         "mail 250, rcpt#0 250, rcpt#1 550, data 354, message 250",
         false},
        {"CHUNKING server: BDAT LAST, no stuffing",
         kChunk,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "body:a\r\n.b\r\n", "end",
          "S:250 ok\r\n250 ok\r\n", "S:250 queued\r\n"},
         "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 7 LAST\r\na\r\n.b\r\n",
         "mail 250, rcpt#0 250, data 354*, message 250",
         false},
        {"CHUNKING server: empty body is BDAT 0 LAST",
         kChunk,
         {"mail <a@x.test>", "rcpt <b@y.test>", "S:250 ok\r\n250 ok\r\n", "data", "end",
          "S:250 queued\r\n"},
         "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 0 LAST\r\n",
         "mail 250, rcpt#0 250, data 354*, message 250",
         false},
        {"connection reused: no RSET after a delivered message",
         kPipe,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "body:1\r\n", "end",
          "S:250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n", "mail <c@x.test>", "rcpt <d@y.test>",
          "S:250 ok\r\n250 ok\r\n"},
         "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n1\r\n.\r\n"
         "MAIL FROM:<c@x.test>\r\nRCPT TO:<d@y.test>\r\n",
         "mail 250, rcpt#0 250, data 354, message 250, mail 250, rcpt#0 250",
         false},
        {"QUIT closes after its reply",
         kPlain,
         {"quit", "S:221 2.0.0 bye\r\n"},
         "QUIT\r\n",
         "quit 221",
         true},
        {"RSET between transactions is the server's reply",
         kPlain,
         {"mail <a@x.test>", "S:250 ok\r\n", "rset", "S:250 2.0.0 reset\r\n"},
         "MAIL FROM:<a@x.test>\r\nRSET\r\n",
         "mail 250, rset 250",
         false},
    });
}

TEST(SmtpClient, ChunksAreBoundedAndPipelinedOrLockStep) {
    for (bool pipelined : {true, false}) {
        ClientConfig cfg = test_config();
        cfg.bdat_chunk_size = 4;
        Run r(cfg);
        r.greet(pipelined ? kChunk : kChunkLockstep);
        r.play({"mail <a@x.test>", "rcpt <b@y.test>", "S:250 ok\r\n", "S:250 ok\r\n", "data",
                "body:0123456789", "end"});
        if (pipelined) {
            STRCMP_EQUAL("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 4\r\n0123BDAT 4\r\n"
                         "4567BDAT 4 LAST\r\n89\r\n",
                         r.out.c_str());
            r.act("S:250 ok\r\n250 ok\r\n250 queued\r\n");
        } else {
            STRCMP_EQUAL("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 4\r\n0123",
                         r.out.c_str());
            r.act("S:250 ok\r\n");
            r.act("S:250 ok\r\n");
            STRCMP_CONTAINS("4567BDAT 4 LAST\r\n89\r\n", r.out.c_str());
            r.act("S:250 queued\r\n");
        }
        STRCMP_EQUAL("mail 250, rcpt#0 250, data 354*, message 250", r.results().c_str());
        CHECK_TRUE(r.c.ready_for_transaction());
    }
}

TEST(SmtpClient, AnOldServerGetsHeloAndNoParameters) {
    Run r;
    r.c.on_connected(0);
    r.act("S:220 old.test\r\n");
    r.act("S:502 5.5.2 what\r\n");
    r.act("S:250 old.test hi\r\n");
    STRCMP_EQUAL("EHLO gw.test\r\nHELO gw.test\r\n", r.out.c_str());
    STRCMP_EQUAL("greeting 220, ehlo 250", r.results().c_str());
    CHECK_FALSE(r.c.capabilities().esmtp);
    r.out.clear();
    r.act("mail <a@x.test> SIZE=10 BODY=8BITMIME RET=HDRS");
    STRCMP_EQUAL("MAIL FROM:<a@x.test>\r\n", r.out.c_str());
    r.play({"S:250 ok\r\n", "rcpt <b@y.test> NOTIFY=NEVER ORCPT=rfc822;b@y.test", "S:250 ok\r\n",
            "data", "S:354 go\r\n", "body:x\r\n", "end", "S:250 ok\r\n"});
    STRCMP_CONTAINS("RCPT TO:<b@y.test>\r\nDATA\r\nx\r\n.\r\n", r.out.c_str());
    CHECK_TRUE(r.c.ready_for_transaction());
}

TEST(SmtpClient, ServerRefusalsReachEachStepAsTheServerSaidThem) {
    run_scenarios({
        {"MAIL 451",
         kPlain,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "body:x\r\n", "end",
          "S:451 4.3.0 later\r\n", "S:503 5.5.1 need MAIL\r\n", "S:503 5.5.1 need MAIL\r\n"},
         "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n",
         "mail 451, rcpt#0 503, data 503, message 503*",
         false},
        {"MAIL 550",
         kPlain,
         {"mail <a@x.test>", "S:550 5.7.1 no\r\n"},
         "MAIL FROM:<a@x.test>\r\n",
         "mail 550",
         false},
        {"one RCPT 450, message delivered",
         kPipe,
         {"mail <a@x.test>", "rcpt <b@y.test>", "rcpt <c@y.test>", "data", "body:x\r\n", "end",
          "S:250 ok\r\n450 busy\r\n250 ok\r\n354 go\r\n", "S:250 queued\r\n"},
         "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\nDATA\r\nx\r\n.\r\n",
         "mail 250, rcpt#0 450, rcpt#1 250, data 354, message 250",
         false},
        {"all RCPTs refused, DATA refused; RSET before the next MAIL",
         kPipe,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "body:x\r\n", "end",
          "S:250 ok\r\n550 no\r\n554 5.5.1 no valid recipients\r\n", "mail <c@x.test>",
          "S:250 ok\r\n250 ok\r\n"},
         "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nRSET\r\nMAIL FROM:<c@x.test>\r\n",
         "mail 250, rcpt#0 550, data 554, message 554*, mail 250",
         false},
        {"all RCPTs refused but DATA said 354: a lone dot, nothing delivered",
         kPipe,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "body:secret\r\n", "end",
          "S:250 ok\r\n550 no\r\n354 go\r\n", "S:554 no recipients\r\n"},
         "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n.\r\n",
         "mail 250, rcpt#0 550, data 554*, message 554*",
         false},
        {"CHUNKING and all RCPTs refused: no chunk written",
         kChunk,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "body:x\r\n", "end",
          "S:250 ok\r\n550 no\r\n"},
         "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n",
         "mail 250, rcpt#0 550, data 554*, message 554*",
         false},
        {"DATA 451",
         kPlain,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "body:x\r\n", "end", "S:250 ok\r\n",
          "S:250 ok\r\n", "S:451 4.3.0 later\r\n"},
         "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n",
         "mail 250, rcpt#0 250, data 451, message 451*",
         false},
        {"DATA 554",
         kPlain,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "S:250 ok\r\n", "S:250 ok\r\n",
          "S:554 5.7.1 no\r\n", "body:x\r\n", "end"},
         "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n",
         "mail 250, rcpt#0 250, data 554, message 554*",
         false},
        {"message 451, RSET before the next MAIL",
         kPlain,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "body:x\r\n", "end", "S:250 ok\r\n",
          "S:250 ok\r\n", "S:354 go\r\n", "S:451 4.7.1 greylisted\r\n", "mail <c@x.test>",
          "S:250 ok\r\n", "S:250 ok\r\n"},
         "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nx\r\n.\r\nRSET\r\n"
         "MAIL FROM:<c@x.test>\r\n",
         "mail 250, rcpt#0 250, data 354, message 451, mail 250",
         false},
        {"message 554",
         kPipe,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "body:x\r\n", "end",
          "S:250 ok\r\n250 ok\r\n354 go\r\n554 5.7.1 virus\r\n"},
         "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nx\r\n.\r\n",
         "mail 250, rcpt#0 250, data 354, message 554",
         false},
        {"a refused BDAT ends the message; later chunks are not its reply",
         kChunk,
         {"mail <a@x.test>", "rcpt <b@y.test>", "S:250 ok\r\n250 ok\r\n", "data", "body:x\r\n",
          "end", "S:552 5.3.4 too big\r\n", "mail <c@x.test>", "S:250 ok\r\n250 ok\r\n"},
         "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 3 LAST\r\nx\r\nRSET\r\n"
         "MAIL FROM:<c@x.test>\r\n",
         "mail 250, rcpt#0 250, data 354*, message 552, mail 250",
         false},
        {"421 to a RCPT: the server is closing",
         kPipe,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "S:250 ok\r\n421 4.3.2 shutting down\r\n"},
         "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n",
         "mail 250, rcpt#0 421, data 421*",
         true},
    });
}

TEST(SmtpClient, ARefusedMiddleChunkSilencesTheChunksInFlight) {
    ClientConfig cfg = test_config();
    cfg.bdat_chunk_size = 2;
    Run r(cfg);
    r.greet(kChunk);
    r.play({"mail <a@x.test>", "rcpt <b@y.test>", "S:250 ok\r\n250 ok\r\n", "data",
            "body:aabbcc\r\n", "end"});
    STRCMP_CONTAINS("BDAT 2\r\naaBDAT 2\r\nbbBDAT 2\r\nccBDAT 2\r\n\r\nBDAT 0 LAST\r\n",
                    r.out.c_str());
    r.act("S:250 ok\r\n452 4.3.1 full\r\n503 5.5.1 no\r\n503 5.5.1 no\r\n");
    CHECK_FALSE(r.c.ready_for_transaction()); // one chunk still unanswered
    r.act("S:503 5.5.1 no\r\n");
    STRCMP_EQUAL("mail 250, rcpt#0 250, data 354*, message 452", r.results().c_str());
    CHECK_TRUE(r.c.ready_for_transaction());
}

TEST(SmtpClient, TheServerClosingFailsEveryPendingStepWithoutSuccess) {
    struct Case {
        const char* name;
        std::vector<std::string> script;
        const char* results;
    };
    const Case cases[] = {
        {"before the greeting", {"mail <a@x.test>", "closed"}, "mail 421*"},
        {"mid-DATA, body open",
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "S:250 ok\r\n", "S:250 ok\r\n",
          "S:354 go\r\n", "body:half", "closed", "end"},
         "mail 250, rcpt#0 250, data 354, message 421*"},
        {"after the final dot",
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "body:x\r\n", "end", "S:250 ok\r\n",
          "S:250 ok\r\n", "S:354 go\r\n", "closed"},
         "mail 250, rcpt#0 250, data 354, message 421*"},
        {"with pipelined commands unanswered",
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "body:x\r\n", "end", "closed"},
         "mail 421*, rcpt#0 421*, data 421*, message 421*"},
        {"and calls after it are answered at once",
         {"closed", "mail <a@x.test>", "rcpt <b@y.test>", "data", "body:x", "end", "rset", "quit"},
         "mail 421*, rcpt#0 421*, data 421*, message 421*, rset 421*, quit 421*"},
    };
    for (const auto& c : cases) {
        Run r;
        if (std::string_view(c.name) != "before the greeting")
            r.greet(kPlain);
        r.play(c.script);
        STRCMP_EQUAL_TEXT(c.results, r.results().c_str(), c.name);
        CHECK_TRUE_TEXT(r.c.closed(), c.name);
        CHECK_FALSE_TEXT(r.c.wants_close(), c.name); // the peer closed, not us
        CHECK_TRUE_TEXT(r.c.pending_output().empty(), c.name);
        CHECK_EQUAL_TEXT(UINT64_MAX, r.c.next_expiry(), c.name);
        for (const auto& res : r.res)
            if (res.synthetic)
                STRCMP_EQUAL_TEXT("4.4.2", res.reply.enhanced.c_str(), c.name);
    }
}

TEST(SmtpClient, EachStageTimesOutWithASynthetic451) {
    ClientConfig cfg = test_config();
    cfg.initial_220_ms = 1000;
    cfg.command_ms = 2000;
    cfg.mail_ms = 3000;
    cfg.rcpt_ms = 4000;
    cfg.data_init_ms = 5000;
    cfg.data_block_ms = 6000;
    cfg.data_term_ms = 7000;
    struct Case {
        const char* name;
        bool greet;                      // start from a greeted client
        std::vector<std::string> script; // all at t=100
        std::uint64_t armed_at;          // 100, or 200 if armed by on_timer(200)
        std::uint64_t timeout;
        const char* results;
    };
    const Case cases[] = {
        {"initial 220", false, {}, 100, 1000, "greeting 451*"},
        {"EHLO", false, {"S:220 lan\r\n"}, 100, 2000, "greeting 220, ehlo 451*"},
        {"MAIL", true, {"mail <a@x.test>"}, 200, 3000, "mail 451*"},
        {"RCPT",
         true,
         {"mail <a@x.test>", "rcpt <b@y.test>", "S:250 ok\r\n"},
         100,
         4000,
         "mail 250, rcpt#0 451*"},
        {"DATA initiation",
         true,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "S:250 ok\r\n", "S:250 ok\r\n"},
         100,
         5000,
         "mail 250, rcpt#0 250, data 451*"},
        {"DATA termination",
         true,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "S:250 ok\r\n", "S:250 ok\r\n",
          "S:354 go\r\n", "body:x\r\n", "end"},
         200,
         7000,
         "mail 250, rcpt#0 250, data 354, message 451*"},
        {"data block: output not drained",
         true,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "S:250 ok\r\n", "S:250 ok\r\n",
          "S:354 go\r\n", "hold", "body:x\r\n"},
         200,
         6000,
         "mail 250, rcpt#0 250, data 354"},
        {"RSET", true, {"rset"}, 200, 2000, "rset 451*"},
        {"QUIT", true, {"quit"}, 200, 2000, "quit 451*"},
    };
    for (const auto& c : cases) {
        Run r(cfg);
        r.now = 100;
        if (c.greet)
            r.greet(kPlain);
        else
            r.c.on_connected(100);
        r.play(c.script);
        if (c.armed_at == 200) {
            // Calls without a clock leave the timer to the next timed call.
            CHECK_EQUAL_TEXT(100u, r.c.next_expiry(), c.name);
            r.act("t=200");
        }
        CHECK_EQUAL_TEXT(c.armed_at + c.timeout, r.c.next_expiry(), c.name);
        r.act("t=" + std::to_string(c.armed_at + c.timeout - 1));
        CHECK_FALSE_TEXT(r.c.closed(), c.name);
        r.act("t=" + std::to_string(c.armed_at + c.timeout));
        CHECK_TRUE_TEXT(r.c.wants_close(), c.name);
        if (*c.results)
            STRCMP_EQUAL_TEXT(c.results, r.results().c_str(), c.name);
        for (const auto& res : r.res)
            if (res.synthetic) {
                STRCMP_EQUAL_TEXT("4.4.2", res.reply.enhanced.c_str(), c.name);
                STRCMP_EQUAL_TEXT("LAN server timeout", res.reply.text.c_str(), c.name);
            }
    }
}

TEST(SmtpClient, EachReplyRestartsTheTimerOfTheNextCommand) {
    ClientConfig cfg = test_config();
    cfg.rcpt_ms = 1000;
    Run r(cfg);
    r.greet(kPipe);
    r.play({"mail <a@x.test>", "rcpt <b@y.test>", "rcpt <c@y.test>", "t=0"});
    r.now = 900;
    r.act("S:250 ok\r\n250 ok\r\n"); // the second RCPT now has its own second
    CHECK_EQUAL(1900u, r.c.next_expiry());
    r.act("t=1899");
    CHECK_FALSE(r.c.closed());
}

TEST(SmtpClient, MalformedOrUnexpectedRepliesFailTheConnection) {
    struct Case {
        const char* name;
        std::string_view reply;
        const char* results;
    };
    const Case cases[] = {
        {"bad code", "2x0 ok\r\n", "mail 451*"},
        {"code out of range", "650 ok\r\n", "mail 451*"},
        {"inconsistent codes", "250-a\r\n251 b\r\n", "mail 451*"},
        {"NUL", std::string_view("250 a\0\r\n", 8), "mail 451*"},
        {"bare LF", "250 ok\n", "mail 451*"},
        {"bare CR", "250 o\rk\r\n", "mail 451*"},
        {"over-long line",
         std::string_view("250 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"),
         "mail 451*"},
        {"354 to MAIL", "354 go on\r\n", "mail 451*"},
        {"a reply too many", "250 ok\r\n250 extra\r\n", "mail 250"},
    };
    for (const auto& c : cases) {
        ClientConfig cfg = test_config();
        cfg.reply_limits.max_reply_line = 128;
        Run r(cfg);
        r.greet(kPlain);
        r.act("mail <a@x.test>");
        r.act("S:" + std::string(c.reply));
        STRCMP_EQUAL_TEXT(c.results, r.results().c_str(), c.name);
        CHECK_TRUE_TEXT(r.c.wants_close(), c.name);
        const ClientResult& last = r.res.back();
        if (last.synthetic) {
            CHECK_EQUAL_TEXT(451, last.reply.code, c.name);
            STRCMP_EQUAL_TEXT("4.5.0", last.reply.enhanced.c_str(), c.name);
        }
    }
    // 250 to DATA is out of place too: no message may follow a non-354.
    Run r;
    r.greet(kPipe);
    r.play({"mail <a@x.test>", "rcpt <b@y.test>", "data", "body:x\r\n", "end",
            "S:250 ok\r\n250 ok\r\n250 what\r\n"});
    STRCMP_EQUAL("mail 250, rcpt#0 250, data 451*, message 451*", r.results().c_str());
    CHECK_TRUE(after_data(r.out).empty());
    // An unsolicited 421 is the server leaving.
    Run idle;
    idle.greet(kPlain);
    idle.act("S:421 4.3.2 shutting down\r\n");
    CHECK_TRUE(idle.c.closed());
    idle.act("mail <a@x.test>");
    STRCMP_EQUAL("mail 421*", idle.results().c_str());
}

TEST(SmtpClient, AHugeRepliesFloodIsBoundedAndFails) {
    Run r;
    r.greet(kPlain);
    r.act("mail <a@x.test>");
    std::string flood;
    for (int i = 0; i < 100000; ++i)
        flood += "250-more\r\n";
    r.act("S:" + flood);
    STRCMP_EQUAL("mail 451*", r.results().c_str());
    STRCMP_CONTAINS("too_many_lines", r.res[0].reply.text.c_str());
}

TEST(SmtpClient, ASessionTheServerRefusesFailsQueuedStepsWithout421ToTheSender) {
    struct Case {
        const char* name;
        std::vector<std::string> server;
        const char* results;
    };
    const Case cases[] = {
        {"greeting 554", {"S:554 5.7.1 go away\r\n"}, "greeting 554, mail 451*"},
        {"EHLO 421",
         {"S:220 lan\r\n", "S:421 4.3.2 busy\r\n"},
         "greeting 220, ehlo 421, mail 451*"},
        {"EHLO 5xx then HELO 5xx",
         {"S:220 lan\r\n", "S:500 no\r\n", "S:550 no\r\n"},
         "greeting 220, ehlo 550, mail 451*"},
    };
    for (const auto& c : cases) {
        Run r;
        r.c.on_connected(0);
        r.act("mail <a@x.test>");
        r.play(c.server);
        STRCMP_EQUAL_TEXT(c.results, r.results().c_str(), c.name);
        STRCMP_EQUAL_TEXT("4.4.0", r.res.back().reply.enhanced.c_str(), c.name);
        CHECK_TRUE_TEXT(r.c.wants_close(), c.name);
        CHECK_TRUE_TEXT(r.out.find("MAIL") == std::string::npos, c.name);
    }
}

TEST(SmtpClient, ParametersPassOnlyAsTheServerAllows) {
    struct Case {
        const char* name;
        const char* ehlo;
        const char* params;
        const char* written; // the MAIL line, or nullptr when refused
        std::uint16_t code;  // the refusal
        const char* enhanced;
    };
    const char* all = "250-l\r\n250-SIZE 100\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-DSN\r\n"
                      "250-CHUNKING\r\n250-BINARYMIME\r\n250-AUTH PLAIN\r\n250 MT-PRIORITY\r\n";
    const char* bare = "250-l\r\n250 PIPELINING\r\n";
    const Case cases[] = {
        {"all offered", all, "SIZE=5 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x AUTH=<> MT-PRIORITY=3",
         "MAIL FROM:<a@x.test> SIZE=5 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x AUTH=<> "
         "MT-PRIORITY=3\r\n",
         0, ""},
        {"binary with chunking", all, "BODY=BINARYMIME", "MAIL FROM:<a@x.test> BODY=BINARYMIME\r\n",
         0, ""},
        {"nothing offered: hints and DSN dropped", bare,
         "SIZE=5 RET=FULL ENVID=e AUTH=<> BODY=7BIT", "MAIL FROM:<a@x.test>\r\n", 0, ""},
        {"8BITMIME not offered: dropped", bare, "BODY=8BITMIME", "MAIL FROM:<a@x.test>\r\n", 0, ""},
        {"SMTPUTF8 not offered", bare, "SMTPUTF8", nullptr, 550, "5.6.7"},
        {"BINARYMIME not offered", bare, "BODY=BINARYMIME", nullptr, 554, "5.6.3"},
        {"BINARYMIME without CHUNKING", "250-l\r\n250 BINARYMIME\r\n", "BODY=BINARYMIME", nullptr,
         554, "5.6.3"},
        {"unknown BODY", all, "BODY=9BIT", nullptr, 555, "5.5.4"},
        {"unknown parameter", bare, "MT-PRIORITY=3", nullptr, 555, "5.5.4"},
        {"REQUIRETLS cannot be dropped", bare, "REQUIRETLS", nullptr, 555, "5.5.4"},
        {"case and spacing", all, "  size=5   body=8bitmime ",
         "MAIL FROM:<a@x.test> size=5 body=8bitmime\r\n", 0, ""},
    };
    for (const auto& c : cases) {
        Run r;
        r.greet(c.ehlo);
        r.act(std::string("mail <a@x.test> ") + c.params);
        if (c.written) {
            STRCMP_EQUAL_TEXT(c.written, r.out.c_str(), c.name);
            CHECK_TRUE_TEXT(r.res.empty(), c.name);
        } else {
            STRCMP_EQUAL_TEXT("", r.out.c_str(), c.name);
            CHECK_EQUAL_TEXT(1u, r.res.size(), c.name);
            CHECK_EQUAL_TEXT(c.code, r.res[0].reply.code, c.name);
            STRCMP_EQUAL_TEXT(c.enhanced, r.res[0].reply.enhanced.c_str(), c.name);
            CHECK_TRUE_TEXT(r.res[0].synthetic, c.name);
        }
    }
    // RCPT: DSN parameters need DSN, nothing else unknown passes.
    Run r;
    r.greet(bare);
    r.play({"mail <a@x.test>", "S:250 ok\r\n", "rcpt <b@y.test> NOTIFY=NEVER ORCPT=rfc822;b@y.test",
            "rcpt <c@y.test> XFOO=1"});
    STRCMP_EQUAL("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n", r.out.c_str());
    STRCMP_EQUAL("mail 250, rcpt#1 555*", r.results().c_str());
    // strict_8bitmime refuses instead of dropping.
    ClientConfig strict = test_config();
    strict.strict_8bitmime = true;
    Run s(strict);
    s.greet(bare);
    s.act("mail <a@x.test> BODY=8BITMIME");
    STRCMP_EQUAL("mail 554*", s.results().c_str());
}

TEST(SmtpClient, AMailTheClientRefusedTakesItsTransactionWithIt) {
    Run r;
    r.greet("250-l\r\n250 PIPELINING\r\n");
    r.play({"mail <a@x.test> SMTPUTF8", "rcpt <b@y.test>", "data", "body:x\r\n", "end"});
    STRCMP_EQUAL("mail 550*, rcpt#0 503*, data 503*, message 503*", r.results().c_str());
    STRCMP_EQUAL("", r.out.c_str());
    CHECK_TRUE(r.c.ready_for_transaction());
}

TEST(SmtpClient, LineBreaksInPathsOrParametersAreNeverWritten) {
    const char* bad[] = {"<a@x.test>\r\nRCPT TO:<evil@y.test>", "<a@x.test>\n", "<a@x\r.test>"};
    for (const char* path : bad) {
        Run r;
        r.greet(kPlain);
        r.c.mail(path, "");
        r.c.mail("<a@x.test>", std::string_view("SIZE=1\0", 7));
        r.c.mail("<ok@x.test>", "");
        r.c.rcpt(path, "");
        r.pull();
        STRCMP_EQUAL_TEXT("mail 501*, mail 501*", r.results().c_str(), path);
        STRCMP_EQUAL_TEXT("MAIL FROM:<ok@x.test>\r\n", r.out.c_str(), path);
        r.act("S:250 ok\r\n");
        STRCMP_EQUAL_TEXT("mail 501*, mail 501*, mail 250, rcpt#0 501*", r.results().c_str(), path);
    }
}

TEST(SmtpClient, AnAbortedMessageNeverGetsItsEnd) {
    struct Case {
        const char* name;
        const char* ehlo;
        std::vector<std::string> script;
        const char* results;
        bool closed;
        const char* end_marker; // must not be written
    };
    const Case cases[] = {
        {"RSET mid-DATA: closed without the dot",
         kPlain,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "S:250 ok\r\n", "S:250 ok\r\n",
          "S:354 go\r\n", "body:part one\r\n", "rset"},
         "mail 250, rcpt#0 250, data 354, message 451*, rset 250*",
         true,
         "\r\n.\r\n"},
        {"RSET before the 354 came",
         kPipe,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "body:part one\r\n", "rset",
          "S:250 ok\r\n250 ok\r\n354 go\r\n"},
         "mail 451*, rcpt#0 451*, data 451*, message 451*, rset 250*",
         true,
         "part"},
        {"QUIT mid-DATA",
         kPlain,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "S:250 ok\r\n", "S:250 ok\r\n",
          "S:354 go\r\n", "body:part", "quit"},
         "mail 250, rcpt#0 250, data 354, message 451*, quit 221*",
         true,
         "QUIT"},
        {"RSET mid-BDAT: no LAST, RSET written",
         kChunk,
         {"mail <a@x.test>", "rcpt <b@y.test>", "S:250 ok\r\n250 ok\r\n", "data", "body:part",
          "rset", "S:250 reset\r\n"},
         "mail 250, rcpt#0 250, data 354*, message 451*, rset 250",
         false,
         "LAST"},
        {"bare LF in a DATA body: closed without the dot",
         kPlain,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "S:250 ok\r\n", "S:250 ok\r\n",
          "S:354 go\r\n", "body:line\n.\r\n", "end"},
         "mail 250, rcpt#0 250, data 354, message 554*",
         true,
         "\r\n.\r\n"},
        {"bare CR ending a DATA body",
         kPlain,
         {"mail <a@x.test>", "rcpt <b@y.test>", "data", "S:250 ok\r\n", "S:250 ok\r\n",
          "S:354 go\r\n", "body:line\r", "end"},
         "mail 250, rcpt#0 250, data 354, message 554*",
         true,
         "\r\n.\r\n"},
        {"bare CR in a BDAT body: no LAST, RSET before the next MAIL",
         kChunk,
         {"mail <a@x.test>", "rcpt <b@y.test>", "S:250 ok\r\n250 ok\r\n", "data", "body:a\rb",
          "end", "mail <c@x.test>", "S:250 ok\r\n250 ok\r\n"},
         "mail 250, rcpt#0 250, data 354*, message 554*, mail 250",
         false,
         "LAST"},
    };
    for (const auto& c : cases) {
        Run r;
        r.greet(c.ehlo);
        r.play(c.script);
        STRCMP_EQUAL_TEXT(c.results, r.results().c_str(), c.name);
        CHECK_EQUAL_TEXT(c.closed, r.c.closed(), c.name);
        CHECK_EQUAL_TEXT(c.closed, r.c.wants_close(), c.name);
        CHECK_TRUE_TEXT(r.out.find(c.end_marker) == std::string::npos, c.name);
    }
}

TEST(SmtpClient, AConversationCutAtEveryByteGivesTheSameResultsAndBytes) {
    const std::string server = std::string("220 lan ESMTP\r\n") + kPipe +
                               "250 2.1.0 ok\r\n550 5.1.1 no such user\r\n250 2.1.5 ok\r\n"
                               "354 go\r\n250 2.0.0 queued\r\n";
    const char* want_out = "EHLO gw.test\r\nMAIL FROM:<a@x.test> BODY=8BITMIME\r\n"
                           "RCPT TO:<x@y.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
                           "Subject: t\r\n\r\n..dot\r\nend\r\n.\r\n";
    for (std::size_t split = 0; split <= server.size(); ++split) {
        Run r;
        r.play({"mail <a@x.test> BODY=8BITMIME", "rcpt <x@y.test>", "rcpt <b@y.test>", "data",
                "body:Subject: t\r\n\r\n.dot\r\nend\r\n", "end"});
        r.c.on_connected(0);
        r.act("S:" + server.substr(0, split));
        r.act("S:" + server.substr(split));
        STRCMP_EQUAL("greeting 220, ehlo 250, mail 250, rcpt#0 550, rcpt#1 250, data 354, "
                     "message 250",
                     r.results().c_str());
        STRCMP_EQUAL("5.1.1 no such user", r.res[3].reply.text.c_str()); // no ENHANCEDSTATUSCODES
        STRCMP_EQUAL(want_out, r.out.c_str());
    }
}

TEST(SmtpClient, OutputIsBoundedWhenTheServerStopsReading) {
    ClientConfig cfg = test_config();
    cfg.max_pending_output = 4096;
    cfg.max_body_queue = 8192;
    Run r(cfg);
    r.greet(kPlain);
    r.play({"mail <a@x.test>", "rcpt <b@y.test>", "data", "S:250 ok\r\n", "S:250 ok\r\n",
            "S:354 go\r\n"});
    r.drain = false;
    std::string line = ".";
    line += std::string(60, 'x');
    line += "\r\n";
    int fed = 0;
    while (r.c.body_room() >= line.size() && fed < 100000) {
        r.act("body:" + line);
        ++fed;
    }
    CHECK_EQUAL(0u, r.c.body_room() / line.size());
    CHECK_TRUE(r.c.pending_output().size() <= cfg.max_pending_output + line.size() * 2);
    // Draining lets the queued body move on.
    r.drain = true;
    r.pull();
    r.act("t=1000");
    CHECK_TRUE(r.c.body_room() > line.size());
}

TEST(SmtpClient, RandomBodiesAreWrittenStuffedAndChunkedExactly) {
    std::mt19937 rng(5321);
    const char alphabet[] = {'.', '.', 'a', 'b', ' '};
    for (int iter = 0; iter < 300; ++iter) {
        std::string body;
        const int lines = static_cast<int>(rng() % 20);
        for (int l = 0; l < lines; ++l) {
            const int len = static_cast<int>(rng() % 6);
            for (int k = 0; k < len; ++k)
                body += alphabet[rng() % sizeof alphabet];
            if (l + 1 < lines || rng() % 2)
                body += "\r\n";
        }
        std::string want = body;
        if (!want.empty() && want.back() != '\n')
            want += "\r\n";
        const bool chunked = iter % 2;
        ClientConfig cfg = test_config();
        cfg.bdat_chunk_size = 1 + rng() % 16;
        Run r(cfg);
        r.greet(chunked ? kChunk : kPipe);
        r.play({"mail <a@x.test>", "rcpt <b@y.test>", "data"});
        r.act(chunked ? "S:250 ok\r\n250 ok\r\n" : "S:250 ok\r\n250 ok\r\n354 go\r\n");
        const std::size_t start = r.out.size();
        std::size_t pos = 0;
        while (pos < body.size()) {
            const std::size_t n = std::min<std::size_t>(body.size() - pos, rng() % 5);
            r.c.body(bytes(std::string_view(body).substr(pos, n)));
            pos += n;
        }
        r.act("end");
        std::string wire = r.out.substr(start);
        std::string got;
        std::size_t chunks = 1; // DATA: one reply, to the final dot
        if (!chunked) {
            // Undo the stuffing as the server does.
            CHECK_TRUE(wire.size() >= 3 && wire.substr(wire.size() - 3) == ".\r\n");
            wire.resize(wire.size() - 3);
            bool line_start = true;
            for (std::size_t i = 0; i < wire.size(); ++i) {
                if (line_start && wire[i] == '.') {
                    CHECK_TRUE(wire[i + 1] == '.');
                    ++i;
                }
                got += wire[i];
                line_start = wire[i] == '\n';
            }
        } else {
            // Read the BDAT frames back.
            std::size_t i = 0;
            chunks = 0;
            bool last = false;
            while (i < wire.size()) {
                CHECK_FALSE(last);
                CHECK_TRUE(wire.compare(i, 5, "BDAT ") == 0);
                const std::size_t eol = wire.find("\r\n", i);
                const std::string cmd = wire.substr(i + 5, eol - i - 5);
                const std::size_t n = std::stoul(cmd);
                last = cmd.ends_with(" LAST");
                CHECK_TRUE(n <= cfg.bdat_chunk_size + 1);
                got += wire.substr(eol + 2, n);
                i = eol + 2 + n;
                ++chunks;
            }
            CHECK_TRUE(last);
        }
        CHECK_EQUAL(want, got);
        for (std::size_t k = 0; k < chunks; ++k) // one reply per chunk
            r.act("S:250 ok\r\n");
        CHECK_TRUE(r.c.ready_for_transaction());
        CHECK_TRUE(r.res.back().step == Step::message);
        CHECK_EQUAL(250, r.res.back().reply.code);
        CHECK_FALSE(r.res.back().synthetic);
    }
}
