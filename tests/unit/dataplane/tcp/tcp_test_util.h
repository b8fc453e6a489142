// tcp_test_util.h: helpers shared by the TCB and simulator tests: an
// endpoint (counters + TCB + what the application saw), wire encoding of
// OutSegment through the real codec, and a lossless pump between two TCBs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tcp/tcp_packet.h"
#include "tcp/tcp_tcb.h"

#include <CppUTest/TestHarness.h>

namespace tcptest {

using namespace smtpgw;
using namespace smtpgw::tcp;

inline const net::Ipv4Addr kAddrA{0x0a000001}, kAddrB{0x0a000002};
inline constexpr std::uint16_t kPortA = 40000, kPortB = 25; // client, server (SMTP)

// Calls next_segment() until it returns false, at most `limit` times (a
// runaway guard), handing each segment to `each` before the next call.
template <typename F>
void drain_segments(Tcb& t, std::uint64_t now, std::size_t limit, F&& each) {
    OutSegment o;
    for (std::size_t n = 0; n < limit && t.next_segment(now, o); ++n)
        each(o);
}

// An encoded segment on the wire (header + payload, checksummed).
struct Packet {
    std::vector<std::uint8_t> bytes;
    net::Ipv4Addr src, dst;
};

inline Packet encode(const OutSegment& o, net::Ipv4Addr src, net::Ipv4Addr dst) {
    Packet p;
    p.src = src;
    p.dst = dst;
    p.bytes.resize(kTcpMaxHeaderLen + o.payload.size());
    std::size_t n = build_header(o.header, p.bytes);
    CHECK_TRUE(n >= kTcpMinHeaderLen);
    std::size_t copied =
        o.payload.copy_to(std::span<std::uint8_t>(p.bytes.data() + n, o.payload.size()));
    p.bytes.resize(n + copied);
    tcp_fill_checksum_v4(p.bytes, src, dst);
    return p;
}

// Decodes a packet; the returned segment points into `p`.
inline Segment decode(const Packet& p) {
    CHECK_TRUE(tcp_checksum_ok_v4(p.bytes, p.src, p.dst));
    Segment s;
    CHECK(parse_segment(p.bytes, s) == TcpParseError::ok);
    return s;
}

inline std::span<const std::uint8_t> as_bytes(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

struct Endpoint {
    Endpoint(const TcpSettings& s, net::Ipv4Addr self, net::Ipv4Addr peer, std::uint16_t lport,
             std::uint16_t rport)
        : addr(self), peer_addr(peer), tcb(s, counters, lport, rport) {}

    net::Ipv4Addr addr, peer_addr;
    TcpCounters counters;
    Tcb tcb;
    std::string received;
    std::uint32_t events = 0;
    bool auto_read = true; // drain_app() reads everything

    // Collects events and reads everything readable.
    void drain_app() {
        events |= tcb.take_events();
        if (!auto_read)
            return;
        std::uint8_t buf[4096];
        for (;;) {
            std::size_t n = tcb.receive(buf);
            if (n == 0)
                break;
            received.append(reinterpret_cast<const char*>(buf), n);
        }
    }
    // Everything the TCB wants to send now, encoded.
    std::vector<Packet> output(std::uint64_t now) {
        std::vector<Packet> out;
        drain_segments(tcb, now, 10000, [&](const OutSegment& o) {
            out.push_back(encode(o, addr, peer_addr));
            CHECK_TEXT(out.size() < 10000, "runaway output");
        });
        return out;
    }
    bool saw(std::uint32_t event) const { return (events & event) != 0; }
};

// Delivers everything back and forth without loss until both are quiet.
inline void pump(Endpoint& a, Endpoint& b, std::uint64_t now) {
    for (int round = 0; round < 10000; ++round) {
        a.drain_app();
        b.drain_app();
        auto from_a = a.output(now);
        auto from_b = b.output(now);
        if (from_a.empty() && from_b.empty())
            return;
        for (auto& p : from_a)
            b.tcb.on_segment(decode(p), now);
        for (auto& p : from_b)
            a.tcb.on_segment(decode(p), now);
    }
    FAIL("pump did not settle");
}

// Like pump(), but the link loses every packet for which drop(packet,
// from_a) is true.
template <typename Drop>
void pump_lossy(Endpoint& a, Endpoint& b, std::uint64_t now, Drop&& drop) {
    for (int round = 0; round < 10000; ++round) {
        a.drain_app();
        b.drain_app();
        auto from_a = a.output(now);
        auto from_b = b.output(now);
        if (from_a.empty() && from_b.empty())
            return;
        for (auto& p : from_a)
            if (!drop(p, true))
                b.tcb.on_segment(decode(p), now);
        for (auto& p : from_b)
            if (!drop(p, false))
                a.tcb.on_segment(decode(p), now);
    }
    FAIL("pump did not settle");
}

} // namespace tcptest
