// smtp_service.cc: the SMTP engine on a TCP stack (see smtp_service.h).
#include "smtp/smtp_service.h"

#include <algorithm>
#include <cstring>

namespace smtpgw::smtp {

using tcp::ConnRef;
using tcp::kNoConn;
namespace ev = tcp::app_event;

namespace {
// User value of a connection: (slot + 1) << 1 | side (0 sender, 1 LAN).
std::uintptr_t user_of(std::size_t slot, int side) {
    return ((std::uintptr_t{slot} + 1) << 1) | static_cast<std::uintptr_t>(side);
}
std::string address_text(const net::Ipv6Addr& a) {
    return a.is_v4_mapped() ? net::to_string(net::v4_unmapped(a)) : net::to_string(a);
}
} // namespace

// One session's content scan, as its proxy sees it: Hyperscan and MIME on
// this lcore as the body arrives; decoded parts to the antivirus threads
// at the end of data, the verdict back through on_av_result().
class SmtpService::Inspector final : public MessageInspector {
  public:
    Inspector(SmtpService& service, std::uint32_t slot, std::uint64_t session,
              std::shared_ptr<const SmtpServiceConfig> config)
        : service_(service), slot_(slot), session_(session), config_(std::move(config)) {}
    void begin(std::string_view) override {
        // The rule set of the message's start stays with it (a reload
        // affects the next message).
        rules_ = config_->rules;
        scan_ =
            std::make_unique<content::MessageScan>(rules_, service_.rule_scratch_, config_->scan);
    }
    void body(std::span<const std::uint8_t> canonical) override {
        if (scan_)
            scan_->feed(canonical);
    }
    bool end(content::MessageVerdict& out) override {
        if (!scan_)
            return true;
        content::ScanOutcome outcome = scan_->finish();
        scan_.reset();
        service_.counters_.scanned.add();
        out = content::decide(outcome, config_->scan, rules_.get());
        if (rules_)
            for (auto i : outcome.rules.rules)
                rules_->count_match(i);
        bool needs_av = config_->scan.antivirus &&
                        (out.action == content::Disposition::accept ||
                         out.action == content::Disposition::tag) &&
                        (!outcome.av_parts.empty() || outcome.av_over_budget);
        if (!needs_av) {
            service_.count(out);
            return true;
        }
        if (!service_.av_) { // configured but not running: never a pass unscanned
            av::AvResult down;
            down.name = "antivirus unavailable";
            out = content::add_antivirus(out, std::span(&down, 1), false, config_->scan);
            service_.count(out);
            return true;
        }
        auto job = std::make_unique<AvJob>();
        job->parts = std::move(outcome.av_parts);
        job->before = out;
        job->over_budget = outcome.av_over_budget;
        job->slot = slot_;
        job->session = session_;
        job->lcore = service_.lcore_index_;
        job->outbound = service_.config_.outbound;
        if (!service_.av_->submit(job)) {
            service_.counters_.av_busy.add();
            av::AvResult busy; // an error verdict: the configured on_av_error (451)
            busy.name = "scanners busy";
            out = content::add_antivirus(job->before, std::span(&busy, 1), false, config_->scan);
            service_.count(out);
            return true;
        }
        service_.counters_.av_jobs.add();
        return false;
    }
    void abort() override { scan_.reset(); }

