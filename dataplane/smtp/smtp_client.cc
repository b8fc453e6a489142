// smtp_client.cc: the SMTP client toward the LAN mail server (see smtp_client.h).
#include "smtp/smtp_client.h"

#include "smtp/smtp_address.h"

#include <algorithm>
#include <cctype>

namespace smtpgw::smtp {

namespace {

// A queued MAIL that cannot be sent (it needs SMTPUTF8 the server lacks).
constexpr char kRefusedUtf8 = '\x02';

// RFC 3463: "class.subject.detail " at the start of the text, class = the
// reply's first digit.
std::size_t enhanced_prefix(std::string_view text, std::uint16_t code) {
    if (text.size() < 6 || text[0] != static_cast<char>('0' + code / 100) || text[1] != '.')
        return 0;
    std::size_t i = 2;
    for (int part = 0; part < 2; ++part) {
        std::size_t digits = 0;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && digits < 3) {
            ++i;
            ++digits;
        }
        if (digits == 0)
            return 0;
        if (part == 0) {
            if (i >= text.size() || text[i] != '.')
                return 0;
            ++i;
        }
    }
    if (i < text.size() && text[i] != ' ')
        return 0;
    return i;
}

// The keyword of a parameter ("SIZE=10" -> "SIZE"), upper-cased.
std::string keyword_of(std::string_view param) {
    std::string k(param.substr(0, param.find('=')));
    for (auto& c : k)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return k;
}

template <typename Fn>
void for_each_param(std::string_view params, Fn&& fn) {
    std::size_t i = 0;
    while (i < params.size()) {
        while (i < params.size() && params[i] == ' ')
            ++i;
        std::size_t end = params.find(' ', i);
        if (end == std::string_view::npos)
            end = params.size();
        if (end > i)
            fn(params.substr(i, end - i));
        i = end;
    }
}

} // namespace

