// l3_input.h: the per-frame entry of the fast path: Ethernet, ARP, IPv4,
// IPv6, ICMP echo and Neighbor Discovery, as a pure function.
//
// Purpose: validate every received frame, answer ARP requests, Neighbor
// Solicitations and echo requests in place, learn neighbors, and hand TCP
// segments addressed to us to the transport layer. No DPDK type, clock or
// allocation: the adapter passes bytes and a timestamp, and acts on the result.
// RFCs: 826 (ARP), 791/1122 (IPv4 host requirements), 792 (ICMP), 8200
// (IPv6), 4443 (ICMPv6), 4861 (ND), 1071 (checksum).
// Security: every length is checked before it is read; malformed frames are
// dropped and counted by reason (drop_reasons.def); nothing is logged per
// frame. Replies are never sent to broadcast/multicast sources, echo to
// multicast is not answered, and IPv4 fragments are dropped (no reassembly,
// so no reassembly-memory attacks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <array>
#include <utility>

#include "net/addr.h"
#include "net/counters.h"
#include "net/drop_reason.h"
#include "net/neighbor_cache.h"

namespace smtpgw::net {

// The addresses one port answers for.
struct PortAddressing {
    MacAddr mac;
    Ipv4Prefix ipv4;        // interface address and on-link prefix
    Ipv6Prefix ipv6;        // global address and on-link prefix
    Ipv6Addr link_local;    // fe80:: EUI-64 of mac
};

// A received frame in a buffer the handler may rewrite. `capacity` is how
// many bytes may be written from `data` (room for a reply longer than the
// request, e.g. a Neighbor Advertisement answering an NS without options).
struct FrameBuffer {
    std::uint8_t* data;
    std::size_t length;
    std::size_t capacity;
};

enum class FrameVerdict : std::uint8_t {
    drop,        // count `reason` and free the buffer
    transmit,    // the buffer now holds a reply of `length` bytes: send it on the same port
    consumed,    // handled (e.g. a neighbor learned), nothing to send, not a drop
    deliver_tcp, // a valid TCP segment for us: see `l4`
};

// Where the transport payload sits, for deliver_tcp.
struct L4View {
    std::uint8_t ip_version = 0;  // 4 or 6
    std::size_t l3_offset = 0;
    std::size_t l4_offset = 0;
    std::size_t l4_length = 0;
};

struct FrameResult {
    FrameVerdict verdict = FrameVerdict::drop;
    DropReason reason = DropReason::frame_truncated; // meaningful for drop
    L4View l4{};                                     // meaningful for deliver_tcp
};

// Neighbors learned while handling frames, kept until the caller takes them:
// with several lcores, what one learns (an ARP reply may hash to any queue)
// is passed to the others. Bounded; when full the oldest news is dropped,
// which only costs another ARP/ND exchange.
struct LearnedNeighbors {
    static constexpr std::size_t kCapacity = 8;
    std::array<NeighborEntry, kCapacity> entries{};
    std::size_t count = 0;

    void add(const Ipv6Addr& ip, const MacAddr& mac) {
        if (count == kCapacity) {
            for (std::size_t i = 1; i < kCapacity; ++i)
                entries[i - 1] = entries[i];
            --count;
        }
        entries[count++] = NeighborEntry{ip, mac, 0, true};
    }
};

// Per-port mutable state the handler owns (through its lcore).
struct PortL3State {
    PortL3State(const PortAddressing& a, NeighborCache cache)
        : addressing(a), neighbors(std::move(cache)) {}

    // Learns into the cache and notes it in `learned`.
    void learn(const Ipv6Addr& ip, const MacAddr& mac, std::uint64_t now_ns) {
        neighbors.learn(ip, mac, now_ns, neighbor_counters);
        learned.add(ip, mac);
    }

    PortAddressing addressing;
    NeighborCache neighbors;
    NeighborCounters neighbor_counters;
    LearnedNeighbors learned;
};

// Handles one frame. On transmit, `frame.length` is updated to the reply's
// length. Never fails: every outcome is a verdict; drops carry a reason the
// caller counts.
FrameResult handle_frame(FrameBuffer& frame, PortL3State& port, std::uint64_t now_ns);

} // namespace smtpgw::net