  private:
    SmtpService& service_;
    std::uint32_t slot_;
    std::uint64_t session_;
    std::shared_ptr<const SmtpServiceConfig> config_;
    std::shared_ptr<const rules::RuleSet> rules_;
    std::unique_ptr<content::MessageScan> scan_;
};

void SmtpService::count(const content::MessageVerdict& v) {
    switch (v.action) {
    case content::Disposition::reject:
        (v.virus ? counters_.viruses : counters_.scan_rejected).add();
        break;
    case content::Disposition::tempfail:
        counters_.scan_tempfailed.add();
        break;
    case content::Disposition::tag:
        counters_.scan_tagged.add();
        break;
    case content::Disposition::accept:
        break;
    }
}

void SmtpService::on_av_result(tcp::TcpStack& stack, std::unique_ptr<AvJob> job,
                               std::uint64_t now_ns) {
    std::uint64_t now_ms = now_ns / 1'000'000;
    if (job->slot >= slots_.size())
        return;
    Slot& s = slots_[job->slot];
    if (!s.proxy || s.session_id != job->session)
        return; // the session is gone: its verdict has no one to answer
    content::MessageVerdict v = content::add_antivirus(std::move(job->before), job->results,
                                                       job->over_budget, config_.scan);
    count(v);
    if (v.virus && reporter_)
        reporter_->sent_virus(s.peer);
    s.proxy->on_inspection(v, now_ms);
    serve(stack, s, now_ms);
    release_if_done(stack, s);
}

SmtpService::SmtpService(const SmtpServiceConfig& config, std::uint16_t lcore_index,
                         SmtpLogSink* sink, SmtpPeerReporter* reporter, SmtpCounters& counters)
    : config_(config), lcore_index_(lcore_index), sink_(sink), reporter_(reporter),
      counters_(counters), slots_(config.max_sessions) {
    free_.reserve(slots_.size());
    for (std::size_t i = slots_.size(); i > 0; --i)
        free_.push_back(static_cast<std::uint32_t>(i - 1));
}

void SmtpService::accept(tcp::TcpStack& stack, ConnRef c, std::uint64_t now_ns) {
    auto info = stack.info(c);
    if (!info)
        return;
    if (free_.empty()) {
        // No session: a fixed reply, then close (RFC 5321 3.8: 421 at the greeting).
        counters_.sessions_refused.add();
        std::string busy = "421 4.3.2 " + config_.proxy.session.hostname +
                           " too many sessions, try again later\r\n";
        stack.send(c, std::span(reinterpret_cast<const std::uint8_t*>(busy.data()), busy.size()));
        stack.close(c);
        return;
    }
    if (!config_.allowed_clients.empty()) {
        bool allowed = false;
        for (const auto& n : config_.allowed_clients)
            allowed = allowed || n.contains(info->tuple.remote);
        if (!allowed) { // RFC 5321 3.8: refused at the greeting, then closed
            counters_.sessions_refused.add();
            std::string no = "554 5.7.1 " + config_.proxy.session.hostname +
                             " relaying from this network is not allowed\r\n";
            stack.send(c, std::span(reinterpret_cast<const std::uint8_t*>(no.data()), no.size()));
            stack.close(c);
            return;
        }
    }
    std::uint32_t index = free_.back();
    free_.pop_back();
    Slot& s = slots_[index];
    s = Slot{};
    s.client = c;
    s.peer = info->tuple.remote;
    s.accepted_ms = now_ns / 1'000'000;
    SessionPeer peer;
    peer.client_address = address_text(info->tuple.remote);
    // Inbound and outbound services of one lcore number their sessions apart.
    peer.session_id = (std::uint64_t{lcore_index_} << 48) |
                      (std::uint64_t{config_.outbound} << 47) | next_session_++;
    bool must_tls = false;
    if (config_.proxy.session.tls_available && !config_.proxy.session.tls_required)
        for (const auto& n : config_.tls_required_networks)
            must_tls = must_tls || n.contains(s.peer);
    if (must_tls) { // a copy only for the senders it concerns
        ProxyConfig pc = config_.proxy;
        pc.session.tls_required = true;
        s.proxy = std::make_unique<Proxy>(pc, peer, now_ns / 1'000'000);
    } else {
        s.proxy = std::make_unique<Proxy>(config_.proxy, peer, now_ns / 1'000'000);
    }
    s.proxy->set_wall_clock_offset_ms(wall_offset_ms_);
    s.session_id = peer.session_id;
    if (config_.proxy.inspect) {
        s.inspector = std::make_unique<Inspector>(*this, index, peer.session_id, shared_config());
        s.proxy->set_inspector(s.inspector.get());
    }
    stack.set_user(c, user_of(index, 0));
    ++active_;
    counters_.sessions.add();
}

void SmtpService::drain_logs(Slot& s) {
    s.proxy->drain_lan_reply_ms(
        [&](std::uint64_t ms) { counters_.lan_reply_latency.observe_us(ms * 1000); });
    MessageLog m;
    while (s.proxy->poll_log(m)) {
        if (m.verdict_ms >= 0)
            counters_.verdict_latency.observe_us(static_cast<std::uint64_t>(m.verdict_ms) * 1000);
        if (m.status == "sent")
            counters_.messages_sent.add();
        else if (m.status == "aborted")
            counters_.messages_aborted.add();
        else if (m.id.empty() || !m.detail.empty())
            counters_.refusals.add();
        else if (m.status == "deferred")
            counters_.messages_deferred.add();
        else
            counters_.messages_rejected.add();
        if (sink_)
            sink_->line(config_.json_log ? format_log_json(m) : format_log_line(m));
    }
}

// Sender octets for the session: from TCP, or out of TLS once it is up
// (records go in only as far as TLS takes them: the rest waits in
// s.records, then in the stack, whose window closes). Into scratch_.
std::size_t SmtpService::read_client(tcp::TcpStack& stack, Slot& s, std::size_t want) {
    if (!s.tls)
        return stack.receive(s.client, std::span(scratch_.data(), want));
    for (;;) {
        if (s.records.empty()) {
            std::size_t n = stack.receive(s.client, scratch_);
            if (n == 0)
                break;
            s.records.assign(reinterpret_cast<const char*>(scratch_.data()), n);
        }
        std::size_t took = s.tls->feed(
            std::span(reinterpret_cast<const std::uint8_t*>(s.records.data()), s.records.size()));
        s.records.erase(0, took);
        if (took == 0)
            break;
    }
    return s.tls->read(std::span(scratch_.data(), want));
}

// TLS records for the sender (handshake, replies, alerts) onto TCP.
bool SmtpService::flush_tls(tcp::TcpStack& stack, Slot& s) {
    std::string_view out = s.tls->pending_output();
    if (out.empty())
        return false;
    std::size_t n = stack.send(
        s.client, std::span(reinterpret_cast<const std::uint8_t*>(out.data()), out.size()));
    s.tls->consume_output(n);
    return n != 0;
}

// The sender's side: TCP (and TLS after STARTTLS) <-> session.
bool SmtpService::serve_client(tcp::TcpStack& stack, Slot& s, std::uint64_t now_ms) {
    Proxy& p = *s.proxy;
    bool moved = false;
    // RFC 3207: the 220 to STARTTLS went out in clear; TLS takes the stream.
    if (s.tls_pending && p.client_output().empty()) {
        s.tls_pending = false;
        s.tls = std::make_unique<tls::TlsStream>(config_.tls_server);
        moved = true;
    }
    while (!s.tls_pending) {
        std::size_t room = p.client_input_room();
        if (room == 0)
            break;
        if (s.unread.empty()) {
            std::size_t n = read_client(stack, s, std::min(room, scratch_.size()));
            if (n == 0)
                break;
            s.unread.assign(reinterpret_cast<const char*>(scratch_.data()), n);
        }
        std::size_t used = p.on_client_input(
            std::span(reinterpret_cast<const std::uint8_t*>(s.unread.data()), s.unread.size()),
            now_ms);
        s.unread.erase(0, used);
        moved = moved || used != 0;
        if (p.take_starttls()) {
            // RFC 3207 5: what the sender wrote after STARTTLS before seeing
            // the 220 (the CVE-2011-0411 injection) is dropped, never run.
            s.unread.clear();
            s.tls_pending = config_.tls_server != nullptr;
            counters_.tls_started.add();
            break;
        }
        if (used == 0)
            break;
    }
    // Replies: in clear, or through TLS once the handshake is done.
    std::string_view out = p.client_output();
    if (!out.empty() && !s.tls) {
        std::size_t n = stack.send(
            s.client, std::span(reinterpret_cast<const std::uint8_t*>(out.data()), out.size()));
        p.consume_client_output(n);
        moved = moved || n != 0;
        if (n != 0 && !s.banner_sent) {
            s.banner_sent = true;
            counters_.banner_latency.observe_us((now_ms - s.accepted_ms) * 1000);
        }
    } else if (!out.empty() && s.tls->handshake_done()) {
        std::size_t n =
            s.tls->write(std::span(reinterpret_cast<const std::uint8_t*>(out.data()), out.size()));
        p.consume_client_output(n);
        moved = moved || n != 0;
    }
    if (s.tls) {
        moved = flush_tls(stack, s) || moved;
        if (s.tls->handshake_done() && !s.tls_reported) {
            s.tls_reported = true;
            counters_.tls_established.add();
            if (s.tls->resumed())
                counters_.tls_resumed.add();
            p.on_tls_established(s.tls->protocol() + " " + s.tls->cipher());
        }
        if (s.tls->failed() && !s.client_closed_by_us) {
            // A broken handshake or record: no SMTP reply can reach the
            // sender any more; the alert (if any) went out, the connection closes.
            counters_.tls_failed.add();
            s.client_closed_by_us = true;
            p.on_client_closed(now_ms);
            stack.close(s.client);
            return true;
        }
    }
    bool tls_drained = !s.tls || s.records.empty();
    if (s.client_eof && s.unread.empty() && tls_drained && stack.readable(s.client) == 0 &&
        !p.session().suspended() && !p.client_wants_close()) {
        p.on_client_closed(now_ms); // nothing more will come
        moved = true;
    }
    // A session that ends during the handshake (its idle timer) has no way
    // to tell the sender: its reply cannot be encrypted yet. Just close.
    bool unsendable = s.tls && !s.tls->handshake_done();
    if (p.client_wants_close() && (p.client_output().empty() || unsendable) &&
        !s.client_closed_by_us) {
        if (s.tls && s.tls->handshake_done()) {
            s.tls->shutdown(); // close_notify, then FIN
            flush_tls(stack, s);
        }
        s.client_closed_by_us = true;
        stack.close(s.client);
    }
    return moved;
}

// The LAN side: TCP (and TLS after STARTTLS, as the client) <-> the proxy's client.
bool SmtpService::serve_lan(tcp::TcpStack& stack, Slot& s, std::uint64_t now_ms) {
    Proxy& p = *s.proxy;
    bool moved = false;
    auto bytes = [](std::string_view v) {
        return std::span(reinterpret_cast<const std::uint8_t*>(v.data()), v.size());
    };
    if (s.lan_tls_pending && p.lan_output().empty()) { // STARTTLS went out in clear
        s.lan_tls_pending = false;
        s.lan_tls = std::make_unique<tls::TlsStream>(config_.tls_client);
        s.lan_tls_reported = false;
        moved = true;
    }
    if (!s.lan_tls) {
        std::size_t n;
        while (!s.lan_tls_pending && (n = stack.receive(s.lan, scratch_)) != 0) {
            p.on_lan_input(std::span(scratch_.data(), n), now_ms);
            moved = true;
            if (p.lan_take_starttls()) { // RFC 3207: nothing more in clear
                if (config_.tls_client)
                    s.lan_tls_pending = true;
                else
                    p.on_lan_tls_failed(now_ms);
            }
        }
    } else {
        for (;;) {
            if (s.lan_records.empty()) {
                std::size_t n = stack.receive(s.lan, scratch_);
                if (n == 0)
                    break;
                s.lan_records.assign(reinterpret_cast<const char*>(scratch_.data()), n);
            }
            std::size_t took = s.lan_tls->feed(bytes(s.lan_records));
            s.lan_records.erase(0, took);
            moved = moved || took != 0;
            if (took == 0)
                break;
        }
        if (s.lan_tls->handshake_done() && !s.lan_tls_reported) {
            s.lan_tls_reported = true;
            counters_.lan_tls_established.add();
            p.on_lan_tls_established(now_ms); // EHLO again, inside TLS
        }
        std::size_t n;
        while ((n = s.lan_tls->read(scratch_)) != 0) {
            p.on_lan_input(std::span(scratch_.data(), n), now_ms);
            moved = true;
        }
    }
    std::string_view out = p.lan_output();
    if (!out.empty() && !s.lan_tls) {
        std::size_t sent = stack.send(s.lan, bytes(out));
        p.consume_lan_output(sent);
        moved = moved || sent != 0;
    } else if (!out.empty() && s.lan_tls->handshake_done()) {
        std::size_t took = s.lan_tls->write(bytes(out));
        p.consume_lan_output(took);
        moved = moved || took != 0;
    }
    if (s.lan_tls) {
        std::string_view records = s.lan_tls->pending_output();
        if (!records.empty()) {
            std::size_t sent = stack.send(s.lan, bytes(records));
            s.lan_tls->consume_output(sent);
            moved = moved || sent != 0;
        }
        if (s.lan_tls->failed() && !s.lan_closed_by_us) {
            counters_.lan_tls_failed.add();
            p.on_lan_tls_failed(now_ms); // every step gets 451 4.7.5
            s.lan_closed_by_us = true;
            stack.close(s.lan);
            return true;
        }
    }
    if (p.lan_wants_close() && p.lan_output().empty() && !s.lan_closed_by_us) {
        if (s.lan_tls && s.lan_tls->handshake_done()) {
            s.lan_tls->shutdown();
            std::string_view records = s.lan_tls->pending_output();
            s.lan_tls->consume_output(stack.send(s.lan, bytes(records)));
        }
        s.lan_closed_by_us = true;
        stack.close(s.lan);
    }
    return moved;
}

// Moves octets until nothing moves: sender -> session, replies -> sender,
// LAN connection wishes, client commands -> LAN, LAN replies -> client.
void SmtpService::serve(tcp::TcpStack& stack, Slot& s, std::uint64_t now_ms) {
    Proxy& p = *s.proxy;
    for (int round = 0; round < 64; ++round) {
        bool moved = false;
        if (!s.client_gone)
            moved = serve_client(stack, s, now_ms) || moved;
        // The LAN side.
        if (p.lan_connect_wanted()) {
            std::size_t index = static_cast<std::size_t>(&s - slots_.data());
            if (!(s.lan == kNoConn) && !s.lan_closed_by_us)
                stack.close(s.lan); // the previous client's connection: failed, abandoned
            auto info = stack.info(s.client);
            bool v6 = info && !info->tuple.local.is_v4_mapped() && config_.has_v6;
            p.on_lan_opening();
            s.lan_closed_by_us = false;
            s.lan_tls.reset(); // a new connection starts in clear
            s.lan_tls_pending = false;
            s.lan_records.clear();
            s.lan = v6 ? stack.connect(config_.local6, config_.lan6, config_.lan_port, *this,
                                       now_ms * 1'000'000)
                       : stack.connect(config_.local4, config_.lan4, config_.lan_port, *this,
                                       now_ms * 1'000'000);
            counters_.lan_connects.add();
            if (s.lan == kNoConn) {
                counters_.lan_connect_failures.add();
                p.on_lan_closed(now_ms);
            } else {
                stack.set_user(s.lan, user_of(index, 1));
            }
            moved = true;
        }
        if (!(s.lan == kNoConn))
            moved = serve_lan(stack, s, now_ms) || moved;
        if (!moved)
            break;
    }
    s.expiry_ms = p.next_expiry();
    if (p.take_misbehaved() && reporter_)
        reporter_->misbehaved(s.peer);
    drain_logs(s);
}

void SmtpService::release_if_done(tcp::TcpStack& stack, Slot& s) {
    if (!s.proxy || !s.client_gone || !(s.lan == kNoConn))
        return;
    stack.set_user(s.client, 0); // later events of the connection find no session
    drain_logs(s);
    s.proxy.reset();
    s.inspector.reset();
    s.tls.reset();
    s.unread.clear();
    s.unread.shrink_to_fit();
    s.records.clear();
    s.records.shrink_to_fit();
    s.lan_tls.reset();
    s.lan_records.clear();
    s.lan_records.shrink_to_fit();
    free_.push_back(static_cast<std::uint32_t>(&s - slots_.data()));
    --active_;
}

void SmtpService::on_events(tcp::TcpStack& stack, ConnRef c, std::uint32_t events,
                            std::uint64_t now_ns) {
    std::uintptr_t u = stack.user(c);
    if (u == 0) {
        if (!(events & ev::kEstablished))
            return;
        accept(stack, c, now_ns);
        u = stack.user(c);
        if (u == 0)
            return;
    }
    Slot& s = slots_[(u >> 1) - 1];
    if (!s.proxy)
        return;
    std::uint64_t now_ms = now_ns / 1'000'000;
    bool lan = (u & 1) != 0;
    if (lan) {
        if (!(c == s.lan))
            return; // an older LAN connection of this slot
        if (events & ev::kEstablished)
            s.proxy->on_lan_connected(now_ms);
        if (events & (ev::kReset | ev::kTimedOut | ev::kClosed | ev::kPeerClosed)) {
            // Gone, or the server hung up (after our QUIT, or on its own:
            // then what is pending fails and the sender gets a 4xx). Its
            // remaining TCP life (TIME-WAIT) is no longer ours.
            if ((events & ev::kPeerClosed) && !s.lan_closed_by_us)
                stack.close(c);
            stack.set_user(c, 0);
            s.lan = kNoConn;
            s.proxy->on_lan_closed(now_ms);
        }
    } else {
        if (events & (ev::kReset | ev::kTimedOut | ev::kClosed)) {
            // Gone. If that was mid-message, the message is incomplete: the
            // proxy makes the LAN side drop it (no final dot).
            s.client_gone = true;
            s.proxy->on_client_closed(now_ms);
        } else if (events & ev::kPeerClosed) {
            // A half-close: the sender may still read our replies to what it
            // sent before its FIN; the session ends once it has taken all.
            s.client_eof = true;
        }
    }
    serve(stack, s, now_ms);
    // Both directions closed: the connection's TIME-WAIT is the stack's business.
    if (!s.client_gone && s.client_eof && s.client_closed_by_us)
        s.client_gone = true;
    release_if_done(stack, s);
}

void SmtpService::poll(tcp::TcpStack& stack, std::uint64_t now_ns) {
    std::uint64_t now_ms = now_ns / 1'000'000;
    if (now_ms < next_timer_scan_ms_ || active_ == 0)
        return;
    next_timer_scan_ms_ = now_ms + 10; // SMTP timers are seconds: 10 ms is precise enough
    for (auto& s : slots_) {
        if (!s.proxy || s.expiry_ms > now_ms)
            continue;
        s.proxy->on_timer(now_ms);
        serve(stack, s, now_ms);
        release_if_done(stack, s);
    }
}

void SmtpService::reconfigure(const SmtpServiceConfig& config) {
    std::uint16_t port = config_.port;
    std::size_t max_sessions = config_.max_sessions;
    config_ = config;
    config_.port = port;
    config_.max_sessions = max_sessions;
    shared_config_.reset();
}

std::shared_ptr<const SmtpServiceConfig> SmtpService::shared_config() {
    if (!shared_config_)
        shared_config_ = std::make_shared<const SmtpServiceConfig>(config_);
    return shared_config_;
}

} // namespace smtpgw::smtp
