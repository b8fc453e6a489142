// smtp_client.h: the SMTP client core (sans-I/O) that forwards the
// sender's transactions, in real time, to the LAN mail server.
//
// Purpose: the gateway is a before-queue proxy: the sender gets its final
// 250 only after the LAN server accepted the message. The proxy module
// calls mail()/rcpt()/data()/body()/end_body()/rset()/quit() in the order
// the sender's session produced them (even before the LAN server greeted
// us: they are queued), and reads back one ClientResult per step, in
// order, each the server's own reply or, when the client had to decide
// alone, a reply marked `synthetic`. An adapter moves bytes between
// pending_output()/on_input() and a TCP connection and calls on_timer()
// at next_expiry(). No sockets, clocks, logging or threads here.
// RFCs: 5321 (3.1 greeting, 4.1.1.1 EHLO with HELO fallback, 4.1.1.4 DATA
// and 354, 4.2 replies (smtp_reply_parser.h), 4.5.2 dot-stuffing
// (smtp_body_encoder.h), 4.5.3.2 timeouts), 1869/5321 EHLO keywords, 2920
// (PIPELINING: MAIL, RCPTs and DATA in one group, DATA last, replies in
// order, 3.1 a lone "." when DATA got 354 but no RCPT was accepted), 3030
// (CHUNKING/BDAT, BINARYMIME), 1870 (SIZE), 6152 (8BITMIME), 6531 3.4
// (SMTPUTF8 refused when the next hop lacks it), 3461 (DSN parameters),
// 2034/3463 (enhanced status codes).
// Security: everything the server sends is bounded (reply line, lines per
// reply, see ReplyParserLimits) and checked (codes must fit the command:
// 354 only for DATA; a reply with no command outstanding is an error); a
// malformed reply fails the connection with synthetic 451 4.5.0, never a
// crash. Output is bounded: body bytes move into pending_output() only
// below max_pending_output and the proxy is held back by body_room(); a
// server that stops reading hits data_block_ms. Paths and parameters with
// CR, LF or NUL are never written (command injection). A message that is
// aborted never gets its final "." (or BDAT LAST): for DATA the connection
// is closed instead. The client never reports success it did not see.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/smtp_body_encoder.h"
#include "smtp/smtp_reply_parser.h"

namespace smtpgw::smtp {

struct ClientConfig {
    std::string helo_name = "localhost"; // our name in EHLO/HELO
    bool use_pipelining = true;          // RFC 2920 when the server offers it
    bool use_chunking = true;            // RFC 3030 BDAT when the server offers it

    // Stage timeouts (RFC 5321 4.5.3.2 names). The RFC's are 5/5/5/2/3/10
    // minutes; ours are shorter on purpose: the LAN server is local, and
    // the sender is waiting on us with those same RFC timeouts, so we must
    // give up first and answer it with a 451 rather than let it time out
    // (and retry a message that may have been delivered). Postfix's
    // before-queue proxy uses 100 s (smtpd_proxy_timeout) for all stages.
    std::uint64_t initial_220_ms = 60'000; // connected -> 220 greeting
    std::uint64_t command_ms = 60'000;     // EHLO/HELO/RSET/QUIT replies (RFC: none named)
    std::uint64_t mail_ms = 60'000;        // MAIL reply
    std::uint64_t rcpt_ms = 60'000;        // RCPT reply
    std::uint64_t data_init_ms = 60'000;   // DATA -> 354; each non-last BDAT reply
    std::uint64_t data_block_ms = 60'000;  // pending output not drained at all
    // "." or BDAT LAST -> reply: the LAN server may scan the message; stays
    // well under the sender's 10 minutes.
    std::uint64_t data_term_ms = 180'000;

    ReplyParserLimits reply_limits; // max_reply_line, max_reply_lines

