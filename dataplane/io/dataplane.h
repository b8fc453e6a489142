// dataplane.h: brings the board's ports and fast-path lcores up and down.
//
// Purpose: the adapter between the board profile and DPDK: EAL, one mbuf
// pool, each port with one RX/TX queue per worker lcore, one WorkerState per
// worker, and an orderly stop (workers joined, ports stopped and closed,
// EAL cleaned up). Everything here runs on the main lcore; the per-packet
// path is in worker.cc.
// Error contract: init()/start() return an empty string or a one-line
// reason; after a failure, stop() still releases what was acquired.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "board_profile.h"
#include "io/av_scanners.h"
#include "io/worker.h"
#include "rules/rule_database.h"

struct rte_mempool;
struct rte_rcu_qsbr;

namespace smtpgw::io {

struct PortInfo {
    std::uint16_t port_id;
    std::string role;
    std::string device;
    net::PortAddressing addressing;
    std::uint16_t mtu;
};

// A peer an lcore asks the control plane to list for a while.
struct AutoListed {
    net::Ipv6Prefix prefix;
    bool virus = false; // it sent a virus (else: over a limit, or misbehaved)
};

class Dataplane {
  public:
    explicit Dataplane(board::BoardProfile board)
        : board_(std::move(board)), board_with_smtp_(board_) {}
    ~Dataplane();

    std::string init(int argc, char** argv); // EAL, mempool, ports, workers (not yet running)
    std::string start();                     // launches the worker lcores
    void stop();                             // idempotent

    const board::BoardProfile& board() const { return board_; }
    const std::vector<PortInfo>& ports() const { return ports_; }
    const std::vector<std::unique_ptr<WorkerState>>& workers() const { return workers_; }
    rte_mempool* mempool() const { return pool_; }
    bool running() const { return running_; }
    std::chrono::steady_clock::time_point started_at() const { return started_at_; }

    // Asks every worker for a copy of its neighbor caches (via mailboxes).
    // One vector per (worker, port); empty on timeout.
    std::vector<std::vector<std::vector<net::NeighborEntry>>> neighbor_snapshot();
    // Asks every worker for up to `max_per_lcore` of its TCP connections.
    std::vector<std::vector<tcp::ConnInfo>> tcp_snapshot(std::size_t max_per_lcore);
    // Sets fault injection on the port with `role` on every lcore. Error
    // contract: empty, or why not (board does not allow it, bad settings).
    std::string set_fault(std::string_view role, const net::FaultSettings& f);
    // Publishes `table` as the peer filter's table (nullptr: nothing listed),
    // waits until no lcore can still read the old one (RCU), frees it, then
    // has every lcore reset connections of peers the new table lists.
    // Returns the microseconds the swap waited for the lcores.
    std::uint64_t publish_peer_table(std::unique_ptr<const filter::PeerTable> table);
    const filter::PeerTable* peer_table() const { return peer_table_.load(); }
    // Peers over a limit are listed for this many seconds (0: off).
    void set_auto_list_seconds(std::uint32_t s) { auto_list_s_.store(s); }
    std::uint32_t auto_list_seconds() const { return auto_list_s_.load(); }
    // Takes the SMTP log lines every lcore queued (control side).
    std::vector<std::string> take_smtp_log_lines();
    // Takes the auto-list requests every lcore queued (control side).
    std::vector<AutoListed> take_auto_list_requests();
    // Senders of a virus are listed this many seconds (0: off).
    void set_virus_auto_list_seconds(std::uint32_t s) { virus_auto_list_s_.store(s); }
    std::uint32_t virus_auto_list_seconds() const { return virus_auto_list_s_.load(); }

