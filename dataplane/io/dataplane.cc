// dataplane.cc: EAL, ports and lcores (see header).
#include "io/dataplane.h"

#include <cstdio>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <sys/random.h>

#include <algorithm>
#include <cstring>

#include "io/tcp_adapter.h"

namespace smtpgw::io {

namespace {
// The peer filter's auto-list requests leave the lcore through a ring.
// SMTP log lines from an lcore to the control plane: the string is handed
// over whole (the consumer deletes it); a full ring drops the line, counted.
class RingSmtpLogSink final : public smtp::SmtpLogSink {
  public:
    RingSmtpLogSink(rte_ring* ring, net::Counter& dropped) : ring_(ring), dropped_(dropped) {}
    void line(std::string_view text) override {
        auto* s = new std::string(text);
        if (rte_ring_enqueue(ring_, s) != 0) {
            delete s;
            dropped_.add();
        }
    }

  private:
    rte_ring* ring_;
    net::Counter& dropped_;
};

// Early talkers seen by the SMTP engine go to this lcore's peer filter
// (created after the TCP adapter, so looked up at report time).
class FilterPeerReporter final : public smtp::SmtpPeerReporter {
  public:
    explicit FilterPeerReporter(WorkerState& w) : w_(w) {}
    void misbehaved(const net::Ipv6Addr& peer) override {
        if (w_.peer_filter)
            w_.peer_filter->report_misbehaving(peer);
    }
    // The sender's address (IPv6: its /64), listed for scan.virus_auto_list_s
    // by the control plane (which drops the request when that is 0).
    void sent_virus(const net::Ipv6Addr& peer) override {
        if (!w_.auto_list_out)
            return;
        AutoListRequest r;
        r.length = peer.is_v4_mapped() ? 128 : 64;
        r.addr = net::Ipv6Prefix{peer, r.length}.network().addr;
        r.virus = 1;
        (void)rte_ring_enqueue_elem(w_.auto_list_out, &r,
                                    sizeof r); // full: dropped, counted nowhere
    }

  private:
    WorkerState& w_;
};

class RingAutoListSink final : public filter::AutoListSink {
  public:
    explicit RingAutoListSink(rte_ring* ring) : ring_(ring) {}
    bool request(const net::Ipv6Prefix& aggregate) override {
        AutoListRequest r;
        r.addr = aggregate.addr;
        r.length = aggregate.length;
        return rte_ring_enqueue_elem(ring_, &r, sizeof r) == 0;
    }

