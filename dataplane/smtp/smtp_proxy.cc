// smtp_proxy.cc: the before-queue proxy (see smtp_proxy.h).
#include "smtp/smtp_proxy.h"

#include <cstdio>

#include <algorithm>

namespace smtpgw::smtp {

namespace {

// The sender sees the LAN server's reply; a failure the client made up
// because the LAN server could not be reached is a temporary one the sender
// should retry, without losing its session (451, not 421).
Reply to_sender(const ClientResult& r) {
    Reply out{r.reply.code, r.reply.enhanced, r.reply.text};
    if (r.synthetic && out.code == 421) {
        out.code = 451;
        out.enhanced = "4.4.1";
    }
    return out;
}

std::string bracket(std::string_view path) {
    std::string s = "<";
    s += path;
    s += ">";
    return s;
}

void append_quoted(std::string& out, std::string_view text) {
    out += '"';
    for (char c : text) {
        if (c == '"' || c == '\\')
            out += '\\';
        out += (c == '\n' || c == '\r') ? ' ' : c;
    }
    out += '"';
}

} // namespace

std::string format_log_line(const MessageLog& m) {
    std::string s;
    if (!m.id.empty()) {
        s += "id=";
        s += m.id;
        s += ' ';
    }
    s += "client=";
    s += m.client;
    s += " helo=<";
    s += m.helo;
    s += '>';
    if (!m.tls.empty()) {
        s += " tls=";
        append_quoted(s, m.tls);
    }
    s += " from=<";
    s += m.from;
    s += "> to=";
    for (std::size_t i = 0; i < m.to.size(); ++i) {
        if (i)
            s += ',';
        s += bracket(m.to[i]);
    }
    if (m.to.empty())
        s += "<>";
    s += " size=";
    s += std::to_string(m.size);
    s += " status=";
    s += m.status;
    s += " reply=";
    std::string reply = std::to_string(m.reply.code);
    if (!m.reply.enhanced.empty()) {
        reply += ' ';
        reply += m.reply.enhanced;
    }
    if (!m.reply.text.empty()) {
        reply += ' ';
        reply += m.reply.text;
    }
    append_quoted(s, reply);
    if (!m.detail.empty()) {
        s += " command=";
        append_quoted(s, m.detail);
    }
    if (!m.verdict.empty()) {
        s += " verdict=";
        append_quoted(s, m.verdict);
    }
    if (!m.rules.empty()) {
        s += " rules=";
        for (std::size_t i = 0; i < m.rules.size(); ++i)
            s += (i ? "," : "") + m.rules[i];
    }
    return s;
}

namespace {

// RFC 5321 4.1.2 Domain or address-literal, as far as a trace line needs:
// letters, digits, '-', '.', and a bracketed literal; anything else is not
// written into the message.
bool plain_helo(std::string_view h) {
    if (h.empty() || h.size() > 255)
        return false;
    if (h.front() == '[')
        return h.back() == ']' &&
               h.find_first_not_of("0123456789abcdefABCDEF.:[]IPv6") == std::string_view::npos;
    return h.find_first_not_of(
               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") ==
           std::string_view::npos;
}

// RFC 5322 3.3 date-time in UTC: "Tue, 24 Nov 2026 04:10:41 +0000".
std::string rfc5322_date(std::int64_t unix_ms) {
    static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::int64_t secs = unix_ms / 1000;
    std::int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        --days;
    }
    int weekday = static_cast<int>((days + 4) % 7); // 1970-01-01 was a Thursday
    if (weekday < 0)
        weekday += 7;
    // Civil date from days since 1970 (Howard Hinnant's algorithm).
    std::int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    std::int64_t doe = z - era * 146097;
    std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    std::int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    std::int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2)
        ++y;
    char buf[48];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[weekday],
                  static_cast<int>(d), kMonths[m - 1], static_cast<int>(y),
                  static_cast<int>(rem / 3600), static_cast<int>(rem / 60 % 60),
                  static_cast<int>(rem % 60));
    return buf;
}

} // namespace

