// tcp_adapter.h: ties one lcore's TCP stack (tcp/tcp_stack.h) to DPDK.
//
// Purpose: the I/O half of the sans-I/O TCP. Received segments come from
// the worker loop (after net::handle_frame said deliver_tcp) and go into the
// stack with the time; segments the stack emits are built into mbufs
// (Ethernet, IPv4/IPv6, TCP with checksum), routed (on-link or the port's
// gateway), resolved through the port's neighbor cache and queued on the
// port. An unresolved next hop gets an ARP request or Neighbor Solicitation
// and its segments wait (bounded, 1 s) instead of being lost.
// Security: the hold queue is bounded (kMaxHeld) and aged; solicitations are
// rate limited per next hop; the stack bounds everything else.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "io/worker.h"
#include "net/l3_input.h"
#include "smtp/smtp_service.h"
#include "tcp/tcp_lab_services.h"
#include "tcp/tcp_stack.h"

namespace smtpgw::io {

struct TcpAdapterConfig {
    tcp::TcpStackSettings stack;
    tcp::TcpStackSecrets secrets;
    bool lab_services = false;
    std::uint16_t relay_port = 0; // 0: no relay service
    tcp::RelayTargets relay;
    // The SMTP engine on this lcore (absent: no SMTP listener).
    std::optional<smtp::SmtpServiceConfig> smtp;
    // Outbound SMTP (mail from the LAN to a relay host), on its own port.
    std::optional<smtp::SmtpServiceConfig> smtp_outbound;
};

class TcpAdapter final : public tcp::SegmentSink {
  public:
    static constexpr std::size_t kMaxHeld = 256;
    static constexpr std::uint64_t kHoldNs = 1'000'000'000;    // give up on a next hop after 1 s
    static constexpr std::uint64_t kResolicitNs = 250'000'000; // ask again every 250 ms

    TcpAdapter(WorkerState& w, const TcpAdapterConfig& config);
    ~TcpAdapter() override;

    // A TCP segment for us, as located by handle_frame. Consumes `m`.
    void deliver(WorkerPort& p, rte_mbuf* m, const net::L4View& l4, std::uint64_t now);
    // Timers and the resolution queue; returns a count of work done (0 when idle).
    unsigned poll(std::uint64_t now);
    // Frees held frames (shutdown).
    void release_frames();

    void emit(const tcp::FourTuple& t, const tcp::OutSegment& seg) override;

    tcp::TcpStack& stack() { return *stack_; }
    const smtp::SmtpService* smtp() const { return smtp_.get(); }
    smtp::SmtpService* smtp() { return smtp_.get(); }
    smtp::SmtpService* smtp_outbound() { return smtp_out_.get(); }
    const smtp::SmtpService* smtp_outbound() const { return smtp_out_.get(); }
    // The antivirus queue of this lcore, for both SMTP services; poll()
    // drains its replies and hands each job to the service that sent it.
    void set_av_queue(smtp::AvQueue* queue);
    const tcp::TcpStack& stack() const { return *stack_; }

  private:
    struct Held {
        rte_mbuf* m;
        WorkerPort* port;
        net::Ipv6Addr hop;
        std::uint64_t since;
        std::uint64_t solicited;
    };
    WorkerPort* port_for(const net::Ipv6Addr& local);
    void solicit(WorkerPort& p, const net::Ipv6Addr& hop);
    static void set_dst_mac(rte_mbuf* m, const net::MacAddr& mac);

    WorkerState& w_;
    std::unique_ptr<tcp::TcpStack> stack_;
    std::vector<std::unique_ptr<tcp::StreamHandler>> services_;
    std::unique_ptr<smtp::SmtpService> smtp_;
    std::unique_ptr<smtp::SmtpService> smtp_out_;
    smtp::AvQueue* av_ = nullptr;
    std::vector<Held> held_;
    std::uint64_t now_ = 0;
    std::uint16_t ip_id_ = 0;
};

} // namespace smtpgw::io
