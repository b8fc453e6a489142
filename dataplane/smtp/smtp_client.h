// smtp_client.h: the SMTP client toward the LAN mail server, sans-I/O.
//
// Purpose: the LAN half of the before-queue proxy (smtp_proxy.h). The
// proxy replays each step of the sender's transaction here (MAIL, RCPT,
// DATA and the body, RSET, QUIT) and gets back, per step, the LAN server's
// reply, or a synthetic temporary failure when the server cannot be reached,
// closes, times out or answers garbage. It never reports a success it did
// not read from the server. Octets and a millisecond clock come in; command
// octets, results and the next expiry go out.
// RFCs: 5321 (4.1.1 commands, 4.2 reply syntax and multi-line replies,
// 4.5.2 transparency: dot-stuffing on output, 4.5.3.2 timeouts), 1869 (EHLO,
// HELO fallback), 1870 (SIZE), 6152 (8BITMIME), 6531 (SMTPUTF8: a message
// that needs it is refused with 550 5.6.7 when the server lacks it, 3.4),
// 3461 (DSN parameters dropped when the server does not offer DSN: the
// message is then relayed as to a non-DSN server, 4.2), 3463 (enhanced codes).
// 3030 (BDAT toward a server that offers CHUNKING: the message in sized
// chunks, the last marked LAST; a refused chunk fails the message).
// Commands go lock-step (one outstanding): the sender's session already
// waits at each step for the LAN verdict, so pipelining toward a server one
// hop away on the LAN would win nothing.
// Security: the server is ours but its replies are still bounded (line
// length, lines per reply) and malformed ones end the connection with a
// synthetic 451 4.5.0. The body is dot-stuffed here and must be canonical
// (CRLF lines, no bare CR or LF: the session's decoder guarantees it); a
// message that is abandoned never gets its final dot (the connection is
// closed instead), so the LAN server cannot deliver half of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace smtpgw::smtp {

struct UpstreamReply {
    std::uint16_t code = 0;
    std::string enhanced;           // "2.0.0" when the first line carries one
    std::string text;               // the first line's text after the enhanced code
    std::vector<std::string> lines; // every line's text (after "250-"/"250 ")
};

// STARTTLS toward the LAN server (RFC 3207).
enum class LanTls : std::uint8_t {
    never,         // plain SMTP
    opportunistic, // when the server offers it; a refused STARTTLS goes on in clear
    required,      // STARTTLS or nothing: every step fails 451 4.7.5 without it
};

struct ClientConfig {
    std::string helo_name = "smtpgw.invalid";
    LanTls tls = LanTls::never;
    // RFC 3030: when the server offers CHUNKING the body goes in BDAT
    // chunks of this size (no dot-stuffing, no scan for the end), one
    // outstanding at a time; 0: always DATA.
    std::size_t bdat_chunk_bytes = 65536;
    // RFC 5321 4.5.3.2 gives minutes; the LAN server is one hop away and the
    // sender is waiting on each step, so a stuck server is given up sooner
    // and the sender gets a 4xx it will retry.
    std::uint64_t greeting_timeout_ms = 30000;
    std::uint64_t command_timeout_ms = 30000;   // MAIL, RCPT, DATA, RSET, EHLO
    std::uint64_t data_end_timeout_ms = 120000; // the reply to the final dot (scanning, disks)
    // Bounds on what the server sends (RFC 5321 4.5.3.1.5 says 512 per line).
    std::size_t max_reply_line = 2048;
    std::size_t max_reply_lines = 64;
    // Body octets held while the server has not said 354 yet, and output
    // not yet taken by the adapter: the proxy stops feeding (body_room()).
    std::size_t max_pending_bytes = 65536;
};

struct Capabilities {
    bool esmtp = false, pipelining = false, chunking = false, eight_bit_mime = false,
         smtputf8 = false, dsn = false, starttls = false, enhanced_status_codes = false;
    std::uint64_t size = 0; // 0: no SIZE limit announced
};

enum class Step : std::uint8_t { greeting, ehlo, mail, rcpt, data, message, rset, quit };

struct ClientResult {
    Step step = Step::greeting;
    UpstreamReply reply;
    std::size_t rcpt_index = 0;
    bool synthetic = false;       // made up here: the server never said it
    std::uint64_t elapsed_ms = 0; // from the command (or the body's end) to this reply
};

// Parses one reply line ("250-text" / "250 text"). Error contract: false
// when the line is not a reply line (the connection is then failed).
bool parse_reply_line(std::string_view line, std::uint16_t& code, bool& last,
                      std::string_view& text);