  private:
    rte_ring* ring_;
};

constexpr std::uint16_t kRxDescriptors = 1024;
constexpr std::uint16_t kTxDescriptors = 1024;
constexpr std::uint64_t kNsPerSecond = 1000000000ull;
} // namespace

Dataplane::~Dataplane() {
    stop();
}

std::string Dataplane::init(int argc, char** argv) {
    int consumed = rte_eal_init(argc, argv);
    if (consumed < 0)
        return std::string("EAL init failed: ") + rte_strerror(rte_errno);
    eal_ready_ = true;
    if (rte_lcore_count() != board_.worker_lcores.size() + 1)
        return "EAL started " + std::to_string(rte_lcore_count()) + " lcores, the board wants " +
               std::to_string(board_.worker_lcores.size() + 1);

    pool_ = rte_pktmbuf_pool_create("smtpgw_mbufs", board_.mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                    static_cast<int>(rte_socket_id()));
    if (!pool_)
        return std::string("mbuf pool: ") + rte_strerror(rte_errno);

    for (unsigned lcore : board_.worker_lcores) {
        auto w = std::make_unique<WorkerState>();
        w->lcore_id = lcore;
        w->settings = WorkerSettings{board_.idle_backoff, board_.idle_sleep_max_us};
        w->stop = &stop_workers_;
        w->pool = pool_;
        if (auto err = w->mailbox.create(lcore); !err.empty())
            return err;
        // With several lcores, any may hand this one a frame it owns
        // (steering) or a neighbor it learned; one lcore needs neither ring,
        // and its loop then polls neither.
        if (board_.worker_lcores.size() > 1) {
            std::string ring = "steer_" + std::to_string(lcore);
            w->steer_in = rte_ring_create(ring.c_str(), 4096, SOCKET_ID_ANY, RING_F_SC_DEQ);
            if (!w->steer_in)
                return "steering ring for lcore " + std::to_string(lcore) + ": " +
                       rte_strerror(rte_errno);
            ring = "neigh_" + std::to_string(lcore);
            w->neighbor_in = rte_ring_create_elem(ring.c_str(), sizeof(NeighborNews), 1024,
                                                  SOCKET_ID_ANY, RING_F_SC_DEQ);
            if (!w->neighbor_in)
                return "neighbor ring for lcore " + std::to_string(lcore) + ": " +
                       rte_strerror(rte_errno);
        }
        workers_.push_back(std::move(w));
    }
    for (auto& w : workers_)
        for (auto& peer : workers_)
            w->peers.push_back(peer.get());
    for (const auto& profile : board_.ports) {
        PortInfo info{};
        if (auto err = setup_port(info, profile); !err.empty())
            return err;
        ports_.push_back(info);
    }
    return setup_tcp();
}

// The SMTP engine's settings from the profile's smtp.* keys; none when SMTP
// is off or has no LAN server to forward to. TLS is added by the caller.
static std::optional<smtp::SmtpServiceConfig>
smtp_service_config(const board::BoardProfile& board) {
    const board::SmtpProfile& m = board.smtp;
    const board::PortProfile* lan = board.port("lan");
    if (!m.enabled || !m.lan_server4 || !lan)
        return std::nullopt;
    smtp::SmtpServiceConfig sc;
    sc.port = m.port;
    sc.lan_port = m.lan_port;
    sc.max_sessions = m.max_sessions;
    sc.local4 = net::v4_mapped(lan->ipv4.addr);
    sc.lan4 = net::v4_mapped(*m.lan_server4);
    if (m.lan_server6 && lan->ipv6) {
        sc.has_v6 = true;
        sc.local6 = lan->ipv6->addr;
        sc.lan6 = *m.lan_server6;
    }
    smtp::SessionConfig& s = sc.proxy.session;
    s.hostname = m.hostname;
    s.relay.domains = m.relay_domains;
    s.relay.relay_subdomains = m.relay_subdomains;
    s.max_message_bytes = m.max_message_bytes;
    s.max_recipients = m.max_recipients;
    s.banner_delay_ms = m.banner_delay_ms;
    s.idle_before_helo_ms = s.idle_command_ms = s.idle_data_ms =
        std::uint64_t{m.idle_timeout_s} * 1000;
    s.bare_newline = m.bare_newline_normalize ? smtp::BareNewlinePolicy::normalize
                                              : smtp::BareNewlinePolicy::reject;
    sc.proxy.client.helo_name = m.hostname;
    sc.json_log = m.log_json;
    const board::ScanProfile& c = board.scan;
    sc.proxy.inspect = c.enabled;
    sc.scan.antivirus = c.enabled && !c.av_database.empty();
    sc.scan.on_mime_limit =
        content::parse_disposition(c.on_mime_limit).value_or(content::Disposition::reject);
    sc.scan.on_scan_error = sc.scan.on_av_error =
        content::parse_disposition(c.on_error).value_or(content::Disposition::tempfail);
    sc.scan.verdict.score_threshold = static_cast<int>(c.score_threshold);
    sc.scan.mime.max_depth = c.max_depth;
    sc.scan.mime.max_parts = c.max_parts;
    // Bounded by what a sender may send at all (plus base64's shrinking).
    sc.scan.av_max_part_bytes = m.max_message_bytes;
    sc.scan.av_max_message_bytes = 2 * m.max_message_bytes;
    return sc;
}

// The outbound service's settings: the inbound ones (scanning, rules, TLS,
// limits) turned around: listening on smtp.outbound_port for the LAN's
// clients only, relaying any domain, to the relay host from the WAN address.
static std::optional<smtp::SmtpServiceConfig>
outbound_service_config(const board::BoardProfile& board, const smtp::SmtpServiceConfig& in) {
    const board::SmtpProfile& m = board.smtp;
    const board::PortProfile* wan = board.port("wan");
    const board::PortProfile* lan = board.port("lan");
    if (m.outbound_port == 0 || !m.outbound_relay4 || !wan || !lan)
        return std::nullopt;
    smtp::SmtpServiceConfig o = in;
    o.outbound = true;
    o.port = m.outbound_port;
    o.local4 = net::v4_mapped(wan->ipv4.addr);
    o.lan4 = net::v4_mapped(*m.outbound_relay4);
    o.lan_port = m.outbound_relay_port;
    o.has_v6 = false;
    o.proxy.session.relay.any_domain = true;
    o.proxy.session.relay.recipients.clear();
    o.tls_required_networks.clear();
    o.allowed_clients = m.outbound_networks;
    if (o.allowed_clients.empty()) { // the LAN port's own networks
        o.allowed_clients.push_back(
            net::Ipv6Prefix{net::v4_mapped(lan->ipv4.network().addr),
                            static_cast<std::uint8_t>(lan->ipv4.length + 96)});
        if (lan->ipv6)
            o.allowed_clients.push_back(lan->ipv6->network());
    }
    return o;
}

std::string Dataplane::setup_tcp() {
    const board::TcpProfile& t = board_.tcp;
    TcpAdapterConfig cfg;
    cfg.stack.max_connections = t.max_connections;
    cfg.stack.syn_backlog_high = t.syn_backlog_high;
    cfg.stack.syn_backlog_low = t.syn_backlog_low;
    cfg.stack.syn_backlog_proven = t.syn_backlog_proven;
    cfg.stack.time_wait_max = t.time_wait_max;
    cfg.stack.owner_count = static_cast<std::uint16_t>(workers_.size());
    cfg.stack.mtu = 1500;
    for (const auto& p : board_.ports)
        cfg.stack.mtu = std::min(cfg.stack.mtu, p.mtu);
    // RFC 6528 / 4987: the hash keys must be unpredictable; getrandom blocks
    // only until the kernel's pool is initialised, once per boot.
    if (getrandom(&cfg.secrets, sizeof cfg.secrets, 0) != static_cast<ssize_t>(sizeof cfg.secrets))
        return "getrandom failed: no keys for TCP sequence numbers and SYN cookies";
    cfg.lab_services = t.lab_services;
    if (t.relay_port != 0) {
        const board::PortProfile* lan = board_.port("lan");
        cfg.relay_port = t.relay_port;
        cfg.relay.remote_port = t.relay_port;
        cfg.relay.local4 = net::v4_mapped(lan->ipv4.addr);
        cfg.relay.remote4 = net::v4_mapped(*t.relay_target4);
        if (t.relay_target6 && lan->ipv6) {
            cfg.relay.has_v6 = true;
            cfg.relay.local6 = lan->ipv6->addr;
            cfg.relay.remote6 = *t.relay_target6;
        }
    }
    if (auto why = build_smtp(board_, cfg.smtp); !why.empty()) {
        // STARTTLS is not offered, mail still flows: say so loudly.
        std::fprintf(stderr, "smtpgw: STARTTLS off: %s\n", why.c_str());
        cfg.smtp = smtp_service_config(board_);
    }
    if (cfg.smtp) {
        smtp_config_ = std::make_shared<const smtp::SmtpServiceConfig>(*cfg.smtp);
        tls_server_ = cfg.smtp->tls_server;
        cfg.smtp_outbound = outbound_service_config(board_, *cfg.smtp);
        if (cfg.smtp_outbound)
            smtp_outbound_config_ =
                std::make_shared<const smtp::SmtpServiceConfig>(*cfg.smtp_outbound);
    }
    // RCU for the peer table: one reader thread id per worker.
    auto nthreads = static_cast<std::uint32_t>(workers_.size());
    qsbr_ = static_cast<rte_rcu_qsbr*>(
        rte_zmalloc("peer_table_qsbr", rte_rcu_qsbr_get_memsize(nthreads), RTE_CACHE_LINE_SIZE));
    if (!qsbr_ || rte_rcu_qsbr_init(qsbr_, nthreads) != 0)
        return "RCU state for the peer filter: " + std::string(rte_strerror(rte_errno));
    filter::PeerLimitSettings limits = board_.peer_limits;
    filter::PeerHashKey limits_key;
    if (getrandom(&limits_key, sizeof limits_key, 0) != static_cast<ssize_t>(sizeof limits_key))
        return "getrandom failed: no key for the per-peer limits table";
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        WorkerState& w = *workers_[i];
        cfg.stack.owner_index = static_cast<std::uint16_t>(i);
        std::string log_ring = "smtplog_" + std::to_string(w.lcore_id);
        w.smtp_log_out =
            rte_ring_create(log_ring.c_str(), 4096, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (!w.smtp_log_out)
            return "SMTP log ring: " + std::string(rte_strerror(rte_errno));
        w.smtp_log_sink =
            std::make_unique<RingSmtpLogSink>(w.smtp_log_out, w.smtp_counters.log_lines_dropped);
        w.smtp_reporter = std::make_unique<FilterPeerReporter>(w);
        w.tcp = std::make_unique<TcpAdapter>(w, cfg);
        w.tcp->stack().set_idle_timeout(std::uint64_t{t.idle_timeout_s} * 1'000'000'000ull);
        w.qsbr = qsbr_;
        w.qsbr_id = static_cast<unsigned>(i);
        rte_rcu_qsbr_thread_register(qsbr_, w.qsbr_id);
        w.peer_filter = std::make_unique<filter::PeerFilter>(peer_table_, limits, limits_key,
                                                             w.filter_events, w.filter_lists);
        w.tcp->stack().set_admission(w.peer_filter.get());
        std::string ring = "autolist_" + std::to_string(w.lcore_id);
        w.auto_list_out = rte_ring_create_elem(ring.c_str(), sizeof(AutoListRequest), 1024,
                                               SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (!w.auto_list_out)
            return "auto-list ring: " + std::string(rte_strerror(rte_errno));
        w.auto_list_sink = std::make_unique<RingAutoListSink>(w.auto_list_out);
        w.peer_filter->set_auto_list(w.auto_list_sink.get(), &auto_list_s_);
    }
    // The antivirus threads, when scanning wants them.
    if (smtp_config_ && smtp_config_->scan.antivirus) {
        const board::ScanProfile& c = board_.scan;
        if (auto why = av_.start(av_worker_config(board_), c.av_threads,
                                 static_cast<unsigned>(workers_.size()));
            !why.empty()) {
            // Mail still flows; messages with parts get 451 until `av reload` works.
            std::fprintf(stderr, "smtpgw: antivirus off: %s\n", why.c_str());
            av_.stop();
        } else {
            for (std::size_t i = 0; i < workers_.size(); ++i)
                workers_[i]->tcp->set_av_queue(av_.queue(static_cast<unsigned>(i)));
        }
    }
    return {};
}

av::AvWorkerConfig Dataplane::av_worker_config(const board::BoardProfile& board) {
    av::AvWorkerConfig w;
    w.executable = av::default_worker_executable();
    w.db_dir = board.scan.av_database;
    w.limits = av_limits(board);
    w.sandbox.user = board.scan.av_user;
    w.sandbox.scratch_dir = board.scan.av_scratch_dir;
    w.sandbox.max_memory_bytes = std::uint64_t{board.scan.av_max_memory_mb} << 20;
    return w;
}

av::AvLimits Dataplane::av_limits(const board::BoardProfile& board) {
    const board::ScanProfile& c = board.scan;
    av::AvLimits l;
    l.max_scan_bytes = std::uint64_t{c.av_max_scan_mb} << 20;
    // A part is at most a message: never refuse to scan what a sender may send.
    l.max_file_bytes = std::max<std::uint64_t>(l.max_file_bytes, board.smtp.max_message_bytes);
    l.max_recursion = c.av_max_recursion;
    l.max_files = c.av_max_files;
    l.max_scan_ms = c.av_max_scan_s * 1000;
    return l;
}

std::string Dataplane::load_rules(const board::BoardProfile& board, bool force) {
    const board::ScanProfile& c = board.scan;
    if (!force && rules_path_ == c.rules_file && (rules_ || c.rules_file.empty()))
        return {};
    if (c.rules_file.empty()) {
        rules_.reset();
        rules_path_.clear();
        return {};
    }
    rules::CacheReport report;
    auto t0 = std::chrono::steady_clock::now();
    auto r = rules::load_rule_set(c.rules_file, c.rules_cache, &report);
    if (auto* errors = std::get_if<std::vector<std::string>>(&r)) {
        std::string all;
        for (std::size_t i = 0; i < errors->size() && i < 20; ++i)
            all += (i ? "\n" : "") + (*errors)[i];
        return all;
    }
    rules_ = std::get<std::shared_ptr<const rules::RuleSet>>(r);
    rules_path_ = c.rules_file;
    rules_report_ = report;
    rules_load_ms_ =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return {};
}

std::string Dataplane::reload_rules(const board::BoardProfile& board) {
    if (!smtp_config_)
        return "the SMTP engine is not running";
    auto keep = rules_;
    auto keep_path = rules_path_;
    if (auto why = load_rules(board, true); !why.empty()) {
        rules_ = keep;
        rules_path_ = keep_path;
        return why;
    }
    auto next = std::make_shared<smtp::SmtpServiceConfig>(*smtp_config_);
    next->rules = rules_;
    return publish_smtp(std::move(next));
}

std::string Dataplane::reload_av(const board::BoardProfile& board) {
    if (!av_.running())
        return "the antivirus is not running (scan.enabled, scan.av_database; restart)";
    return av_.reload(av_worker_config(board));
}

std::uint64_t Dataplane::publish_peer_table(std::unique_ptr<const filter::PeerTable> table) {
    const filter::PeerTable* old = peer_table_.exchange(table.release(), std::memory_order_acq_rel);
    auto t0 = std::chrono::steady_clock::now();
    // Every online lcore passes a quiescent state (one loop iteration):
    // none can still hold `old`.
    if (qsbr_)
        rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID);
    auto waited =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    delete old;
    for (auto& w : workers_) {
        auto req = std::make_unique<ControlRequest>();
        req->kind = RequestKind::enforce_peer_filter;
        w->mailbox.call(std::move(req), 1000);
    }
    return static_cast<std::uint64_t>(waited);
}

std::string Dataplane::setup_port(PortInfo& info, const board::PortProfile& profile) {
    std::uint16_t pid = 0;
    std::string name = profile.device;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &pid) != 0)
        return "port " + profile.role + ": no DPDK device '" + name +
               "' (is the interface there and the PMD loaded?)";
    auto nq = static_cast<std::uint16_t>(workers_.size());
    rte_eth_conf conf{};
    if (int rc = rte_eth_dev_configure(pid, nq, nq, &conf); rc != 0)
        return "port " + profile.role + ": configure: " + rte_strerror(-rc);
    std::uint16_t nrx = kRxDescriptors, ntx = kTxDescriptors;
    rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nrx, &ntx);
    int socket = rte_eth_dev_socket_id(pid);
    for (std::uint16_t q = 0; q < nq; ++q) {
        if (int rc =
                rte_eth_rx_queue_setup(pid, q, nrx, static_cast<unsigned>(socket), nullptr, pool_);
            rc != 0)
            return "port " + profile.role + ": rx queue: " + rte_strerror(-rc);
        if (int rc = rte_eth_tx_queue_setup(pid, q, ntx, static_cast<unsigned>(socket), nullptr);
            rc != 0)
            return "port " + profile.role + ": tx queue: " + rte_strerror(-rc);
    }
    if (int rc = rte_eth_dev_start(pid); rc != 0)
        return "port " + profile.role + ": start: " + rte_strerror(-rc);
    rte_eth_promiscuous_enable(pid); // IPv6 multicast (ND) must reach us

    rte_ether_addr mac{};
    rte_eth_macaddr_get(pid, &mac);
    info.port_id = pid;
    info.role = profile.role;
    info.device = profile.device;
    info.mtu = profile.mtu;
    std::memcpy(info.addressing.mac.bytes.data(), mac.addr_bytes, 6);
    info.addressing.ipv4 = profile.ipv4;
    if (profile.ipv6)
        info.addressing.ipv6 = *profile.ipv6;
    info.addressing.link_local = net::link_local_from_mac(info.addressing.mac);

    for (std::uint16_t q = 0; q < nq; ++q) {
        auto wp = std::make_unique<WorkerPort>(
            pid, q, profile.role, info.addressing,
            net::NeighborCache(board_.neighbor_cache_size,
                               board_.neighbor_max_age_s * kNsPerSecond));
        wp->gateway4 = profile.gateway4;
        wp->gateway6 = profile.gateway6;
        workers_[q]->ports.push_back(std::move(wp));
    }
    return {};
}

