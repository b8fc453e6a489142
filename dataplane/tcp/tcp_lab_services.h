// tcp_lab_services.h: small services on the TCP stack for the lab and the
// interoperability tests: echo (RFC 862), discard (RFC 863), chargen (RFC 864,
// with a fixed pattern) and a relay that opens a second connection toward
// the LAN and splices the two.
//
// Purpose: exercise the stack's application interface end to end against
// real peers (the Linux kernel) before the SMTP engine sits on it: passive
// opens, active opens, half-close, flow control and back-pressure in both
// directions. They are compiled in and enabled only by the board key
// `tcp.lab_services = on` (the virtual board); an appliance never listens
// on these ports.
// Security: every service holds only fixed buffers; the relay's pairs are a
// fixed table (`max_pairs`); a full table refuses the new connection with a
// RST. A slow reader stalls its writer through the TCP window, never through
// memory growth.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tcp/tcp_stack.h"

namespace smtpgw::tcp {

inline constexpr std::uint16_t kEchoPort = 7;
inline constexpr std::uint16_t kDiscardPort = 9;
inline constexpr std::uint16_t kChargenPort = 19;

// Chargen's stream: byte i is i mod 251. The prime period makes a lost,
// duplicated or misplaced segment visible in a hash of the received bytes.
inline constexpr std::uint32_t kChargenPeriod = 251;

// Moves what `from` holds into `to` as far as `to` takes it; returns bytes moved.
std::size_t pump(TcpStack& stack, ConnRef from, ConnRef to, std::span<std::uint8_t> scratch);

class EchoService final : public StreamHandler {
  public:
    void on_events(TcpStack& stack, ConnRef c, std::uint32_t events, std::uint64_t now) override;

  private:
    std::array<std::uint8_t, 16384> scratch_{};
};

class DiscardService final : public StreamHandler {
  public:
    void on_events(TcpStack& stack, ConnRef c, std::uint32_t events, std::uint64_t now) override;

  private:
    std::array<std::uint8_t, 16384> scratch_{};
};

class ChargenService final : public StreamHandler {
  public:
    ChargenService();
    void on_events(TcpStack& stack, ConnRef c, std::uint32_t events, std::uint64_t now) override;

  private:
    std::array<std::uint8_t, 16384 + kChargenPeriod> pattern_{};
};

struct RelayTargets {
    net::Ipv6Addr local4, remote4; // v4-mapped: our LAN address, the LAN server
    net::Ipv6Addr local6, remote6; // IPv6 (unset: IPv6 clients are refused)
    bool has_v6 = false;
    std::uint16_t remote_port = 0;
};

class RelayService final : public StreamHandler {
  public:
    RelayService(const RelayTargets& targets, std::size_t max_pairs);
    void on_events(TcpStack& stack, ConnRef c, std::uint32_t events, std::uint64_t now) override;
    std::size_t active_pairs() const { return active_; }

  private:
    struct Side {
        ConnRef conn = kNoConn;
        bool established = false; // a FIN may only be queued once synchronized
        bool eof = false;        // the peer sent FIN
        bool shut = false;       // we closed toward this side
        bool gone = false;       // kClosed seen
    };
    struct Pair {
        Side side[2]; // 0: the WAN client, 1: the LAN server
        bool used = false;
    };
    void accept(TcpStack& stack, ConnRef c, std::uint64_t now);
    void move(TcpStack& stack, Pair& p);
    void release_if_done(Pair& p);

    RelayTargets targets_;
    std::vector<Pair> pairs_;
    std::vector<std::uint32_t> free_;
    std::size_t active_ = 0;
    std::array<std::uint8_t, 16384> scratch_{};
};

} // namespace smtpgw::tcp