bool parse_reply_line(std::string_view line, std::uint16_t& code, bool& last,
                      std::string_view& text) {
    if (line.size() < 3)
        return false;
    for (int i = 0; i < 3; ++i)
        if (!std::isdigit(static_cast<unsigned char>(line[i])))
            return false;
    code =
        static_cast<std::uint16_t>((line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0'));
    if (code < 200 || code > 599 || line[1] > '5')
        return false;
    if (line.size() == 3) {
        last = true;
        text = {};
        return true;
    }
    if (line[3] != ' ' && line[3] != '-')
        return false;
    last = line[3] == ' ';
    text = line.substr(4);
    for (char c : text)
        if (c == '\0')
            return false;
    return true;
}

Client::Client(const ClientConfig& config, std::uint64_t now_ms)
    : config_(config), now_ms_(now_ms) {}

void Client::consume_output(std::size_t n) {
    out_off_ += std::min(n, out_.size() - out_off_);
    if (out_off_ == out_.size()) {
        out_.clear();
        out_off_ = 0;
    }
}

std::uint64_t Client::next_expiry() const {
    return closed_ ? UINT64_MAX : deadline_ms_;
}

void Client::push_result(Step step, UpstreamReply r, std::size_t rcpt, bool synthetic) {
    if (step == Step::message) {
        if (!message_owed_)
            return;
        message_owed_ = false;
    }
    ClientResult res{step, std::move(r), rcpt, synthetic};
    if (!synthetic && now_ms_ >= sent_ms_)
        res.elapsed_ms = now_ms_ - sent_ms_; // the server's reply time
    results_.push_back(std::move(res));
}

bool Client::poll_result(ClientResult& out) {
    if (results_.empty())
        return false;
    out = std::move(results_.front());
    results_.pop_front();
    return true;
}

void Client::fail_all(std::uint16_t code, const char* enhanced, const char* text) {
    UpstreamReply r{code, enhanced, text, {text}};
    if (waiting_)
        push_result(outstanding_.step, r, outstanding_.rcpt_index, true);
    for (const auto& p : queue_)
        push_result(p.step, r, p.rcpt_index, true);
    push_result(Step::message, r, 0, true); // if one is owed
    queue_.clear();
    waiting_ = false;
    deadline_ms_ = UINT64_MAX;
    closed_ = true;
    wants_close_ = true;
    phase_ = Phase::closed;
    out_.clear();
    out_off_ = 0;
    held_body_.clear();
}

void Client::on_connected(std::uint64_t now_ms) {
    now_ms_ = now_ms;
    if (phase_ != Phase::connecting)
        return;
    phase_ = Phase::greeting;
    sent_ms_ = now_ms;
    deadline_ms_ = now_ms + config_.greeting_timeout_ms;
}

void Client::on_peer_closed(std::uint64_t now_ms) {
    now_ms_ = now_ms;
    if (closed_)
        return;
    fail_all(421, "4.4.2", "LAN mail server closed the connection");
}

void Client::on_timer(std::uint64_t now_ms) {
    now_ms_ = now_ms;
    if (!closed_ && now_ms >= deadline_ms_)
        fail_all(451, "4.4.2", "LAN mail server timeout, try again later");
}

void Client::on_input(std::span<const std::uint8_t> in, std::uint64_t now_ms) {
    now_ms_ = now_ms;
    for (std::uint8_t byte : in) {
        if (closed_)
            return;
        char c = static_cast<char>(byte);
        if (c != '\n') {
            if (in_line_.size() >= config_.max_reply_line) {
                fail_all(451, "4.5.0", "LAN mail server sent an over-long reply line");
                return;
            }
            in_line_ += c;
            continue;
        }
        if (!in_line_.empty() && in_line_.back() == '\r')
            in_line_.pop_back();
        std::uint16_t code = 0;
        bool last = false;
        std::string_view text;
        if (!parse_reply_line(in_line_, code, last, text) ||
            (!building_.lines.empty() && code != building_.code) ||
            building_.lines.size() >= config_.max_reply_lines) {
            fail_all(451, "4.5.0", "LAN mail server sent a malformed reply");
            return;
        }
        building_.code = code;
        building_.lines.emplace_back(text);
        in_line_.clear();
        if (!last)
            continue;
        UpstreamReply r = std::move(building_);
        building_ = UpstreamReply{};
        std::string_view first = r.lines.front();
        if (std::size_t n = enhanced_prefix(first, r.code)) {
            r.enhanced = std::string(first.substr(0, n));
            first.remove_prefix(std::min(first.size(), n + 1));
        }
        r.text = std::string(first);
        on_reply(r, now_ms);
    }
}

void Client::on_reply(const UpstreamReply& r, std::uint64_t now_ms) {
    bool ok = r.code < 400;
    deadline_ms_ = UINT64_MAX;
    switch (phase_) {
    case Phase::connecting:
    case Phase::greeting:
        if (r.code != 220) { // RFC 5321 3.1: 554 means "no service here"
            results_.push_back(ClientResult{Step::greeting, r, 0, false});
            fail_all(451, "4.4.1", "LAN mail server refused the connection");
            return;
        }
        send_ehlo(now_ms);
        return;
    case Phase::ehlo:
        if (!ok && r.code >= 500) { // RFC 5321 3.2: fall back to HELO
            phase_ = Phase::helo;
            out_ += "HELO ";
            out_ += config_.helo_name;
            out_ += "\r\n";
            sent_ms_ = now_ms;
            deadline_ms_ = now_ms + config_.command_timeout_ms;
            return;
        }
        if (!ok) {
            results_.push_back(ClientResult{Step::ehlo, r, 0, false});
            fail_all(451, "4.4.1", "LAN mail server refused EHLO");
            return;
        }
        caps_ = Capabilities{};
        caps_.esmtp = true;
        for (std::size_t i = 1; i < r.lines.size(); ++i) {
            std::string_view l = r.lines[i];
            std::string_view kw = l.substr(0, l.find(' '));
            if (equal_ignoring_ascii_case(kw, "PIPELINING"))
                caps_.pipelining = true;
            else if (equal_ignoring_ascii_case(kw, "CHUNKING"))
                caps_.chunking = true;
            else if (equal_ignoring_ascii_case(kw, "8BITMIME"))
                caps_.eight_bit_mime = true;
            else if (equal_ignoring_ascii_case(kw, "SMTPUTF8"))
                caps_.smtputf8 = true;
            else if (equal_ignoring_ascii_case(kw, "DSN"))
                caps_.dsn = true;
            else if (equal_ignoring_ascii_case(kw, "STARTTLS"))
                caps_.starttls = true;
            else if (equal_ignoring_ascii_case(kw, "ENHANCEDSTATUSCODES"))
                caps_.enhanced_status_codes = true;
            else if (equal_ignoring_ascii_case(kw, "SIZE") && l.size() > 5)
                caps_.size = std::strtoull(std::string(l.substr(5)).c_str(), nullptr, 10);
        }
        ready_after_ehlo(now_ms);
        return;
    case Phase::starttls:
        if (r.code == 220) {
            // RFC 3207 4: TLS starts right after the 220; nothing is sent
            // until the handshake is done.
            phase_ = Phase::handshake;
            starttls_ = true;
            sent_ms_ = now_ms;
            deadline_ms_ = now_ms + config_.command_timeout_ms;
            return;
        }
        if (config_.tls == LanTls::required) {
            fail_all(451, "4.7.5", "the LAN mail server refused STARTTLS");
            return;
        }
        phase_ = Phase::ready; // opportunistic: on in clear
        send_next(now_ms);
        return;
    case Phase::handshake:
        return; // nothing is expected in clear now
    case Phase::helo:
        if (!ok) {
            results_.push_back(ClientResult{Step::ehlo, r, 0, false});
            fail_all(451, "4.4.1", "LAN mail server refused HELO");
            return;
        }
        caps_ = Capabilities{};
        ready_after_ehlo(now_ms);
        return;
    case Phase::ready:
    case Phase::body:
        break;
    case Phase::closed:
        return;
    }
    if (!waiting_)
        return; // an unsolicited reply: ignored (RFC 5321 4.2 has none but 421)
    waiting_ = false;
    Pending p = std::move(outstanding_);
    switch (p.step) {
    case Step::data:
        push_result(Step::data, r, 0, false);
        if (bdat_) { // a chunk's reply
            if (r.code / 100 == 2) {
                if (body_ended_)
                    send_chunk(true);
                else if (chunk_.size() >= config_.bdat_chunk_bytes)
                    send_chunk(false);
                return;
            }
            // RFC 3030 2: a refused chunk ends the transaction: no more
            // chunks; the message's result is this refusal; RSET before the next.
            data_refusal_ = r;
            body_dropped_ = true;
            chunk_.clear();
            bdat_ = data_ok_ = data_sent_ = false;
            phase_ = Phase::ready;
            queue_.push_front(Pending{Step::rset, "RSET\r\n", 0});
            if (body_ended_) {
                body_ended_ = false;
                end_body();
            }
            break;
        }
        if (r.code == 354) {
            data_ok_ = true;
            phase_ = Phase::body;
            stuff(held_body_);
            held_body_.clear();
            if (body_ended_)
                end_body();
        } else { // the message fails with the DATA refusal, reported at end_body()
            data_refusal_ = r;
            body_dropped_ = true;
            held_body_.clear();
            data_sent_ = false;
        }
        break;
    case Step::message:
        push_result(Step::message, r, 0, false);
        phase_ = Phase::ready;
        data_sent_ = data_ok_ = body_ended_ = body_dropped_ = bdat_ = false;
        at_line_start_ = true;
        break;
    case Step::quit:
        push_result(Step::quit, r, 0, false);
        wants_close_ = true;
        break;
    default:
        push_result(p.step, r, p.rcpt_index, false);
        break;
    }
    if (r.code == 421) { // RFC 5321 3.8: the server is closing
        fail_all(421, "4.4.2", "LAN mail server closing the connection");
        return;
    }
    send_next(now_ms);
}

void Client::send_ehlo(std::uint64_t now_ms) {
    phase_ = Phase::ehlo;
    out_ += "EHLO ";
    out_ += config_.helo_name;
    out_ += "\r\n";
    sent_ms_ = now_ms;
    deadline_ms_ = now_ms + config_.command_timeout_ms;
}

// After EHLO (or HELO): STARTTLS first when wanted and not done yet.
void Client::ready_after_ehlo(std::uint64_t now_ms) {
    if (!tls_active_ && config_.tls != LanTls::never) {
        if (caps_.starttls) {
            phase_ = Phase::starttls;
            out_ += "STARTTLS\r\n";
            sent_ms_ = now_ms;
            deadline_ms_ = now_ms + config_.command_timeout_ms;
            return;
        }
        if (config_.tls == LanTls::required) {
            fail_all(451, "4.7.5", "the LAN mail server does not offer STARTTLS");
            return;
        }
    }
    phase_ = Phase::ready;
    send_next(now_ms);
}

void Client::on_tls_established(std::uint64_t now_ms) {
    if (phase_ != Phase::handshake)
        return;
    tls_active_ = true;
    caps_ = Capabilities{};
    send_ehlo(now_ms); // RFC 3207 4.2: what the server said before TLS is forgotten
}

void Client::on_tls_failed(std::uint64_t now_ms) {
    (void)now_ms;
    if (closed_)
        return;
    fail_all(451, "4.7.5", "TLS toward the LAN mail server failed");
}

void Client::send_next(std::uint64_t now_ms) {
    prepare_queued();
    while (!waiting_ && !closed_ && phase_ == Phase::ready && !queue_.empty() &&
           queue_.front().line.size() == 1 &&
           queue_.front().line[0] == kRefusedUtf8) { // MAIL needing SMTPUTF8 the server lacks
        results_.push_back(
            ClientResult{Step::mail,
                         {550, "5.6.7", "the LAN mail server cannot take SMTPUTF8 mail", {}},
                         0,
                         true});
        queue_.pop_front();
    }
    if (waiting_ || closed_ || phase_ != Phase::ready || queue_.empty())
        return;
    outstanding_ = std::move(queue_.front());
    queue_.pop_front();
    waiting_ = true;
    out_ += outstanding_.line;
    sent_ms_ = now_ms;
    deadline_ms_ = now_ms + config_.command_timeout_ms;
}

std::string Client::filter_mail_params(std::string_view params, bool& needs_utf8) const {
    std::string out;
    needs_utf8 = false;
    for_each_param(params, [&](std::string_view p) {
        std::string k = keyword_of(p);
        bool keep = true;
        if (k == "SMTPUTF8") {
            needs_utf8 = true;
            keep = caps_.smtputf8;
        } else if (k == "BODY") {
            keep = caps_.eight_bit_mime;
        } else if (k == "RET" || k == "ENVID") {
            keep = caps_.dsn;
        } else if (k == "SIZE") {
            keep = caps_.size != 0 || caps_.esmtp;
        }
        if (keep) {
            out += ' ';
            out += p;
        }
    });
    return out;
}

std::string Client::filter_rcpt_params(std::string_view params) const {
    std::string out;
    for_each_param(params, [&](std::string_view p) {
        std::string k = keyword_of(p);
        if ((k == "NOTIFY" || k == "ORCPT") && !caps_.dsn)
            return;
        out += ' ';
        out += p;
    });
    return out;
}

void Client::mail(std::string_view path, std::string_view params) {
    if (closed_) {
        results_.push_back(
            ClientResult{Step::mail, {451, "4.4.1", "LAN mail server unavailable", {}}, 0, true});
        return;
    }
    rcpts_ = 0;
    // Parameters are filtered when the line is sent (the EHLO may not be in yet).
    Pending p{Step::mail, std::string(path), 0};
    p.line += '\x01';
    p.line += params;
    queue_.push_back(std::move(p));
    send_next(now_ms_);
}

void Client::rcpt(std::string_view path, std::string_view params) {
    if (closed_) {
        results_.push_back(ClientResult{
            Step::rcpt, {451, "4.4.1", "LAN mail server unavailable", {}}, rcpts_, true});
        return;
    }
    Pending p{Step::rcpt, std::string(path), rcpts_++};
    p.line += '\x01';
    p.line += params;
    queue_.push_back(std::move(p));
    send_next(now_ms_);
}

void Client::data() {
    message_owed_ = true;
    if (closed_) {
        push_result(Step::message, {451, "4.4.1", "LAN mail server unavailable", {}}, 0, true);
        body_dropped_ = true;
        return;
    }
    data_sent_ = true;
    // The RCPT replies are in (the proxy waits for them), so the EHLO is.
    if (caps_.chunking && config_.bdat_chunk_bytes != 0 && phase_ == Phase::ready &&
        queue_.empty() && !waiting_) {
        bdat_ = true; // RFC 3030 2: no DATA; the body follows in BDAT chunks
        data_ok_ = true;
        phase_ = Phase::body;
        return;
    }
    queue_.push_back(Pending{Step::data, "DATA\r\n", 0});
    send_next(now_ms_);
}

// RFC 3030 2: "BDAT <size> [LAST]" then exactly that many octets, as they
// are (no dot-stuffing). One chunk outstanding at a time.
void Client::send_chunk(bool last) {
    // A middle chunk is exactly bdat_chunk_bytes; the last takes what is left.
    std::size_t n = last ? chunk_.size() : std::min(chunk_.size(), config_.bdat_chunk_bytes);
    out_ += "BDAT " + std::to_string(n) + (last ? " LAST\r\n" : "\r\n");
    out_.append(chunk_, 0, n);
    chunk_.erase(0, n);
    outstanding_ = Pending{last ? Step::message : Step::data, "", 0};
    waiting_ = true;
    sent_ms_ = now_ms_;
    deadline_ms_ = now_ms_ + (last ? config_.data_end_timeout_ms : config_.command_timeout_ms);
}

// Turns queued MAIL/RCPT placeholders into command lines once the server's
// extensions are known (parameters it does not offer are dropped).
void Client::prepare_queued() {
    if (phase_ != Phase::ready)
        return;
    for (auto& p : queue_) {
        auto mark = p.line.find('\x01');
        if (mark == std::string::npos)
            continue;
        std::string path = p.line.substr(0, mark);
        std::string params = p.line.substr(mark + 1);
        if (p.step == Step::mail) {
            bool utf8 = false;
            std::string kept = filter_mail_params(params, utf8);
            p.line = "MAIL FROM:";
            p.line += path;
            p.line += kept;
            p.line += "\r\n";
            if (utf8 && !caps_.smtputf8) // RFC 6531 3.4: cannot be relayed
                p.line.assign(1, kRefusedUtf8);
        } else {
            p.line = "RCPT TO:";
            p.line += path;
            p.line += filter_rcpt_params(params);
            p.line += "\r\n";
        }
    }
}

std::size_t Client::body_room() const {
    std::size_t used = (out_.size() - out_off_) + held_body_.size() + chunk_.size();
    return used >= config_.max_pending_bytes ? 0 : config_.max_pending_bytes - used;
}

// RFC 5321 4.5.2: a line starting with "." gets one more.
void Client::stuff(std::string_view text) {
    for (char c : text) {
        if (at_line_start_ && c == '.')
            out_ += '.';
        out_ += c;
        at_line_start_ = c == '\n';
    }
}

void Client::body(std::span<const std::uint8_t> canonical) {
    if (body_dropped_ || closed_)
        return;
    std::string_view text(reinterpret_cast<const char*>(canonical.data()), canonical.size());
    if (bdat_) {
        chunk_ += text;
        if (!waiting_ && chunk_.size() >= config_.bdat_chunk_bytes)
            send_chunk(false);
    } else if (data_ok_)
        stuff(text);
    else
        held_body_ += text;
}

void Client::end_body() {
    if (body_dropped_) { // DATA was refused: the message's result is that refusal
        body_dropped_ = false;
        push_result(Step::message, data_refusal_, 0, false);
        return;
    }
    if (closed_)
        return;
    body_ended_ = true;
    if (bdat_) {
        if (!waiting_) // else: LAST goes when the previous chunk is answered
            send_chunk(true);
        return;
    }
    if (!data_ok_)
        return; // sent when the 354 comes
    if (!at_line_start_)
        out_ += "\r\n"; // the body must end with CRLF before the dot
    out_ += ".\r\n";
    outstanding_ = Pending{Step::message, "", 0};
    waiting_ = true;
    sent_ms_ = now_ms_;
    deadline_ms_ = now_ms_ + config_.data_end_timeout_ms;
}

void Client::rset() {
    if (body_dropped_) { // DATA was refused and the body abandoned: nothing is owed
        body_dropped_ = false;
        message_owed_ = false;
    }
    if (closed_)
        return;
    if (data_sent_ && !(waiting_ && outstanding_.step == Step::message)) {
        // Mid-message: only closing without the final dot is safe.
        push_result(Step::message, {451, "4.3.0", "message abandoned", {}}, 0, true);
        fail_all(451, "4.3.0", "message abandoned");
        return;
    }
    queue_.push_back(Pending{Step::rset, "RSET\r\n", 0});
    send_next(now_ms_);
}

void Client::quit() {
    if (closed_)
        return;
    queue_.push_back(Pending{Step::quit, "QUIT\r\n", 0});
    send_next(now_ms_);
}

} // namespace smtpgw::smtp
