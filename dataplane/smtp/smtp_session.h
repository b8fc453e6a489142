// smtp_session.h: the SMTP server session, sans-I/O: what the sender talks to.
//
// Purpose: one client connection's RFC 5321 state machine. Bytes and a
// timestamp (milliseconds) go in; reply bytes, events and the next timer
// expiry come out. No socket, clock, allocator pool or log: an adapter
// moves bytes between the session and the TCP stack, and a proxy couples
// its events to the client that forwards to the LAN server. Because the
// gateway is a before-queue proxy, some steps SUSPEND the session until the
// proxy answers with the LAN server's verdict (answer()); the sender gets
// its final 250 only after the LAN server accepted the message.
// RFCs: 5321 (3.3 transaction, 4.1.1 commands, 4.1.4 command order, 4.2
// replies, 4.5.1 postmaster, 4.5.2 transparency, 4.5.3.1 size limits,
// 4.5.3.2 timeouts), 1869/5321 4.1.1.1 (EHLO keywords), 2920 (PIPELINING:
// replies in order; 3.1 group-ending commands), 1870 (SIZE: announced,
// refused at MAIL, enforced while the data streams), 6152 (8BITMIME), 2034
// and 3463 (ENHANCEDSTATUSCODES), 3030 (CHUNKING/BDAT), 6531 (SMTPUTF8),
// 3461 (DSN parameters, passed through), 3207 (STARTTLS: 4.2 state reset,
// 5 pipelined input after STARTTLS discarded).
// Security: every limit on client input is a named SessionConfig field with
// its reason (line lengths, recipients, size, errors, junk, idle and session
// time, buffers). Commands with NUL, bare CR or bare LF are refused; DATA
// ends only at CRLF "." CRLF (smtp_data_decoder.h); BDAT chunks are always
// consumed by their declared size, even when refused, so chunk bytes are
// never read as commands; the relay rule (smtp_address.h) runs before any
// event reaches the proxy, so a locally refused command never costs the LAN
// server anything. Early talkers (bytes before the banner) and clients that
// pipeline where RFC 2920 does not allow it are answered 554 and closed.
// Input is not read while suspended, while the proxy has not taken the
// queued events or body bytes, or while replies pile up unread: every
// buffer is bounded and the TCP window is the back-pressure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "smtp/smtp_address.h"
#include "smtp/smtp_commands.h"
#include "smtp/smtp_data_decoder.h"
#include "smtp/smtp_reply.h"

namespace smtpgw::smtp {

enum class VrfyPolicy : std::uint8_t {
    cannot_verify,   // 252 2.0.0 (RFC 5321 3.5.3: will accept and try)
    not_implemented, // 502 5.5.1
};

struct SessionConfig {
    // Our name in the greeting and the EHLO reply, and the greeting's text.
    std::string hostname = "smtpgw.invalid";
    std::string greeting_text = "ESMTP";

    // EHLO keywords offered (RFC 5321 4.1.1.1). An extension not offered is
    // refused (its MAIL/RCPT parameters with 555 5.5.4).
    bool pipelining = true;            // RFC 2920
    bool size = true;                  // RFC 1870 (SIZE max_message_bytes)
    bool eight_bit_mime = true;        // RFC 6152
    bool enhanced_status_codes = true; // RFC 2034: enhanced codes on replies
    bool chunking = true;              // RFC 3030 BDAT
    bool smtputf8 = true;              // RFC 6531
    bool dsn = true;                   // RFC 3461, parameters passed through
    // STARTTLS is offered when the TLS layer can take over (RFC 3207).
    bool tls_available = false;
    // With TLS available: MAIL, RCPT, DATA, BDAT, VRFY, EXPN need TLS first (530 5.7.0).
    bool tls_required = false;

    VrfyPolicy vrfy_policy = VrfyPolicy::cannot_verify; // VRFY and EXPN
    BareNewlinePolicy bare_newline = BareNewlinePolicy::reject;
    // Answer 554 and close when a client sends more input after a command
    // whose reply it must wait for (no PIPELINING, or an RFC 2920 3.1
    // group-ending command). Senders that do this are spamware or smuggling
    // attempts; every real MTA waits.
    bool enforce_pipelining_sync = true;

    // Steps that wait for the proxy's answer (the LAN server's verdict).
    // data_end always waits: that is the no-loss 250.
    bool connect_needs_answer = false; // the banner (or the refusal) waits
    bool mail_needs_answer = false;
    bool rcpt_needs_answer = false; // recipient check against the LAN server
    bool data_needs_answer = false; // 354 only after the LAN server's 354

