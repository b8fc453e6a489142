// smtp_service.h: the SMTP engine on one lcore's TCP stack: port 25's
// listener, each sender's Proxy, and its connection to the LAN server.
//
// Purpose: the adapter between the pure SMTP cores (smtp_proxy.h) and the
// userspace TCP stack (tcp_stack.h): it accepts senders, moves octets
// between TCP connections and proxies in both directions, opens the LAN
// connection a proxy asks for (an active open from the gateway's LAN
// address), runs the proxies' timers and hands their log lines to a sink.
// It holds no clock (the lcore's nanoseconds come in) and does no I/O of
// its own beyond the stack's calls.
// Security: sessions are a fixed table (`max_sessions`): a sender beyond it
// is answered 421 4.3.2 and closed without a session. Input is read only as
// far as the session takes it (its input_room()), so a sender that sends
// faster than the LAN server takes stalls in its own TCP window. A sender's
// connection that fails (RST, timeout) aborts the LAN transaction: the
// message never ends on the LAN side.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "content/message_scan.h"
#include "net/counters.h"
#include "net/latency_histogram.h"
#include "smtp/smtp_proxy.h"
#include "tcp/tcp_stack.h"
#include "tls/tls_context.h"
#include "tls/tls_stream.h"

namespace smtpgw::smtp {

struct SmtpServiceConfig {
    ProxyConfig proxy;
    std::uint16_t port = 25;
    // The LAN server, and our address toward it (v4-mapped for IPv4).
    net::Ipv6Addr local4, lan4, local6, lan6;
    bool has_v6 = false;
    std::uint16_t lan_port = 25;
    // Concurrent sender sessions on this lcore: each holds a session, a
    // client and their buffers (about 100 KiB at most), so this bounds memory.
    std::size_t max_sessions = 2048;
    // STARTTLS (RFC 3207): offered when set. Shared, immutable; a reload
    // sends a new one (sessions keep the one they started with).
    std::shared_ptr<const tls::TlsContext> tls_server;
    // STARTTLS toward the LAN server (proxy.client.tls says when).
    std::shared_ptr<const tls::TlsContext> tls_client;
    // Senders in these networks must STARTTLS first (530 5.7.0), like
    // proxy.session.tls_required does for all (v4 as v4-mapped).
    std::vector<net::Ipv6Prefix> tls_required_networks;
    bool json_log = false; // log lines as JSON objects (format_log_json)
    // Content scanning (proxy.inspect on): the rules every new message is
    // matched against (null: none; shared, immutable: a reload sends a new
    // set, messages in flight keep theirs) and the scan's bounds. The
    // antivirus runs when scan.antivirus and an AvQueue is set.
    std::shared_ptr<const rules::RuleSet> rules;
    content::ScanSettings scan;
    // Outbound service (mail from the LAN through the gateway to a relay
    // host): only clients in `allowed_clients` get a session (others: 554
    // 5.7.1 and close); its session ids and antivirus jobs are its own.
    bool outbound = false;
    std::vector<net::Ipv6Prefix> allowed_clients; // empty: everyone
};

// One message's decoded parts on their way to the antivirus threads and
// back: the lcore fills the request, a scanner thread the results.
struct AvJob {
    std::vector<content::AvPart> parts;
    std::vector<av::AvResult> results; // one per part once scanned
    content::MessageVerdict before;    // the verdict without the antivirus
    bool over_budget = false;
    std::uint32_t slot = 0;    // the session's slot on its lcore
    std::uint64_t session = 0; // and its id (a reused slot has another)
    std::uint16_t lcore = 0;   // whose reply ring the job goes back on
    bool outbound = false;     // which of the lcore's services sent it
    std::uint64_t submitted_ns = 0;
};

// The lcore's way to the antivirus threads (the I/O layer implements it
// with rte_rings). Error contract: submit() returns false and keeps the
// job when the queue is full (the message then gets a temporary failure);
// poll() returns null when nothing came back.
class AvQueue {
  public:
    virtual ~AvQueue() = default;
    virtual bool submit(std::unique_ptr<AvJob>& job) = 0;
    virtual std::unique_ptr<AvJob> poll() = 0;
};

// Where log lines go (the adapter queues them for the control plane).
// Called on the lcore; must not block.
class SmtpLogSink {
  public:
    virtual ~SmtpLogSink() = default;
    virtual void line(std::string_view text) = 0;
};

// Where senders that misbehaved (early talkers) are reported: the peer
// filter, which may list them for a while. Called on the lcore; must not block.
class SmtpPeerReporter {
  public:
    virtual ~SmtpPeerReporter() = default;
    virtual void misbehaved(const net::Ipv6Addr& peer) = 0;
    // The sender's message carried a virus (the antivirus said so).
    virtual void sent_virus(const net::Ipv6Addr& peer) { (void)peer; }
};

struct SmtpCounters {
    net::Counter sessions;         // senders accepted
    net::Counter sessions_refused; // refused: the session table was full
    net::Counter messages_sent;    // the LAN server accepted (the sender got its 250)
    net::Counter messages_rejected;
    net::Counter messages_deferred;
    net::Counter messages_aborted; // abandoned mid-transfer (size, bare newline, disconnect)
    net::Counter refusals;         // refused commands (relay, syntax, limits)
    net::Counter lan_connects;
    net::Counter lan_connect_failures;
    net::Counter log_lines_dropped;          // the log sink was full
    net::Counter tls_started;                // STARTTLS answered 220
    net::Counter tls_established;            // handshakes completed
    net::Counter tls_resumed;                // ... of which resumed a session (ticket)
    net::Counter tls_failed;                 // handshakes or records that failed: connection closed
    net::Counter lan_tls_established;        // STARTTLS toward the LAN server completed
    net::Counter lan_tls_failed;             // ... failed (the sender got 451 4.7.5)
    net::Counter scanned;                    // messages through the content scan
    net::Counter scan_rejected;              // ... refused by a rule or MIME limit
    net::Counter scan_tagged;                // ... delivered with the verdict header
    net::Counter scan_tempfailed;            // ... deferred: scan error, antivirus error or busy
    net::Counter av_jobs;                    // messages sent to the antivirus threads
    net::Counter av_busy;                    // ... refused: the queue was full (451)
    net::Counter viruses;                    // messages refused for a virus
    net::LatencyHistogram banner_latency;    // accept to the first octet of the banner sent
    net::LatencyHistogram verdict_latency;   // end of data to the sender's answer (the LAN verdict)
    net::LatencyHistogram lan_reply_latency; // each LAN server reply, from its command
};

class SmtpService final : public tcp::StreamHandler {
  public:
    // `sink` and `reporter` may be null; they and `counters` outlive the service.
    SmtpService(const SmtpServiceConfig& config, std::uint16_t lcore_index, SmtpLogSink* sink,
                SmtpPeerReporter* reporter, SmtpCounters& counters);
    // Sessions opened from now on use `config` (`set smtp.*`); open ones
    // keep theirs. The port and max_sessions stay: the listener and the
    // session table are made at construction (they apply at restart).
    void reconfigure(const SmtpServiceConfig& config);
    const SmtpServiceConfig& config() const { return config_; }
    // Milliseconds to add to the lcore's clock for the time since 1970 (the
    // Received: header's date); the owner refreshes it now and then.
    void set_wall_clock_offset_ms(std::int64_t offset) { wall_offset_ms_ = offset; }
    // Where decoded parts go for the antivirus (null: no antivirus); it
    // outlives the service. The owner polls it (on_av_result).
    void set_av_queue(AvQueue* queue) { av_ = queue; }