    // TCP idle timeout for new connections on every lcore (0: never).
    std::string set_tcp_idle_timeout(std::uint64_t ns);
    // New SMTP settings (smtp.* keys of `board`) for sessions opened from
    // now on, on every lcore. Error contract: "" or the reason (SMTP not
    // running, an lcore did not answer); lcores already told keep them.
    std::string set_smtp(const board::BoardProfile& board);
    // Whether the SMTP engine runs (it starts with smtp.enabled and a LAN server).
    bool smtp_running() const;
    // A new STARTTLS ticket key for new handshakes (the current one stays
    // valid as the previous). Error contract: "" or the reason.
    std::string rotate_tls_tickets();
    // Content rules: compiles (or loads from the cache) `board`'s
    // scan.rules_file again and sends the set to every lcore for the next
    // messages. Error contract: "" or every bad line (FILE:LINE: reason);
    // the running set stays on failure.
    std::string reload_rules(const board::BoardProfile& board);
    // New antivirus workers (AvScanners::reload: one at a time, scanning
    // goes on) from `board`'s scan.av_* settings. Error contract: "" or why;
    // a worker that cannot load the new database keeps its previous one.
    std::string reload_av(const board::BoardProfile& board);
    bool av_running() const { return av_.running(); }
    const AvScanners& av() const { return av_; }
    std::shared_ptr<const rules::RuleSet> rules() const { return rules_; }
    const rules::CacheReport& rules_report() const { return rules_report_; }
    double rules_load_ms() const { return rules_load_ms_; }
    const std::string& rules_path() const { return rules_path_; }
    // The outbound service's settings (null: smtp.outbound_port is 0 or no relay host).
    std::shared_ptr<const smtp::SmtpServiceConfig> smtp_outbound_config() const {
        return smtp_outbound_config_;
    }
    // What the lcores run now (null when SMTP is off).
    std::shared_ptr<const smtp::SmtpServiceConfig> smtp_config() const { return smtp_config_; }
    // The settings last applied per role (absent: off).
    const std::map<std::string, net::FaultSettings, std::less<>>& faults() const { return faults_; }

  private:
    std::string setup_port(PortInfo& info, const board::PortProfile& profile);
    std::string setup_tcp();

    // The SMTP settings from `board` with its TLS context (built here, on
    // the control thread). Error contract: "" or the reason (a certificate
    // that does not load); `out` is then the settings without TLS.
    std::string build_smtp(const board::BoardProfile& board,
                           std::optional<smtp::SmtpServiceConfig>& out);
    std::string publish_smtp(std::shared_ptr<const smtp::SmtpServiceConfig> config);
    // rules_ from board.scan.rules_file unless already loaded from it (or
    // `force`). Error contract: "" or the file's errors; rules_ unchanged then.
    std::string load_rules(const board::BoardProfile& board, bool force);
    static av::AvLimits av_limits(const board::BoardProfile& board);
    static av::AvWorkerConfig av_worker_config(const board::BoardProfile& board);

    board::BoardProfile board_;
    std::shared_ptr<const smtp::SmtpServiceConfig> smtp_config_;
    std::shared_ptr<const smtp::SmtpServiceConfig> smtp_outbound_config_; // null: no outbound
    // The profile the SMTP settings were last built from (outbound keys).
    board::BoardProfile board_with_smtp_;
    std::shared_ptr<const tls::TlsContext> tls_server_;
    std::vector<PortInfo> ports_;
    std::vector<std::unique_ptr<WorkerState>> workers_;
    rte_mempool* pool_ = nullptr;
    std::atomic<bool> stop_workers_{false};
    bool eal_ready_ = false;
    bool running_ = false;
    std::chrono::steady_clock::time_point started_at_{};
    std::map<std::string, net::FaultSettings, std::less<>> faults_;
    // The peer filter's table, read by every lcore; replaced by
    // publish_peer_table() only (RCU with rte_rcu_qsbr).
    std::atomic<const filter::PeerTable*> peer_table_{nullptr};
    std::atomic<std::uint32_t> auto_list_s_{0};
    std::atomic<std::uint32_t> virus_auto_list_s_{0};
    rte_rcu_qsbr* qsbr_ = nullptr;
    AvScanners av_;
    std::shared_ptr<const rules::RuleSet> rules_;
    std::string rules_path_;
    rules::CacheReport rules_report_;
    double rules_load_ms_ = 0;
};

} // namespace smtpgw::io
