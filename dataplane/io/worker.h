// worker.h: the state one fast-path lcore owns, and its main loop.
//
// Purpose: this is the fast path. Each worker lcore polls one RX queue of
// every port, runs each frame through net::handle_frame, answers ARP/ND/echo
// in place, hands TCP segments to its TCP stack (io/tcp_adapter.h), batches
// transmissions per port, runs the TCP timers and answers its mailbox. All
// the state here is private to its lcore (shared-nothing); the control plane
// reads the counters (single-writer, lock-free) and asks for anything else
// through the mailbox. No logging, no locks inside the loop; allocation only
// when a connection is created.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "filter/peer_filter.h"
#include "io/delay_line.h"
#include "io/mailbox.h"
#include "net/counters.h"
#include "net/fault_injector.h"
#include "net/l3_input.h"
#include "smtp/smtp_service.h"
#include "tcp/tcp_stack.h"

struct rte_mbuf;
struct rte_mempool;
struct rte_rcu_qsbr;

namespace smtpgw::io {

class TcpAdapter;

struct PortQueueStats {
    net::Counter rx_packets, rx_bytes, tx_packets, tx_bytes;
};

struct FaultCounters {
    net::Counter dropped, duplicated, delayed;
};

// Frames queued for one rte_eth_tx_burst.
struct TxBatch {
    static constexpr std::uint16_t kSize = 64;
    rte_mbuf* frames[kSize];
    std::uint16_t count = 0;
};

// One direction's fault injection on one port (lab boards only).
struct FaultPath {
    net::FaultInjector injector;
    DelayLine held;
    FaultCounters counters;
};

struct WorkerPort {
    WorkerPort(std::uint16_t pid, std::uint16_t q, std::string r, const net::PortAddressing& a,
               net::NeighborCache cache)
        : port_id(pid), queue(q), role(std::move(r)), l3(a, std::move(cache)) {}

    std::uint16_t port_id = 0;
    std::uint16_t queue = 0;
    std::string role;
    std::optional<net::Ipv4Addr> gateway4;
    std::optional<net::Ipv6Addr> gateway6;
    net::PortL3State l3;
    PortQueueStats stats;
    TxBatch tx;
    FaultPath rx_fault, tx_fault;
};

struct WorkerSettings {
    bool idle_backoff = false;
    unsigned idle_sleep_max_us = 200;
};

struct WorkerState {
    WorkerState();
    ~WorkerState();

    unsigned lcore_id = 0;
    WorkerSettings settings;
    rte_mempool* pool = nullptr;
    std::vector<std::unique_ptr<WorkerPort>> ports;
    net::DropCounters drops;
    tcp::TcpCounters tcp_events;
    tcp::TcpStackCounters tcp_stack_events;
    std::unique_ptr<TcpAdapter> tcp;
    // The peer filter: the TCP stack's SYN admission on this lcore.
    filter::PeerFilterCounters filter_events;
    filter::PeerListCounters filter_lists; // SYNs refused, by list
    std::unique_ptr<filter::PeerFilter> peer_filter;
    // Peers over a limit, for the control plane to list (AutoListRequest
    // elements; single producer: this lcore, single consumer: the control).
    rte_ring* auto_list_out = nullptr;
    std::unique_ptr<filter::AutoListSink> auto_list_sink;
    // The SMTP engine's counters and its log lines for the control plane
    // (elements: std::string* the consumer deletes; SP/SC).
    smtp::SmtpCounters smtp_counters;
    rte_ring* smtp_log_out = nullptr;
    std::unique_ptr<smtp::SmtpLogSink> smtp_log_sink;
    std::unique_ptr<smtp::SmtpPeerReporter> smtp_reporter; // to this lcore's peer filter
    // RCU: this lcore reports a quiescent state once per loop iteration, so
    // the control plane knows when a replaced peer table is no longer read.
    rte_rcu_qsbr* qsbr = nullptr;
    unsigned qsbr_id = 0;
    // Frames other lcores received for connections this lcore owns (active
    // opens: the reply's RSS queue need not be ours). Multi-producer,
    // single-consumer; `peers` are every worker, by owner index.
    rte_ring* steer_in = nullptr;
    // Neighbors other lcores learned (elements: NeighborNews), so that an
    // ARP/ND answer that hashed to another queue still resolves here.
    rte_ring* neighbor_in = nullptr;
    std::vector<WorkerState*> peers;
    net::Counter steered_out; // frames handed to their owner lcore
    net::Counter busy_cycles; // TSC cycles spent in iterations that moved frames
    net::Counter idle_cycles; // TSC cycles spent polling empty queues or napping
    net::Counter heartbeat;   // +1 per loop iteration: a stalled lcore stops moving it
    Mailbox mailbox;
    const std::atomic<bool>* stop = nullptr;
};

// One neighbor learned by another lcore, as carried by neighbor_in.
struct NeighborNews {
    net::Ipv6Addr ip;
    net::MacAddr mac;
    std::uint16_t port_id;
};
static_assert(sizeof(NeighborNews) % 4 == 0, "rte_ring element sizes are multiples of 4");

// One auto-list request, as carried by auto_list_out.
struct AutoListRequest {
    net::Ipv6Addr addr; // aggregate address, v4-mapped for IPv4
    std::uint8_t length = 0;
    std::uint8_t virus = 0; // 1: the peer sent a virus (scan.virus_auto_list_s), 0: a limit
    std::uint8_t pad[2] = {};
};
static_assert(sizeof(AutoListRequest) % 4 == 0, "rte_ring element sizes are multiples of 4");

// Queues `m` for transmission on `p` (flushed at the end of the loop
// iteration, or now when the batch is full). Takes ownership of `m`.
void queue_tx(WorkerState& w, WorkerPort& p, rte_mbuf* m, std::uint64_t now_ns);

// One pass of the fast path: every port's RX burst, TCP timers and address
// resolution, every port's TX batch. Returns how much work it found (0:
// idle). worker_main loops on it; the benchmark drives it directly.
unsigned worker_iteration(WorkerState& w, std::uint64_t now_ns);

// rte_eal_remote_launch entry point; `arg` is a WorkerState*.
int worker_main(void* arg);

// Frees every frame a worker still holds (delay lines, batches); called
// after the lcore stopped.
void release_worker_frames(WorkerState& w);

} // namespace smtpgw::io