    void on_events(tcp::TcpStack& stack, tcp::ConnRef c, std::uint32_t events,
                   std::uint64_t now_ns) override;
    // Runs the proxies' timers; call every loop iteration (cheap when none is due).
    void poll(tcp::TcpStack& stack, std::uint64_t now_ns);
    // A job this service submitted came back from the antivirus (the owner
    // drains the lcore's AvQueue and hands each job to the service it names).
    void on_av_result(tcp::TcpStack& stack, std::unique_ptr<AvJob> job, std::uint64_t now_ns);
    std::size_t active_sessions() const { return active_; }
    std::uint16_t port() const { return config_.port; }

  private:
    class Inspector;
    struct Slot {
        std::unique_ptr<Proxy> proxy;
        tcp::ConnRef client = tcp::kNoConn;
        tcp::ConnRef lan = tcp::kNoConn;
        bool client_gone = false; // the sender's connection is closed (kClosed, RST, timeout)
        bool client_eof = false;  // the sender sent FIN
        bool client_closed_by_us = false;
        bool lan_closed_by_us = false;
        net::Ipv6Addr peer; // the sender (v4-mapped for IPv4)
        std::string unread; // sender octets received but not yet taken by the session
        std::uint64_t expiry_ms = 0;
        std::uint64_t accepted_ms = 0; // for the banner latency
        bool banner_sent = false;
        // After STARTTLS: pending until the 220 is out in clear, then the
        // stream every sender octet goes through.
        bool tls_pending = false;
        bool tls_reported = false;
        std::unique_ptr<tls::TlsStream> tls;
        std::string records; // sender records received but not yet taken by TLS
        // The same toward the LAN server, as its TLS client.
        bool lan_tls_pending = false;
        bool lan_tls_reported = false;
        std::unique_ptr<tls::TlsStream> lan_tls;
        std::string lan_records;
        std::uint64_t session_id = 0;
        std::unique_ptr<MessageInspector> inspector; // content scanning on (an Inspector)
    };
    void count(const content::MessageVerdict& v);
    // config_ as sessions share it (made once per reconfigure).
    std::shared_ptr<const SmtpServiceConfig> shared_config();
    void accept(tcp::TcpStack& stack, tcp::ConnRef c, std::uint64_t now_ns);
    void serve(tcp::TcpStack& stack, Slot& s, std::uint64_t now_ms);
    bool serve_client(tcp::TcpStack& stack, Slot& s, std::uint64_t now_ms);
    std::size_t read_client(tcp::TcpStack& stack, Slot& s, std::size_t want);
    bool flush_tls(tcp::TcpStack& stack, Slot& s);
    bool serve_lan(tcp::TcpStack& stack, Slot& s, std::uint64_t now_ms);
    void drain_logs(Slot& s);
    void release_if_done(tcp::TcpStack& stack, Slot& s);

    SmtpServiceConfig config_;
    std::uint16_t lcore_index_;
    SmtpLogSink* sink_;
    SmtpPeerReporter* reporter_;
    SmtpCounters& counters_;
    std::vector<Slot> slots_;
    std::vector<std::uint32_t> free_;
    std::size_t active_ = 0;
    std::uint64_t next_session_ = 1;
    std::uint64_t next_timer_scan_ms_ = 0;
    std::int64_t wall_offset_ms_ = 0;
    AvQueue* av_ = nullptr;
    std::shared_ptr<const SmtpServiceConfig> shared_config_;
    rules::RuleScratch rule_scratch_; // Hyperscan scratch of this lcore
    std::array<std::uint8_t, 16384> scratch_{};
};

} // namespace smtpgw::smtp