    // BDAT chunk size: bounds what one chunk holds in memory; 64 KiB keeps
    // the per-chunk round trip small next to the payload.
    std::size_t bdat_chunk_size = 64 * 1024;
    // Body bytes queued from the proxy but not yet written (body_room()
    // counts down from here): bounds memory while the server is slow.
    std::size_t max_body_queue = 64 * 1024;
    // Body bytes move into pending_output() only while it holds less than
    // this: bounds our output when the server stops reading (stuffing adds
    // at most a third, a chunk at most bdat_chunk_size on top).
    std::size_t max_pending_output = 64 * 1024;
    // EHLO keywords kept (the reply is already bounded by max_reply_lines).
    std::size_t max_ehlo_keywords = 64;
    // BODY=8BITMIME to a server that did not offer 8BITMIME: false drops the
    // parameter and sends the bytes as they are (Postfix's default: servers
    // are 8-bit clean in practice, and senders declare 8BITMIME for ASCII
    // too); true refuses the MAIL with 554 5.6.3 (RFC 6152 3: we do not
    // downgrade). Postfix calls this strict_8bitmime.
    bool strict_8bitmime = false;
};

// What the server's EHLO reply offered (RFC 5321 4.1.1.1; keywords are
// upper-cased). After a HELO fallback everything is off.
struct Capabilities {
    bool esmtp = false;
    bool pipelining = false;            // RFC 2920
    bool chunking = false;              // RFC 3030
    bool binarymime = false;            // RFC 3030
    bool eightbitmime = false;          // RFC 6152
    bool smtputf8 = false;              // RFC 6531
    bool dsn = false;                   // RFC 3461
    bool starttls = false;              // RFC 3207 (not used towards the LAN)
    bool enhanced_status_codes = false; // RFC 2034
    bool size = false;                  // RFC 1870
    std::uint64_t size_limit = 0;       // SIZE n; 0: none given (or unreadable)
    std::vector<std::string> keywords;  // every keyword offered, upper case

    bool has(std::string_view keyword) const; // case-insensitive
};
// Reads an EHLO reply's lines[1..] (lines[0] is the server's name);
// keeps at most max_keywords keywords; malformed lines are skipped.
Capabilities parse_ehlo_reply(const UpstreamReply& reply, std::size_t max_keywords);

enum class Step : std::uint8_t { greeting, ehlo, mail, rcpt, data, message, rset, quit };
const char* step_name(Step s);

struct ClientResult {
    Step step = Step::greeting;
    UpstreamReply reply;
    std::size_t rcpt_index = 0; // for Step::rcpt: 0-based, within the transaction
    bool synthetic = false;     // made by the client, not said by the server
};

class Client {
  public:
    Client(const ClientConfig& config, std::uint64_t now_ms);

    // --- adapter side ---
    // TCP is up: wait for the 220 greeting, then EHLO (HELO if EHLO gets a
    // 5xx). The greeting and ehlo steps each report one result when
    // attempted (the server's reply; for the HELO fallback, HELO's), before
    // any transaction result.
    // A greeting other than 220, or EHLO/HELO refused, fails the session:
    // queued steps get synthetic 451 4.4.0 and the client closes.
    void on_connected(std::uint64_t now_ms);
    // Bytes from the server, cut anywhere. A malformed or unexpected reply
    // (or one out of place: 354 to anything but DATA, 2xx to DATA) fails
    // every pending step with synthetic 451 4.5.0 and closes. A 421 answers
    // its step, then closes like on_peer_closed() (RFC 5321 3.8).
    void on_input(std::span<const std::uint8_t> bytes, std::uint64_t now_ms);
    // The server closed (or the connection broke): pending steps fail with
    // synthetic 421 4.4.2.
    void on_peer_closed(std::uint64_t now_ms);
    // A stage timeout (or output not drained for data_block_ms) fails
    // pending steps with synthetic 451 4.4.2 "LAN server timeout" and closes.
    void on_timer(std::uint64_t now_ms);
    // When on_timer() is due; UINT64_MAX for never. Calls without a
    // timestamp (mail(), body(), consume_output(), ...) cannot start a
    // timer: they leave it unarmed and next_expiry() then returns the last
    // time the client was given (due at once), so the adapter calls
    // on_timer(now), which arms it from `now` and fires nothing.
    std::uint64_t next_expiry() const;
    // Bytes to write to the server; consume_output(n) after writing n.
    std::string_view pending_output() const;
    void consume_output(std::size_t n);