    RelayPolicy relay;
    AddressLimits address;

    // --- Limits on client input, each with its reason ---
    // RFC 5321 4.5.3.1.4 says 512 octets with CRLF; real clients send longer
    // MAIL lines (long SRS senders plus DSN parameters), so tolerate up to
    // this and answer 500 5.5.2 beyond: a command line is held in memory.
    std::size_t max_command_line_bytes = 2048;
    // RFC 5321 4.5.3.1.6: text lines of DATA, CRLF included (554 5.6.0 at
    // the end of data when exceeded: relays further on would break them).
    std::size_t max_text_line_bytes = 1000;
    // Accepted recipients per message; beyond: 452 4.5.3 (RFC 5321
    // 4.5.3.1.10). RFC 5321 4.5.3.1.8 requires at least 100: lower values
    // are raised to 100. Bounds the fan-out one message costs.
    std::uint32_t max_recipients = 1000;
    // Message size in octets (RFC 1870): announced in SIZE, refused at MAIL
    // SIZE=, enforced while data streams (552 5.3.4). The LAN Postfix's
    // default message_size_limit: we never take what it would refuse.
    std::uint64_t max_message_bytes = 10240000;
    // Commands outside a mail transaction before MAIL: a client that talks
    // but never sends mail holds a session slot (then 421 4.7.0 and close).
    std::uint32_t max_commands_without_mail = 50;
    // NOOP, RSET, VRFY, EXPN, HELP beyond this count each count as an error
    // (Postfix smtpd_junk_command_limit): keeps a session from being kept
    // alive by junk. Reset when a message is accepted.
    std::uint32_t max_junk_commands = 100;
    // Refused commands and protocol errors; at this count 421 4.7.0 and
    // close (Postfix smtpd_hard_error_limit). Reset when a message is
    // accepted: the limit is on errors "without delivering mail".
    std::uint32_t max_errors = 20;
    // Whole session: a client cannot hold a slot by trickling valid input
    // within the idle limits (then 421 4.4.2 and close).
    std::uint64_t max_session_ms = 3600000;
    // Idle time allowed per state (RFC 5321 4.5.3.2.7: the server waits at
    // least 5 minutes for a command; 4.5.3.2.5: a client sends data blocks
    // within 3 minutes, so waiting 5 covers it). Then 421 4.4.2 and close.
    // Time suspended on the proxy, or stalled on it, is not the client's.
    std::uint64_t idle_before_helo_ms = 300000;
    std::uint64_t idle_command_ms = 300000;
    std::uint64_t idle_data_ms = 300000;
    // Delay before the banner (postscreen's greet wait): a client that
    // talks first is a bot. 0: greet at once (every real sender would pay
    // the delay per connection).
    std::uint64_t banner_delay_ms = 0;
    // Body octets queued for the proxy (decoded DATA or BDAT chunks); input
    // stops when full, so a fast sender and a slow LAN server meet in the
    // TCP window, not in our memory.
    std::size_t body_buffer_bytes = 65536;
    // Reply octets not yet taken by the adapter: a client that pipelines
    // without reading its replies stops being read.
    std::size_t output_buffer_bytes = 16384;
    // Events not yet polled: a pipelined burst cannot queue without bound.
    std::size_t max_queued_events = 256;
};

struct SessionPeer {
    std::string client_address;   // "203.0.113.10" or "2001:db8::1"
    std::uint64_t session_id = 0; // unique per gateway run, given by the adapter
};

enum class EventKind : std::uint8_t {
    connect,        // at construction; arg = client address
    helo,           // arg = the name, params = "HELO" or "EHLO"
    mail,           // arg = reverse-path ("" for <>), params = ESMTP parameters
    rcpt,           // arg = forward-path, params = ESMTP parameters
    data_start,     // DATA accepted locally, or the first BDAT of a message
    body,           // body = decoded DATA octets or raw BDAT chunk octets
    data_end,       // the message is complete; size = its octets. Always needs an answer.
    data_abort,     // the transfer is abandoned (size, bare newline, close...); reply = why
    reset,          // RSET, or HELO/EHLO in a transaction (message_id: the one it ended)
    quit,           // QUIT
    pregreet,       // input before the banner; arg = a sample; then close
    protocol_error, // a malformed or out-of-sequence command; arg = the line, reply = ours
    close,          // the session ends (last event); reply = the last reply sent (code 0: none)
    starttls,       // 220 sent: the TLS layer takes over the byte stream now
    pipelining_violation, // input before a reply it had to wait for; arg = a sample; then close
    rejected,             // a command refused by policy (relay, recipients, size, TLS); arg, reply
};

struct Event {
    EventKind kind = EventKind::connect;
    std::string message_id; // mail, rcpt, data_*, body, reset: the transaction's id
    std::string arg;
    std::string params;
    std::string body;
    // The session is suspended until answer(); at most one event at a time.
    bool needs_answer = false;
    bool chunked = false;   // data_start/body/data_end/data_abort of a BDAT transfer
    std::uint64_t size = 0; // data_end: message octets; data_abort: octets taken so far
    Reply reply;
};

// Error contract (every method): nothing throws on any input; a broken
// client gets a reply and, at worst, wants_close(). A method called after
// wants_close() does nothing (on_input discards and returns the size).
class Session {
  public:
    Session(const SessionConfig& config, SessionPeer peer, std::uint64_t now_ms);

