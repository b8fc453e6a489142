// smtp_session_test.cc: the SMTP server session (smtp/smtp_session.h): every
// command and reply in a table, every limit, sessions split at every byte
// boundary, RFC 2920 pipelined batches, answers from the proxy, BDAT,
// STARTTLS, early talkers, smuggling through a whole session, and timers.
#include "smtp/smtp_session.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <CppUTest/TestHarness.h>

using namespace smtpgw::smtp;

namespace {

constexpr std::uint64_t kStart = 1000000;

std::span<const std::uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

SessionConfig base_config() {
    SessionConfig c;
    c.hostname = "gw.example.net";
    c.relay.domains = {"example.com"};
    return c;
}

using Answerer = std::function<Reply(const Event&)>;

// Accepts every step, as a LAN server that likes everything.
Reply accept_all(const Event& e) {
    if (e.kind == EventKind::data_start)
        return Reply{354, "", ""};
    return Reply{250, "", ""};
}

// The adapter and the proxy in one: feeds octets as an adapter does
// (re-offering what was not consumed once there is room), polls every event
// and answers those that need it through `answerer` (none: left pending).
struct Harness {
    Session s;
    Answerer answerer;
    std::uint64_t now;
    std::string out;
    std::vector<Event> events;

    explicit Harness(const SessionConfig& cfg, Answerer a = accept_all, std::uint64_t id = 0x2a,
                     std::uint64_t start = kStart)
        : s(cfg, SessionPeer{"203.0.113.10", id}, start), answerer(std::move(a)), now(start) {
        settle();
    }

    void settle() {
        bool again = true;
        while (again) {
            again = false;
            Event e;
            while (s.poll_event(e)) {
                events.push_back(e);
                if (e.needs_answer && answerer) {
                    s.answer(answerer(events.back()), now);
                    again = true;
                }
            }
            const std::string_view p = s.pending_output();
            out += p;
            s.consume_output(p.size());
        }
    }

    // Returns the octets left unconsumed (suspended without an answerer,
    // or closed).
    std::size_t feed(std::string_view data) {
        std::size_t pos = 0;
        for (int guard = 0; pos < data.size() && guard < 1000000; ++guard) {
            if (s.wants_close() || s.input_room() == 0)
                break;
            const std::size_t n = s.on_input(bytes(data.substr(pos)), now);
            pos += n;
            settle();
            if (n == 0 && s.input_room() == 0)
                break;
        }
        return data.size() - pos;
    }

    void timer(std::uint64_t t) {
        now = t;
        s.on_timer(t);
        settle();
    }

    std::string take() {
        std::string r;
        r.swap(out);
        return r;
    }

    std::size_t count(EventKind k) const {
        std::size_t n = 0;
        for (const auto& e : events)
            n += e.kind == k ? 1 : 0;
        return n;
    }
    const Event* last(EventKind k) const {
        for (auto it = events.rbegin(); it != events.rend(); ++it)
            if (it->kind == k)
                return &*it;
        return nullptr;
    }
    std::string body() const {
        std::string b;
        for (const auto& e : events)
            if (e.kind == EventKind::body)
                b += e.body;
        return b;
    }
};

// The replies in `wire`, one string per reply (multi-line replies whole).
std::vector<std::string> replies(std::string_view wire) {
    std::vector<std::string> r;
    std::string cur;
    while (!wire.empty()) {
        const std::size_t end = wire.find("\r\n");
        if (end == std::string_view::npos) {
            r.push_back("INCOMPLETE:" + std::string(wire));
            break;
        }
        const std::string_view line = wire.substr(0, end + 2);
        cur += line;
        if (line.size() < 6 || line[3] != '-') {
            r.push_back(cur);
            cur.clear();
        }
        wire.remove_prefix(end + 2);
    }
    return r;
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

const char* kind_name(EventKind k) {
    static const char* const names[] = {
        "connect",  "helo",           "mail",       "rcpt",     "data_start",
        "body",     "data_end",       "data_abort", "reset",    "quit",
        "pregreet", "protocol_error", "close",      "starttls", "pipelining_violation",
        "rejected"};
    static_assert(sizeof(names) / sizeof(names[0]) ==
                  static_cast<std::size_t>(EventKind::rejected) + 1);
    return names[static_cast<std::size_t>(k)];
}

// One line per event (bodies merged: how they are cut is not behaviour).
std::string summary(const std::vector<Event>& events) {
    std::string s;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const Event& e = events[i];
        s += kind_name(e.kind);
        if (e.kind == EventKind::body) {
            std::string b = e.body;
            while (i + 1 < events.size() && events[i + 1].kind == EventKind::body)
                b += events[++i].body;
            s += "[" + b + "]";
        }
        s += " id=" + e.message_id + " arg=" + e.arg + " params=" + e.params;
        s += " size=" + std::to_string(e.size) + (e.needs_answer ? " ?" : "") +
             (e.chunked ? " chunked" : "") + " reply=" + std::to_string(e.reply.code) + "\n";
    }
    return s;
}

// Runs `turns` (each a client write that waits for its replies), cutting
// the whole transcript at `cut` (or not when cut is npos) or byte by byte.
struct Run {
    std::string out;
    std::string events;
    bool closed = false;
};

Run run_turns(const SessionConfig& cfg, const Answerer& a, const std::vector<std::string>& turns,
              std::size_t cut = std::string::npos, bool bytewise = false) {
    Harness h(cfg, a);
    std::size_t offset = 0;
    for (const std::string& t : turns) {
        if (bytewise) {
            for (char c : t)
                CHECK_EQUAL(0u, h.feed(std::string_view(&c, 1)));
        } else if (cut != std::string::npos && cut > offset && cut < offset + t.size()) {
            CHECK_EQUAL(0u, h.feed(std::string_view(t).substr(0, cut - offset)));
            CHECK_EQUAL(0u, h.feed(std::string_view(t).substr(cut - offset)));
        } else {
            CHECK_EQUAL(0u, h.feed(t));
        }
        offset += t.size();
    }
    return Run{h.out, summary(h.events), h.s.wants_close()};
}

std::string concat(const std::vector<std::string>& turns) {
    std::string all;
    for (const auto& t : turns)
        all += t;
    return all;
}

const std::vector<std::string> kEhlo = {"EHLO client.example\r\n"};

} // namespace

TEST_GROUP(SmtpSession){};

// ---------------------------------------------------------------------------
// Greeting, EHLO, the command table

TEST(SmtpSession, GreetsAndOffersTheConfiguredExtensions) {
    Harness h(base_config());
    STRCMP_EQUAL("220 gw.example.net ESMTP\r\n", h.take().c_str());
    CHECK_TRUE(h.events.size() == 1 && h.events[0].kind == EventKind::connect);
    STRCMP_EQUAL("203.0.113.10", h.events[0].arg.c_str());
    h.feed("EHLO client.example\r\n");
    STRCMP_EQUAL("250-gw.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                 "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n"
                 "250 CHUNKING\r\n",
                 h.take().c_str());
    const Event* helo = h.last(EventKind::helo);
    CHECK_TRUE(helo != nullptr);
    STRCMP_EQUAL("client.example", helo->arg.c_str());
    STRCMP_EQUAL("EHLO", helo->params.c_str());

    SessionConfig bare = base_config();
    bare.pipelining = bare.size = bare.eight_bit_mime = bare.enhanced_status_codes = false;
    bare.chunking = bare.smtputf8 = bare.dsn = false;
    bare.tls_available = true;
    Harness b(bare);
    b.take();
    b.feed("EHLO client.example\r\n");
    STRCMP_EQUAL("250-gw.example.net\r\n250 STARTTLS\r\n", b.take().c_str());
    b.feed("HELO client.example\r\n");
    STRCMP_EQUAL("250 gw.example.net\r\n", b.take().c_str());
}