class Client {
  public:
    Client(const ClientConfig& config, std::uint64_t now_ms);

    void on_connected(std::uint64_t now_ms);
    void on_input(std::span<const std::uint8_t> in, std::uint64_t now_ms);
    // The connection is gone: every step not answered fails (synthetic 421 4.4.2).
    void on_peer_closed(std::uint64_t now_ms);
    void on_timer(std::uint64_t now_ms);
    std::uint64_t next_expiry() const; // UINT64_MAX: none

    std::string_view pending_output() const { return std::string_view(out_).substr(out_off_); }
    void consume_output(std::size_t n);

    // The transaction, in the sender's order; may be called before the
    // greeting (queued). `path` includes the angle brackets.
    void mail(std::string_view path, std::string_view params);
    void rcpt(std::string_view path, std::string_view params);
    void data();
    std::size_t body_room() const;
    // Canonical message text (CRLF lines), not dot-stuffed. Octets beyond
    // body_room() are still taken (the proxy respects the room).
    void body(std::span<const std::uint8_t> canonical);
    void end_body();
    // Drops the transaction: before DATA with RSET; once the body started,
    // by closing the connection without the final dot (wants_close()), and
    // the message step fails with a synthetic 451 4.3.0.
    void rset();
    void quit();

    // STARTTLS: true once (then false) after the server's 220 to it; the
    // owner then flushes pending_output() in clear, runs the TLS handshake
    // on the connection and calls on_tls_established() (then EHLO goes again,
    // RFC 3207 4.2), or on_tls_failed() (every step fails with 451 4.7.5).
    bool take_starttls() {
        bool s = starttls_;
        starttls_ = false;
        return s;
    }
    void on_tls_established(std::uint64_t now_ms);
    void on_tls_failed(std::uint64_t now_ms);
    bool tls_active() const { return tls_active_; }

    bool poll_result(ClientResult& out);
    bool closed() const { return closed_; }
    bool wants_close() const { return wants_close_; }
    const Capabilities& capabilities() const { return caps_; }

  private:
    enum class Phase : std::uint8_t {
        connecting,
        greeting,
        ehlo,
        helo,
        starttls,
        handshake,
        ready,
        body,
        closed
    };
    struct Pending {
        Step step;
        std::string line; // the command, CRLF included ("" for the message step)
        std::size_t rcpt_index = 0;
    };

    void send_next(std::uint64_t now_ms);
    void send_ehlo(std::uint64_t now_ms);
    void ready_after_ehlo(std::uint64_t now_ms);
    void prepare_queued();
    void on_reply(const UpstreamReply& r, std::uint64_t now_ms);
    void fail_all(std::uint16_t code, const char* enhanced, const char* text);
    void push_result(Step step, UpstreamReply r, std::size_t rcpt, bool synthetic);
    void stuff(std::string_view text);
    void send_chunk(bool last);
    std::string filter_mail_params(std::string_view params, bool& needs_utf8) const;
    std::string filter_rcpt_params(std::string_view params) const;

    ClientConfig config_;
    Capabilities caps_;
    Phase phase_ = Phase::connecting;
    bool starttls_ = false, tls_active_ = false;
    std::uint64_t sent_ms_ = 0; // when the outstanding command (or body end) went out
    bool closed_ = false, wants_close_ = false;
    std::deque<Pending> queue_; // commands not yet sent
    bool waiting_ = false;      // a command is outstanding
    Pending outstanding_;
    std::uint64_t deadline_ms_ = UINT64_MAX;

    // The body: stuffed into out_ once the server said 354.
    bool data_sent_ = false, data_ok_ = false, body_ended_ = false, body_dropped_ = false;
    bool bdat_ = false; // this message goes in BDAT chunks
    std::string chunk_; // BDAT: body octets not yet sent in a chunk
    bool at_line_start_ = true;
    bool message_owed_ = false;  // data() was called and the message's result is not out yet
    std::uint64_t now_ms_ = 0;   // the latest time given (calls without a clock use it)
    std::string held_body_;      // canonical octets before the 354
    UpstreamReply data_refusal_; // the reply that refused DATA: the message's result
    std::size_t rcpts_ = 0;

    std::string in_line_;
    UpstreamReply building_;
    std::string out_;
    std::size_t out_off_ = 0;
    std::deque<ClientResult> results_;
};

} // namespace smtpgw::smtp