    // --- proxy side: the transaction, in the sender's order ---
    // Each of these owes exactly one result, in call order (rset()/quit()
    // while a message body is open also complete its message step first,
    // see rset()). After the client closed, calls get their synthetic
    // failure result at once.
    //
    // path: the address with or without its angle brackets ("" or "<>" is
    // the null reverse-path). params: "SIZE=123 BODY=8BITMIME". Parameters
    // are passed through only as the server allows: SIZE is dropped when
    // SIZE was not offered (only a hint); BODY=7BIT is dropped without
    // 8BITMIME; BODY=8BITMIME without 8BITMIME is dropped (or refused with
    // synthetic 554 5.6.3 under strict_8bitmime); BODY=BINARYMIME without
    // BINARYMIME and CHUNKING in use fails the step with synthetic 554 5.6.3
    // (binary cannot travel in DATA; we do not convert); SMTPUTF8 when not offered
    // fails it with synthetic 550 5.6.7 (RFC 6531 3.4); DSN parameters
    // (RET, ENVID; NOTIFY, ORCPT) are dropped when DSN was not offered:
    // RFC 3461 4 lets a relay to a non-DSN server go on as if DSN had not
    // been asked (the LAN server then sends ordinary bounces; the sender
    // loses its DSN preferences, which is the lesser harm next to refusing
    // the mail); AUTH= is dropped without AUTH; any other parameter is
    // passed only if the server offered an EHLO keyword of its name, else
    // synthetic 555 5.5.4. CR, LF or NUL in path or params: synthetic
    // 501 5.5.2, nothing written.
    void mail(std::string_view path, std::string_view params);
    // After a MAIL the client refused itself, RCPT/DATA/the message get
    // synthetic 503 5.5.1 without being sent.
    void rcpt(std::string_view path, std::string_view params);
    // DATA: written with (PIPELINING) or after (lock-step) the RCPTs; the
    // data step is its reply (354 to go on). With CHUNKING nothing is
    // written: once every earlier reply is in, the data step is a
    // synthetic 354 if MAIL and at least one RCPT were accepted, else
    // synthetic 554 5.5.1 (503 5.5.1 when MAIL was not accepted). If the
    // server gives DATA a 354 though no RCPT was accepted, the client sends
    // a lone "." (RFC 2920 3.1; nobody to deliver to) and the data step is
    // synthetic 554 5.5.1.
    void data();
    // Body bytes the client will queue now; body() beyond it is accepted
    // but is the proxy's bug. After close it stays at max_body_queue (the
    // bytes are dropped: the message step fails anyway).
    std::size_t body_room() const;
    // Message text: canonical CRLF lines, not dot-stuffed. May be called
    // before the data step's result (queued). A bare CR or LF aborts the
    // message (smtp_body_encoder.h): with DATA the connection is closed
    // without the final "." ; with BDAT no more chunks are sent (an RSET
    // precedes the next MAIL); either way the message step is synthetic
    // 554 5.6.0. After a refused data step body bytes are dropped.
    void body(std::span<const std::uint8_t> canonical);
    // The end of the body: "." (after a CRLF if the body lacked it) or
    // "BDAT n LAST". The message step is the reply to that; if the data
    // step was refused, it repeats that refusal (synthetic). With BDAT a
    // refused non-last chunk ends the message step early with that reply.
    void end_body();
    // RSET. With a message body open (data() called, end_body() not) it
    // first aborts the message. With DATA the only way out is to close:
    // the final "." is never written, the message step (and every step
    // still awaiting a reply, e.g. DATA before its 354) get synthetic
    // 451 4.3.0, the rset step is synthetic
    // 250 2.0.0 (the transaction is gone with the connection), later steps
    // get synthetic 421 4.4.2 and wants_close() is true. With BDAT the
    // message step is synthetic 451 4.3.0, no LAST is sent and RSET is
    // written (RFC 3030 allows it between chunks).
    void rset();
    // QUIT (like rset() for an open body: the quit step is then synthetic
    // 221 2.0.0). After QUIT's reply the client closes.
    void quit();
    // One result per step, in step order; false when none is ready.
    bool poll_result(ClientResult& out);

    // --- state ---
    // Greeted, EHLO done, idle: nothing queued or awaited, not closed.
    bool ready_for_transaction() const;
    // The client has stopped: it reads and writes nothing more
    // (pending_output() is empty) and every step gets a synthetic result.
    bool closed() const { return closed_; }
    // Closed by us (QUIT done, failure, timeout, abort): the adapter should
    // close the TCP connection.
    bool wants_close() const { return closed_ && !peer_closed_; }
    const Capabilities& capabilities() const { return caps_; }