std::string Dataplane::start() {
    stop_workers_.store(false);
    for (auto& w : workers_) {
        if (int rc = rte_eal_remote_launch(worker_main, w.get(), w->lcore_id); rc != 0)
            return "cannot launch lcore " + std::to_string(w->lcore_id) + ": " + rte_strerror(-rc);
    }
    running_ = true;
    started_at_ = std::chrono::steady_clock::now();
    return {};
}

void Dataplane::stop() {
    if (running_) {
        stop_workers_.store(true);
        rte_eal_mp_wait_lcore();
        running_ = false;
    }
    for (auto& w : workers_)
        if (w->tcp)
            w->tcp->set_av_queue(nullptr);
    av_.stop();
    for (auto& w : workers_) {
        release_worker_frames(*w);
        w->tcp.reset(); // the TCP stack's services and held frames go before the pool
        w->peer_filter.reset();
    }
    delete peer_table_.exchange(nullptr);
    rte_free(qsbr_);
    qsbr_ = nullptr;
    for (auto& p : ports_) {
        rte_eth_dev_stop(p.port_id);
        rte_eth_dev_close(p.port_id);
    }
    ports_.clear();
    for (auto& w : workers_) {
        w->mailbox.destroy();
        if (w->steer_in) {
            rte_mbuf* m = nullptr;
            while (rte_ring_dequeue(w->steer_in, reinterpret_cast<void**>(&m)) == 0)
                rte_pktmbuf_free(m);
            rte_ring_free(w->steer_in);
            w->steer_in = nullptr;
        }
        rte_ring_free(w->neighbor_in);
        w->neighbor_in = nullptr;
        w->auto_list_sink.reset();
        rte_ring_free(w->auto_list_out);
        w->auto_list_out = nullptr;
        if (w->smtp_log_out) {
            void* line = nullptr;
            while (rte_ring_dequeue(w->smtp_log_out, &line) == 0)
                delete static_cast<std::string*>(line);
            rte_ring_free(w->smtp_log_out);
            w->smtp_log_out = nullptr;
        }
    }
    workers_.clear();
    if (pool_) {
        rte_mempool_free(pool_);
        pool_ = nullptr;
    }
    if (eal_ready_) {
        rte_eal_cleanup();
        eal_ready_ = false;
    }
}

