// smtp_session.cc: the SMTP server session (see smtp_session.h).
#include "smtp/smtp_session.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace smtpgw::smtp {

namespace {

// Octets of client input copied into an event's `arg` (command lines,
// pregreet and pipelining samples): a log line stays bounded and readable.
constexpr std::size_t kEventSampleBytes = 512;

std::string sample_of(std::string_view s) {
    return std::string(s.substr(0, kEventSampleBytes));
}

std::string sample_of(std::span<const std::uint8_t> s) {
    const std::size_t n = std::min(s.size(), kEventSampleBytes);
    return std::string(reinterpret_cast<const char*>(s.data()), n);
}

std::uint64_t add_saturating(std::uint64_t a, std::uint64_t b) {
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

Reply make_reply(std::uint16_t code, std::string_view enhanced, std::string_view text) {
    return Reply{code, std::string(enhanced), std::string(text)};
}

} // namespace

// ---------------------------------------------------------------------------
// Construction, the banner, pregreet

Session::Session(const SessionConfig& config, SessionPeer peer, std::uint64_t now_ms)
    : config_(config), peer_(std::move(peer)), start_ms_(now_ms), last_activity_ms_(now_ms) {
    // RFC 5321 4.5.3.1.8: a server must accept at least 100 recipients.
    config_.max_recipients = std::max<std::uint32_t>(config_.max_recipients, 100);
    if (!config_.tls_available)
        config_.tls_required = false; // cannot require what cannot be offered
    Event& e = push_event(EventKind::connect);
    e.arg = peer_.client_address;
    if (config_.connect_needs_answer) {
        e.needs_answer = true;
        pending_ = Pending::connect;
    } else {
        connect_ok_ = true;
        if (config_.banner_delay_ms == 0)
            send_banner(now_ms);
    }
}

void Session::send_banner(std::uint64_t now) {
    // RFC 5321 4.2: "220 " domain text; no enhanced code on the greeting (RFC 2034 4).
    std::string text = config_.hostname;
    if (!config_.greeting_text.empty()) {
        text.push_back(' ');
        text += config_.greeting_text;
    }
    send(Reply{220, {}, std::move(text)});
    banner_sent_ = true;
    phase_ = Phase::command;
    last_activity_ms_ = now;
}

void Session::pregreet(std::span<const std::uint8_t> sample) {
    // RFC 5321 3.1: the client waits for the greeting. One that talks first
    // is a bot racing the banner (postscreen's PREGREET).
    Reply r = make_reply(554, "5.7.0", "Error: talked before the greeting");
    Event& e = push_event(EventKind::pregreet);
    e.arg = sample_of(sample);
    e.reply = r;
    close_session(&r, {});
}

// ---------------------------------------------------------------------------
// Input

std::size_t Session::input_room() const {
    switch (phase_) {
    case Phase::closed:
        return 0;
    case Phase::greeting:
        return SIZE_MAX; // read, to catch early talkers
    default:
        break;
    }
    if (pending_ != Pending::none || proxy_stalled() || output_full())
        return 0;
    if (body_phase())
        return body_room();
    return SIZE_MAX;
}

std::size_t Session::on_input(std::span<const std::uint8_t> in, std::uint64_t now_ms) {
    if (phase_ == Phase::closed)
        return in.size();
    if (in.empty())
        return 0;
    if (phase_ == Phase::greeting) {
        pregreet(in);
        return in.size();
    }
    if (pending_ != Pending::none) {
        // The client sent more before seeing a reply it had to wait for.
        if (pending_sync_)
            early_input_ = true;
        return 0;
    }
    if (stalled_ && !proxy_stalled()) {
        stalled_ = false; // idle time restarts now: the wait was ours
        last_activity_ms_ = now_ms;
    }
    std::size_t pos = 0;
    while (pos < in.size() && phase_ != Phase::closed && pending_ == Pending::none) {
        if (proxy_stalled() || output_full())
            break;
        const std::span<const std::uint8_t> rest = in.subspan(pos);
        std::size_t n = 0;
        switch (phase_) {
        case Phase::command:
            n = read_command(rest);
            break;
        case Phase::data:
            n = read_data(rest);
            break;
        case Phase::chunk:
            n = read_chunk(rest);
            break;
        default:
            n = rest.size();
            break;
        }
        pos += n;
        if (n == 0)
            break; // no progress possible now (room below the decoder's minimum)
    }
    if (pos > 0)
        last_activity_ms_ = now_ms;
    note_stall();
    return phase_ == Phase::closed ? in.size() : pos;
}

std::size_t Session::read_command(std::span<const std::uint8_t> in) {
    const auto* p = reinterpret_cast<const char*>(in.data());
    const auto* lf = static_cast<const char*>(std::memchr(p, '\n', in.size()));
    const std::size_t limit = config_.max_command_line_bytes;
    if (lf == nullptr) {
        // A partial line: keep it (bounded), the rest comes later.
        const std::size_t room = line_.size() < limit ? limit - line_.size() : 0;
        if (in.size() > room)
            line_overlong_ = true;
        line_.append(p, std::min(room, in.size()));
        return in.size();
    }
    const std::size_t k = static_cast<std::size_t>(lf - p);
    const std::size_t consumed = k + 1;
    // RFC 5321 4.5.3.1.4: the limit counts the CRLF.
    const bool overlong = line_overlong_ || line_.size() + consumed > limit;
    std::string_view line;
    if (line_.empty() && !line_overlong_) {
        line = std::string_view(p, k);
    } else {
        if (!overlong)
            line_.append(p, k);
        line = line_;
    }
    const bool crlf = !line.empty() && line.back() == '\r';
    if (crlf)
        line.remove_suffix(1);
    const bool discard = on_line(line, crlf, overlong, in.subspan(consumed));
    line_.clear();
    line_overlong_ = false;
    return discard ? in.size() : consumed;
}

bool Session::on_line(std::string_view line, bool crlf, bool overlong,
                      std::span<const std::uint8_t> rest) {
    if (overlong) {
        refuse(refusal(EventKind::protocol_error, make_reply(500, "5.5.2", "Error: line too long")),
               line);
        return phase_ == Phase::closed;
    }
    // RFC 5321 2.3.8: commands end in CRLF; a bare LF or CR, a NUL or any
    // other control octet is refused (SMTP smuggling and injection).
    if (!crlf) {
        refuse(refusal(EventKind::protocol_error,
                       make_reply(500, "5.5.2", "Error: bare <LF> received")),
               line);
        return phase_ == Phase::closed;
    }
    if (!command_line_octets_ok(line)) {
        refuse(refusal(EventKind::protocol_error,
                       make_reply(500, "5.5.2", "Error: NUL, bare <CR> or control octet")),
               line);
        return phase_ == Phase::closed;
    }
    const CommandLine cl = parse_command_line(line);
    // (A BDAT's chunk follows its line by design: checked after the chunk.)
    if (!rest.empty() && cl.command != Command::bdat && sync_required(cl.command)) {
        violation(rest);
        return true;
    }
    bool discard = on_command(line, cl);
    if (phase_ == Phase::chunk && chunk_left_ == 0)
        finish_chunk(rest); // BDAT 0: no octets follow
    return discard || phase_ == Phase::closed;
}

// ---------------------------------------------------------------------------
// Commands

std::optional<Session::Refusal> Session::precheck(const CommandInfo& info) const {
    // RFC 5321 4.1.4: a session begins with EHLO or HELO.
    if (!helo_done_ && (info.flags & kAllowedBeforeHelo) == 0)
        return refusal(EventKind::protocol_error,
                       make_reply(503, "5.5.1", "Error: send HELO/EHLO first"));
    // RFC 3207 4: 530 until STARTTLS when TLS is required.
    if (config_.tls_required && !tls_active_ && (info.flags & kAllowedBeforeTls) == 0)
        return refusal(EventKind::rejected,
                       make_reply(530, "5.7.0", "Must issue a STARTTLS command first"));
    // RFC 5321 4.1.4: no nested MAIL; RFC 3207 4: no STARTTLS in a transaction.
    if (in_transaction_ && (info.flags & kAllowedInTransaction) == 0)
        return refusal(EventKind::protocol_error,
                       make_reply(503, "5.5.1",
                                  info.command == Command::mail
                                      ? "Error: nested MAIL command"
                                      : "Error: not allowed in a mail transaction"));
    return std::nullopt;
}

bool Session::on_command(std::string_view line, const CommandLine& cl) {
    const CommandInfo& info = command_info(cl.command);
    // RFC 2920: after a refused MAIL the pipelined RCPTs and DATA fail as
    // expected; those replies are not the client's misbehaviour.
    const bool expected_failure =
        mail_refused_ &&
        (cl.command == Command::rcpt || cl.command == Command::data || cl.command == Command::bdat);
    if (!in_transaction_ && !expected_failure &&
        ++commands_without_mail_ > config_.max_commands_without_mail) {
        Reply r = make_reply(421, "4.7.0", "Error: too many commands without a mail transaction");
        close_session(&r, {});
        return true;
    }
    if ((info.flags & kJunk) != 0 && ++junk_ > config_.max_junk_commands) {
        count_error();
        if (phase_ == Phase::closed)
            return true;
    }
    if (cl.command == Command::forbidden) {
        Reply r = make_reply(554, "5.7.0", "Error: non-SMTP command");
        Event& e = push_event(EventKind::protocol_error);
        e.arg = sample_of(line);
        e.reply = r;
        close_session(&r, {});
        return true;
    }
    if (cl.command == Command::unknown) {
        refuse(refusal(EventKind::protocol_error,
                       make_reply(500, "5.5.2", "Error: command not recognized")),
               line);
        return false;
    }
    const bool has_arg = cl.has_arg && cl.arg.find_first_not_of(' ') != std::string_view::npos;
    if ((info.args == ArgRule::none && has_arg) || (info.args == ArgRule::required && !has_arg)) {
        refuse(refusal(EventKind::protocol_error, make_reply(501, "5.5.4", info.usage)), line);
        return false;
    }
    if (cl.command == Command::bdat) {
        cmd_bdat(line, cl.arg);
        return false;
    }
    if (auto no = precheck(info)) {
        if (expected_failure)
            no->counts = false;
        refuse(*no, line);
        return false;
    }
    switch (cl.command) {
    case Command::helo:
    case Command::ehlo:
        cmd_helo(line, cl.arg, cl.command == Command::ehlo);
        return false;
    case Command::mail:
        cmd_mail(line, cl.arg);
        return false;
    case Command::rcpt:
        cmd_rcpt(line, cl.arg);
        return false;
    case Command::data:
        cmd_data(line);
        return false;
    case Command::rset:
        cmd_rset();
        return false;
    case Command::noop: // RFC 5321 4.1.1.9: the argument is ignored
        send(250, "2.0.0", "Ok");
        return false;
    case Command::help:
        send(214, "2.0.0",
             config_.tls_available
                 ? "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY EXPN STARTTLS"
                 : "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY EXPN");
        return false;
    case Command::vrfy:
    case Command::expn:
        // RFC 5321 3.5.3: 252 says "not verified, will try"; 502 refuses.
        // Neither tells a harvester which mailboxes exist.
        if (config_.vrfy_policy == VrfyPolicy::cannot_verify)
            send(252, "2.0.0",
                 cl.command == Command::vrfy
                     ? "Cannot VRFY user, but will accept message and attempt delivery"
                     : "Cannot EXPN list, but will accept message and attempt delivery");
        else
            send(502, "5.5.1", "Error: command not implemented");
        return false;
    case Command::quit: {
        push_event(EventKind::quit);
        Reply r = make_reply(221, "2.0.0", "Bye");
        close_session(&r, {});
        return true;
    }
    case Command::starttls:
        return cmd_starttls(line);
    default:
        return false;
    }
}

void Session::cmd_helo(std::string_view line, std::string_view arg, bool ehlo) {
    if (!is_acceptable_helo_name(arg, config_.address)) {
        refuse(refusal(EventKind::protocol_error,
                       make_reply(501, "5.5.4",
                                  command_info(ehlo ? Command::ehlo : Command::helo).usage)),
               line);
        return;
    }
    // RFC 5321 4.1.4: HELO/EHLO in a transaction resets it, like RSET.
    if (in_transaction_) {
        const Reply why = make_reply(0, {}, "transaction reset by HELO/EHLO");
        end_transaction(&why);
        push_event(EventKind::reset).message_id = message_id_;
    }
    helo_done_ = true;
    esmtp_ = ehlo;
    mail_refused_ = false;
    bdat_failed_ = false;
    helo_name_.assign(arg);
    Event& e = push_event(EventKind::helo);
    e.arg = helo_name_;
    e.params = ehlo ? "EHLO" : "HELO";
    if (!ehlo) {
        send(Reply{250, {}, config_.hostname});
        return;
    }
    // RFC 5321 4.1.1.1: the EHLO reply lists the extensions, one per line.
    std::string text = config_.hostname;
    auto keyword = [&text](std::string_view k) {
        text.push_back('\n');
        text += k;
    };
    if (config_.pipelining)
        keyword("PIPELINING");
    if (config_.size) { // RFC 1870 4: SIZE with the fixed limit
        keyword("SIZE ");
        text += std::to_string(config_.max_message_bytes);
    }
    if (config_.tls_available && !tls_active_)
        keyword("STARTTLS"); // RFC 3207 4.2: not offered again after TLS
    if (config_.enhanced_status_codes)
        keyword("ENHANCEDSTATUSCODES");
    if (config_.eight_bit_mime)
        keyword("8BITMIME");
    if (config_.dsn)
        keyword("DSN");
    if (config_.smtputf8)
        keyword("SMTPUTF8");
    if (config_.chunking)
        keyword("CHUNKING");
    send(Reply{250, {}, std::move(text)});
}

ParamOffer Session::offer() const {
    // RFC 1869: extensions exist only in an EHLO session.
    return ParamOffer{esmtp_ && config_.size, esmtp_ && config_.eight_bit_mime,
                      esmtp_ && config_.smtputf8, esmtp_ && config_.dsn};
}

void Session::cmd_mail(std::string_view line, std::string_view arg) {
    auto refuse_mail = [&](EventKind kind, std::uint16_t code, std::string_view enhanced,
                           std::string_view text) {
        mail_refused_ = true;
        refuse(refusal(kind, make_reply(code, enhanced, text)), line);
    };
    const auto rest = after_path_keyword(arg, "FROM:");
    if (!rest) {
        refuse_mail(EventKind::protocol_error, 501, "5.5.4", command_info(Command::mail).usage);
        return;
    }
    const ParamOffer params_offered = offer();
    const PathResult path =
        parse_path(*rest, PathKind::reverse, params_offered.smtputf8, config_.address);
    if (path.error == PathError::utf8_forbidden) { // RFC 6531 3.5
        refuse_mail(EventKind::rejected, 553, "5.6.7",
                    "Non-ASCII addresses not permitted for that sender");
        return;
    }
    const std::string_view params_text =
        path.error == PathError::none ? rest->substr(path.consumed) : std::string_view();
    if (path.error != PathError::none || (!params_text.empty() && params_text[0] != ' ')) {
        refuse_mail(EventKind::protocol_error, 501, "5.1.7", "Bad sender address syntax");
        return;
    }
    MailParams params;
    std::string canonical;
    switch (parse_mail_params(params_text, params_offered, params, canonical)) {
    case ParamError::syntax:
        refuse_mail(EventKind::protocol_error, 501, "5.5.4", "Error: bad parameter syntax");
        return;
    case ParamError::unrecognized: // RFC 5321 4.1.1.11
        refuse_mail(EventKind::protocol_error, 555, "5.5.4", "Error: unsupported parameter");
        return;
    case ParamError::none:
        break;
    }
    if (path.mailbox.is_utf8 && !params.smtputf8) { // RFC 6531 3.4: only with SMTPUTF8
        refuse_mail(EventKind::rejected, 553, "5.6.7",
                    "Non-ASCII addresses need the SMTPUTF8 parameter");
        return;
    }
    if (params.has_size && params.size > config_.max_message_bytes) { // RFC 1870 6.1
        refuse_mail(EventKind::rejected, 552, "5.3.4", "Message size exceeds fixed limit");
        return;
    }
    message_id_ = next_message_id();
    pending_smtputf8_ = params.smtputf8;
    Event& e = push_event(EventKind::mail);
    e.message_id = message_id_;
    e.arg = path.mailbox.address();
    e.params = std::move(canonical);
    if (config_.mail_needs_answer) {
        e.needs_answer = true;
        suspend(Pending::mail, sync_required(Command::mail));
        return;
    }
    begin_transaction();
    send(250, "2.1.0", "Ok");
}

void Session::begin_transaction() {
    in_transaction_ = true;
    mail_refused_ = false;
    tx_smtputf8_ = pending_smtputf8_;
    transfer_open_ = false;
    tx_bdat_ = false;
    bdat_failed_ = false;
    rcpts_ = 0;
    tx_bytes_ = 0;
    commands_without_mail_ = 0;
}

void Session::cmd_rcpt(std::string_view line, std::string_view arg) {
    auto refuse_rcpt = [&](EventKind kind, std::uint16_t code, std::string_view enhanced,
                           std::string_view text, bool counts = true) {
        refuse(refusal(kind, make_reply(code, enhanced, text), counts), line);
    };
    if (!in_transaction_) { // RFC 5321 3.3: RCPT needs MAIL
        refuse_rcpt(EventKind::protocol_error, 503, "5.5.1", "Error: need MAIL command",
                    !mail_refused_);
        return;
    }
    if (transfer_open_) { // RFC 3030 2: no RCPT once BDAT chunks flow
        refuse_rcpt(EventKind::protocol_error, 503, "5.5.1", "Error: RCPT during message transfer");
        return;
    }
    const auto rest = after_path_keyword(arg, "TO:");
    if (!rest) {
        refuse_rcpt(EventKind::protocol_error, 501, "5.5.4", command_info(Command::rcpt).usage);
        return;
    }
    // RFC 5321 4.5.3.1.10: 452 for too many recipients; the client sends
    // the rest in another transaction, so this is not an error.
    if (rcpts_ >= config_.max_recipients) {
        refuse_rcpt(EventKind::rejected, 452, "4.5.3", "Error: too many recipients", false);
        return;
    }
    const PathResult path = parse_path(*rest, PathKind::forward, tx_smtputf8_, config_.address);
    if (path.error == PathError::utf8_forbidden) { // RFC 6531 3.5
        refuse_rcpt(EventKind::rejected, 553, "5.6.7",
                    "Non-ASCII addresses not permitted for that recipient");
        return;
    }
    const std::string_view params_text =
        path.error == PathError::none ? rest->substr(path.consumed) : std::string_view();
    if (path.error != PathError::none || (!params_text.empty() && params_text[0] != ' ')) {
        refuse_rcpt(EventKind::protocol_error, 501, "5.1.3", "Bad recipient address syntax");
        return;
    }
    RcptParams params;
    std::string canonical;
    switch (parse_rcpt_params(params_text, offer(), tx_smtputf8_, params, canonical)) {
    case ParamError::syntax:
        refuse_rcpt(EventKind::protocol_error, 501, "5.5.4", "Error: bad parameter syntax");
        return;
    case ParamError::unrecognized:
        refuse_rcpt(EventKind::protocol_error, 555, "5.5.4", "Error: unsupported parameter");
        return;
    case ParamError::none:
        break;
    }
    switch (check_relay(path.mailbox, config_.relay)) {
    case RelayVerdict::relay_denied:
        refuse_rcpt(EventKind::rejected, 554, "5.7.1", "Relay access denied");
        return;
    case RelayVerdict::unknown_recipient:
        refuse_rcpt(EventKind::rejected, 550, "5.1.1", "Recipient address rejected: user unknown");
        return;
    case RelayVerdict::accept:
        break;
    }
    Event& e = push_event(EventKind::rcpt);
    e.message_id = message_id_;
    e.arg = path.mailbox.address();
    e.params = std::move(canonical);
    if (config_.rcpt_needs_answer) {
        e.needs_answer = true;
        suspend(Pending::rcpt, sync_required(Command::rcpt));
        return;
    }
    ++rcpts_;
    send(250, "2.1.5", "Ok");
}

void Session::cmd_data(std::string_view line) {
    // RFC 5321 3.3: DATA needs MAIL and at least one accepted RCPT (503/554).
    if (!in_transaction_) {
        refuse(refusal(EventKind::protocol_error,
                       make_reply(503, "5.5.1", "Error: need MAIL command"), !mail_refused_),
               line);
        return;
    }
    if (tx_bdat_) { // RFC 3030 2: BDAT and DATA do not mix in one transaction
        refuse(
            refusal(EventKind::protocol_error, make_reply(503, "5.5.1", "Error: DATA after BDAT")),
            line);
        return;
    }
    if (rcpts_ == 0) { // the RCPT refusals were counted already
        refuse(refusal(EventKind::protocol_error,
                       make_reply(554, "5.5.1", "Error: no valid recipients"), false),
               line);
        return;
    }
    Event& e = push_event(EventKind::data_start);
    e.message_id = message_id_;
    if (config_.data_needs_answer) {
        e.needs_answer = true;
        pending_chunked_ = false;
        suspend(Pending::data_start, sync_required(Command::data));
        return;
    }
    start_data(make_reply(354, {}, "End data with <CR><LF>.<CR><LF>"));
}

void Session::start_data(const Reply& go_ahead) {
    transfer_open_ = true;
    tx_bytes_ = 0;
    send(go_ahead);
    phase_ = Phase::data;
    DataDecoderConfig dc;
    dc.bare_newline = config_.bare_newline;
    dc.max_line_bytes = config_.max_text_line_bytes;
    dc.max_message_bytes = config_.max_message_bytes;
    decoder_.reset(dc);
}

void Session::cmd_bdat(std::string_view line, std::string_view arg) {
    const auto args = parse_bdat_args(arg);
    if (!args) {
        // The chunk's length is unknown, so its octets cannot be told from
        // commands: refuse and close rather than read data as commands.
        refuse(refusal(EventKind::protocol_error,
                       make_reply(501, "5.5.4", command_info(Command::bdat).usage)),
               line);
        Reply r = make_reply(421, "4.5.0", "Error: cannot resynchronize after a bad BDAT");
        close_session(&r, {});
        return;
    }
    chunk_size_ = args->size;
    chunk_left_ = args->size;
    chunk_last_ = args->last;
    chunk_discard_ = false;
    phase_ = Phase::chunk; // unless suspended below

    if (bdat_failed_) {
        // RFC 3030 2: chunks pipelined after a failed BDAT are read and
        // discarded, each answered with that failure, up to the LAST one.
        if (args->last)
            bdat_failed_ = false;
        chunk_refusal_ = refusal(EventKind::rejected, bdat_failure_, false, false);
        chunk_discard_ = true;
        return;
    }

    // RFC 3030 2/4.2: a refused BDAT still has its chunk read and discarded;
    // the reply comes after the chunk.
    std::optional<Refusal> no = precheck(command_info(Command::bdat));
    if (!no && !(esmtp_ && config_.chunking))
        no = refusal(EventKind::protocol_error,
                     make_reply(502, "5.5.1", "Error: command not implemented"));
    if (!no && !in_transaction_)
        no = refusal(EventKind::protocol_error,
                     make_reply(503, "5.5.1", "Error: need MAIL command"), !mail_refused_);
    if (!no && rcpts_ == 0)
        no = refusal(EventKind::protocol_error,
                     make_reply(554, "5.5.1", "Error: no valid recipients"), false);
    if (!no &&
        args->size > config_.max_message_bytes - std::min(tx_bytes_, config_.max_message_bytes))
        no = refusal(EventKind::rejected, make_reply(552, "5.3.4", "Error: message file too big"));
    if (no) {
        // A failed BDAT fails the transaction (RFC 3030 2); the message's
        // later chunks get the same failure (bdat_failed_).
        if (in_transaction_) {
            end_transaction(&no->reply);
            fail_bdat_message(no->reply, args->last);
        }
        no->line = sample_of(line);
        chunk_refusal_ = std::move(*no);
        chunk_discard_ = true;
        return;
    }
    tx_bdat_ = true;
    if (!transfer_open_) { // the first chunk of the message
        Event& e = push_event(EventKind::data_start);
        e.message_id = message_id_;
        e.chunked = true;
        if (config_.data_needs_answer) {
            e.needs_answer = true;
            pending_chunked_ = true;
            phase_ = Phase::command;
            suspend(Pending::data_start, sync_required(Command::bdat));
            return;
        }
        transfer_open_ = true;
    }
}

void Session::fail_bdat_message(const Reply& failure, bool last) {
    bdat_failed_ = !last;
    if (!last)
        bdat_failure_ = failure;
}

std::size_t Session::read_chunk(std::span<const std::uint8_t> in) {
    std::uint64_t take = std::min<std::uint64_t>(in.size(), chunk_left_);
    if (!chunk_discard_) {
        take = std::min<std::uint64_t>(take, body_room());
        if (take > 0) {
            std::string& sink = body_sink(true);
            sink.append(reinterpret_cast<const char*>(in.data()), static_cast<std::size_t>(take));
            queued_body_ += static_cast<std::size_t>(take);
            tx_bytes_ += take;
        }
    }
    chunk_left_ -= take;
    const auto n = static_cast<std::size_t>(take);
    if (chunk_left_ == 0)
        finish_chunk(in.subspan(n));
    return n;
}

void Session::finish_chunk(std::span<const std::uint8_t> rest) {
    phase_ = Phase::command;
    if (!rest.empty() && lockstep()) {
        violation(rest);
        return;
    }
    if (chunk_discard_) {
        chunk_discard_ = false;
        Refusal no = std::move(chunk_refusal_);
        refuse(no, no.line);
        return;
    }
    if (!chunk_last_) { // RFC 3030 2: each chunk gets its reply
        std::string text = std::to_string(chunk_size_);
        text += " octets received";
        send(250, "2.0.0", text);
        return;
    }
    // BDAT ... LAST: the message is complete; the LAN server decides.
    Event& e = push_event(EventKind::data_end);
    e.message_id = message_id_;
    e.chunked = true;
    e.size = tx_bytes_;
    e.needs_answer = true;
    transfer_open_ = false;
    suspend(Pending::data_end, lockstep());
}

std::size_t Session::read_data(std::span<const std::uint8_t> in) {
    const DataDefect before = decoder_.defect();
    DataDecoder::Result res;
    if (before == DataDefect::none) {
        std::string& sink = body_sink(false);
        const std::size_t had = sink.size();
        res = decoder_.decode(in, sink, body_room());
        const std::size_t added = sink.size() - had;
        queued_body_ += added;
        if (added == 0 && had == 0)
            events_.pop_back(); // the body event made for this call stayed empty
    } else {
        std::string none;
        res = decoder_.decode(in, none, 0);
    }
    tx_bytes_ = decoder_.message_bytes();
    if (before == DataDefect::none && decoder_.defect() != DataDefect::none)
        abort_transfer(defect_reply(decoder_.defect())); // stop the LAN side at once
    if (res.finished)
        finish_data(in.subspan(res.consumed));
    return res.consumed;
}

Reply Session::defect_reply(DataDefect d) {
    switch (d) {
    case DataDefect::too_big: // RFC 1870 6.3
        return make_reply(552, "5.3.4", "Error: message file too big");
    case DataDefect::bare_newline:
        return make_reply(554, "5.6.0", "Error: bare <CR> or <LF> in message text");
    case DataDefect::smuggling:
        return make_reply(554, "5.6.0", "Error: \".\" line next to a bare <CR> or <LF>");
    case DataDefect::line_too_long: // RFC 5321 4.5.3.1.6
        return make_reply(554, "5.6.0", "Error: message text line too long");
    case DataDefect::none:
        break;
    }
    return make_reply(451, "4.3.0", "Error: local error");
}

void Session::finish_data(std::span<const std::uint8_t> rest) {
    phase_ = Phase::command;
    // Without PIPELINING the client must wait for the reply to the end of
    // data; with it, the next commands may follow the dot (RFC 2920 3.1).
    if (!rest.empty() && lockstep()) {
        violation(rest);
        return;
    }
    const DataDefect d = decoder_.defect();
    if (d != DataDefect::none) {
        // RFC 5321 4.1.1.4: the end of data ends the transaction either way.
        refuse(refusal(EventKind::rejected, defect_reply(d)), std::string_view("DATA"));
        end_transaction(nullptr);
        return;
    }
    Event& e = push_event(EventKind::data_end);
    e.message_id = message_id_;
    e.size = decoder_.message_bytes();
    e.needs_answer = true;
    transfer_open_ = false;
    suspend(Pending::data_end, lockstep());
}

void Session::cmd_rset() {
    // RFC 5321 4.1.1.5: abort the transaction, keep the HELO state.
    const bool had_transaction = in_transaction_;
    if (had_transaction) {
        const Reply why = make_reply(0, {}, "transaction reset by RSET");
        end_transaction(&why);
    }
    push_event(EventKind::reset).message_id = had_transaction ? message_id_ : std::string();
    mail_refused_ = false;
    bdat_failed_ = false;
    send(250, "2.0.0", "Ok");
}

bool Session::cmd_starttls(std::string_view line) {
    auto refuse_tls = [&](std::uint16_t code, std::string_view text) {
        refuse(refusal(EventKind::protocol_error, make_reply(code, "5.5.1", text)), line);
    };
    if (!config_.tls_available) {
        refuse_tls(502, "Error: command not implemented");
        return false;
    }
    if (tls_active_) {
        refuse_tls(503, "Error: TLS already active");
        return false;
    }
    if (!esmtp_) { // STARTTLS is an EHLO extension
        refuse_tls(503, "Error: send EHLO first");
        return false;
    }
    send(220, "2.0.0", "Ready to start TLS");
    push_event(EventKind::starttls);
    // RFC 3207 4.2: forget everything the client said before TLS; it must
    // send EHLO again. RFC 3207 5: octets after STARTTLS in the same input
    // were sent in the clear before the handshake: the caller discards them.
    helo_done_ = false;
    esmtp_ = false;
    helo_name_.clear();
    mail_refused_ = false;
    tls_active_ = true;
    return true;
}

// ---------------------------------------------------------------------------
// Transactions and the end of the session

void Session::end_transaction(const Reply* abort_reason) {
    if (transfer_open_)
        abort_transfer(abort_reason != nullptr ? *abort_reason
                                               : make_reply(0, {}, "transaction ended"));
    in_transaction_ = false;
    tx_smtputf8_ = false;
    tx_bdat_ = false;
    rcpts_ = 0;
}

void Session::abort_transfer(const Reply& why) {
    if (!transfer_open_)
        return;
    transfer_open_ = false;
    Event& e = push_event(EventKind::data_abort);
    e.message_id = message_id_;
    e.chunked = tx_bdat_;
    e.size = tx_bytes_;
    e.reply = why;
}

bool Session::lockstep() const {
    // Without PIPELINING (RFC 2920, offered only after EHLO) every reply
    // must be awaited: one command, one reply.
    return config_.enforce_pipelining_sync && !(esmtp_ && config_.pipelining);
}

bool Session::sync_required(Command c) const {
    // RFC 3207 5 discards what follows STARTTLS; after QUIT nothing matters.
    if (!config_.enforce_pipelining_sync || c == Command::quit || c == Command::starttls)
        return false;
    // With PIPELINING, the group-ending commands of RFC 2920 3.1 still wait.
    return lockstep() || (command_info(c).flags & kEndsPipelineGroup) != 0;
}

void Session::suspend(Pending step, bool sync) {
    pending_ = step;
    pending_sync_ = sync;
    early_input_ = false;
}

void Session::violation(std::span<const std::uint8_t> sample) {
    // Postfix 3.9 smtpd_forbid_unauth_pipelining answers the same way.
    Reply r = make_reply(554, "5.5.0", "Error: SMTP protocol synchronization");
    Event& e = push_event(EventKind::pipelining_violation);
    e.arg = sample_of(sample);
    e.reply = r;
    close_session(&r, {});
}

void Session::close_session(const Reply* farewell, std::string_view why) {
    if (phase_ == Phase::closed)
        return;
    Reply reason = farewell != nullptr ? *farewell : make_reply(0, {}, why);
    if (farewell != nullptr)
        send(*farewell);
    abort_transfer(reason);
    Event& e = push_event(EventKind::close);
    e.message_id = in_transaction_ ? message_id_ : std::string();
    e.reply = std::move(reason);
    phase_ = Phase::closed;
    pending_ = Pending::none;
}

void Session::on_peer_closed(std::uint64_t /*now_ms*/) {
    close_session(nullptr, "connection closed by the client");
}

// ---------------------------------------------------------------------------
// Answers from the proxy

Reply Session::answer_reply(Pending step, const Reply& given) const {
    Reply r = given;
    // RFC 5321 4.2.1 codes only; an intermediate 3xx only where one is due.
    if (!is_reply_code(r.code) || (r.code / 100 == 3 && step != Pending::data_start))
        r = make_reply(451, "4.3.0", "Error: local error in processing");
    const bool ok = r.code < 400;
    if (step == Pending::data_start && ok)
        r.code = 354; // RFC 5321 4.3.2: DATA's intermediate reply
    if (r.text.empty()) {
        switch (step) {
        case Pending::connect:
            r.text = ok ? "Ok" : "Service not available";
            break;
        case Pending::mail:
            r.text = ok ? "Ok" : "Sender address rejected";
            break;
        case Pending::rcpt:
            r.text = ok ? "Ok" : "Recipient address rejected";
            break;
        case Pending::data_start:
            r.text = ok ? "End data with <CR><LF>.<CR><LF>" : "Data command rejected";
            break;
        case Pending::data_end:
            if (ok) {
                r.text = "Ok: queued as ";
                r.text += message_id_;
            } else {
                r.text = "Message not accepted";
            }
            break;
        case Pending::none:
            break;
        }
        if (r.code / 100 == 4)
            r.text += ", try again later";
    }
    if (r.code / 100 == 3) {
        r.enhanced.clear(); // RFC 2034 4: only on 2xx, 4xx and 5xx
    } else if (!enhanced_matches(r.code, r.enhanced)) {
        // RFC 3463: the step's own detail on success, "class.0.0" otherwise.
        if (ok)
            r.enhanced = step == Pending::mail   ? "2.1.0"
                         : step == Pending::rcpt ? "2.1.5"
                                                 : "2.0.0";
        else
            r.enhanced = r.code / 100 == 4 ? "4.0.0" : "5.0.0";
    }
    return r;
}

void Session::answer(const Reply& given, std::uint64_t now_ms) {
    if (pending_ == Pending::none || phase_ == Phase::closed)
        return;
    const Pending step = pending_;
    pending_ = Pending::none;
    last_activity_ms_ = now_ms;
    const Reply r = answer_reply(step, given);
    const bool ok = r.code < 400;
    switch (step) {
    case Pending::connect:
        if (!ok) {
            close_session(&r, {}); // the refusal is the greeting (RFC 5321 3.1)
            return;
        }
        connect_ok_ = true;
        if (now_ms >= add_saturating(start_ms_, config_.banner_delay_ms))
            send_banner(now_ms);
        return;
    case Pending::mail:
        send(r);
        if (ok)
            begin_transaction();
        else
            mail_refused_ = true;
        break;
    case Pending::rcpt:
        send(r);
        if (ok)
            ++rcpts_;
        break;
    case Pending::data_start:
        if (!pending_chunked_) {
            if (ok)
                start_data(r);
            else
                send(r); // RFC 5321 3.3: the transaction stays; RSET or retry
            break;
        }
        // BDAT: the chunk follows either way; a refusal is sent after it.
        if (ok) {
            transfer_open_ = true;
        } else {
            end_transaction(nullptr);
            fail_bdat_message(r, chunk_last_);
            chunk_refusal_ = refusal(EventKind::rejected, r, false, false);
            chunk_discard_ = true;
        }
        phase_ = Phase::chunk;
        if (chunk_left_ == 0)
            finish_chunk({});
        break;
    case Pending::data_end:
        send(r);
        end_transaction(nullptr);
        if (ok) { // delivering mail resets the error and junk counts
            errors_ = 0;
            junk_ = 0;
        }
        break;
    case Pending::none:
        break;
    }
    if (phase_ != Phase::closed && r.code == 421) // RFC 5321 3.8: 421 closes
        close_session(nullptr, "closed after a 421 answer");
    if (phase_ != Phase::closed && early_input_)
        violation({});
    early_input_ = false;
    note_stall();
}

// ---------------------------------------------------------------------------
// Replies and events

Session::Refusal Session::refusal(EventKind kind, Reply reply, bool counts, bool event) {
    Refusal no;
    no.kind = kind;
    no.reply = std::move(reply);
    no.counts = counts;
    no.event = event;
    return no;
}

void Session::send(std::uint16_t code, std::string_view enhanced, std::string_view text) {
    send(make_reply(code, enhanced, text));
}

void Session::send(const Reply& r) {
    append_reply(out_, r, enhanced_on());
}

void Session::refuse(const Refusal& no, std::string_view line) {
    send(no.reply);
    if (no.event) {
        Event& e = push_event(no.kind);
        e.message_id = in_transaction_ ? message_id_ : std::string();
        e.arg = sample_of(line);
        e.reply = no.reply;
    }
    if (no.counts)
        count_error();
}

void Session::count_error() {
    if (++errors_ >= config_.max_errors) {
        Reply r = make_reply(421, "4.7.0", "Error: too many errors");
        close_session(&r, {});
    }
}

Event& Session::push_event(EventKind kind) {
    Event& e = events_.emplace_back();
    e.kind = kind;
    return e;
}

std::string& Session::body_sink(bool chunked) {
    // Consecutive body octets share one event: fewer events, same order.
    if (events_.empty() || events_.back().kind != EventKind::body) {
        Event& e = push_event(EventKind::body);
        e.message_id = message_id_;
        e.chunked = chunked;
    }
    return events_.back().body;
}

bool Session::poll_event(Event& out) {
    if (events_.empty())
        return false;
    out = std::move(events_.front());
    events_.pop_front();
    if (out.kind == EventKind::body)
        queued_body_ -= out.body.size();
    return true;
}

void Session::consume_output(std::size_t n) {
    out_off_ += std::min(n, out_.size() - out_off_);
    if (out_off_ == out_.size()) {
        out_.clear();
        out_off_ = 0;
    } else if (out_off_ >= 4096 && out_off_ * 2 >= out_.size()) {
        out_.erase(0, out_off_); // keep the buffer from creeping
        out_off_ = 0;
    }
}

std::string Session::next_message_id() {
    // 16 hex digits of the session id, ".", the transaction counter: unique
    // per gateway run (session ids are), printable, sortable by session.
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string id(16, '0');
    std::uint64_t v = peer_.session_id;
    for (int i = 15; i >= 0; --i, v >>= 4)
        id[static_cast<std::size_t>(i)] = kHex[v & 0xf];
    id.push_back('.');
    id += std::to_string(++next_tx_);
    return id;
}

// ---------------------------------------------------------------------------
// Back-pressure and timers

bool Session::body_phase() const {
    return (phase_ == Phase::data && decoder_.defect() == DataDefect::none) ||
           (phase_ == Phase::chunk && !chunk_discard_);
}

std::size_t Session::body_room() const {
    return queued_body_ < config_.body_buffer_bytes ? config_.body_buffer_bytes - queued_body_ : 0;
}

bool Session::proxy_stalled() const {
    if (events_.size() >= config_.max_queued_events)
        return true;
    if (phase_ == Phase::data && decoder_.defect() == DataDefect::none)
        return body_room() < DataDecoder::kMinOutRoom;
    if (phase_ == Phase::chunk && !chunk_discard_)
        return body_room() == 0;
    return false;
}

bool Session::output_full() const {
    return out_.size() - out_off_ >= config_.output_buffer_bytes;
}

void Session::note_stall() {
    if (proxy_stalled())
        stalled_ = true;
}

std::uint64_t Session::idle_limit() const {
    if (phase_ == Phase::data || phase_ == Phase::chunk)
        return config_.idle_data_ms;
    return helo_done_ ? config_.idle_command_ms : config_.idle_before_helo_ms;
}

std::uint64_t Session::next_expiry() const {
    if (phase_ == Phase::closed)
        return UINT64_MAX;
    std::uint64_t t = add_saturating(start_ms_, config_.max_session_ms);
    if (phase_ == Phase::greeting) {
        if (connect_ok_)
            t = std::min(t, add_saturating(start_ms_, config_.banner_delay_ms));
        return t;
    }
    if (pending_ != Pending::none)
        return t; // the wait is the proxy's, not the client's
    if (stalled_)
        return proxy_stalled() ? t : 0; // 0: due now, to restart the idle clock
    return std::min(t, add_saturating(last_activity_ms_, idle_limit()));
}

void Session::on_timer(std::uint64_t now_ms) {
    if (phase_ == Phase::closed)
        return;
    if (now_ms >= add_saturating(start_ms_, config_.max_session_ms)) {
        Reply r = make_reply(421, "4.4.2", "Error: session time limit exceeded");
        close_session(&r, {});
        return;
    }
    if (phase_ == Phase::greeting) {
        if (connect_ok_ && now_ms >= add_saturating(start_ms_, config_.banner_delay_ms))
            send_banner(now_ms);
        return;
    }
    if (pending_ != Pending::none)
        return;
    if (stalled_) {
        if (!proxy_stalled())
            stalled_ = false;
        last_activity_ms_ = now_ms;
        return;
    }
    // RFC 5321 4.5.3.2.7: the server may close after its timeout, with 421.
    if (now_ms >= add_saturating(last_activity_ms_, idle_limit())) {
        Reply r = make_reply(421, "4.4.2", "Error: timeout exceeded");
        close_session(&r, {});
    }
}

} // namespace smtpgw::smtp