std::string received_header(std::string_view helo, std::string_view client,
                            std::string_view hostname, std::string_view tls, std::string_view id,
                            const std::vector<std::string>& recipients, std::int64_t unix_ms) {
    std::string literal = client.find(':') != std::string_view::npos
                              ? "[IPv6:" + std::string(client) + "]"
                              : "[" + std::string(client) + "]";
    std::string h = "Received: from ";
    h += plain_helo(helo) ? std::string(helo) : std::string("unknown");
    h += " (" + literal + ")\r\n\tby ";
    h += hostname;
    h += " (smtpgw) with ";
    h += tls.empty() ? "ESMTP" : "ESMTPS"; // RFC 3848
    if (!tls.empty()) {
        auto space = tls.find(' ');
        h += "\r\n\t(using ";
        h += tls.substr(0, space);
        if (space != std::string_view::npos) {
            h += " with cipher ";
            h += tls.substr(space + 1);
        }
        h += ")";
    }
    h += "\r\n\tid ";
    h += id;
    if (recipients.size() == 1) // more would tell each recipient about the others
        h += "\r\n\tfor <" + recipients.front() + ">";
    h += "; " + rfc5322_date(unix_ms) + "\r\n";
    return h;
}

namespace {

void json_string(std::string& out, std::string_view text) {
    static const char kHex[] = "0123456789abcdef";
    out += '"';
    for (unsigned char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else { // control or 8-bit octet: as the code point of that byte
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    out += '"';
}

} // namespace

std::string format_log_json(const MessageLog& m) {
    std::string s = "{\"id\":";
    json_string(s, m.id);
    s += ",\"client\":";
    json_string(s, m.client);
    s += ",\"helo\":";
    json_string(s, m.helo);
    if (!m.tls.empty()) {
        s += ",\"tls\":";
        json_string(s, m.tls);
    }
    s += ",\"from\":";
    json_string(s, m.from);
    s += ",\"to\":[";
    for (std::size_t i = 0; i < m.to.size(); ++i) {
        if (i)
            s += ',';
        json_string(s, m.to[i]);
    }
    s += "],\"size\":" + std::to_string(m.size) + ",\"status\":";
    json_string(s, m.status);
    s += ",\"reply\":{\"code\":" + std::to_string(m.reply.code) + ",\"enhanced\":";
    json_string(s, m.reply.enhanced);
    s += ",\"text\":";
    json_string(s, m.reply.text);
    s += '}';
    if (!m.detail.empty()) {
        s += ",\"command\":";
        json_string(s, m.detail);
    }
    if (!m.verdict.empty()) {
        s += ",\"verdict\":";
        json_string(s, m.verdict);
    }
    if (!m.rules.empty()) {
        s += ",\"rules\":[";
        for (std::size_t i = 0; i < m.rules.size(); ++i) {
            if (i)
                s += ',';
            json_string(s, m.rules[i]);
        }
        s += ']';
    }
    s += '}';
    return s;
}

Proxy::Proxy(const ProxyConfig& config, SessionPeer peer, std::uint64_t now_ms)
    : config_(config), session_(
                           [&] {
                               SessionConfig c = config.session;
                               // The LAN server decides MAIL and every RCPT in real time, and the
                               // end of data always waits for it (Session's own rule).
                               c.mail_needs_answer = true;
                               c.rcpt_needs_answer = true;
                               return c;
                           }(),
                           peer, now_ms),
      client_address_(peer.client_address) {
    tx_.client = client_address_;
    pump(now_ms);
}

Client& Proxy::ensure_client(std::uint64_t now_ms) {
    if (!client_ || client_->closed()) {
        client_ = std::make_unique<Client>(config_.client, now_ms);
        lan_open_ = false;
    }
    return *client_;
}

std::size_t Proxy::on_client_input(std::span<const std::uint8_t> in, std::uint64_t now_ms) {
    std::size_t used = session_.on_input(in, now_ms);
    pump(now_ms);
    return used;
}

void Proxy::on_client_closed(std::uint64_t now_ms) {
    client_closed_ = true;
    session_.on_peer_closed(now_ms);
    pump(now_ms);
}

void Proxy::on_lan_connected(std::uint64_t now_ms) {
    if (client_)
        client_->on_connected(now_ms);
    pump(now_ms);
}

void Proxy::on_lan_input(std::span<const std::uint8_t> in, std::uint64_t now_ms) {
    if (client_)
        client_->on_input(in, now_ms);
    pump(now_ms);
}

void Proxy::on_lan_closed(std::uint64_t now_ms) {
    if (client_ && lan_open_)
        client_->on_peer_closed(now_ms);
    lan_open_ = false;
    pump(now_ms);
}

void Proxy::on_lan_tls_established(std::uint64_t now_ms) {
    if (client_)
        client_->on_tls_established(now_ms);
    pump(now_ms);
}

void Proxy::on_lan_tls_failed(std::uint64_t now_ms) {
    if (client_)
        client_->on_tls_failed(now_ms);
    pump(now_ms);
}

std::string_view Proxy::lan_output() const {
    return client_ ? client_->pending_output() : std::string_view{};
}

void Proxy::consume_lan_output(std::size_t n) {
    if (!client_)
        return;
    client_->consume_output(n);
    if (held_body_) // room for the body octets the client could not take yet
        pump(now_ms_);
}

void Proxy::on_timer(std::uint64_t now_ms) {
    session_.on_timer(now_ms);
    if (client_)
        client_->on_timer(now_ms);
    pump(now_ms);
}

std::uint64_t Proxy::next_expiry() const {
    std::uint64_t t = session_.next_expiry();
    if (client_)
        t = std::min(t, client_->next_expiry());
    return t;
}

bool Proxy::poll_log(MessageLog& out) {
    if (logs_.empty())
        return false;
    out = std::move(logs_.front());
    logs_.pop_front();
    return true;
}

bool Proxy::finished() const {
    return session_.wants_close() && session_.pending_output().empty() &&
           (!client_ || client_->closed() || !lan_open_);
}

void Proxy::answer(const Reply& r, std::uint64_t now_ms) {
    awaiting_ = Awaiting::none;
    session_.answer(r, now_ms);
}

// Moves everything that can move: LAN results to the session, held body
// octets to the client, session events to the client; until nothing does.
void Proxy::pump(std::uint64_t now_ms) {
    now_ms_ = now_ms;
    for (bool progress = true; progress;) {
        progress = false;
        ClientResult r;
        while (client_ && client_->poll_result(r)) {
            on_result(r, now_ms);
            progress = true;
        }
        if (held_body_ && !feed_body())
            break;                            // the client is full: the session waits too
        if (end_after_held_ && !held_body_) { // a released message is all with the client
            end_after_held_ = false;
            client_->end_body();
            awaiting_ = Awaiting::message;
        }
        if (awaiting_ != Awaiting::none)
            continue;
        Event e;
        if (session_.poll_event(e)) {
            on_event(e, now_ms);
            progress = true;
        }
    }
    // The sender left: nothing more will be sent to the LAN server.
    if (session_.wants_close() && client_ && !client_->closed() && !in_message_ &&
        awaiting_ == Awaiting::none && !client_->wants_close())
        client_->quit();
}

bool Proxy::feed_body() {
    const std::string& body = held_body_->body;
    while (held_offset_ < body.size()) {
        std::size_t room = client_ ? client_->body_room() : body.size();
        if (room == 0)
            return false;
        std::size_t n = std::min(room, body.size() - held_offset_);
        if (client_)
            client_->body(
                std::span(reinterpret_cast<const std::uint8_t*>(body.data()) + held_offset_, n));
        held_offset_ += n;
    }
    held_body_.reset();
    held_offset_ = 0;
    return true;
}

void Proxy::on_event(Event& e, std::uint64_t now_ms) {
    switch (e.kind) {
    case EventKind::helo:
        helo_ = e.arg;
        break;
    case EventKind::mail: {
        tx_ = MessageLog{};
        tx_.client = client_address_;
        tx_.helo = helo_;
        tx_.tls = tls_;
        tx_.id = e.message_id;
        tx_.from = e.arg;
        ensure_client(now_ms).mail(bracket(e.arg), e.params);
        awaiting_ = Awaiting::mail;
        break;
    }
    case EventKind::rcpt:
        tx_.to.push_back(e.arg);
        ensure_client(now_ms).rcpt(bracket(e.arg), e.params);
        awaiting_ = Awaiting::rcpt;
        break;
    case EventKind::data_start:
        in_message_ = true;
        if (config_.inspect && inspector_) {
            // Held until the verdict: the LAN server gets DATA only then.
            inspecting_ = true;
            spool_.clear();
            inspector_->begin(e.message_id);
            ensure_client(now_ms);
            if (e.needs_answer)
                session_.answer(Reply{354, "", ""}, now_ms);
            break;
        }
        ensure_client(now_ms).data();
        if (config_.add_received) {
            std::string trace = received_header(
                helo_, client_address_, config_.session.hostname, tls_, e.message_id, tx_.to,
                static_cast<std::int64_t>(now_ms) + wall_offset_ms_);
            client_->body(
                std::span(reinterpret_cast<const std::uint8_t*>(trace.data()), trace.size()));
        }
        if (e.needs_answer) // not asked for: the session says 354 itself
            session_.answer(Reply{354, "", ""}, now_ms);
        break;
    case EventKind::body:
        if (!in_message_)
            break;
        if (inspecting_) {
            auto bytes =
                std::span(reinterpret_cast<const std::uint8_t*>(e.body.data()), e.body.size());
            inspector_->body(bytes);
            spool_ += e.body;
            break;
        }
        held_body_ = std::move(e);
        held_offset_ = 0;
        feed_body();
        break;
    case EventKind::data_end:
        in_message_ = false;
        tx_.size = e.size;
        data_end_ms_ = now_ms;
        if (inspecting_) {
            content::MessageVerdict v;
            awaiting_ = Awaiting::verdict;
            if (inspector_->end(v))
                apply_verdict(v, now_ms);
            break;
        }
        if (client_ && !client_->closed()) {
            client_->end_body();
            awaiting_ = Awaiting::message;
        } else { // the LAN connection died and its failure was already seen
            Reply r{451, "4.4.1", "LAN mail server unavailable, try again later"};
            log_message("deferred", r);
            answer(r, now_ms);
        }
        break;
    case EventKind::data_abort:
        in_message_ = false;
        held_body_.reset();
        if (inspecting_) {
            inspecting_ = false;
            inspector_->abort();
            spool_.clear();
        }
        tx_.size = e.size;
        // The LAN server must never see this message end: for DATA the
        // client drops the connection without the final dot.
        if (client_)
            client_->rset();
        log_message("aborted", e.reply);
        break;
    case EventKind::reset:
        if (client_ && !client_->closed() && awaiting_ == Awaiting::none)
            client_->rset();
        break;
    case EventKind::pregreet:
    case EventKind::pipelining_violation:
        misbehaved_ = true; // bots talk first; real MTAs wait
        log_refusal(e);
        break;
    case EventKind::rejected:
    case EventKind::protocol_error:
        log_refusal(e);
        break;
    case EventKind::quit:
    case EventKind::close:
        if (in_message_ && inspecting_) {
            inspecting_ = false;
            inspector_->abort();
            spool_.clear();
        }
        if (in_message_ && client_) { // gone mid-message: nothing is delivered
            in_message_ = false;
            client_->rset();
        }
        break;
    case EventKind::starttls:
        starttls_ = true;
        break;
    case EventKind::connect:
        break;
    }
}

void Proxy::on_result(const ClientResult& r, std::uint64_t now_ms) {
    if (!r.synthetic && r.step != Step::greeting && lan_reply_ms_.size() < 64)
        lan_reply_ms_.push_back(r.elapsed_ms);
    switch (r.step) {
    case Step::mail:
        if (awaiting_ == Awaiting::mail) {
            Reply out = to_sender(r);
            if (out.code >= 400)
                log_message(out.code >= 500 ? "rejected" : "deferred", out);
            answer(out, now_ms);
        }
        break;
    case Step::rcpt:
        if (awaiting_ == Awaiting::rcpt) {
            Reply out = to_sender(r);
            if (out.code >= 400 && !tx_.to.empty()) {
                MessageLog m = tx_;
                m.to = {tx_.to.back()};
                m.status = out.code >= 500 ? "rejected" : "deferred";
                m.reply = out;
                m.detail = "RCPT";
                logs_.push_back(std::move(m));
                tx_.to.pop_back();
            }
            answer(out, now_ms);
        }
        break;
    case Step::message:
        if (awaiting_ == Awaiting::message) {
            Reply out = to_sender(r);
            tx_.verdict_ms = static_cast<std::int64_t>(now_ms - std::min(now_ms, data_end_ms_));
            log_message(out.code < 400 ? "sent" : out.code >= 500 ? "rejected" : "deferred", out);
            answer(out, now_ms);
        }
        break;
    case Step::greeting:
    case Step::ehlo:
    case Step::data:
    case Step::rset:
    case Step::quit:
        break; // failures there reach the sender through the steps they fail
    }
}

void Proxy::on_inspection(const content::MessageVerdict& verdict, std::uint64_t now_ms) {
    if (awaiting_ != Awaiting::verdict)
        return;
    apply_verdict(verdict, now_ms);
    pump(now_ms);
}

// The end of data, decided by the content scan: a refused message never
// reaches the LAN server (its transaction is reset); a passed one goes now,
// with the Received: line and the verdict header on top, and the sender's
// answer is the LAN server's, as without scanning.
void Proxy::apply_verdict(const content::MessageVerdict& v, std::uint64_t now_ms) {
    inspecting_ = false;
    tx_.verdict = v.reason;
    tx_.rules = v.rule_ids;
    if (v.action == content::Disposition::reject || v.action == content::Disposition::tempfail) {
        spool_.clear();
        if (client_ && !client_->closed())
            client_->rset();
        Reply r{v.code, v.enhanced, v.text};
        tx_.verdict_ms = static_cast<std::int64_t>(now_ms - std::min(now_ms, data_end_ms_));
        log_message(v.action == content::Disposition::reject ? "rejected" : "deferred", r);
        answer(r, now_ms);
        return;
    }
    if (client_closed_) { // the sender left before its answer: it will send again
        spool_.clear();
        if (client_ && !client_->closed())
            client_->rset();
        awaiting_ = Awaiting::none;
        log_message("aborted", Reply{421, "4.4.2", "sender disconnected before the verdict"});
        return;
    }
    if (!client_ || client_->closed()) {
        spool_.clear();
        Reply r{451, "4.4.1", "LAN mail server unavailable, try again later"};
        log_message("deferred", r);
        answer(r, now_ms);
        return;
    }
    std::string top;
    if (config_.add_received)
        top = received_header(helo_, client_address_, config_.session.hostname, tls_, tx_.id,
                              tx_.to, static_cast<std::int64_t>(now_ms) + wall_offset_ms_);
    if (v.action == content::Disposition::tag && !v.header.empty())
        top += v.header + "\r\n";
    spool_.insert(0, top);
    client_->data();
    Event release;
    release.kind = EventKind::body;
    release.body = std::move(spool_);
    spool_.clear();
    held_body_ = std::move(release);
    held_offset_ = 0;
    end_after_held_ = true;
    awaiting_ = Awaiting::message;
}

void Proxy::log_message(std::string status, const Reply& reply) {
    MessageLog m = tx_;
    m.status = std::move(status);
    m.reply = reply;
    logs_.push_back(std::move(m));
}

void Proxy::log_refusal(const Event& e) {
    MessageLog m;
    m.id = e.message_id;
    m.client = client_address_;
    m.helo = helo_;
    m.tls = tls_;
    m.from = e.message_id.empty() ? std::string() : tx_.from;
    m.status = "rejected";
    m.reply = e.reply;
    m.detail = e.arg.substr(0, 200);
    logs_.push_back(std::move(m));
}

} // namespace smtpgw::smtp