std::vector<std::vector<std::vector<net::NeighborEntry>>> Dataplane::neighbor_snapshot() {
    std::vector<std::vector<std::vector<net::NeighborEntry>>> out;
    for (auto& w : workers_) {
        auto req = std::make_unique<ControlRequest>();
        req->kind = RequestKind::snapshot_neighbors;
        req->neighbors.resize(w->ports.size());
        for (std::size_t i = 0; i < w->ports.size(); ++i)
            req->neighbors[i].reserve(w->ports[i]->l3.neighbors.capacity());
        auto answered = w->mailbox.call(std::move(req), 1000);
        out.push_back(answered ? std::move(answered->neighbors)
                               : std::vector<std::vector<net::NeighborEntry>>{});
    }
    return out;
}

} // namespace smtpgw::io

namespace smtpgw::io {

std::vector<std::vector<tcp::ConnInfo>> Dataplane::tcp_snapshot(std::size_t max_per_lcore) {
    std::vector<std::vector<tcp::ConnInfo>> out;
    for (auto& w : workers_) {
        auto req = std::make_unique<ControlRequest>();
        req->kind = RequestKind::snapshot_tcp;
        req->connections.reserve(max_per_lcore);
        auto answered = w->mailbox.call(std::move(req), 1000);
        out.push_back(answered ? std::move(answered->connections) : std::vector<tcp::ConnInfo>{});
    }
    return out;
}

std::string Dataplane::set_fault(std::string_view role, const net::FaultSettings& f) {
    if (!board_.fault_injection)
        return "fault injection is off on board " + board_.name +
               " (fastpath.fault_injection = on is for lab boards)";
    if (auto why = net::fault_settings_error(f); !why.empty())
        return why;
    bool found = false;
    for (auto& w : workers_)
        for (std::size_t i = 0; i < w->ports.size(); ++i) {
            if (w->ports[i]->role != role)
                continue;
            found = true;
            auto req = std::make_unique<ControlRequest>();
            req->kind = RequestKind::set_fault;
            req->port_index = i;
            req->fault = f;
            if (!w->mailbox.call(std::move(req), 1000))
                return "lcore " + std::to_string(w->lcore_id) + " did not answer";
        }
    if (!found)
        return "no port '" + std::string(role) + "'";
    faults_[std::string(role)] = f;
    return {};
}

std::string Dataplane::set_tcp_idle_timeout(std::uint64_t ns) {
    for (auto& w : workers_) {
        auto req = std::make_unique<ControlRequest>();
        req->kind = RequestKind::set_tcp_idle;
        req->idle_timeout_ns = ns;
        if (!w->mailbox.call(std::move(req), 1000))
            return "lcore " + std::to_string(w->lcore_id) + " did not answer";
    }
    return {};
}

bool Dataplane::smtp_running() const {
    return !workers_.empty() && workers_.front()->tcp && workers_.front()->tcp->smtp();
}

std::string Dataplane::build_smtp(const board::BoardProfile& board,
                                  std::optional<smtp::SmtpServiceConfig>& out) {
    out = smtp_service_config(board);
    if (!out)
        return {};
    if (board.scan.enabled) {
        if (auto why = load_rules(board, false); !why.empty()) {
            if (!rules_) // at start: say so, and run without rules
                std::fprintf(stderr, "smtpgw: content rules off: %s\n", why.c_str());
            else
                return "content rules: " + why;
        }
        out->rules = rules_;
    }
    const board::TlsProfile& t = board.tls;
    // Toward the LAN server (the client side needs no certificate of ours).
    if (t.lan != "never") {
        tls::TlsClientSettings cs;
        cs.mode = t.lan == "required" ? tls::LanTlsMode::required : tls::LanTlsMode::opportunistic;
        cs.ca_file = t.lan_ca_file;
        cs.verify_name = t.lan_name;
        auto client = tls::TlsContext::make_client(cs);
        if (auto* why = std::get_if<std::string>(&client))
            return "TLS toward the LAN server: " + *why;
        out->tls_client = std::get<std::shared_ptr<const tls::TlsContext>>(client);
        out->proxy.client.tls =
            t.lan == "required" ? smtp::LanTls::required : smtp::LanTls::opportunistic;
    }
    if (t.certificates.empty())
        return t.required ? "tls.required needs tls.certificates" : "";
    tls::TlsServerSettings ts;
    for (const auto& [cert, key] : t.certificates)
        ts.certificates.push_back({cert, key});
    ts.min_version = t.min_version;
    ts.ciphers = t.ciphers;
    // The context being replaced keeps its tickets valid (as the previous key).
    auto made = tls::TlsContext::make_server(ts, tls_server_.get());
    if (auto* why = std::get_if<std::string>(&made))
        return "TLS: " + *why;
    out->tls_server = std::get<std::shared_ptr<const tls::TlsContext>>(made);
    out->proxy.session.tls_available = true;
    out->proxy.session.tls_required = t.required;
    out->tls_required_networks = t.required_networks;
    return {};
}

std::string Dataplane::set_smtp(const board::BoardProfile& board) {
    board_with_smtp_ = board;
    std::optional<smtp::SmtpServiceConfig> sc;
    if (auto why = build_smtp(board, sc); !why.empty())
        return why;
    if (!sc)
        return "SMTP is off or has no LAN server";
    return publish_smtp(std::make_shared<const smtp::SmtpServiceConfig>(std::move(*sc)));
}

std::string Dataplane::rotate_tls_tickets() {
    if (!smtp_config_ || !smtp_config_->tls_server)
        return "STARTTLS is off";
    auto made = tls::TlsContext::rotate_tickets(*smtp_config_->tls_server);
    if (auto* why = std::get_if<std::string>(&made))
        return "TLS: " + *why;
    auto next = std::make_shared<smtp::SmtpServiceConfig>(*smtp_config_);
    next->tls_server = std::get<std::shared_ptr<const tls::TlsContext>>(made);
    return publish_smtp(std::move(next));
}

std::string Dataplane::publish_smtp(std::shared_ptr<const smtp::SmtpServiceConfig> shared) {
    // The outbound service follows: the same settings turned around.
    std::shared_ptr<const smtp::SmtpServiceConfig> outbound;
    if (auto o = outbound_service_config(board_with_smtp_, *shared))
        outbound = std::make_shared<const smtp::SmtpServiceConfig>(std::move(*o));
    for (auto& w : workers_) {
        if (!w->tcp || !w->tcp->smtp())
            return "the SMTP engine is not running (it starts with smtp.enabled and a LAN server)";
        auto req = std::make_unique<ControlRequest>();
        req->kind = RequestKind::set_smtp;
        req->smtp = shared;
        req->smtp_outbound = outbound;
        if (!w->mailbox.call(std::move(req), 1000))
            return "lcore " + std::to_string(w->lcore_id) + " did not answer";
    }
    smtp_config_ = shared;
    smtp_outbound_config_ = outbound;
    tls_server_ = shared->tls_server;
    return {};
}

std::vector<std::string> Dataplane::take_smtp_log_lines() {
    std::vector<std::string> out;
    for (auto& w : workers_) {
        if (!w->smtp_log_out)
            continue;
        void* p[64];
        unsigned n;
        while ((n = rte_ring_dequeue_burst(w->smtp_log_out, p, 64, nullptr)) > 0)
            for (unsigned i = 0; i < n; ++i) {
                std::unique_ptr<std::string> s(static_cast<std::string*>(p[i]));
                out.push_back(std::move(*s));
            }
    }
    return out;
}

std::vector<AutoListed> Dataplane::take_auto_list_requests() {
    std::vector<AutoListed> out;
    for (auto& w : workers_) {
        if (!w->auto_list_out)
            continue;
        AutoListRequest r[64];
        unsigned n;
        while ((n = rte_ring_dequeue_burst_elem(w->auto_list_out, r, sizeof r[0], 64, nullptr)) > 0)
            for (unsigned i = 0; i < n; ++i)
                out.push_back({net::Ipv6Prefix{r[i].addr, r[i].length}, r[i].virus != 0});
    }
    return out;
}

} // namespace smtpgw::io
