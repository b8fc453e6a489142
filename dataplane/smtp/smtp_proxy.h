// smtp_proxy.h: one sender's SMTP session coupled to its LAN-side client:
// the before-queue proxy, sans-I/O.
//
// Purpose: the no-loss rule lives here. The sender's Session (smtp_session.h)
// suspends at MAIL, at each RCPT and at the end of data; the proxy forwards
// each step to the LAN server through a Client (smtp_client.h) and answers
// the session with the LAN server's reply. So the sender's final 250 is the
// LAN server's 250 for the same message, a LAN refusal reaches the sender
// as the same class of reply, and a LAN server that is down, slow past a
// timeout or gone mid-message gives the sender a 4xx (it will retry).
// Recipients are checked against the LAN server in real time (its RCPT
// reply is the sender's), so unknown users are refused at the perimeter.
// The LAN connection is opened at the first MAIL and kept for the next
// transactions of the same session; a new one is opened if it dropped.
// Bytes in both directions and the time are the adapter's business: the
// proxy takes octets and a millisecond clock and hands back octets, a
// "connect to the LAN server" wish, log records and its next expiry.
// Security: body octets pass from session to client only as far as the
// client's body_room() allows; otherwise the event is held and the session
// stops reading (its input_room() drops), so the sender's TCP window is
// the back-pressure, never our memory. The client is fed only canonical
// text the session produced (dot-stuffing undone, CRLF lines), and the
// client re-stuffs it: no sender octet sequence can end the LAN server's
// DATA early (smuggling).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "content/message_scan.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_session.h"

namespace smtpgw::smtp {

struct ProxyConfig {
    SessionConfig session;
    ClientConfig client;
    // RFC 5321 4.4: a server that relays a message MUST add its Received:
    // trace line (with the TLS details of RFC 8314 when there were some).
    bool add_received = true;
    // Content scanning: the body is held here until the inspector's
    // verdict (set_inspector); the LAN server sees DATA only for a message
    // that passed, so a refused one never reaches it.
    bool inspect = false;
};

// The content scanner of one session's messages, as the proxy sees it
// (the service implements it with content::MessageScan and the antivirus
// threads). Called on the session's lcore; must not block.
class MessageInspector {
  public:
    virtual ~MessageInspector() = default;
    virtual void begin(std::string_view message_id) = 0;
    // Canonical message text (dot-stuffing undone, CRLF lines), in order.
    virtual void body(std::span<const std::uint8_t> canonical) = 0;
    // The end of the message. Returns true with the verdict in `out`, or
    // false when it comes later through Proxy::on_inspection().
    virtual bool end(content::MessageVerdict& out) = 0;
    // The message was abandoned (abort, disconnect): no verdict is wanted.
    virtual void abort() = 0;
};

// The Received: header the gateway puts on top of each message it relays
// (RFC 5321 4.4, RFC 3848 ESMTPS, RFC 8314 7.4 TLS comment): folded lines,
// CRLF-terminated. `helo` is the sender's (replaced by "unknown" when it is
// not a plain domain or address literal), `client` its address, `for` only
// with exactly one recipient, `unix_ms` the time in milliseconds since 1970.
std::string received_header(std::string_view helo, std::string_view client,
                            std::string_view hostname, std::string_view tls, std::string_view id,
                            const std::vector<std::string>& recipients, std::int64_t unix_ms);

// One line per message and per refused attempt, in the shape mail
// administrators already parse (Postfix-like key=value fields).
struct MessageLog {
    std::string id;     // the message id ("" for a refused attempt outside a message)
    std::string client; // sender's address
    std::string helo;
    std::string tls;  // "TLSv1.3 TLS_AES_256_GCM_SHA384" once STARTTLS is done, else ""
    std::string from; // reverse-path, without <>
    std::vector<std::string> to;
    std::uint64_t size = 0;
    std::string status;           // sent, rejected, deferred, aborted
    Reply reply;                  // what the sender was told
    std::string detail;           // for a rejected attempt: the command
    std::int64_t verdict_ms = -1; // from the end of data to the sender's answer (-1: none)
    std::string verdict;          // content scan: "rule=ID", "virus=NAME", "tagged", ... ("": none)
    std::vector<std::string> rules; // content rules that matched
};
// "id=... client=... helo=<...> from=<...> to=<a>,<b> size=N status=sent reply=\"250 ...\"".
std::string format_log_line(const MessageLog& m);
// The same as one JSON object (smtp.log_format json): {"id":...,"client":...,
// "helo":...,"tls":...,"from":...,"to":[...],"size":N,"status":...,
// "reply":{"code":N,"enhanced":...,"text":...},"command":...}. Strings come
// from the sender: every octet outside printable ASCII (and " \) is
// escaped, so the line is valid JSON whatever was sent.
std::string format_log_json(const MessageLog& m);

class Proxy {
  public:
    Proxy(const ProxyConfig& config, SessionPeer peer, std::uint64_t now_ms);

