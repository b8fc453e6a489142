// worker.h: the state one fast-path lcore owns, and its main loop.
//
// Purpose: this is the fast path. Each worker lcore polls one RX queue of
// every port, runs each frame through net::handle_frame, transmits replies
// on the same queue, and answers its mailbox. All the state here is private
// to its lcore (shared-nothing); the control plane reads the counters
// (single-writer, lock-free) and asks for anything else through the mailbox.
// No logging, no allocation, no locks inside the loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/mailbox.h"
#include "net/counters.h"
#include "net/l3_input.h"

namespace smtpgw::io {

struct PortQueueStats {
    net::Counter rx_packets, rx_bytes, tx_packets, tx_bytes;
};

struct WorkerPort {
    WorkerPort(std::uint16_t pid, std::uint16_t q, std::string r, const net::PortAddressing& a,
               net::NeighborCache cache)
        : port_id(pid), queue(q), role(std::move(r)), l3(a, std::move(cache)) {}

    std::uint16_t port_id = 0;
    std::uint16_t queue = 0;
    std::string role;
    net::PortL3State l3;
    PortQueueStats stats;
};

struct WorkerSettings {
    bool idle_backoff = false;
    unsigned idle_sleep_max_us = 200;
};

struct WorkerState {
    unsigned lcore_id = 0;
    WorkerSettings settings;
    std::vector<std::unique_ptr<WorkerPort>> ports;
    net::DropCounters drops;
    net::Counter busy_cycles;  // TSC cycles spent in iterations that moved frames
    net::Counter idle_cycles;  // TSC cycles spent polling empty queues or napping
    net::Counter heartbeat;    // +1 per loop iteration: a stalled lcore stops moving it
    Mailbox mailbox;
    const std::atomic<bool>* stop = nullptr;
};

// rte_eal_remote_launch entry point; `arg` is a WorkerState*.
int worker_main(void* arg);

} // namespace smtpgw::io