  private:
    enum class OpKind : std::uint8_t { mail, rcpt, data, body, end_body, rset, quit };
    // A call of the proxy, not yet written.
    struct Op {
        OpKind kind;
        std::string arg1; // path, or body bytes
        std::string arg2; // params
        std::size_t rcpt_index = 0;
        bool aborts_body = false; // rset/quit: the message body was open
        std::size_t off = 0;      // body bytes already taken
    };
    // What a written command's reply will answer.
    enum class Wait : std::uint8_t {
        greeting,
        ehlo,
        helo,
        mail,
        rcpt,
        data,
        dot,
        bdat,
        bdat_last,
        lone_dot, // RFC 2920 3.1 "." after a 354 with no recipient: swallowed
        rset,
        auto_rset, // ours, before a MAIL after a failed transaction: swallowed
        quit
    };
    struct Outstanding {
        Wait wait;
        std::size_t rcpt_index = 0;
        bool silent = false; // reply swallowed (BDATs after a refused one)
    };
    enum class Phase : std::uint8_t { connecting, greeting, ehlo, ready };
    enum class BodyState : std::uint8_t {
        none,     // no DATA processed yet in this transaction
        waiting,  // DATA written, its 354 awaited
        open,     // body bytes flow
        refused,  // the data step failed: data_failure says why
        aborted,  // bad body bytes: abort_reply says why
        reported, // the message step has its result
        done,     // the end was written, its reply awaited
    };
    struct Txn {
        bool local_refused = false; // MAIL refused by the client itself
        bool mail_ok = false;
        std::size_t rcpt_ok = 0;
        bool binary = false;   // BODY=BINARYMIME
        bool chunking = false; // BDAT for this message
        BodyState body = BodyState::none;
        std::optional<UpstreamReply> data_failure;
        std::optional<UpstreamReply> abort_reply;
    };

    void push(Op op);
    void pump();
    bool process_head();
    bool process_data();
    bool process_body();
    bool process_end_body();
    bool process_rset_quit();
    void drop_queued_body();
    std::optional<UpstreamReply> filter_params(std::string_view params, bool for_mail,
                                               std::string& kept, bool& binary) const;
    static void append_path(std::string& line, std::string_view path);
    bool pipelining_on() const;
    bool can_send_pipelined() const;
    void send_command(std::string_view line, Wait w, std::size_t rcpt_index = 0);
    void send_hello(std::string_view verb, Wait w);
    void emit_chunk(bool last);
    void abort_bad_body(EncodeStatus st);
    void close_after_abort();
    void handle_reply(UpstreamReply r);
    void setup_failed();
    void fail_connection(const UpstreamReply& reason);
    void fail_outstanding(const UpstreamReply& reason);
    void fail_queued();
    void result(Step s, const UpstreamReply& r, bool synthetic, std::size_t rcpt_index = 0);
    void message_failed(const UpstreamReply& otherwise);
    void mark_output();
    void arm(std::uint64_t now_ms);
    std::uint64_t timeout_for(Wait w) const;

    ClientConfig cfg_;
    Capabilities caps_;
    ReplyParser parser_;
    Phase phase_ = Phase::connecting;
    bool closed_ = false;
    bool peer_closed_ = false;
    bool server_txn_open_ = false; // MAIL accepted, transaction not yet ended
    UpstreamReply close_reply_;    // what steps get once closed

    std::deque<Op> ops_; // called, not yet written
    std::size_t queued_body_ = 0;
    bool proxy_body_open_ = false; // data() called, end_body() not yet
    std::size_t proxy_rcpt_count_ = 0;
    std::deque<Outstanding> outstanding_; // written, reply awaited
    std::size_t barriers_ = 0;            // outstanding commands that end a pipelined group
    std::deque<ClientResult> results_;

    Txn txn_;
    BodyEncoder encoder_;
    std::string chunk_; // BDAT chunk being filled

    std::string out_;
    std::size_t out_off_ = 0;

    // Deadlines: UINT64_MAX none; UINT64_MAX - 1 to be armed at the next
    // timed call (see next_expiry()).
    std::uint64_t now_ = 0;
    std::uint64_t reply_deadline_;  // the oldest unanswered command
    std::uint64_t output_deadline_; // pending output not drained (data_block_ms)
};

} // namespace smtpgw::smtp