    // --- The sender's side (see Session for each contract) ---
    std::size_t client_input_room() const { return session_.input_room(); }
    std::size_t on_client_input(std::span<const std::uint8_t> in, std::uint64_t now_ms);
    void on_client_closed(std::uint64_t now_ms);
    std::string_view client_output() const { return session_.pending_output(); }
    void consume_client_output(std::size_t n) { session_.consume_output(n); }
    bool client_wants_close() const { return session_.wants_close(); }
    // True once (then false) after the session answered STARTTLS with 220:
    // from the end of client_output() on, both directions go through TLS,
    // and what is left of the sender's clear input is discarded.
    bool take_starttls() {
        bool s = starttls_;
        starttls_ = false;
        return s;
    }
    // The handshake is done: `description` ("TLSv1.3 TLS_AES_128_GCM_SHA256")
    // goes on every log line of the session from here on.
    void on_tls_established(std::string description) { tls_ = std::move(description); }
    // The content scanner for this session's messages (config.inspect);
    // outlives the proxy or is reset to null first.
    void set_inspector(MessageInspector* inspector) { inspector_ = inspector; }
    // The verdict the inspector's end() left pending.
    void on_inspection(const content::MessageVerdict& verdict, std::uint64_t now_ms);
    // Milliseconds to add to now_ms to get the time since 1970 (the
    // Received: date); given by the owner, which has a clock.
    void set_wall_clock_offset_ms(std::int64_t offset) { wall_offset_ms_ = offset; }

    // --- The LAN server's side ---
    // True when a LAN connection should exist and the adapter has none open
    // for the current client: open one, then on_lan_connected() (or
    // on_lan_closed() if it failed).
    bool lan_connect_wanted() const { return client_ && !lan_open_ && !client_->closed(); }
    void on_lan_opening() { lan_open_ = true; }
    void on_lan_connected(std::uint64_t now_ms);
    void on_lan_input(std::span<const std::uint8_t> in, std::uint64_t now_ms);
    // The LAN connection is gone (closed, reset, refused, timed out).
    void on_lan_closed(std::uint64_t now_ms);
    // STARTTLS toward the LAN server (Client::take_starttls()): true once
    // when the owner must start TLS on the LAN connection after flushing
    // lan_output(); then on_lan_tls_established() or on_lan_tls_failed().
    bool lan_take_starttls() { return client_ && client_->take_starttls(); }
    void on_lan_tls_established(std::uint64_t now_ms);
    void on_lan_tls_failed(std::uint64_t now_ms);
    std::string_view lan_output() const;
    void consume_lan_output(std::size_t n);
    bool lan_wants_close() const { return client_ && client_->wants_close(); }

    void on_timer(std::uint64_t now_ms);
    std::uint64_t next_expiry() const;

    bool poll_log(MessageLog& out);
    // The LAN server's reply times (ms) seen since the last call, for the
    // owner's histogram.
    template <typename F>
    void drain_lan_reply_ms(F&& f) {
        for (auto ms : lan_reply_ms_)
            f(ms);
        lan_reply_ms_.clear();
    }
    // True once (then false) when the sender talked before the banner or
    // broke RFC 2920 synchronisation: the adapter reports it to the peer filter.
    bool take_misbehaved() {
        bool m = misbehaved_;
        misbehaved_ = false;
        return m;
    }
    // The sender's session is over and nothing is left to send either way.
    bool finished() const;
    const Session& session() const { return session_; }

  private:
    enum class Awaiting : std::uint8_t { none, mail, rcpt, verdict, message };

    void pump(std::uint64_t now_ms);
    void on_event(Event& e, std::uint64_t now_ms);
    bool feed_body();
    void on_result(const ClientResult& r, std::uint64_t now_ms);
    void answer(const Reply& r, std::uint64_t now_ms);
    Client& ensure_client(std::uint64_t now_ms);
    void log_message(std::string status, const Reply& reply);
    void log_refusal(const Event& e);
    void apply_verdict(const content::MessageVerdict& v, std::uint64_t now_ms);

    ProxyConfig config_;
    Session session_;
    std::unique_ptr<Client> client_;
    bool lan_open_ = false; // the adapter holds a LAN connection for client_
    Awaiting awaiting_ = Awaiting::none;
    bool in_message_ = false; // between data_start and data_end/abort: body goes to the client
    std::optional<Event> held_body_; // a body event the client had no room for yet
    std::size_t held_offset_ = 0;
    bool end_after_held_ = false; // the held body is a released message: end it when sent
    MessageInspector* inspector_ = nullptr;
    bool inspecting_ = false; // the current message's body is spooled for the inspector
    std::string spool_;       // its canonical text (bounded by the session's message size)
    bool client_closed_ = false;
    std::uint64_t now_ms_ = 0; // the latest time given (consume_lan_output has none)
    bool misbehaved_ = false;

    // The current transaction, for its log line.
    std::string client_address_;
    std::string helo_;
    std::string tls_;
    bool starttls_ = false;
    std::int64_t wall_offset_ms_ = 0;
    std::uint64_t data_end_ms_ = 0;
    std::vector<std::uint64_t> lan_reply_ms_; // bounded: drained at every serve()
    MessageLog tx_;
    std::deque<MessageLog> logs_;
};

} // namespace smtpgw::smtp
