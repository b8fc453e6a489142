// smtp_client.cc: the SMTP client toward the LAN mail server (see smtp_client.h).
#include "smtp/smtp_client.h"

#include <algorithm>
#include <utility>

namespace smtpgw::smtp {

namespace {

constexpr std::uint64_t kNever = UINT64_MAX;
constexpr std::uint64_t kUnarmed = UINT64_MAX - 1; // start at the next timed call

UpstreamReply synthetic(std::uint16_t code, std::string_view enhanced, std::string_view text) {
    UpstreamReply r;
    r.code = code;
    r.enhanced = std::string(enhanced);
    r.text = std::string(text);
    std::string line(enhanced);
    line += ' ';
    line += text;
    r.lines.push_back(std::move(line));
    return r;
}

char upper(char c) {
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

std::string upper(std::string_view s) {
    std::string u(s);
    for (char& c : u)
        c = upper(c);
    return u;
}

bool iequal(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (upper(a[i]) != upper(b[i]))
            return false;
    return true;
}

// CR, LF or NUL would end or cut the command line we write.
bool unsafe_for_command(std::string_view s) {
    return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

bool is_2xx(const UpstreamReply& r) {
    return r.code >= 200 && r.code < 300;
}
bool is_3xx(const UpstreamReply& r) {
    return r.code >= 300 && r.code < 400;
}

template <typename Fn>
void for_each_param(std::string_view params, Fn&& fn) {
    std::size_t i = 0;
    while (i < params.size()) {
        while (i < params.size() && (params[i] == ' ' || params[i] == '\t'))
            ++i;
        std::size_t end = i;
        while (end < params.size() && params[end] != ' ' && params[end] != '\t')
            ++end;
        if (end > i)
            fn(params.substr(i, end - i));
        i = end;
    }
}

// ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") (RFC 5321 4.1.1.1).
bool valid_keyword(std::string_view k) {
    if (k.empty())
        return false;
    for (std::size_t i = 0; i < k.size(); ++i) {
        const char c = k[i];
        const bool alnum =
            (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(i > 0 && c == '-'))
            return false;
    }
    return true;
}

} // namespace

const char* step_name(Step s) {
    switch (s) {
    case Step::greeting:
        return "greeting";
    case Step::ehlo:
        return "ehlo";
    case Step::mail:
        return "mail";
    case Step::rcpt:
        return "rcpt";
    case Step::data:
        return "data";
    case Step::message:
        return "message";
    case Step::rset:
        return "rset";
    case Step::quit:
        return "quit";
    }
    return "unknown";
}

bool Capabilities::has(std::string_view keyword) const {
    return std::any_of(keywords.begin(), keywords.end(),
                       [&](const std::string& k) { return iequal(k, keyword); });
}

Capabilities parse_ehlo_reply(const UpstreamReply& reply, std::size_t max_keywords) {
    Capabilities c;
    c.esmtp = true;
    for (std::size_t i = 1; i < reply.lines.size() && c.keywords.size() < max_keywords; ++i) {
        std::string_view line = reply.lines[i];
        const std::size_t sp = line.find(' ');
        std::string_view kw = line.substr(0, sp);
        std::string_view args =
            sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
        if (!valid_keyword(kw))
            continue;
        std::string k = upper(kw);
        if (k == "PIPELINING")
            c.pipelining = true;
        else if (k == "CHUNKING")
            c.chunking = true;
        else if (k == "BINARYMIME")
            c.binarymime = true;
        else if (k == "8BITMIME")
            c.eightbitmime = true;
        else if (k == "SMTPUTF8")
            c.smtputf8 = true;
        else if (k == "DSN")
            c.dsn = true;
        else if (k == "STARTTLS")
            c.starttls = true;
        else if (k == "ENHANCEDSTATUSCODES")
            c.enhanced_status_codes = true;
        else if (k == "SIZE") {
            // RFC 1870 4: "SIZE" [SP number]; an unreadable number counts as none.
            c.size = true;
            std::uint64_t n = 0;
            bool ok = !args.empty() && args.size() <= 19;
            for (char d : args)
                ok = ok && d >= '0' && d <= '9';
            if (ok)
                for (char d : args)
                    n = n * 10 + static_cast<std::uint64_t>(d - '0');
            c.size_limit = ok ? n : 0;
        }
        c.keywords.push_back(std::move(k));
    }
    return c;
}

Client::Client(const ClientConfig& config, std::uint64_t now_ms)
    : cfg_(config), parser_(config.reply_limits), now_(now_ms) {
    reply_deadline_ = kNever;
    output_deadline_ = kNever;
}

// ---------------------------------------------------------------- output

std::string_view Client::pending_output() const {
    return std::string_view(out_).substr(out_off_);
}

void Client::mark_output() {
    if (out_.size() > out_off_ && output_deadline_ == kNever)
        output_deadline_ = kUnarmed;
}

void Client::consume_output(std::size_t n) {
    n = std::min(n, out_.size() - out_off_);
    if (n == 0)
        return;
    out_off_ += n;
    if (out_off_ == out_.size()) {
        out_.clear();
        out_off_ = 0;
        output_deadline_ = kNever;
        pump();
        return;
    }
    if (out_off_ >= 4096 && out_off_ * 2 >= out_.size()) {
        out_.erase(0, out_off_);
        out_off_ = 0;
    }
    output_deadline_ = kUnarmed; // progress: the data-block timer starts again
    pump();                      // room for queued body bytes
}

// ---------------------------------------------------------------- timers

std::uint64_t Client::timeout_for(Wait w) const {
    switch (w) {
    case Wait::greeting:
        return cfg_.initial_220_ms;
    case Wait::mail:
        return cfg_.mail_ms;
    case Wait::rcpt:
        return cfg_.rcpt_ms;
    case Wait::data:
    case Wait::bdat:
        return cfg_.data_init_ms;
    case Wait::dot:
    case Wait::bdat_last:
    case Wait::lone_dot:
        return cfg_.data_term_ms;
    case Wait::ehlo:
    case Wait::helo:
    case Wait::rset:
    case Wait::auto_rset:
    case Wait::quit:
        break;
    }
    return cfg_.command_ms;
}

void Client::arm(std::uint64_t now_ms) {
    if (reply_deadline_ == kUnarmed)
        reply_deadline_ =
            outstanding_.empty() ? kNever : now_ms + timeout_for(outstanding_.front().wait);
    if (output_deadline_ == kUnarmed)
        output_deadline_ = out_.size() > out_off_ ? now_ms + cfg_.data_block_ms : kNever;
}

std::uint64_t Client::next_expiry() const {
    if (closed_)
        return kNever;
    if (reply_deadline_ == kUnarmed || output_deadline_ == kUnarmed)
        return now_; // due at once: on_timer() arms from its own clock
    return std::min(reply_deadline_, output_deadline_);
}

void Client::on_timer(std::uint64_t now_ms) {
    now_ = now_ms;
    if (closed_)
        return;
    arm(now_ms);
    if (now_ms >= reply_deadline_ || now_ms >= output_deadline_)
        fail_connection(synthetic(451, "4.4.2", "LAN server timeout"));
}

// ---------------------------------------------------------------- results

void Client::result(Step s, const UpstreamReply& r, bool synth, std::size_t rcpt_index) {
    results_.push_back(ClientResult{s, r, rcpt_index, synth});
}

bool Client::poll_result(ClientResult& out) {
    if (results_.empty())
        return false;
    out = std::move(results_.front());
    results_.pop_front();
    return true;
}

// The message step when its body never reached an end: why it failed.
void Client::message_failed(const UpstreamReply& otherwise) {
    if (txn_.body == BodyState::reported)
        return;
    if (txn_.abort_reply)
        result(Step::message, *txn_.abort_reply, true);
    else if (txn_.data_failure)
        result(Step::message, *txn_.data_failure, true);
    else
        result(Step::message, otherwise, true);
    txn_.body = BodyState::reported;
}

// ---------------------------------------------------------------- failure

void Client::fail_connection(const UpstreamReply& reason) {
    if (closed_)
        return;
    closed_ = true;
    close_reply_ = reason;
    fail_outstanding(reason);
    out_.clear();
    out_off_ = 0;
    chunk_.clear();
    reply_deadline_ = kNever;
    output_deadline_ = kNever;
    fail_queued();
}

// Every written command still unanswered gets `reason` for its step.
void Client::fail_outstanding(const UpstreamReply& reason) {
    for (const Outstanding& o : outstanding_) {
        if (o.silent)
            continue;
        switch (o.wait) {
        case Wait::greeting:
            result(Step::greeting, reason, true);
            break;
        case Wait::ehlo:
        case Wait::helo:
            result(Step::ehlo, reason, true);
            break;
        case Wait::mail:
            result(Step::mail, reason, true);
            break;
        case Wait::rcpt:
            result(Step::rcpt, reason, true, o.rcpt_index);
            break;
        case Wait::data:
            result(Step::data, reason, true);
            break;
        case Wait::dot:
        case Wait::bdat_last:
            message_failed(reason);
            break;
        case Wait::rset:
            result(Step::rset, reason, true);
            break;
        case Wait::quit:
            result(Step::quit, reason, true);
            break;
        case Wait::bdat:      // the message step is owed by end_body()
        case Wait::lone_dot:  // answered already (synthetic 554)
        case Wait::auto_rset: // ours
            break;
        }
    }
    outstanding_.clear();
    barriers_ = 0;
}

// Once closed: every queued step gets the close reason.
void Client::fail_queued() {
    for (Op& op : ops_) {
        switch (op.kind) {
        case OpKind::mail:
            txn_ = Txn{};
            result(Step::mail, close_reply_, true);
            break;
        case OpKind::rcpt:
            result(Step::rcpt, close_reply_, true, op.rcpt_index);
            break;
        case OpKind::data:
            result(Step::data, close_reply_, true);
            break;
        case OpKind::body:
            break;
        case OpKind::end_body:
            message_failed(close_reply_);
            break;
        case OpKind::rset:
        case OpKind::quit:
            if (op.aborts_body)
                message_failed(close_reply_);
            txn_ = Txn{};
            result(op.kind == OpKind::rset ? Step::rset : Step::quit, close_reply_, true);
            break;
        }
    }
    ops_.clear();
    queued_body_ = 0;
}

void Client::setup_failed() {
    fail_connection(synthetic(451, "4.4.0", "LAN server refused the session"));
}

// ---------------------------------------------------------------- adapter side

void Client::on_connected(std::uint64_t now_ms) {
    now_ = now_ms;
    if (closed_ || phase_ != Phase::connecting)
        return;
    // RFC 5321 3.1: the server speaks first.
    phase_ = Phase::greeting;
    outstanding_.push_back(Outstanding{Wait::greeting});
    reply_deadline_ = now_ms + cfg_.initial_220_ms;
}

void Client::on_peer_closed(std::uint64_t now_ms) {
    now_ = now_ms;
    peer_closed_ = true;
    fail_connection(synthetic(421, "4.4.2", "LAN server closed the connection"));
}

void Client::on_input(std::span<const std::uint8_t> bytes, std::uint64_t now_ms) {
    now_ = now_ms;
    if (closed_)
        return;
    if (phase_ == Phase::connecting)
        on_connected(now_ms); // the adapter skipped it: bytes prove the connection
    std::size_t off = 0;
    while (off < bytes.size() && !closed_) {
        std::size_t used = 0;
        const ReplyParseStatus st = parser_.feed(bytes.subspan(off), used);
        off += used;
        if (st == ReplyParseStatus::complete) {
            handle_reply(parser_.take());
            pump(); // what the reply unblocked goes out before the next reply is read
        } else if (st == ReplyParseStatus::error) {
            std::string text = "LAN server sent a malformed reply (";
            text += reply_error_name(parser_.error());
            text += ')';
            fail_connection(synthetic(451, "4.5.0", text));
        } else {
            break;
        }
    }
    pump();
    arm(now_ms);
}

// ---------------------------------------------------------------- sending

bool Client::pipelining_on() const {
    return cfg_.use_pipelining && caps_.pipelining;
}

// RFC 2920 3.1: a command may join the group in flight unless a command
// that ends a group (DATA, the end of data, QUIT) is awaited; without
// PIPELINING, commands go one at a time.
bool Client::can_send_pipelined() const {
    return outstanding_.empty() || (pipelining_on() && barriers_ == 0);
}

void Client::send_command(std::string_view line, Wait w, std::size_t rcpt_index) {
    out_.append(line);
    mark_output();
    if (outstanding_.empty())
        reply_deadline_ = kUnarmed;
    outstanding_.push_back(Outstanding{w, rcpt_index});
    if (w == Wait::data || w == Wait::dot || w == Wait::lone_dot || w == Wait::quit)
        ++barriers_;
}

void Client::send_hello(std::string_view verb, Wait w) {
    std::string line(verb);
    line += cfg_.helo_name;
    line += "\r\n";
    send_command(line, w);
}

void Client::push(Op op) {
    if (op.kind == OpKind::body) {
        if (closed_ || op.arg1.empty())
            return; // the message step fails anyway
        queued_body_ += op.arg1.size();
        if (!ops_.empty() && ops_.back().kind == OpKind::body && ops_.back().off == 0) {
            ops_.back().arg1 += op.arg1;
            pump();
            return;
        }
    }
    ops_.push_back(std::move(op));
    pump();
}

void Client::pump() {
    while (!ops_.empty()) {
        if (closed_) {
            fail_queued();
            return;
        }
        if (phase_ != Phase::ready || !process_head())
            return;
    }
}

void Client::mail(std::string_view path, std::string_view params) {
    proxy_rcpt_count_ = 0;
    proxy_body_open_ = false;
    push(Op{OpKind::mail, std::string(path), std::string(params)});
}

void Client::rcpt(std::string_view path, std::string_view params) {
    push(Op{OpKind::rcpt, std::string(path), std::string(params), proxy_rcpt_count_++});
}

void Client::data() {
    proxy_body_open_ = true;
    push(Op{OpKind::data, {}, {}});
}

std::size_t Client::body_room() const {
    if (closed_)
        return cfg_.max_body_queue;
    return queued_body_ >= cfg_.max_body_queue ? 0 : cfg_.max_body_queue - queued_body_;
}

void Client::body(std::span<const std::uint8_t> canonical) {
    push(Op{OpKind::body,
            std::string(reinterpret_cast<const char*>(canonical.data()), canonical.size()),
            {}});
}

void Client::end_body() {
    proxy_body_open_ = false;
    push(Op{OpKind::end_body, {}, {}});
}

void Client::rset() {
    Op op{OpKind::rset, {}, {}};
    op.aborts_body = std::exchange(proxy_body_open_, false);
    if (op.aborts_body)
        drop_queued_body();
    push(std::move(op));
}

void Client::quit() {
    Op op{OpKind::quit, {}, {}};
    op.aborts_body = std::exchange(proxy_body_open_, false);
    if (op.aborts_body)
        drop_queued_body();
    push(std::move(op));
}

// The body of a message being aborted is not worth writing.
void Client::drop_queued_body() {
    for (auto it = ops_.begin(); it != ops_.end();) {
        if (it->kind == OpKind::body) {
            queued_body_ -= it->arg1.size() - it->off;
            it = ops_.erase(it);
        } else {
            ++it;
        }
    }
}

bool Client::ready_for_transaction() const {
    return phase_ == Phase::ready && !closed_ && ops_.empty() && outstanding_.empty();
}

// Parameters as the server allows them (see mail() in the header). Returns
// the refusal, if any; `kept` gets " KEY=VALUE" for each parameter passed.
std::optional<UpstreamReply> Client::filter_params(std::string_view params, bool for_mail,
                                                   std::string& kept, bool& binary) const {
    std::optional<UpstreamReply> refusal;
    for_each_param(params, [&](std::string_view p) {
        if (refusal)
            return;
        const std::size_t eq = p.find('=');
        const std::string key = upper(p.substr(0, eq));
        const std::string value = eq == std::string_view::npos ? "" : upper(p.substr(eq + 1));
        bool keep = false;
        if (for_mail && key == "SIZE") {
            keep = caps_.size; // RFC 1870: only to a server that offered it
        } else if (for_mail && key == "BODY") {
            if (value == "7BIT") {
                keep = caps_.eightbitmime || caps_.binarymime;
            } else if (value == "8BITMIME") {
                keep = caps_.eightbitmime;
                if (!keep && cfg_.strict_8bitmime) // RFC 6152 3
                    refusal = synthetic(554, "5.6.3", "LAN server does not accept 8-bit MIME");
            } else if (value == "BINARYMIME") {
                // RFC 3030 3: BINARYMIME needs BDAT.
                keep = caps_.binarymime && cfg_.use_chunking && caps_.chunking;
                binary = keep;
                if (!keep)
                    refusal = synthetic(554, "5.6.3", "LAN server does not accept binary MIME");
            } else {
                refusal = synthetic(555, "5.5.4", "unknown BODY value");
            }
        } else if (for_mail && key == "SMTPUTF8") {
            keep = caps_.smtputf8;
            if (!keep) // RFC 6531 3.4
                refusal = synthetic(550, "5.6.7", "LAN server does not accept SMTPUTF8 mail");
        } else if ((for_mail && (key == "RET" || key == "ENVID")) ||
                   (!for_mail && (key == "NOTIFY" || key == "ORCPT"))) {
            keep = caps_.dsn; // RFC 3461 4: dropped, relayed as to a non-DSN server
        } else if (for_mail && key == "AUTH") {
            keep = caps_.has("AUTH");
        } else {
            keep = caps_.has(key);
            if (!keep) {
                std::string text = "parameter not supported by the LAN server: ";
                text += key.substr(0, 64);
                refusal = synthetic(555, "5.5.4", text);
            }
        }
        if (keep) {
            kept += ' ';
            kept += p;
        }
    });
    return refusal;
}

void Client::append_path(std::string& line, std::string_view path) {
    if (!path.empty() && path.front() == '<') {
        line += path;
    } else {
        line += '<';
        line += path;
        line += '>';
    }
}

// The head of ops_ when connected and greeted: writes it, answers it, or
// returns false when it must wait for replies (or for output room).
bool Client::process_head() {
    Op& head = ops_.front();
    switch (head.kind) {
    case OpKind::mail: {
        // A transaction starts once the previous one is fully answered
        // (then we know whether the server still holds it open).
        const bool only_rsets =
            std::all_of(outstanding_.begin(), outstanding_.end(), [](const Outstanding& o) {
                return o.wait == Wait::rset || o.wait == Wait::auto_rset;
            });
        if (!outstanding_.empty() && !(pipelining_on() && only_rsets))
            return false;
        if (server_txn_open_) {
            // The last transaction failed part-way: clear it first.
            send_command("RSET\r\n", Wait::auto_rset);
            server_txn_open_ = false;
            return true;
        }
        Op op = std::move(head);
        ops_.pop_front();
        txn_ = Txn{};
        if (unsafe_for_command(op.arg1) || unsafe_for_command(op.arg2)) {
            txn_.local_refused = true;
            result(Step::mail, synthetic(501, "5.5.2", "invalid characters in MAIL"), true);
            return true;
        }
        std::string kept;
        if (auto refusal = filter_params(op.arg2, true, kept, txn_.binary)) {
            txn_.local_refused = true;
            result(Step::mail, *refusal, true);
            return true;
        }
        std::string line = "MAIL FROM:";
        append_path(line, op.arg1);
        line += kept;
        line += "\r\n";
        send_command(line, Wait::mail);
        return true;
    }
    case OpKind::rcpt: {
        if (!can_send_pipelined())
            return false;
        Op op = std::move(head);
        ops_.pop_front();
        if (txn_.local_refused) {
            result(Step::rcpt, synthetic(503, "5.5.1", "MAIL was not accepted"), true,
                   op.rcpt_index);
            return true;
        }
        if (unsafe_for_command(op.arg1) || unsafe_for_command(op.arg2)) {
            result(Step::rcpt, synthetic(501, "5.5.2", "invalid characters in RCPT"), true,
                   op.rcpt_index);
            return true;
        }
        std::string kept;
        bool unused = false;
        if (auto refusal = filter_params(op.arg2, false, kept, unused)) {
            result(Step::rcpt, *refusal, true, op.rcpt_index);
            return true;
        }
        std::string line = "RCPT TO:";
        append_path(line, op.arg1);
        line += kept;
        line += "\r\n";
        send_command(line, Wait::rcpt, op.rcpt_index);
        return true;
    }
    case OpKind::data:
        return process_data();
    case OpKind::body:
        return process_body();
    case OpKind::end_body:
        return process_end_body();
    case OpKind::rset:
    case OpKind::quit:
        return process_rset_quit();
    }
    return false;
}

bool Client::process_data() {
    if (txn_.local_refused) {
        ops_.pop_front();
        txn_.data_failure = synthetic(503, "5.5.1", "MAIL was not accepted");
        txn_.body = BodyState::refused;
        result(Step::data, *txn_.data_failure, true);
        return true;
    }
    txn_.chunking = cfg_.use_chunking && caps_.chunking;
    if (txn_.chunking) {
        // RFC 3030: no DATA. The go-ahead is ours to give, and only once
        // MAIL and the RCPTs are answered: no chunk is written for a
        // transaction without recipients.
        if (!outstanding_.empty())
            return false;
        ops_.pop_front();
        if (!txn_.mail_ok)
            txn_.data_failure = synthetic(503, "5.5.1", "MAIL was not accepted");
        else if (txn_.rcpt_ok == 0)
            txn_.data_failure = synthetic(554, "5.5.1", "no valid recipients");
        if (txn_.data_failure) {
            txn_.body = BodyState::refused;
            result(Step::data, *txn_.data_failure, true);
            return true;
        }
        txn_.body = BodyState::open;
        encoder_.reset(txn_.binary ? BodyEncoding::binary : BodyEncoding::chunked);
        chunk_.clear();
        result(Step::data, synthetic(354, "", "send the message (BDAT)"), true);
        return true;
    }
    // RFC 2920 3.1: DATA may close the group of MAIL and RCPTs.
    if (!can_send_pipelined())
        return false;
    ops_.pop_front();
    txn_.body = BodyState::waiting;
    encoder_.reset(BodyEncoding::dot_stuffed);
    send_command("DATA\r\n", Wait::data);
    return true;
}

// Bad body bytes (bare CR or LF): the message must not reach the server.
void Client::abort_bad_body(EncodeStatus st) {
    txn_.abort_reply =
        synthetic(554, "5.6.0",
                  st == EncodeStatus::bare_cr ? "message has a bare CR" : "message has a bare LF");
    txn_.body = BodyState::aborted;
    chunk_.clear();
}

// With DATA there is no way to end a message but its final dot: close.
void Client::close_after_abort() {
    if (!txn_.chunking)
        fail_connection(synthetic(421, "4.4.2", "LAN connection closed: message aborted"));
}

bool Client::process_body() {
    Op& op = ops_.front();
    const std::size_t left = op.arg1.size() - op.off;
    switch (txn_.body) {
    case BodyState::waiting:
        return false; // DATA's 354 first
    case BodyState::open:
        break;
    case BodyState::none:
    case BodyState::refused:
    case BodyState::aborted:
    case BodyState::reported:
    case BodyState::done:
        queued_body_ -= left;
        ops_.pop_front();
        return true;
    }
    std::size_t n = 0;
    EncodeStatus st = EncodeStatus::ok;
    if (!txn_.chunking) {
        const std::size_t pending = out_.size() - out_off_;
        if (pending >= cfg_.max_pending_output)
            return false; // the server reads slower than we write
        n = std::min(left, cfg_.max_pending_output - pending);
        st = encoder_.encode(
            std::span(reinterpret_cast<const std::uint8_t*>(op.arg1.data()) + op.off, n), out_);
        mark_output();
    } else {
        if (chunk_.size() >= cfg_.bdat_chunk_size) {
            if ((!outstanding_.empty() && !pipelining_on()) ||
                out_.size() - out_off_ >= cfg_.max_pending_output)
                return false;
            emit_chunk(false);
            return true;
        }
        n = std::min(left, cfg_.bdat_chunk_size - chunk_.size());
        st = encoder_.encode(
            std::span(reinterpret_cast<const std::uint8_t*>(op.arg1.data()) + op.off, n), chunk_);
    }
    op.off += n;
    queued_body_ -= n;
    if (op.off == op.arg1.size())
        ops_.pop_front();
    if (st != EncodeStatus::ok) {
        abort_bad_body(st);
        close_after_abort();
    }
    return true;
}

void Client::emit_chunk(bool last) {
    // RFC 3030 2: the command, then exactly that many octets.
    append_bdat_command(out_, chunk_.size(), last);
    out_ += chunk_;
    chunk_.clear();
    mark_output();
    if (outstanding_.empty())
        reply_deadline_ = kUnarmed;
    outstanding_.push_back(Outstanding{last ? Wait::bdat_last : Wait::bdat});
}

bool Client::process_end_body() {
    switch (txn_.body) {
    case BodyState::waiting:
        return false;
    case BodyState::open:
        break;
    case BodyState::none:
    case BodyState::done:
        ops_.pop_front();
        result(Step::message, synthetic(503, "5.5.1", "no message body was started"), true);
        return true;
    case BodyState::refused:
    case BodyState::aborted:
    case BodyState::reported:
        ops_.pop_front();
        message_failed(close_reply_);
        return true;
    }
    if (txn_.chunking) {
        if (!outstanding_.empty() && !pipelining_on())
            return false;
        if (chunk_.size() >= cfg_.bdat_chunk_size) // a full chunk first, LAST may be 0
            emit_chunk(false);
        if (!outstanding_.empty() && !pipelining_on())
            return true;
        ops_.pop_front();
        const EncodeStatus st = encoder_.finish(chunk_);
        if (st != EncodeStatus::ok) {
            abort_bad_body(st); // no LAST: an RSET precedes the next MAIL
            message_failed(close_reply_);
            return true;
        }
        txn_.body = BodyState::done;
        emit_chunk(true);
        return true;
    }
    ops_.pop_front();
    const EncodeStatus st = encoder_.finish(out_);
    if (st != EncodeStatus::ok) {
        abort_bad_body(st);
        message_failed(close_reply_);
        close_after_abort();
        return true;
    }
    mark_output();
    txn_.body = BodyState::done;
    if (outstanding_.empty())
        reply_deadline_ = kUnarmed;
    outstanding_.push_back(Outstanding{Wait::dot});
    ++barriers_;
    return true;
}

bool Client::process_rset_quit() {
    Op& op = ops_.front();
    const bool is_rset = op.kind == OpKind::rset;
    if (op.aborts_body) {
        const bool body_live = txn_.body == BodyState::waiting || txn_.body == BodyState::open;
        if (body_live && !txn_.chunking) {
            // DATA cannot be ended without its final dot: close instead.
            ops_.pop_front();
            const UpstreamReply aborted =
                synthetic(451, "4.3.0", "message aborted: LAN connection closed before its end");
            fail_outstanding(aborted); // DATA (and MAIL, RCPTs in its group) unanswered
            result(Step::message, aborted, true);
            txn_ = Txn{};
            if (is_rset)
                result(Step::rset,
                       synthetic(250, "2.0.0", "transaction dropped with the connection"), true);
            else
                result(Step::quit, synthetic(221, "2.0.0", "LAN connection closed"), true);
            fail_connection(
                synthetic(421, "4.4.2", "LAN connection closed after an aborted message"));
            return true;
        }
        if (body_live) {
            // RFC 3030: chunks without LAST are discarded by RSET; replies
            // to chunks in flight no longer speak for the message.
            for (Outstanding& o : outstanding_)
                if (o.wait == Wait::bdat || o.wait == Wait::bdat_last)
                    o.silent = true;
            chunk_.clear();
            result(Step::message, synthetic(451, "4.3.0", "message aborted"), true);
            txn_.body = BodyState::reported;
        } else {
            message_failed(close_reply_);
        }
        op.aborts_body = false;
    }
    if (!can_send_pipelined())
        return false;
    ops_.pop_front();
    txn_ = Txn{};
    if (is_rset) {
        server_txn_open_ = false;
        send_command("RSET\r\n", Wait::rset);
    } else {
        send_command("QUIT\r\n", Wait::quit);
    }
    return true;
}

// ---------------------------------------------------------------- replies

void Client::handle_reply(UpstreamReply r) {
    if (caps_.enhanced_status_codes)
        split_enhanced_code(r);
    if (outstanding_.empty()) {
        // RFC 5321 3.8: a server may say 421 at any time before closing.
        if (r.code == 421)
            fail_connection(synthetic(421, "4.4.2", "LAN server is closing the connection"));
        else
            fail_connection(synthetic(451, "4.5.0", "LAN server sent an unexpected reply"));
        return;
    }
    const Outstanding o = outstanding_.front();
    // 354 answers DATA and nothing else; DATA wants 354 or a refusal. (The
    // command stays outstanding so that its step gets the failure.)
    const bool want_354 = o.wait == Wait::data;
    if ((want_354 && (is_2xx(r) || (is_3xx(r) && r.code != 354))) || (!want_354 && is_3xx(r))) {
        fail_connection(synthetic(451, "4.5.0", "LAN server sent a reply out of place"));
        return;
    }
    outstanding_.pop_front();
    if (o.wait == Wait::data || o.wait == Wait::dot || o.wait == Wait::lone_dot ||
        o.wait == Wait::quit)
        --barriers_;
    reply_deadline_ = outstanding_.empty() ? kNever : kUnarmed;

    switch (o.wait) {
    case Wait::greeting:
        result(Step::greeting, r, false);
        if (r.code != 220) { // RFC 5321 3.1: 554 (or 421) means no service
            setup_failed();
            return;
        }
        phase_ = Phase::ehlo;
        send_hello("EHLO ", Wait::ehlo);
        break;
    case Wait::ehlo:
        if (is_2xx(r)) {
            caps_ = parse_ehlo_reply(r, cfg_.max_ehlo_keywords);
            phase_ = Phase::ready;
            result(Step::ehlo, r, false);
        } else if (r.code >= 500) { // RFC 5321 4.1.1.1 / 3.2: an old server, try HELO
            send_hello("HELO ", Wait::helo);
        } else {
            result(Step::ehlo, r, false);
            setup_failed();
            return;
        }
        break;
    case Wait::helo:
        result(Step::ehlo, r, false);
        if (!is_2xx(r)) {
            setup_failed();
            return;
        }
        caps_ = Capabilities{};
        phase_ = Phase::ready;
        break;
    case Wait::mail:
        result(Step::mail, r, false);
        if (is_2xx(r)) {
            txn_.mail_ok = true;
            server_txn_open_ = true;
        }
        break;
    case Wait::rcpt:
        result(Step::rcpt, r, false, o.rcpt_index);
        if (is_2xx(r))
            ++txn_.rcpt_ok;
        break;
    case Wait::data:
        if (r.code != 354) {
            txn_.data_failure = r;
            txn_.body = BodyState::refused;
            result(Step::data, r, false);
        } else if (!txn_.mail_ok || txn_.rcpt_ok == 0) {
            // RFC 2920 3.1: DATA went out in the group but nobody was
            // accepted; the server still said 354: end it with a lone dot.
            send_command(".\r\n", Wait::lone_dot);
            txn_.data_failure = synthetic(554, "5.5.1", "no valid recipients");
            txn_.body = BodyState::refused;
            result(Step::data, *txn_.data_failure, true);
        } else {
            txn_.body = BodyState::open;
            result(Step::data, r, false);
        }
        break;
    case Wait::dot:
    case Wait::bdat_last:
        if (o.silent)
            break;
        result(Step::message, r, false);
        txn_.body = BodyState::reported;
        if (is_2xx(r))
            server_txn_open_ = false; // RFC 5321 4.1.1.4: the transaction is over
        break;
    case Wait::bdat:
        if (o.silent || is_2xx(r))
            break;
        // RFC 3030 2: a refused chunk fails the transaction; no more
        // chunks, and replies to those in flight are not the message's.
        if (txn_.body == BodyState::open || txn_.body == BodyState::done) {
            result(Step::message, r, false);
            txn_.body = BodyState::reported;
            chunk_.clear();
        }
        for (Outstanding& later : outstanding_)
            if (later.wait == Wait::bdat || later.wait == Wait::bdat_last)
                later.silent = true;
        break;
    case Wait::lone_dot:
        break;
    case Wait::rset:
        result(Step::rset, r, false);
        break;
    case Wait::auto_rset:
        if (!is_2xx(r)) {
            fail_connection(synthetic(451, "4.5.0", "LAN server refused RSET"));
            return;
        }
        break;
    case Wait::quit:
        result(Step::quit, r, false);
        fail_connection(synthetic(421, "4.4.2", "LAN connection closed (QUIT)"));
        return;
    }
    // RFC 5321 3.8: 421 means the server is closing: nothing else will be answered.
    if (r.code == 421)
        fail_connection(synthetic(421, "4.4.2", "LAN server is closing the connection"));
}

} // namespace smtpgw::smtp
