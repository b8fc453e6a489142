// mailbox.h: request/response rings between the control thread (main lcore)
// and one fast-path lcore, in the style of DPDK's ip_pipeline.
//
// Purpose: the control plane never touches a worker's private state; it
// posts a request and the worker answers between two bursts (it polls the
// mailbox every kMailboxPollInterval loop iterations). Requests and replies
// are allocated by the control side; the worker only fills them (capacity
// reserved beforehand, so the fast path does not allocate).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "net/fault_injector.h"
#include "net/neighbor_cache.h"
#include "smtp/smtp_service.h"
#include "tcp/tcp_stack.h"

struct rte_ring;

namespace smtpgw::io {

inline constexpr unsigned kMailboxPollInterval = 16;

enum class RequestKind : std::uint8_t {
    snapshot_neighbors,  // copy every fresh neighbor entry of every port
    snapshot_tcp,        // copy the TCP connection table (up to the reserved size)
    set_fault,           // replace one port's fault injection settings
    set_tcp_idle,        // TCP idle timeout for new connections
    enforce_peer_filter, // reset connections of peers the new table lists
    set_smtp,            // new SMTP settings for sessions opened from now on
};

struct ControlRequest {
    RequestKind kind;
    // snapshot_neighbors: one vector per port, in WorkerState::ports order,
    // reserved to the cache's capacity by the requester.
    std::vector<std::vector<net::NeighborEntry>> neighbors;
    // snapshot_tcp: reserved by the requester; the worker fills up to capacity.
    std::vector<tcp::ConnInfo> connections;
    // set_fault: the port (index in WorkerState::ports) and its new settings,
    // already checked with net::fault_settings_error.
    std::size_t port_index = 0;
    net::FaultSettings fault;
    // set_tcp_idle: nanoseconds, 0 = never.
    std::uint64_t idle_timeout_ns = 0;
    // set_smtp: the settings (built and checked by the control side).
    std::shared_ptr<const smtp::SmtpServiceConfig> smtp;
    std::shared_ptr<const smtp::SmtpServiceConfig> smtp_outbound; // null: unchanged
};

class Mailbox {
  public:
    // Error contract: create() returns an empty string or the reason.
    std::string create(unsigned lcore_id);
    void destroy();

    // Control side: post and wait up to timeout_ms for the worker's answer.
    // Returns the answered request, or nullptr on timeout or a full ring; a
    // request the worker has not answered yet stays owned by the mailbox and
    // is freed when its late answer is drained (never while the worker may
    // still write it).
    std::unique_ptr<ControlRequest> call(std::unique_ptr<ControlRequest> req, unsigned timeout_ms);

    // Worker side: the next pending request, or nullptr; then reply().
    ControlRequest* poll();
    void reply(ControlRequest* req);

  private:
    void drain_late_replies();
    void forget(void* late);

    rte_ring* requests_ = nullptr;
    rte_ring* replies_ = nullptr;
    std::vector<std::unique_ptr<ControlRequest>> abandoned_;
};

} // namespace smtpgw::io