    // Octets on_input() can take now: 0 while suspended on an answer, while
    // the proxy has not taken queued events/body (body_buffer_bytes,
    // max_queued_events), while replies are unread (output_buffer_bytes),
    // or once closed; otherwise an upper bound (on_input may stop earlier,
    // e.g. at a command that suspends).
    std::size_t input_room() const;
    // Feeds client octets; returns how many were consumed. Unconsumed octets
    // must be offered again later, in order (after answer() or poll_event()
    // made room). Offering input while suspended is allowed and returns 0:
    // it also tells the session that the client did not wait for a reply it
    // had to wait for (pipelining_violation once the answer comes). After a
    // `starttls` event the rest of that input has been discarded (RFC 3207
    // 5) and every later octet must come out of the TLS layer: flush the
    // 220 in clear, then start the handshake.
    std::size_t on_input(std::span<const std::uint8_t> in, std::uint64_t now_ms);
    // The client closed (or reset) its side: the session ends without a
    // reply (data_abort if a transfer was open, then close).
    void on_peer_closed(std::uint64_t now_ms);
    // Runs due timers: banner delay, idle time, session time.
    void on_timer(std::uint64_t now_ms);
    // When on_timer() next has work (UINT64_MAX: none; a time in the past:
    // call it now).
    std::uint64_t next_expiry() const;

    // Reply octets to send, in order; consume_output() after sending some.
    std::string_view pending_output() const { return std::string_view(out_).substr(out_off_); }
    void consume_output(std::size_t n);

    // Takes the next event, in order; false when none is queued.
    bool poll_event(Event& out);
    // Resolves the one pending event with needs_answer (ignored when none is
    // pending or after close). 2xx/3xx: the step succeeded; 4xx/5xx: it
    // failed and the state follows. The client gets `r`, with the session's
    // text if r.text is empty and the session's enhanced code if r.enhanced
    // is empty or of the wrong class (when ENHANCEDSTATUSCODES is on). A
    // code outside RFC 5321 4.2.1, or a 3xx for a step other than
    // data_start, becomes 451 4.3.0 (local error: an unexpected intermediate
    // reply would desynchronise the client); a data_start success is always
    // sent as 354 (or, for BDAT, nothing: the chunk follows; a refused BDAT
    // data_start has its chunk read and discarded, then gets `r`). A 421
    // answer also closes the session (RFC 5321 3.8).
    void answer(const Reply& r, std::uint64_t now_ms);
    // Close the connection once pending_output() is sent.
    bool wants_close() const { return phase_ == Phase::closed; }

    // Observers (logging, tests).
    bool suspended() const { return pending_ != Pending::none; }
    bool in_transaction() const { return in_transaction_; }
    bool tls_active() const { return tls_active_; }
    std::uint32_t error_count() const { return errors_; }
    const std::string& message_id() const { return message_id_; }

  private:
    enum class Phase : std::uint8_t { greeting, command, data, chunk, closed };
    enum class Pending : std::uint8_t { none, connect, mail, rcpt, data_start, data_end };

    // A local refusal: its reply, the event it makes, whether it counts
    // against max_errors. `line` keeps the command for a refusal sent later
    // (after a refused BDAT's chunk).
    struct Refusal {
        EventKind kind = EventKind::protocol_error;
        Reply reply;
        bool counts = true;
        bool event = true;
        std::string line;
    };