TEST(SmtpSession, EveryCommandAndReplyTable) {
    enum Setup { fresh, ehlo, helo, mail, rcpt };
    const std::vector<std::string> setups[] = {
        {},
        {"EHLO c.example\r\n"},
        {"HELO c.example\r\n"},
        {"EHLO c.example\r\n", "MAIL FROM:<s@sender.example>\r\n"},
        {"EHLO c.example\r\n", "MAIL FROM:<s@sender.example>\r\n", "RCPT TO:<u@example.com>\r\n"},
    };
    struct Case {
        Setup setup;
        const char* command; // without CRLF
        const char* reply;   // expected prefix of the first reply
        bool closes;
        void (*tweak)(SessionConfig&);
    };
    auto vrfy_502 = [](SessionConfig& c) { c.vrfy_policy = VrfyPolicy::not_implemented; };
    auto no_enhanced = [](SessionConfig& c) { c.enhanced_status_codes = false; };
    auto no_chunking = [](SessionConfig& c) { c.chunking = false; };
    const Case cases[] = {
        {fresh, "NOOP", "250 2.0.0 Ok\r\n", false, nullptr},
        {fresh, "NOOP anything at all", "250 2.0.0 Ok\r\n", false, nullptr},
        {fresh, "RSET", "250 2.0.0 Ok\r\n", false, nullptr},
        {fresh, "HELP", "214 2.0.0 Commands:", false, nullptr},
        {fresh, "QUIT", "221 2.0.0 Bye\r\n", true, nullptr},
        {fresh, "quit", "221 2.0.0 Bye\r\n", true, nullptr},
        {fresh, "MAIL FROM:<s@sender.example>", "503 5.5.1 Error: send HELO/EHLO first", false,
         nullptr},
        {fresh, "RCPT TO:<u@example.com>", "503 5.5.1", false, nullptr},
        {fresh, "DATA", "503 5.5.1", false, nullptr},
        {fresh, "STARTTLS", "503 5.5.1", false, nullptr},
        {fresh, "VRFY root", "252 2.0.0 Cannot VRFY user", false, nullptr},
        {fresh, "EXPN staff", "252 2.0.0 Cannot EXPN list", false, nullptr},
        {fresh, "VRFY root", "502 5.5.1", false, vrfy_502},
        {fresh, "EXPN staff", "502 5.5.1", false, vrfy_502},
        {fresh, "HELO c.example", "250 gw.example.net\r\n", false, nullptr},
        {fresh, "HELO", "501 5.5.4 Syntax: HELO hostname", false, nullptr},
        {fresh, "EHLO", "501 5.5.4 Syntax: EHLO hostname", false, nullptr},
        {fresh, "EHLO two words", "501 5.5.4", false, nullptr},
        {fresh, "FOO bar", "500 5.5.2 Error: command not recognized", false, nullptr},
        {fresh, "", "500 5.5.2", false, nullptr},
        {fresh, "AUTH PLAIN AGVhAGI=", "500 5.5.2", false, nullptr},
        {fresh, "GET / HTTP/1.1", "554 5.7.0 Error: non-SMTP command", true, nullptr},
        {fresh, "CONNECT 192.0.2.1:25 HTTP/1.0", "554 5.7.0", true, nullptr},
        {ehlo, "MAIL FROM:<s@sender.example>", "250 2.1.0 Ok\r\n", false, nullptr},
        {ehlo, "mail from:<>", "250 2.1.0 Ok\r\n", false, nullptr},
        {ehlo, "MAIL FROM: <s@sender.example>", "250 2.1.0", false, nullptr},
        {ehlo, "MAIL FROM:s@sender.example", "501 5.1.7 Bad sender address syntax", false, nullptr},
        {ehlo, "MAIL FROM:<s@sender.example>x", "501 5.1.7", false, nullptr},
        {ehlo, "MAIL FROM:<s@sender..example>", "501 5.1.7", false, nullptr},
        {ehlo, "MAIL FROM<s@sender.example>", "501 5.5.4 Syntax: MAIL FROM:<address>", false,
         nullptr},
        {ehlo, "MAIL", "501 5.5.4", false, nullptr},
        {ehlo, "MAIL FROM:<s@sender.example> SIZE=1000", "250 2.1.0", false, nullptr},
        {ehlo, "MAIL FROM:<s@sender.example> SIZE=10240000", "250 2.1.0", false, nullptr},
        {ehlo, "MAIL FROM:<s@sender.example> SIZE=10240001",
         "552 5.3.4 Message size exceeds fixed limit", false, nullptr},
        {ehlo, "MAIL FROM:<s@sender.example> SIZE=x", "501 5.5.4", false, nullptr},
        {ehlo, "MAIL FROM:<s@sender.example> BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x", "250 2.1.0",
         false, nullptr},
        {ehlo, "MAIL FROM:<s@sender.example> BODY=BINARYMIME", "501 5.5.4", false, nullptr},
        {ehlo, "MAIL FROM:<s@sender.example> AUTH=<>", "555 5.5.4", false, nullptr},
        {ehlo, "MAIL FROM:<s@sender.example> SIZE=1 SIZE=2", "501 5.5.4", false, nullptr},
        {helo, "MAIL FROM:<s@sender.example> SIZE=10", "555 5.5.4", false, nullptr},
        {helo, "MAIL FROM:<s@sender.example>", "250 2.1.0", false, nullptr},
        {ehlo, "MAIL FROM:<j\xc3\xb6rg@sender.example>", "553 5.6.7", false, nullptr},
        {ehlo, "MAIL FROM:<j\xc3\xb6rg@sender.example> SMTPUTF8", "250 2.1.0", false, nullptr},
        {helo, "MAIL FROM:<j\xc3\xb6rg@sender.example> SMTPUTF8", "553 5.6.7", false, nullptr},
        {ehlo, "MAIL FROM:<\xff@sender.example> SMTPUTF8", "501 5.1.7", false, nullptr},
        {ehlo, "MAIL FROM:<>", "250 Ok\r\n", false, no_enhanced},
        {mail, "MAIL FROM:<t@sender.example>", "503 5.5.1 Error: nested MAIL command", false,
         nullptr},
        {mail, "RCPT TO:<u@example.com>", "250 2.1.5 Ok\r\n", false, nullptr},
        {mail, "rcpt to:<U@EXAMPLE.COM>", "250 2.1.5", false, nullptr},
        {mail, "RCPT TO:<Postmaster>", "250 2.1.5", false, nullptr},
        {mail, "RCPT TO:<u@foreign.test>", "554 5.7.1 Relay access denied", false, nullptr},
        {mail, "RCPT TO:<u%foreign.test@example.com>", "554 5.7.1", false, nullptr},
        {mail, "RCPT TO:<@example.com:u@foreign.test>", "554 5.7.1", false, nullptr},
        {mail, "RCPT TO:<u@[192.0.2.1]>", "554 5.7.1", false, nullptr},
        {mail, "RCPT TO:<u@example.com.>", "501 5.1.3 Bad recipient address syntax", false,
         nullptr},
        {mail, "RCPT TO:<>", "501 5.1.3", false, nullptr},
        {mail, "RCPT TO:u@example.com", "501 5.1.3", false, nullptr},
        {mail, "RCPT FROM:<u@example.com>", "501 5.5.4 Syntax: RCPT TO:<address>", false, nullptr},
        {mail, "RCPT TO:<u@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u@example.com",
         "250 2.1.5", false, nullptr},
        {mail, "RCPT TO:<u@example.com> NOTIFY=NEVER,DELAY", "501 5.5.4", false, nullptr},
        {mail, "RCPT TO:<u@example.com> FOO=1", "555 5.5.4", false, nullptr},
        {mail, "RCPT TO:<j\xc3\xb6rg@example.com>", "553 5.6.7", false, nullptr},
        {mail, "DATA", "554 5.5.1 Error: no valid recipients", false, nullptr},
        {rcpt, "DATA", "354 End data with <CR><LF>.<CR><LF>\r\n", false, nullptr},
        {rcpt, "DATA now", "501 5.5.4 Syntax: DATA", false, nullptr},
        {rcpt, "DATA  ", "354 ", false, nullptr},
        {rcpt, "RSET", "250 2.0.0 Ok\r\n", false, nullptr},
        {rcpt, "RSET x", "501 5.5.4 Syntax: RSET", false, nullptr},
        {rcpt, "QUIT x", "501 5.5.4 Syntax: QUIT", false, nullptr},
        {rcpt, "EHLO again.example", "250-gw.example.net", false, nullptr},
        {rcpt, "BDAT 1x", "501 5.5.4 Syntax: BDAT size [LAST]", true, nullptr},
        {rcpt, "BDAT", "501 5.5.4", false, nullptr},
        {rcpt, "BDAT 0", "250 2.0.0 0 octets received", false, nullptr},
        {rcpt, "BDAT 0 LAST", "250 2.0.0 Ok: queued as", false, nullptr},
        {rcpt, "BDAT 0", "502 5.5.1", false, no_chunking},
        {ehlo, "STARTTLS", "502 5.5.1", false, nullptr},
        {ehlo, "STARTTLS now", "501 5.5.4 Syntax: STARTTLS", false, nullptr},
        {ehlo, "VRFY", "501 5.5.4 Syntax: VRFY address", false, nullptr},
        {ehlo, "EXPN", "501 5.5.4", false, nullptr},
    };
    for (const auto& c : cases) {
        SessionConfig cfg = base_config();
        if (c.tweak)
            c.tweak(cfg);
        Harness h(cfg);
        for (const auto& t : setups[c.setup])
            h.feed(t);
        h.take();
        h.feed(std::string(c.command) + "\r\n");
        const std::string out = h.take();
        CHECK_TRUE_TEXT(starts_with(out, c.reply), (std::string(c.command) + " -> " + out).c_str());
        CHECK_EQUAL_TEXT(c.closes, h.s.wants_close(), c.command);
    }
}