    // Input: each reads from the start of `in` and returns octets consumed.
    std::size_t read_command(std::span<const std::uint8_t> in);
    std::size_t read_data(std::span<const std::uint8_t> in);
    std::size_t read_chunk(std::span<const std::uint8_t> in);
    // One command line (CRLF removed when `crlf`); `rest` is the input
    // after it. Returns true when `rest` is to be discarded.
    bool on_line(std::string_view line, bool crlf, bool overlong,
                 std::span<const std::uint8_t> rest);
    bool on_command(std::string_view line, const CommandLine& cl);
    std::optional<Refusal> precheck(const CommandInfo& info) const;
    static Refusal refusal(EventKind kind, Reply reply, bool counts = true, bool event = true);

    // Commands
    void cmd_helo(std::string_view line, std::string_view arg, bool ehlo);
    void cmd_mail(std::string_view line, std::string_view arg);
    void cmd_rcpt(std::string_view line, std::string_view arg);
    void cmd_data(std::string_view line);
    void cmd_bdat(std::string_view line, std::string_view arg);
    void cmd_rset();
    bool cmd_starttls(std::string_view line);
    ParamOffer offer() const;

    // State changes
    void send_banner(std::uint64_t now);
    void pregreet(std::span<const std::uint8_t> sample);
    void begin_transaction();
    void start_data(const Reply& go_ahead);
    void finish_chunk(std::span<const std::uint8_t> rest);
    void fail_bdat_message(const Reply& failure, bool last);
    void finish_data(std::span<const std::uint8_t> rest);
    void end_transaction(const Reply* abort_reason);
    void abort_transfer(const Reply& why);
    static Reply defect_reply(DataDefect d);
    bool lockstep() const;
    bool sync_required(Command c) const;
    void suspend(Pending step, bool sync);
    void violation(std::span<const std::uint8_t> sample);
    void close_session(const Reply* farewell, std::string_view why);
    Reply answer_reply(Pending step, const Reply& given) const;

    // Replies and events
    bool enhanced_on() const { return config_.enhanced_status_codes; }
    void send(std::uint16_t code, std::string_view enhanced, std::string_view text);
    void send(const Reply& r);
    void refuse(const Refusal& no, std::string_view line);
    void count_error();
    Event& push_event(EventKind kind);
    std::string& body_sink(bool chunked);
    std::string next_message_id();

    // Back-pressure and timers
    bool body_phase() const;
    std::size_t body_room() const;
    bool proxy_stalled() const;
    bool output_full() const;
    void note_stall();
    std::uint64_t idle_limit() const;

    SessionConfig config_;
    SessionPeer peer_;
    DataDecoder decoder_;
    Phase phase_ = Phase::greeting;
    Pending pending_ = Pending::none;
    bool pending_sync_ = false;     // the suspended step's reply must be awaited
    bool early_input_ = false;      // input was offered while suspended on such a step
    bool pending_chunked_ = false;  // the suspended data_start is a BDAT's
    bool pending_smtputf8_ = false; // the MAIL being decided had SMTPUTF8

    bool banner_sent_ = false;
    bool connect_ok_ = false;
    bool helo_done_ = false;
    bool esmtp_ = false; // EHLO (not HELO): extensions apply
    bool tls_active_ = false;
    std::string helo_name_;

    // The transaction
    bool in_transaction_ = false;
    bool mail_refused_ = false; // the last MAIL failed: pipelined RCPT/DATA failures are expected
    bool tx_smtputf8_ = false;
    bool transfer_open_ = false; // data_start accepted: data_end or data_abort follows
    bool tx_bdat_ = false;       // the transaction uses BDAT (DATA is then refused)
    std::string message_id_;
    std::uint32_t rcpts_ = 0;
    std::uint64_t tx_bytes_ = 0;

    // The BDAT chunk being read
    std::uint64_t chunk_size_ = 0;
    std::uint64_t chunk_left_ = 0;
    bool chunk_last_ = false;
    bool chunk_discard_ = false; // refused: read it, then send chunk_refusal_
    Refusal chunk_refusal_;
    bool bdat_failed_ = false; // a BDAT of this message failed: the rest up to LAST fail alike
    Reply bdat_failure_;

    // Counters
    std::uint32_t errors_ = 0;
    std::uint32_t junk_ = 0;
    std::uint32_t commands_without_mail_ = 0;
    std::uint64_t next_tx_ = 0;

    // Time
    std::uint64_t start_ms_;
    std::uint64_t last_activity_ms_;
    bool stalled_ = false; // the proxy held input back: idle time restarts when it stops

    // Buffers
    std::string line_; // a command line split across on_input calls
    bool line_overlong_ = false;
    std::string out_;
    std::size_t out_off_ = 0;
    std::deque<Event> events_;
    std::size_t queued_body_ = 0;
};

} // namespace smtpgw::smtp