TEST(SmtpSession, AWholeTransactionProducesItsEventsAndReplies) {
    Harness h(base_config());
    h.take();
    h.feed("EHLO client.example\r\n");
    h.take();
    h.feed("MAIL FROM:<s@sender.example> SIZE=40 BODY=8BITMIME\r\n"
           "RCPT TO:<a@example.com> NOTIFY=FAILURE\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
    STRCMP_EQUAL("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
                 "354 End data with <CR><LF>.<CR><LF>\r\n",
                 h.take().c_str());
    h.feed("Subject: hi\r\n\r\n..dot\r\n.\r\n");
    const std::string id = h.s.message_id();
    STRCMP_EQUAL(("250 2.0.0 Ok: queued as " + id + "\r\n").c_str(), h.take().c_str());
    h.feed("QUIT\r\n");
    STRCMP_EQUAL("221 2.0.0 Bye\r\n", h.take().c_str());
    CHECK_TRUE(h.s.wants_close());
    STRCMP_EQUAL(("connect id= arg=203.0.113.10 params= size=0 reply=0\n"
                  "helo id= arg=client.example params=EHLO size=0 reply=0\n"
                  "mail id=" +
                  id +
                  " arg=s@sender.example params=SIZE=40 BODY=8BITMIME size=0 reply=0\n"
                  "rcpt id=" +
                  id +
                  " arg=a@example.com params=NOTIFY=FAILURE size=0 reply=0\n"
                  "rcpt id=" +
                  id +
                  " arg=b@example.com params= size=0 reply=0\n"
                  "data_start id=" +
                  id +
                  " arg= params= size=0 reply=0\n"
                  "body[Subject: hi\r\n\r\n.dot\r\n] id=" +
                  id +
                  " arg= params= size=0 reply=0\n"
                  "data_end id=" +
                  id +
                  " arg= params= size=21 ? reply=0\n"
                  "quit id= arg= params= size=0 reply=0\n"
                  "close id= arg= params= size=0 reply=221\n")
                     .c_str(),
                 summary(h.events).c_str());
    // "00000000 0000002A" (the session id) "." the transaction count.
    STRCMP_EQUAL("000000000000002A.1", id.c_str());
}

TEST(SmtpSession, MessageIdsAreUniquePerTransactionAndSession) {
    std::vector<std::string> ids;
    for (std::uint64_t sid : {1ull, 2ull, 0xfedcba9876543210ull}) {
        Harness h(base_config(), accept_all, sid);
        h.feed("EHLO c.example\r\n");
        for (int i = 0; i < 3; ++i) {
            h.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\nDATA\r\n");
            h.feed("x\r\n.\r\n");
            const Event* m = h.last(EventKind::mail);
            const Event* r = h.last(EventKind::rcpt);
            const Event* d = h.last(EventKind::data_end);
            CHECK_TRUE(m && r && d);
            STRCMP_EQUAL(m->message_id.c_str(), r->message_id.c_str());
            STRCMP_EQUAL(m->message_id.c_str(), d->message_id.c_str());
            ids.push_back(m->message_id);
        }
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
        for (char c : ids[i])
            CHECK_TRUE((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || c == '.');
        for (std::size_t j = i + 1; j < ids.size(); ++j)
            CHECK_TRUE(ids[i] != ids[j]);
    }
    STRCMP_EQUAL("FEDCBA9876543210.3", ids.back().c_str());
}

// ---------------------------------------------------------------------------
// Whole sessions split at every byte boundary

namespace {

const std::vector<std::string> kPipelinedSession = {
    "EHLO client.example\r\n",
    "MAIL FROM:<s@sender.example> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<a@example.com> "
    "NOTIFY=FAILURE\r\nRCPT TO:<b@foreign.test>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n",
    "Subject: hi\r\n\r\n..leading dot\r\nbody\r\n.\r\nMAIL FROM:<>\r\nRCPT "
    "TO:<d@example.com>\r\nBDAT 5\r\nhelloBDAT 7 LAST\r\n world!RSET\r\nNOOP\r\n",
    "MAIL FROM:<e@sender.example>\r\nRCPT TO:<f@example.com>\r\nBDAT 0 LAST\r\nQUIT\r\n",
};

// A LAN server with opinions: c@ is unknown, the rest is fine.
Reply opinionated_lan(const Event& e) {
    if (e.kind == EventKind::rcpt && starts_with(e.arg, "c@"))
        return Reply{550, "5.1.1", "no such user here"};
    if (e.kind == EventKind::data_start)
        return Reply{354, "", "go ahead"};
    if (e.kind == EventKind::data_end)
        return Reply{250, "2.0.0", "queued on the LAN"};
    return Reply{250, "", ""};
}

} // namespace

TEST(SmtpSession, ASessionSplitAtEveryByteGivesTheSameRepliesAndEvents) {
    SessionConfig plain = base_config();
    SessionConfig asking = base_config();
    asking.mail_needs_answer = asking.rcpt_needs_answer = asking.data_needs_answer = true;
    for (const SessionConfig& cfg : {plain, asking}) {
        const Run whole = run_turns(cfg, opinionated_lan, kPipelinedSession);
        CHECK_TRUE(whole.closed);
        // Sanity: the reference run is the behaviour we mean.
        const auto r = replies(whole.out);
        CHECK_EQUAL(18u, r.size());
        CHECK_TRUE(starts_with(r[4], "554 5.7.1")); // b@foreign.test
        CHECK_TRUE(starts_with(r.back(), "221 2.0.0"));
        const std::size_t total = concat(kPipelinedSession).size();
        for (std::size_t cut = 1; cut < total; ++cut) {
            const Run split = run_turns(cfg, opinionated_lan, kPipelinedSession, cut);
            STRCMP_EQUAL_TEXT(whole.out.c_str(), split.out.c_str(), std::to_string(cut).c_str());
            STRCMP_EQUAL_TEXT(whole.events.c_str(), split.events.c_str(),
                              std::to_string(cut).c_str());
        }
        const Run bytewise = run_turns(cfg, opinionated_lan, kPipelinedSession, 0, true);
        STRCMP_EQUAL(whole.out.c_str(), bytewise.out.c_str());
        STRCMP_EQUAL(whole.events.c_str(), bytewise.events.c_str());
    }
}

TEST(SmtpSession, AHeloSessionSplitAtEveryByteIsTheSame) {
    // Lock-step (no PIPELINING), normalised bare newlines, replies from the LAN.
    SessionConfig cfg = base_config();
    cfg.bare_newline = BareNewlinePolicy::normalize;
    cfg.rcpt_needs_answer = true;
    const std::vector<std::string> turns = {"HELO client.example\r\n",
                                            "MAIL FROM:<s@sender.example>\r\n",
                                            "RCPT TO:<c@example.com>\r\n",
                                            "RCPT TO:<a@example.com>\r\n",
                                            "DATA\r\n",
                                            "bare\nlf\r\n.\r\n",
                                            "NOO\rP\r\n",
                                            "QUIT\r\n"};
    const Run whole = run_turns(cfg, opinionated_lan, turns);
    const auto r = replies(whole.out);
    CHECK_EQUAL(9u, r.size());
    CHECK_TRUE(starts_with(r[3], "550 5.1.1 no such user here"));
    CHECK_TRUE(starts_with(r[6], "250 2.0.0 queued on the LAN"));
    CHECK_TRUE(starts_with(r[7], "500 5.5.2"));
    CHECK_TRUE(whole.events.find("body[bare\r\nlf\r\n]") != std::string::npos);
    const std::size_t total = concat(turns).size();
    for (std::size_t cut = 1; cut < total; ++cut) {
        const Run split = run_turns(cfg, opinionated_lan, turns, cut);
        STRCMP_EQUAL_TEXT(whole.out.c_str(), split.out.c_str(), std::to_string(cut).c_str());
        STRCMP_EQUAL_TEXT(whole.events.c_str(), split.events.c_str(), std::to_string(cut).c_str());
    }
}

// ---------------------------------------------------------------------------
// RFC 2920 pipelining

TEST(SmtpSession, Rfc2920PipelinedBatchesGetTheirRepliesInOrder) {
    SessionConfig cfg = base_config();
    cfg.relay.domains = {"innosoft.com"};
    // RFC 2920 3.2: MAIL, three RCPTs and DATA in one write.
    Harness h(cfg);
    h.feed("EHLO dbc.mtview.ca.us\r\n");
    h.take();
    h.feed("MAIL FROM:<mrose@dbc.mtview.ca.us>\r\nRCPT TO:<ned@innosoft.com>\r\n"
           "RCPT TO:<dan@innosoft.com>\r\nRCPT TO:<kvc@innosoft.com>\r\nDATA\r\n");
    auto r = replies(h.take());
    CHECK_EQUAL(5u, r.size());
    CHECK_TRUE(starts_with(r[0], "250 2.1.0") && starts_with(r[1], "250 2.1.5") &&
               starts_with(r[2], "250 2.1.5") && starts_with(r[3], "250 2.1.5") &&
               starts_with(r[4], "354 "));
    h.feed("Date: 23 Oct 81 11:22:33\r\nFrom: mrose\r\n\r\nHi\r\n.\r\nQUIT\r\n");
    r = replies(h.take());
    CHECK_EQUAL(2u, r.size());
    CHECK_TRUE(starts_with(r[0], "250 2.0.0") && starts_with(r[1], "221 2.0.0"));

    // RFC 2920 3.2, second example: the LAN server refuses one recipient;
    // the refusal comes in its place, not reordered.
    SessionConfig asking = cfg;
    asking.rcpt_needs_answer = true;
    Harness g(asking, [](const Event& e) {
        if (e.kind == EventKind::rcpt && starts_with(e.arg, "ned@"))
            return Reply{550, "", "remote mail to <ned@innosoft.com> not allowed"};
        return accept_all(e);
    });
    g.feed("EHLO dbc.mtview.ca.us\r\n");
    g.take();
    g.feed("MAIL FROM:<mrose@dbc.mtview.ca.us>\r\nRCPT TO:<ned@innosoft.com>\r\n"
           "RCPT TO:<dan@innosoft.com>\r\nRCPT TO:<kvc@innosoft.com>\r\nDATA\r\n");
    r = replies(g.take());
    CHECK_EQUAL(5u, r.size());
    STRCMP_EQUAL("550 5.0.0 remote mail to <ned@innosoft.com> not allowed\r\n", r[1].c_str());
    CHECK_TRUE(starts_with(r[2], "250 2.1.5") && starts_with(r[4], "354 "));

    // Every recipient refused: DATA gets 554 and the client goes on.
    Harness n(cfg);
    n.feed("EHLO dbc.mtview.ca.us\r\n");
    n.take();
    n.feed("MAIL FROM:<mrose@dbc.mtview.ca.us>\r\nRCPT TO:<ned@foreign.test>\r\n"
           "RCPT TO:<dan@foreign.test>\r\nDATA\r\n");
    r = replies(n.take());
    CHECK_EQUAL(4u, r.size());
    CHECK_TRUE(starts_with(r[1], "554 5.7.1") && starts_with(r[2], "554 5.7.1") &&
               starts_with(r[3], "554 5.5.1 Error: no valid recipients"));
    n.feed("RSET\r\nQUIT\r\n");
    r = replies(n.take());
    CHECK_TRUE(r.size() == 2 && starts_with(r[0], "250 ") && starts_with(r[1], "221 "));
}

TEST(SmtpSession, RepliesWaitBehindASuspendedCommand) {
    SessionConfig cfg = base_config();
    cfg.mail_needs_answer = true;
    Harness h(cfg, nullptr); // the proxy answers by hand
    h.feed("EHLO c.example\r\n");
    h.take();
    const std::string batch = "MAIL FROM:<s@sender.example>\r\nRCPT TO:<u@example.com>\r\nDATA\r\n";
    const std::size_t left = h.feed(batch);
    CHECK_EQUAL(batch.size() - std::string("MAIL FROM:<s@sender.example>\r\n").size(), left);
    CHECK_TRUE(h.s.suspended());
    CHECK_EQUAL(0u, h.s.input_room());
    STRCMP_EQUAL("", h.take().c_str()); // no reply overtakes the MAIL's
    CHECK_TRUE(h.last(EventKind::mail)->needs_answer);
    CHECK_EQUAL(0u, h.count(EventKind::rcpt));
    // Idle time does not run while the proxy decides.
    CHECK_EQUAL(kStart + base_config().max_session_ms, h.s.next_expiry());
    h.s.answer(Reply{250, "", ""}, kStart + 5);
    h.settle();
    STRCMP_EQUAL("250 2.1.0 Ok\r\n", h.take().c_str());
    CHECK_EQUAL(0u, h.feed(std::string_view(batch).substr(batch.size() - left)));
    STRCMP_EQUAL("250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n", h.take().c_str());
    // An answer when nothing is pending does nothing.
    h.s.answer(Reply{550, "", ""}, kStart + 6);
    h.settle();
    STRCMP_EQUAL("", h.take().c_str());
}

TEST(SmtpSession, MailRefusedUpstreamFailsThePipelinedRestWithoutCountingErrors) {
    SessionConfig cfg = base_config();
    cfg.mail_needs_answer = true;
    cfg.max_errors = 3;
    Harness h(cfg, [](const Event& e) {
        if (e.kind == EventKind::mail)
            return Reply{550, "5.7.1", "sender blocked by the LAN server"};
        return accept_all(e);
    });
    h.feed("EHLO c.example\r\n");
    h.take();
    std::string batch = "MAIL FROM:<spam@bad.example>\r\n";
    for (int i = 0; i < 10; ++i)
        batch += "RCPT TO:<u" + std::to_string(i) + "@example.com>\r\n";
    batch += "DATA\r\n";
    CHECK_EQUAL(0u, h.feed(batch));
    const auto r = replies(h.take());
    CHECK_EQUAL(12u, r.size());
    STRCMP_EQUAL("550 5.7.1 sender blocked by the LAN server\r\n", r[0].c_str());
    for (int i = 1; i <= 10; ++i)
        CHECK_TRUE(starts_with(r[static_cast<std::size_t>(i)], "503 5.5.1 Error: need MAIL"));
    CHECK_TRUE(starts_with(r[11], "503 5.5.1"));
    CHECK_FALSE(h.s.in_transaction());
    CHECK_FALSE(h.s.wants_close()); // 11 refusals, max_errors 3: none counted
    CHECK_EQUAL(0u, h.s.error_count());
    CHECK_EQUAL(0u, h.count(EventKind::rcpt));
    h.feed("RSET\r\nMAIL FROM:<ok@sender.example>\r\n");
    CHECK_TRUE(starts_with(replies(h.take()).back(), "550")); // the LAN still refuses
}

// ---------------------------------------------------------------------------
// Answers from the proxy

TEST(SmtpSession, AnswersAreValidatedAndCompleted) {
    struct Case {
        bool rcpt_step; // the answered step: RCPT, else MAIL
        Reply answer;
        const char* sent;
        bool closes;
    };
    const Case cases[] = {
        {true, {250, "", ""}, "250 2.1.5 Ok\r\n", false},
        {true, {250, "2.1.5", "LAN says ok"}, "250 2.1.5 LAN says ok\r\n", false},
        {true, {250, "5.1.1", "mismatched"}, "250 2.1.5 mismatched\r\n", false},
        {true, {550, "", ""}, "550 5.0.0 Recipient address rejected\r\n", false},
        {true, {450, "", ""}, "450 4.0.0 Recipient address rejected, try again later\r\n", false},
        {true, {550, "5.1.1", "User unknown"}, "550 5.1.1 User unknown\r\n", false},
        {true, {550, "bogus", "x"}, "550 5.0.0 x\r\n", false},
        {true, {551, "5.1.6", "moved\nreally"}, "551-5.1.6 moved\r\n551 5.1.6 really\r\n", false},
        {true,
         {250, "", "ok\r\n250 injected"},
         "250-2.1.5 ok\r\n250 2.1.5 250 injected\r\n",
         false},
        {false, {250, "", ""}, "250 2.1.0 Ok\r\n", false},
        {false, {354, "", "go"}, "451 4.3.0 Error: local error in processing\r\n", false},
        {false, {999, "", ""}, "451 4.3.0 Error: local error in processing\r\n", false},
        {false, {0, "", ""}, "451 4.3.0 Error: local error in processing\r\n", false},
        {false,
         {421, "4.3.2", "LAN server shutting down"},
         "421 4.3.2 LAN server shutting down\r\n",
         true},
    };
    for (const auto& c : cases) {
        SessionConfig cfg = base_config();
        cfg.mail_needs_answer = !c.rcpt_step;
        cfg.rcpt_needs_answer = c.rcpt_step;
        Harness h(cfg, [&c](const Event&) { return c.answer; });
        h.feed("EHLO c.example\r\n");
        if (c.rcpt_step)
            h.feed("MAIL FROM:<>\r\n");
        h.take();
        h.feed(c.rcpt_step ? "RCPT TO:<u@example.com>\r\n" : "MAIL FROM:<s@sender.example>\r\n");
        STRCMP_EQUAL(c.sent, h.take().c_str());
        CHECK_EQUAL_TEXT(c.closes, h.s.wants_close(), c.sent);
        if (!c.rcpt_step && !c.closes)
            CHECK_EQUAL_TEXT(c.answer.code == 250, h.s.in_transaction(), c.sent);
    }
    // Without ENHANCEDSTATUSCODES nothing is added (and an answer's code is dropped).
    SessionConfig plain = base_config();
    plain.enhanced_status_codes = false;
    plain.rcpt_needs_answer = true;
    Harness p(plain, [](const Event&) { return Reply{550, "5.1.1", "unknown"}; });
    p.feed("EHLO c.example\r\n");
    p.feed("MAIL FROM:<>\r\n");
    p.take();
    p.feed("RCPT TO:<u@example.com>\r\n");
    STRCMP_EQUAL("550 unknown\r\n", p.take().c_str());
}

TEST(SmtpSession, DataStartAndDataEndFollowTheLanServer) {
    SessionConfig cfg = base_config();
    cfg.data_needs_answer = true;
    int data_starts = 0;
    Harness h(cfg, [&data_starts](const Event& e) {
        if (e.kind == EventKind::data_start)
            return ++data_starts == 1 ? Reply{451, "", ""} : Reply{354, "", ""};
        if (e.kind == EventKind::data_end)
            return Reply{554, "5.6.0", "LAN refused the content"};
        return accept_all(e);
    });
    h.feed("EHLO c.example\r\n");
    h.feed("MAIL FROM:<>\r\n");
    h.feed("RCPT TO:<u@example.com>\r\n");
    h.take();
    h.feed("DATA\r\n");
    STRCMP_EQUAL("451 4.0.0 Data command rejected, try again later\r\n", h.take().c_str());
    CHECK_TRUE(h.s.in_transaction()); // RFC 5321 3.3: the transaction stays
    h.feed("DATA\r\n");
    STRCMP_EQUAL("354 End data with <CR><LF>.<CR><LF>\r\n", h.take().c_str());
    h.feed("text\r\n.\r\n");
    STRCMP_EQUAL("554 5.6.0 LAN refused the content\r\n", h.take().c_str());
    CHECK_FALSE(h.s.in_transaction());
    h.feed("MAIL FROM:<>\r\n");
    STRCMP_EQUAL("250 2.1.0 Ok\r\n", h.take().c_str());
    // The upstream 354's own text is passed on.
    Harness t(cfg, [](const Event& e) {
        return e.kind == EventKind::data_start ? Reply{354, "", "LAN: go ahead"} : accept_all(e);
    });
    t.feed("EHLO c.example\r\n");
    t.feed("MAIL FROM:<>\r\n");
    t.feed("RCPT TO:<u@example.com>\r\n");
    t.take();
    t.feed("DATA\r\n");
    STRCMP_EQUAL("354 LAN: go ahead\r\n", t.take().c_str());
}

TEST(SmtpSession, ConnectCanWaitForTheProxy) {
    SessionConfig cfg = base_config();
    cfg.connect_needs_answer = true;
    Harness h(cfg, nullptr);
    STRCMP_EQUAL("", h.take().c_str());
    CHECK_TRUE(h.events[0].needs_answer);
    h.s.answer(Reply{250, "", ""}, kStart + 3);
    h.settle();
    STRCMP_EQUAL("220 gw.example.net ESMTP\r\n", h.take().c_str());

    Harness down(cfg, [](const Event&) { return Reply{421, "4.3.2", "LAN server unavailable"}; });
    STRCMP_EQUAL("421 4.3.2 LAN server unavailable\r\n", down.take().c_str());
    CHECK_TRUE(down.s.wants_close());
    CHECK_TRUE(down.events.back().kind == EventKind::close);
}

// ---------------------------------------------------------------------------
// Early talkers and pipelining violations

TEST(SmtpSession, PregreetIsAnswered554AndClosed) {
    SessionConfig cfg = base_config();
    cfg.banner_delay_ms = 2000;
    Harness h(cfg);
    STRCMP_EQUAL("", h.take().c_str());
    CHECK_EQUAL(kStart + 2000, h.s.next_expiry());
    h.timer(kStart + 1999);
    STRCMP_EQUAL("", h.take().c_str());
    CHECK_EQUAL(0u, h.feed("EHLO bot.example\r\nMAIL FROM:<>\r\n"));
    STRCMP_EQUAL("554 5.7.0 Error: talked before the greeting\r\n", h.take().c_str());
    CHECK_TRUE(h.s.wants_close());
    const Event* p = h.last(EventKind::pregreet);
    CHECK_TRUE(p != nullptr);
    STRCMP_EQUAL("EHLO bot.example\r\nMAIL FROM:<>\r\n", p->arg.c_str());
    CHECK_EQUAL(0u, h.count(EventKind::helo));
    CHECK_TRUE(h.events.back().kind == EventKind::close);

    Harness patient(cfg);
    patient.timer(kStart + 2000);
    STRCMP_EQUAL("220 gw.example.net ESMTP\r\n", patient.take().c_str());
    patient.feed("EHLO good.example\r\n");
    CHECK_TRUE(starts_with(patient.take(), "250-gw.example.net"));
}

TEST(SmtpSession, PipeliningViolationsTable) {
    struct Case {
        const char* name;
        std::vector<std::string> turns;
        std::size_t replies_before; // replies sent before the 554
        bool violation;
        void (*tweak)(SessionConfig&);
    };
    auto no_pipelining = [](SessionConfig& c) { c.pipelining = false; };
    auto not_enforced = [](SessionConfig& c) { c.enforce_pipelining_sync = false; };
    const Case cases[] = {
        {"HELO then MAIL at once", {"HELO c.example\r\nMAIL FROM:<>\r\n"}, 0, true, nullptr},
        {"EHLO then MAIL at once", {"EHLO c.example\r\nMAIL FROM:<>\r\n"}, 0, true, nullptr},
        {"HELO session MAIL+RCPT",
         {"HELO c.example\r\n", "MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\n"},
         1,
         true,
         nullptr},
        {"no PIPELINING offered",
         {"EHLO c.example\r\n", "MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\n"},
         1,
         true,
         no_pipelining},
        {"body before 354",
         {"EHLO c.example\r\n",
          "MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\nDATA\r\nSubject: x\r\n"},
         3,
         true,
         nullptr},
        {"NOOP not last", {"EHLO c.example\r\n", "NOOP\r\nRSET\r\n"}, 1, true, nullptr},
        {"VRFY not last", {"EHLO c.example\r\n", "VRFY u\r\nRSET\r\n"}, 1, true, nullptr},
        {"HELO session: QUIT after the dot",
         {"HELO c.example\r\n", "MAIL FROM:<>\r\n", "RCPT TO:<u@example.com>\r\n", "DATA\r\n",
          "x\r\n.\r\nQUIT\r\n"},
         4,
         true,
         nullptr},
        {"HELO session: BDAT is refused, then the command after it",
         {"HELO c.example\r\n", "BDAT 3\r\nabcRSET\r\n"},
         1,
         true,
         nullptr},
        {"compliant batch",
         {"EHLO c.example\r\n", "MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\nDATA\r\n"},
         4,
         false,
         nullptr},
        {"QUIT after the dot with PIPELINING",
         {"EHLO c.example\r\n", "MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\nDATA\r\n",
          "x\r\n.\r\nQUIT\r\n"},
         6,
         false,
         nullptr},
        {"anything after QUIT", {"EHLO c.example\r\n", "QUIT\r\nJUNK\r\n"}, 2, false, nullptr},
        {"not enforced",
         {"HELO c.example\r\nMAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\n"},
         3,
         false,
         not_enforced},
    };
    for (const auto& c : cases) {
        SessionConfig cfg = base_config();
        if (c.tweak)
            c.tweak(cfg);
        Harness h(cfg);
        h.take();
        for (const auto& t : c.turns)
            h.feed(t);
        const auto r = replies(h.take());
        CHECK_EQUAL_TEXT(c.violation ? 1u : 0u, h.count(EventKind::pipelining_violation), c.name);
        if (c.violation) {
            CHECK_EQUAL_TEXT(c.replies_before + 1, r.size(), c.name);
            STRCMP_EQUAL_TEXT("554 5.5.0 Error: SMTP protocol synchronization\r\n",
                              r.back().c_str(), c.name);
            CHECK_TRUE_TEXT(h.s.wants_close(), c.name);
            CHECK_EQUAL_TEXT(0u, h.count(EventKind::data_end), c.name);
        } else {
            CHECK_EQUAL_TEXT(c.replies_before, r.size(), c.name);
        }
    }
}

TEST(SmtpSession, InputOfferedWhileSuspendedOnDataIsAViolation) {
    SessionConfig cfg = base_config();
    cfg.data_needs_answer = true;
    Harness h(cfg, nullptr);
    h.feed("EHLO c.example\r\n");
    h.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\nDATA\r\n");
    h.take();
    CHECK_TRUE(h.s.suspended());
    // The client sends its message before the 354 it must wait for.
    CHECK_EQUAL(0u, h.s.on_input(bytes("Subject: early\r\n"), kStart));
    h.s.answer(Reply{354, "", ""}, kStart + 1);
    h.settle();
    const auto r = replies(h.take());
    CHECK_EQUAL(2u, r.size());
    CHECK_TRUE(starts_with(r[0], "354 ") && starts_with(r[1], "554 5.5.0"));
    CHECK_EQUAL(1u, h.count(EventKind::data_abort)); // the LAN transfer is dropped
    CHECK_TRUE(h.s.wants_close());
}

// ---------------------------------------------------------------------------
// STARTTLS

TEST(SmtpSession, StarttlsHandsOverAndForgetsTheCleartextSession) {
    SessionConfig cfg = base_config();
    cfg.tls_available = true;
    Harness h(cfg);
    h.take();
    h.feed("EHLO c.example\r\n");
    CHECK_TRUE(h.take().find("250-STARTTLS\r\n") != std::string::npos);
    // RFC 3207 5: a command injected after STARTTLS in the same write is
    // discarded, never executed.
    const std::string injected = "STARTTLS\r\nMAIL FROM:<injected@attacker.test>\r\n";
    CHECK_EQUAL(injected.size(), h.s.on_input(bytes(injected), kStart));
    h.settle();
    STRCMP_EQUAL("220 2.0.0 Ready to start TLS\r\n", h.take().c_str());
    CHECK_EQUAL(1u, h.count(EventKind::starttls));
    CHECK_EQUAL(0u, h.count(EventKind::mail));
    CHECK_TRUE(h.s.tls_active());
    // RFC 3207 4.2: back to the post-greeting state.
    h.feed("MAIL FROM:<>\r\n");
    CHECK_TRUE(starts_with(h.take(), "503 5.5.1 Error: send HELO/EHLO first"));
    h.feed("EHLO c.example\r\n");
    CHECK_TRUE(h.take().find("STARTTLS") == std::string::npos);
    h.feed("STARTTLS\r\n");
    STRCMP_EQUAL("503 5.5.1 Error: TLS already active\r\n", h.take().c_str());
    h.feed("MAIL FROM:<>\r\n");
    STRCMP_EQUAL("250 2.1.0 Ok\r\n", h.take().c_str());
    h.feed("STARTTLS\r\n"); // not in a transaction either
    CHECK_TRUE(starts_with(h.take(), "503 5.5.1"));
}

TEST(SmtpSession, RequiredTlsRefusesMailUntilStarttls) {
    SessionConfig cfg = base_config();
    cfg.tls_available = true;
    cfg.tls_required = true;
    Harness h(cfg);
    h.feed("EHLO c.example\r\n");
    h.take();
    const char* refused[] = {"MAIL FROM:<>", "VRFY u", "EXPN u", "BDAT 0 LAST"};
    for (const char* cmd : refused) {
        h.feed(std::string(cmd) + "\r\n");
        STRCMP_EQUAL_TEXT("530 5.7.0 Must issue a STARTTLS command first\r\n", h.take().c_str(),
                          cmd);
    }
    h.feed("NOOP\r\n");
    STRCMP_EQUAL("250 2.0.0 Ok\r\n", h.take().c_str());
    h.feed("STARTTLS\r\n");
    h.feed("EHLO c.example\r\n");
    h.take();
    h.feed("MAIL FROM:<>\r\n");
    STRCMP_EQUAL("250 2.1.0 Ok\r\n", h.take().c_str());
    // Without a TLS layer, requiring TLS is ignored (it could never be met).
    SessionConfig no_tls = base_config();
    no_tls.tls_required = true;
    Harness n(no_tls);
    n.feed("EHLO c.example\r\n");
    n.take();
    n.feed("MAIL FROM:<>\r\n");
    STRCMP_EQUAL("250 2.1.0 Ok\r\n", n.take().c_str());
}

// ---------------------------------------------------------------------------
// Adversarial command lines

TEST(SmtpSession, CommandsWithNulBareCrOrBareLfAreRefused) {
    struct Case {
        std::string input;
        const char* first_reply;
    };
    const Case cases[] = {
        {std::string("NOOP\0\r\n", 7), "500 5.5.2 Error: NUL, bare <CR> or control octet"},
        {std::string("MAIL FROM:<a@b.example>\0\r\n", 26), "500 5.5.2"},
        {"NO\rOP\r\n", "500 5.5.2"},
        {"NOOP\r\r\n", "500 5.5.2"},
        {"NOOP\n", "500 5.5.2 Error: bare <LF> received"},
        {"MAIL FROM:<a@b.example>\n", "500 5.5.2 Error: bare <LF> received"},
        {"NOOP\x01\r\n", "500 5.5.2"},
        {"NOOP \x1b[2J\r\n", "500 5.5.2"},
        {"NOOP\x7f\r\n", "500 5.5.2"},
        {std::string("\x16\x03\x01\x02\x00\x01\r\n", 8), "500 5.5.2"}, // TLS in clear
    };
    for (const auto& c : cases) {
        Harness h(base_config());
        h.feed("EHLO c.example\r\n");
        h.take();
        h.feed(c.input);
        h.feed("NOOP\r\n"); // the session is still in step afterwards
        const auto r = replies(h.take());
        CHECK_EQUAL_TEXT(2u, r.size(), c.input.c_str());
        CHECK_TRUE_TEXT(starts_with(r[0], c.first_reply), c.input.c_str());
        STRCMP_EQUAL_TEXT("250 2.0.0 Ok\r\n", r[1].c_str(), c.input.c_str());
        CHECK_EQUAL_TEXT(0u, h.count(EventKind::mail), c.input.c_str());
        CHECK_EQUAL_TEXT(1u, h.count(EventKind::protocol_error), c.input.c_str());
    }
}

TEST(SmtpSession, CommandLineLengthIsBounded) {
    Harness h(base_config());
    h.feed("EHLO c.example\r\n");
    h.take();
    const std::size_t limit = base_config().max_command_line_bytes;
    h.feed("NOOP " + std::string(limit - 7, 'x') + "\r\n"); // exactly the limit
    STRCMP_EQUAL("250 2.0.0 Ok\r\n", h.take().c_str());
    h.feed("NOOP " + std::string(limit - 6, 'x') + "\r\n"); // one over
    STRCMP_EQUAL("500 5.5.2 Error: line too long\r\n", h.take().c_str());
    // A megabyte without a newline, in pieces: one reply, and the session
    // keeps working.
    const std::string huge = "MAIL FROM:<" + std::string(1 << 20, 'a');
    for (std::size_t i = 0; i < huge.size(); i += 4096)
        CHECK_EQUAL(0u, h.feed(std::string_view(huge).substr(i, 4096)));
    STRCMP_EQUAL("", h.take().c_str());
    h.feed("@example.com>\r\nNOOP\r\n");
    STRCMP_EQUAL("500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n", h.take().c_str());
    CHECK_EQUAL(0u, h.count(EventKind::mail));
    const Event* e = h.last(EventKind::protocol_error);
    CHECK_TRUE(e != nullptr && e->arg.size() <= 512);
}

// ---------------------------------------------------------------------------
// Limits

TEST(SmtpSession, RecipientsPerMessageAreBoundedAtLeastAtTheRfcMinimum) {
    SessionConfig cfg = base_config();
    cfg.max_recipients = 1; // raised to RFC 5321's 100
    cfg.max_errors = 2;
    Harness h(cfg);
    h.feed("EHLO c.example\r\n");
    h.feed("MAIL FROM:<>\r\n");
    h.take();
    std::string batch;
    for (int i = 0; i < 103; ++i)
        batch += "RCPT TO:<u" + std::to_string(i) + "@example.com>\r\n";
    h.feed(batch);
    const auto r = replies(h.take());
    CHECK_EQUAL(103u, r.size());
    CHECK_TRUE(starts_with(r[99], "250 2.1.5"));
    STRCMP_EQUAL("452 4.5.3 Error: too many recipients\r\n", r[100].c_str());
    CHECK_TRUE(starts_with(r[102], "452 4.5.3"));
    CHECK_FALSE(h.s.wants_close()); // 452 is not an error (RFC 5321 4.5.3.1.10)
    CHECK_EQUAL(100u, h.count(EventKind::rcpt));
}

TEST(SmtpSession, MessageSizeIsEnforcedWhileDataStreams) {
    SessionConfig cfg = base_config();
    cfg.max_message_bytes = 100;
    Harness h(cfg);
    h.feed("EHLO c.example\r\n");
    h.feed("MAIL FROM:<> SIZE=100\r\nRCPT TO:<u@example.com>\r\nDATA\r\n");
    h.take();
    std::size_t abort_at = 0;
    for (int i = 0; i < 50; ++i) {
        h.feed("0123456789012345678\r\n"); // 21 octets per line
        if (abort_at == 0 && h.count(EventKind::data_abort) == 1)
            abort_at = h.events.size();
    }
    CHECK_TRUE(abort_at != 0);
    const Event* abort = h.last(EventKind::data_abort);
    STRCMP_EQUAL("552 5.3.4 Error: message file too big\r\n",
                 format_reply(abort->reply, true).c_str());
    // Nothing of the message after the limit, and nothing after the abort.
    CHECK_TRUE(h.body().size() <= 100);
    for (std::size_t i = abort_at; i < h.events.size(); ++i)
        CHECK_TRUE(h.events[i].kind != EventKind::body);
    STRCMP_EQUAL("", h.take().c_str()); // the reply waits for the end of data
    h.feed(".\r\n");
    STRCMP_EQUAL("552 5.3.4 Error: message file too big\r\n", h.take().c_str());
    CHECK_EQUAL(0u, h.count(EventKind::data_end));
    CHECK_FALSE(h.s.in_transaction());
    h.feed("MAIL FROM:<>\r\n");
    STRCMP_EQUAL("250 2.1.0 Ok\r\n", h.take().c_str());
}

TEST(SmtpSession, TextLinesOverTheLimitRejectTheMessageAtItsEnd) {
    Harness h(base_config());
    h.feed("EHLO c.example\r\n");
    h.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\nDATA\r\n");
    h.feed(std::string(998, 'a') + "\r\n.\r\n");
    CHECK_EQUAL(1u, h.count(EventKind::data_end));
    h.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\nDATA\r\n");
    h.take();
    h.feed(std::string(999, 'a') + "\r\nmore\r\n.\r\n");
    STRCMP_EQUAL("554 5.6.0 Error: message text line too long\r\n", h.take().c_str());
    CHECK_EQUAL(1u, h.count(EventKind::data_abort));
    CHECK_EQUAL(1u, h.count(EventKind::data_end));
}

TEST(SmtpSession, ErrorsPerSessionEndIt) {
    SessionConfig cfg = base_config();
    cfg.max_errors = 3;
    Harness h(cfg);
    h.take();
    h.feed("FOO\r\n");
    h.feed("BAR\r\n");
    CHECK_FALSE(h.s.wants_close());
    h.feed("BAZ\r\n");
    STRCMP_EQUAL("500 5.5.2 Error: command not recognized\r\n500 5.5.2 Error: command not "
                 "recognized\r\n500 5.5.2 Error: command not recognized\r\n421 4.7.0 Error: too "
                 "many errors\r\n",
                 h.take().c_str());
    CHECK_TRUE(h.s.wants_close());
    CHECK_EQUAL(6u, h.s.on_input(bytes("NOOP\r\n"), kStart)); // discarded
    STRCMP_EQUAL("", h.take().c_str());
    // Delivering a message resets the count.
    Harness d(cfg);
    d.feed("EHLO c.example\r\n");
    d.feed("FOO\r\n");
    d.feed("BAR\r\n");
    d.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\nDATA\r\n");
    d.feed("x\r\n.\r\n");
    CHECK_EQUAL(0u, d.s.error_count());
    d.feed("FOO\r\n");
    d.feed("BAR\r\n");
    CHECK_FALSE(d.s.wants_close());
}

TEST(SmtpSession, JunkCommandsCountAsErrorsBeyondTheirLimit) {
    SessionConfig cfg = base_config();
    cfg.max_junk_commands = 2;
    cfg.max_errors = 2;
    Harness h(cfg);
    h.feed("EHLO c.example\r\n");
    h.feed("NOOP\r\n");
    h.feed("RSET\r\n");
    CHECK_EQUAL(0u, h.s.error_count());
    h.feed("HELP\r\n");
    CHECK_EQUAL(1u, h.s.error_count());
    CHECK_FALSE(h.s.wants_close());
    h.take();
    h.feed("VRFY u\r\n");
    STRCMP_EQUAL("421 4.7.0 Error: too many errors\r\n", h.take().c_str());
    CHECK_TRUE(h.s.wants_close());
}

TEST(SmtpSession, CommandsWithoutMailAreBounded) {
    SessionConfig cfg = base_config();
    cfg.max_commands_without_mail = 4;
    Harness h(cfg);
    h.feed("EHLO c.example\r\n"); // 1
    h.feed("NOOP\r\n");           // 2
    h.feed("MAIL FROM:<>\r\n");   // 3: a transaction resets the count
    h.feed("RSET\r\n");           // in the transaction: not counted
    h.feed("NOOP\r\n");           // 1
    h.feed("NOOP\r\n");           // 2
    h.feed("NOOP\r\n");           // 3
    h.feed("NOOP\r\n");           // 4
    CHECK_FALSE(h.s.wants_close());
    h.take();
    h.feed("NOOP\r\n"); // 5
    STRCMP_EQUAL("421 4.7.0 Error: too many commands without a mail transaction\r\n",
                 h.take().c_str());
    CHECK_TRUE(h.s.wants_close());
}

TEST(SmtpSession, IdleTimeoutsPerState) {
    SessionConfig cfg = base_config();
    cfg.idle_before_helo_ms = 10000;
    cfg.idle_command_ms = 20000;
    cfg.idle_data_ms = 30000;
    {
        Harness h(cfg);
        h.take();
        CHECK_EQUAL(kStart + 10000, h.s.next_expiry());
        h.timer(kStart + 9999);
        CHECK_FALSE(h.s.wants_close());
        h.timer(kStart + 10000);
        STRCMP_EQUAL("421 4.4.2 Error: timeout exceeded\r\n", h.take().c_str());
        CHECK_TRUE(h.s.wants_close());
        CHECK_EQUAL(UINT64_MAX, h.s.next_expiry());
    }
    {
        Harness h(cfg);
        h.now = kStart + 5;
        h.feed("EHLO c.example\r\n");
        CHECK_EQUAL(kStart + 5 + 20000, h.s.next_expiry());
        h.timer(kStart + 5 + 20000);
        CHECK_TRUE(h.s.wants_close());
    }
    {
        Harness h(cfg);
        h.feed("EHLO c.example\r\n");
        h.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\nDATA\r\n");
        h.now = kStart + 100;
        h.feed("partial line");
        CHECK_EQUAL(kStart + 100 + 30000, h.s.next_expiry());
        h.take();
        h.timer(kStart + 100 + 30000);
        STRCMP_EQUAL("421 4.4.2 Error: timeout exceeded\r\n", h.take().c_str());
        CHECK_EQUAL(1u, h.count(EventKind::data_abort)); // the LAN side is told
        CHECK_TRUE(h.events.back().kind == EventKind::close);
    }
}

TEST(SmtpSession, SessionTimeIsBounded) {
    SessionConfig cfg = base_config();
    cfg.max_session_ms = 60000;
    cfg.idle_command_ms = 50000;
    Harness h(cfg);
    h.feed("EHLO c.example\r\n");
    for (std::uint64_t t = kStart + 40000; t < kStart + 60000; t += 10000) {
        h.now = t;
        h.feed("NOOP\r\n"); // active, never idle
    }
    CHECK_EQUAL(kStart + 60000, h.s.next_expiry());
    h.take();
    h.timer(kStart + 60000);
    STRCMP_EQUAL("421 4.4.2 Error: session time limit exceeded\r\n", h.take().c_str());
    CHECK_TRUE(h.s.wants_close());
}

TEST(SmtpSession, BodyBufferIsBackPressureNotMemory) {
    SessionConfig cfg = base_config();
    cfg.body_buffer_bytes = 64;
    cfg.idle_data_ms = 1000;
    Harness h(cfg);
    h.feed("EHLO c.example\r\n");
    h.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\nDATA\r\n");
    std::string body;
    for (int i = 0; i < 200; ++i)
        body += "line " + std::to_string(i) + " of the message\r\n";
    // Feed by hand, without polling: the session stops at its buffer.
    const std::size_t n = h.s.on_input(bytes(body), kStart);
    CHECK_TRUE(n > 0 && n <= 64);
    CHECK_EQUAL(0u, h.s.input_room());
    CHECK_EQUAL(0u, h.s.on_input(bytes(std::string_view(body).substr(n)), kStart));
    // The proxy is slow far beyond the idle time: not the client's fault.
    CHECK_TRUE(h.s.next_expiry() > kStart + 1000000);
    h.s.on_timer(kStart + 5000);
    CHECK_FALSE(h.s.wants_close());
    // The proxy takes the body: room again, and the idle clock restarts now.
    h.now = kStart + 6000;
    h.settle();
    CHECK_TRUE(h.s.input_room() > 0);
    CHECK_TRUE(h.s.next_expiry() <= kStart + 6000);
    h.timer(kStart + 6000);
    CHECK_FALSE(h.s.wants_close());
    CHECK_EQUAL(kStart + 6000 + 1000, h.s.next_expiry());
    CHECK_EQUAL(0u, h.feed(std::string_view(body).substr(n)));
    h.feed(".\r\n");
    STRCMP_EQUAL(body.c_str(), h.body().c_str());
    CHECK_EQUAL(1u, h.count(EventKind::data_end));
}

TEST(SmtpSession, UnreadRepliesAndUnpolledEventsStopInput) {
    SessionConfig cfg = base_config();
    cfg.output_buffer_bytes = 100;
    cfg.max_queued_events = 1000000;
    cfg.max_junk_commands = 1000000;
    cfg.max_commands_without_mail = 1000000;
    Session s(cfg, SessionPeer{"192.0.2.7", 7}, kStart);
    std::string batch = "EHLO c.example\r\n";
    std::size_t pos = s.on_input(bytes(batch), kStart);
    s.consume_output(s.pending_output().size());
    batch.clear();
    for (int i = 0; i < 1000; ++i)
        batch += "RSET\r\n";
    pos = s.on_input(bytes(batch), kStart);
    CHECK_TRUE(pos < batch.size());
    CHECK_TRUE(s.pending_output().size() >= 100 && s.pending_output().size() < 120);
    CHECK_EQUAL(0u, s.input_room());
    s.consume_output(s.pending_output().size());
    CHECK_TRUE(s.input_room() > 0);
    CHECK_TRUE(s.on_input(bytes(std::string_view(batch).substr(pos)), kStart) > 0);

    SessionConfig ev = base_config();
    ev.max_queued_events = 8;
    ev.max_junk_commands = 1000000;
    ev.max_commands_without_mail = 1000000;
    Session e(ev, SessionPeer{"192.0.2.7", 8}, kStart);
    CHECK_TRUE(e.on_input(bytes("EHLO c.example\r\n"), kStart) > 0);
    const std::size_t used = e.on_input(bytes(batch), kStart);
    CHECK_TRUE(used < batch.size());
    CHECK_EQUAL(0u, e.input_room());
    Event out;
    std::size_t polled = 0;
    while (e.poll_event(out))
        ++polled;
    CHECK_EQUAL(8u, polled);
    CHECK_TRUE(e.input_room() > 0);
}

// ---------------------------------------------------------------------------
// BDAT (RFC 3030)

TEST(SmtpSession, BdatChunksOfEverySize) {
    Harness h(base_config());
    h.feed("EHLO c.example\r\n");
    h.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\n");
    h.take();
    h.feed("BDAT 0\r\n");
    STRCMP_EQUAL("250 2.0.0 0 octets received\r\n", h.take().c_str());
    h.feed("BDAT 1\r\nx");
    STRCMP_EQUAL("250 2.0.0 1 octets received\r\n", h.take().c_str());
    // Chunk content is raw: a CRLF "." CRLF and commands inside are data.
    const std::string raw = "a\r\n.\r\nMAIL FROM:<>\r\n..x\n\r";
    h.feed("BDAT " + std::to_string(raw.size()) + "\r\n" + raw);
    CHECK_TRUE(starts_with(h.take(), "250 2.0.0 "));
    std::string big(200000, 'b');
    for (std::size_t i = 0; i < big.size(); i += 97)
        big[i] = static_cast<char>(i % 251);
    h.feed("BDAT " + std::to_string(big.size()) + " LAST\r\n" + big);
    STRCMP_EQUAL(("250 2.0.0 Ok: queued as " + h.s.message_id() + "\r\n").c_str(),
                 h.take().c_str());
    STRCMP_EQUAL(("x" + raw + big).c_str(), h.body().c_str());
    CHECK_TRUE(h.body() == "x" + raw + big);
    const Event* end = h.last(EventKind::data_end);
    CHECK_TRUE(end->chunked);
    CHECK_EQUAL(1 + raw.size() + big.size(), end->size);
    CHECK_EQUAL(0u, h.count(EventKind::mail) - 1);
    CHECK_EQUAL(1u, h.count(EventKind::data_start));
    CHECK_FALSE(h.s.in_transaction());
    // BDAT 0 LAST alone is an empty message.
    h.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\nBDAT 0 LAST\r\n");
    CHECK_EQUAL(0u, h.last(EventKind::data_end)->size);
}

TEST(SmtpSession, RefusedBdatChunksAreReadAndDiscardedNeverExecuted) {
    struct Case {
        const char* name;
        std::vector<std::string> setup;
        const char* reply;
        void (*tweak)(SessionConfig&);
    };
    auto no_chunking = [](SessionConfig& c) { c.chunking = false; };
    const Case cases[] = {
        {"without MAIL", {"EHLO c.example\r\n"}, "503 5.5.1", nullptr},
        {"without RCPT", {"EHLO c.example\r\n", "MAIL FROM:<>\r\n"}, "554 5.5.1", nullptr},
        {"after HELO",
         {"HELO c.example\r\n", "MAIL FROM:<>\r\n", "RCPT TO:<u@example.com>\r\n"},
         "502 5.5.1",
         nullptr},
        {"CHUNKING off",
         {"EHLO c.example\r\n", "MAIL FROM:<>\r\n", "RCPT TO:<u@example.com>\r\n"},
         "502 5.5.1",
         no_chunking},
        {"before HELO", {}, "503 5.5.1", nullptr},
    };
    const std::string chunk = "RCPT TO:<victim@example.com>\r\n";
    for (const auto& c : cases) {
        SessionConfig cfg = base_config();
        cfg.enforce_pipelining_sync = false; // the HELO case would end on that first
        if (c.tweak)
            c.tweak(cfg);
        Harness h(cfg);
        for (const auto& t : c.setup)
            h.feed(t);
        h.take();
        const std::size_t rcpts = h.count(EventKind::rcpt);
        h.feed("BDAT " + std::to_string(chunk.size()) + "\r\n" + chunk + "NOOP\r\n");
        const auto r = replies(h.take());
        CHECK_EQUAL_TEXT(2u, r.size(), c.name);
        CHECK_TRUE_TEXT(starts_with(r[0], c.reply), c.name);
        STRCMP_EQUAL_TEXT("250 2.0.0 Ok\r\n", r[1].c_str(), c.name);
        CHECK_EQUAL_TEXT(rcpts, h.count(EventKind::rcpt), c.name);
        CHECK_EQUAL_TEXT(0u, h.count(EventKind::body), c.name);
    }
}

TEST(SmtpSession, BdatSizesThatCannotBeTrustedOrExceedTheLimit) {
    // Unparseable size: the stream cannot be resynchronised.
    Harness bad(base_config());
    bad.feed("EHLO c.example\r\n");
    bad.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\n");
    bad.take();
    bad.feed("BDAT 18446744073709551616\r\nMAIL FROM:<>\r\n");
    STRCMP_EQUAL("501 5.5.4 Syntax: BDAT size [LAST]\r\n421 4.5.0 Error: cannot resynchronize "
                 "after a bad BDAT\r\n",
                 bad.take().c_str());
    CHECK_TRUE(bad.s.wants_close());
    // The largest size parses, is over the limit, and swallows everything
    // after it (until the idle timeout): nothing is read as a command.
    Harness huge(base_config());
    huge.feed("EHLO c.example\r\n");
    huge.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\n");
    huge.take();
    const std::size_t events = huge.events.size();
    CHECK_EQUAL(0u, huge.feed("BDAT 18446744073709551615 LAST\r\n"));
    for (int i = 0; i < 100; ++i)
        CHECK_EQUAL(0u, huge.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\nQUIT\r\n"));
    STRCMP_EQUAL("", huge.take().c_str());
    CHECK_EQUAL(events, huge.events.size());
    CHECK_FALSE(huge.s.wants_close());
}

TEST(SmtpSession, BdatOverTheSizeLimitFailsTheRestOfTheMessage) {
    SessionConfig cfg = base_config();
    cfg.max_message_bytes = 100;
    Harness h(cfg);
    h.feed("EHLO c.example\r\n");
    h.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\n");
    h.take();
    h.feed("BDAT 60\r\n" + std::string(60, 'a'));
    STRCMP_EQUAL("250 2.0.0 60 octets received\r\n", h.take().c_str());
    const std::size_t before = h.events.size();
    h.feed("BDAT 60\r\n");
    // The abort comes at once, before a single octet of the chunk.
    CHECK_EQUAL(before + 1, h.events.size());
    CHECK_TRUE(h.events.back().kind == EventKind::data_abort);
    h.feed(std::string(60, 'b') + "BDAT 10 LAST\r\n" + std::string(10, 'c'));
    const auto r = replies(h.take());
    CHECK_EQUAL(2u, r.size());
    STRCMP_EQUAL("552 5.3.4 Error: message file too big\r\n", r[0].c_str());
    STRCMP_EQUAL("552 5.3.4 Error: message file too big\r\n", r[1].c_str());
    STRCMP_EQUAL(std::string(60, 'a').c_str(), h.body().c_str());
    CHECK_EQUAL(0u, h.count(EventKind::data_end));
    CHECK_FALSE(h.s.in_transaction());
    h.feed("BDAT 1 LAST\r\nz"); // the failed message is over: no MAIL now
    CHECK_TRUE(starts_with(h.take(), "503 5.5.1"));
    h.feed("MAIL FROM:<>\r\n");
    STRCMP_EQUAL("250 2.1.0 Ok\r\n", h.take().c_str());
}

TEST(SmtpSession, BdatWithTheLanServerDecidingTheTransfer) {
    SessionConfig cfg = base_config();
    cfg.data_needs_answer = true;
    Harness h(cfg, [](const Event& e) {
        return e.kind == EventKind::data_start ? Reply{451, "4.3.0", "LAN busy"} : accept_all(e);
    });
    h.feed("EHLO c.example\r\n");
    h.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\n");
    h.take();
    h.feed("BDAT 4\r\nabcdBDAT 3 LAST\r\nxyzNOOP\r\n");
    STRCMP_EQUAL("451 4.3.0 LAN busy\r\n451 4.3.0 LAN busy\r\n250 2.0.0 Ok\r\n", h.take().c_str());
    CHECK_EQUAL(0u, h.count(EventKind::body));
    CHECK_EQUAL(0u, h.count(EventKind::data_end));
    // RSET between chunks abandons the LAN transfer.
    Harness r(base_config());
    r.feed("EHLO c.example\r\n");
    r.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\n");
    r.feed("BDAT 2\r\nhi");
    r.feed("DATA\r\n");
    CHECK_TRUE(starts_with(replies(r.take()).back(), "503 5.5.1 Error: DATA after BDAT"));
    r.feed("RSET\r\n");
    CHECK_EQUAL(1u, r.count(EventKind::data_abort));
    CHECK_TRUE(r.events.back().kind == EventKind::reset);
    CHECK_FALSE(r.s.in_transaction());
}

// ---------------------------------------------------------------------------
// Smuggling through a whole session

TEST(SmtpSession, SmugglingSequencesNeverStartASecondTransaction) {
    const char* sequences[] = {"\n.\n",   "\r.\r",   "\n.\r\n", "\r\n.\n",
                               "\r\n.\r", "\r.\r\n", "\n.\r",   "\r.\n"};
    for (const BareNewlinePolicy policy :
         {BareNewlinePolicy::reject, BareNewlinePolicy::normalize}) {
        for (const char* seq : sequences) {
            SessionConfig cfg = base_config();
            cfg.bare_newline = policy;
            Harness h(cfg);
            h.feed("EHLO c.example\r\n");
            h.feed("MAIL FROM:<a@sender.example>\r\nRCPT TO:<u@example.com>\r\nDATA\r\n");
            h.take();
            std::string attack = "Subject: hi\r\n\r\nhello";
            attack += seq;
            attack += "MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n"
                      "Subject: smuggled\r\n\r\nfake\r\n.\r\n";
            CHECK_EQUAL_TEXT(0u, h.feed(attack), seq);
            // Either defect (bare newline, or a "." line touching one).
            const std::string out = h.take();
            CHECK_TRUE_TEXT(out == "554 5.6.0 Error: bare <CR> or <LF> in message text\r\n" ||
                                out ==
                                    "554 5.6.0 Error: \".\" line next to a bare <CR> or <LF>\r\n",
                            seq);
            if (policy == BareNewlinePolicy::normalize) // only the "." line is refused
                CHECK_TRUE_TEXT(out.find("\".\" line") != std::string::npos, seq);
            CHECK_EQUAL_TEXT(1u, h.count(EventKind::mail), seq);
            CHECK_EQUAL_TEXT(1u, h.count(EventKind::rcpt), seq);
            CHECK_EQUAL_TEXT(0u, h.count(EventKind::data_end), seq);
            CHECK_EQUAL_TEXT(1u, h.count(EventKind::data_abort), seq);
            const std::string body = h.body();
            CHECK_TRUE_TEXT(body.find("evil") == std::string::npos, seq);
            for (std::size_t i = 0; i < body.size(); ++i)
                if (body[i] == '\n' || body[i] == '\r')
                    CHECK_TRUE_TEXT(body.compare(i - (body[i] == '\n'), 2, "\r\n") == 0, seq);
        }
    }
    // Normalising a plain bare LF is not an attack: the message goes through.
    SessionConfig cfg = base_config();
    cfg.bare_newline = BareNewlinePolicy::normalize;
    Harness h(cfg);
    h.feed("EHLO c.example\r\n");
    h.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\nDATA\r\n");
    h.feed("unix\nline\n\r\n.\r\n");
    STRCMP_EQUAL("unix\r\nline\r\n\r\n", h.body().c_str());
    CHECK_EQUAL(1u, h.count(EventKind::data_end));
}

// ---------------------------------------------------------------------------
// The client going away

TEST(SmtpSession, PeerClosingMidDataAbortsTheTransfer) {
    Harness h(base_config());
    h.feed("EHLO c.example\r\n");
    h.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\nDATA\r\n");
    h.feed("half a mess");
    h.take();
    h.s.on_peer_closed(kStart + 1);
    h.settle();
    STRCMP_EQUAL("", h.take().c_str());
    CHECK_TRUE(h.s.wants_close());
    const std::size_t n = h.events.size();
    CHECK_TRUE(h.events[n - 2].kind == EventKind::data_abort);
    CHECK_TRUE(h.events[n - 1].kind == EventKind::close);
    CHECK_EQUAL(0u, h.count(EventKind::data_end));
    h.s.on_peer_closed(kStart + 2); // twice is harmless
    h.settle();
    CHECK_EQUAL(n, h.events.size());
}

TEST(SmtpSession, PeerClosingWhileTheLanServerDecidesLeavesTheAnswerUnused) {
    Harness h(base_config(), nullptr);
    h.feed("EHLO c.example\r\n");
    h.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\nDATA\r\n");
    h.feed("x\r\n.\r\n");
    h.take();
    CHECK_TRUE(h.s.suspended());
    h.s.on_peer_closed(kStart + 1);
    h.settle();
    CHECK_TRUE(h.events.back().kind == EventKind::close);
    CHECK_EQUAL(0u, h.count(EventKind::data_abort)); // the message was complete
    h.s.answer(Reply{250, "", ""}, kStart + 2);
    h.settle();
    STRCMP_EQUAL("", h.take().c_str());
}

TEST(SmtpSession, HeloInATransactionResetsIt) {
    Harness h(base_config());
    h.feed("EHLO c.example\r\n");
    h.feed("MAIL FROM:<>\r\nRCPT TO:<u@example.com>\r\n");
    const std::string id = h.s.message_id();
    h.feed("EHLO c.example\r\n");
    const Event* reset = h.last(EventKind::reset);
    CHECK_TRUE(reset != nullptr);
    STRCMP_EQUAL(id.c_str(), reset->message_id.c_str());
    CHECK_FALSE(h.s.in_transaction());
    h.take();
    h.feed("MAIL FROM:<>\r\n");
    STRCMP_EQUAL("250 2.1.0 Ok\r\n", h.take().c_str());
}
