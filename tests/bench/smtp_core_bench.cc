// smtp_core_bench.cc: SMTP transactions per second of one fast-path core,
// with no kernel in the loop (issue 5's "what one core does on real NICs").
//
// The gateway is the real fast path: worker_iteration() on two DPDK ethdevs
// over rings (the ring PMD), WAN and LAN, with its TCP stack and SMTP
// engine (session, proxy, client, service). Both peers are synthetic and
// run in this thread on our own pure TcpStack: a sender on the WAN side
// (EHLO, then MAIL/RCPT/DATA pipelined, a 2 KB body, QUIT: one message per
// connection, like smtp-source) and a LAN server on the LAN side (an SMTP
// sink that answers every step, like smtp-sink). Only the gateway's cycles
// (inside worker_iteration) are counted: transactions per second of the
// gateway's CPU. Printed, never asserted; --check verifies that every
// message got its 250 and reached the sink.
//
//   smtpgw-bench-smtp-core [--messages N] [--sessions N] [--check]
#include <rte_cycles.h>
#include <rte_mbuf.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench_rig.h"
#include "io/tcp_adapter.h"
#include "io/worker.h"
#include "net/byte_order.h"
#include "net/l3_output.h"
#include "net/wire.h"
#include "tcp/tcp_packet.h"
#include "tcp/tcp_stack.h"

using namespace smtpgw;
using namespace smtpgw::net::wire;

namespace {

const net::MacAddr kLanGwMac{{0x02, 0, 0, 0, 1, 0x01}};
const net::MacAddr kSenderMac = bench::kPeerMac;
const net::MacAddr kLanServerMac{{0x02, 0, 0, 0, 1, 0x25}};
const net::Ipv4Addr kSender4 = *net::parse_ipv4("203.0.113.10");
const net::Ipv4Addr kLanGw4 = *net::parse_ipv4("198.51.100.1");
const net::Ipv4Addr kLanServer4 = *net::parse_ipv4("198.51.100.25");

std::uint64_t now_ns() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

// A pure TcpStack's segments as frames onto one of the gateway's rx rings.
struct FrameSink final : tcp::SegmentSink {
    rte_mempool* pool = nullptr;
    rte_ring* ring = nullptr;
    net::MacAddr src, dst;
    std::uint16_t ip_id = 0;
    std::uint64_t dropped = 0;
    void emit(const tcp::FourTuple& t, const tcp::OutSegment& o) override {
        rte_mbuf* m = rte_pktmbuf_alloc(pool);
        if (!m) {
            ++dropped;
            return;
        }
        std::uint8_t* f = rte_pktmbuf_mtod(m, std::uint8_t*);
        std::uint8_t* tcp = f + kEtherHeaderLen + kIpv4MinHeaderLen;
        std::size_t hdr = tcp::build_header(o.header, {tcp, tcp::kTcpMaxHeaderLen});
        o.payload.copy_to({tcp + hdr, o.payload.size()});
        std::size_t seg = hdr + o.payload.size();
        tcp::tcp_fill_checksum_v4({tcp, seg}, net::v4_unmapped(t.local),
                                  net::v4_unmapped(t.remote));
        net::write_ipv4_header(f + kEtherHeaderLen, net::v4_unmapped(t.local),
                               net::v4_unmapped(t.remote), kProtoTcp,
                               static_cast<std::uint16_t>(seg), ip_id++);
        net::write_ether_header(f, dst, src, kEtherTypeIpv4);
        rte_pktmbuf_append(m,
                           static_cast<std::uint16_t>(kEtherHeaderLen + kIpv4MinHeaderLen + seg));
        if (rte_ring_enqueue(ring, m) != 0) {
            ++dropped;
            rte_pktmbuf_free(m);
        }
    }
};

// Counts complete replies ("ddd " lines) in what arrived.
struct ReplyReader {
    std::string buf;
    int take(std::string_view in, std::string* last_code) {
        buf += in;
        int replies = 0;
        std::size_t nl;
        while ((nl = buf.find("\r\n")) != std::string::npos) {
            if (nl >= 4 && buf[3] == ' ') {
                ++replies;
                *last_code = buf.substr(0, 3);
            }
            buf.erase(0, nl + 2);
        }
        return replies;
    }
};

// The sender: one message per connection.
struct Sender final : tcp::StreamHandler {
    struct Conn {
        int stage = 0; // 0 banner, 1 EHLO, 2 MAIL/RCPT/DATA (3 replies), 3 data end, 4 QUIT
        int owed = 1;
        ReplyReader r;
    };
    std::string body;
    std::uint64_t ok = 0, failed = 0, in_flight = 0;
    std::vector<Conn> conns;
    std::vector<std::uint32_t> free_slots;

    void start(tcp::TcpStack& s, tcp::ConnRef c) {
        std::uint32_t i;
        if (free_slots.empty()) {
            i = static_cast<std::uint32_t>(conns.size());
            conns.emplace_back();
        } else {
            i = free_slots.back();
            free_slots.pop_back();
            conns[i] = Conn{};
        }
        s.set_user(c, i + 1);
    }
    static void say(tcp::TcpStack& s, tcp::ConnRef c, std::string_view t) {
        s.send(c, std::span(reinterpret_cast<const std::uint8_t*>(t.data()), t.size()));
    }
    void on_events(tcp::TcpStack& s, tcp::ConnRef c, std::uint32_t ev, std::uint64_t) override {
        using namespace tcp::app_event;
        std::uintptr_t u = s.user(c);
        if (u == 0)
            return;
        Conn& k = conns[u - 1];
        if (ev & kReadable) {
            std::uint8_t buf[4096];
            std::size_t n;
            while ((n = s.receive(c, buf)) != 0) {
                std::string code;
                k.owed -= k.r.take({reinterpret_cast<char*>(buf), n}, &code);
                if (k.owed > 0)
                    continue;
                switch (k.stage) {
                case 0:
                    say(s, c, "EHLO sender.example.org\r\n");
                    k.stage = 1, k.owed = 1;
                    break;
                case 1: // RFC 2920: the group ends with DATA
                    say(s, c, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
                    k.stage = 2, k.owed = 3;
                    break;
                case 2:
                    say(s, c, body);
                    say(s, c, ".\r\n");
                    k.stage = 3, k.owed = 1;
                    break;
                case 3:
                    code == "250" ? ++ok : ++failed;
                    say(s, c, "QUIT\r\n");
                    k.stage = 4, k.owed = 1;
                    break;
                case 4:
                    s.close(c);
                    k.stage = 5;
                    break;
                }
            }
        }
        if (ev & (kReset | kTimedOut)) {
            if (k.stage < 4)
                ++failed;
        }
        if (ev & (kClosed | kReset | kTimedOut)) {
            s.set_user(c, 0);
            free_slots.push_back(static_cast<std::uint32_t>(u - 1));
            --in_flight;
        }
    }
};

// The LAN server: an SMTP sink.
struct Sink final : tcp::StreamHandler {
    struct Conn {
        std::string line;
        bool data = false;
        std::string tail; // the last octets of DATA, for CRLF.CRLF
    };
    std::uint64_t messages = 0;
    std::vector<Conn> conns;
    std::vector<std::uint32_t> free_slots;
    static void say(tcp::TcpStack& s, tcp::ConnRef c, std::string_view t) {
        s.send(c, std::span(reinterpret_cast<const std::uint8_t*>(t.data()), t.size()));
    }
    void on_events(tcp::TcpStack& s, tcp::ConnRef c, std::uint32_t ev, std::uint64_t) override {
        using namespace tcp::app_event;
        std::uintptr_t u = s.user(c);
        if (u == 0 && (ev & kEstablished)) {
            std::uint32_t i;
            if (free_slots.empty()) {
                i = static_cast<std::uint32_t>(conns.size());
                conns.emplace_back();
            } else {
                i = free_slots.back();
                free_slots.pop_back();
                conns[i] = Conn{};
            }
            s.set_user(c, i + 1);
            u = i + 1;
            say(s, c, "220 sink ESMTP\r\n");
        }
        if (u == 0)
            return;
        Conn& k = conns[u - 1];
        if (ev & kReadable) {
            std::uint8_t buf[4096];
            std::size_t n;
            while ((n = s.receive(c, buf)) != 0) {
                for (std::size_t i = 0; i < n; ++i) {
                    char ch = static_cast<char>(buf[i]);
                    if (k.data) {
                        k.tail += ch;
                        if (k.tail.size() > 5)
                            k.tail.erase(0, k.tail.size() - 5);
                        if (k.tail == "\r\n.\r\n") {
                            k.data = false;
                            ++messages;
                            say(s, c, "250 2.0.0 Ok: queued\r\n");
                        }
                        continue;
                    }
                    k.line += ch;
                    if (ch != '\n')
                        continue;
                    std::string verb = k.line.substr(0, 4);
                    k.line.clear();
                    if (verb == "EHLO")
                        say(s, c, "250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
                    else if (verb == "DATA") {
                        k.data = true;
                        k.tail = "\r\n";
                        say(s, c, "354 go\r\n");
                    } else if (verb == "QUIT") {
                        say(s, c, "221 bye\r\n");
                        s.close(c);
                    } else
                        say(s, c, "250 2.0.0 Ok\r\n");
                }
            }
        }
        if (ev & (kClosed | kReset | kTimedOut)) {
            s.set_user(c, 0);
            free_slots.push_back(static_cast<std::uint32_t>(u - 1));
        } else if (ev & kPeerClosed) {
            s.close(c);
        }
    }
};

// Frames the gateway sent on `tx` go to `stack`.
void deliver(rte_ring* tx, tcp::TcpStack& stack, std::uint64_t now) {
    rte_mbuf* out[64];
    unsigned n;
    while ((n = rte_ring_dequeue_burst(tx, reinterpret_cast<void**>(out), 64, nullptr)) > 0) {
        for (unsigned i = 0; i < n; ++i) {
            const std::uint8_t* f = rte_pktmbuf_mtod(out[i], const std::uint8_t*);
            if (net::load_be16(f + kEtherType) != kEtherTypeIpv4)
                continue;
            const std::uint8_t* ip = f + kEtherHeaderLen;
            std::size_t ihl = (ip[0] & 0x0f) * 4u;
            std::size_t total = net::load_be16(ip + kIpv4TotalLen);
            auto src = net::v4_mapped(net::Ipv4Addr{net::load_be32(ip + kIpv4Src)});
            auto dst = net::v4_mapped(net::Ipv4Addr{net::load_be32(ip + kIpv4Dst)});
            stack.input(src, dst, {ip + ihl, total - ihl}, now);
        }
        rte_pktmbuf_free_bulk(out, n);
    }
}

std::unique_ptr<tcp::TcpStack> peer_stack(tcp::SegmentSink& sink, tcp::TcpCounters& c,
                                          tcp::TcpStackCounters& sc, std::uint8_t seed) {
    tcp::TcpStackSettings cs;
    cs.max_connections = 65536;
    cs.syn_backlog_high = 16384;
    cs.syn_backlog_low = 8192;
    cs.time_wait_max = 1024;
    cs.tcp.time_wait_ns = 1'000'000; // synthetic peers need not linger
    tcp::TcpStackSecrets sec;
    sec.isn.bytes.fill(seed);
    sec.flow.bytes.fill(static_cast<std::uint8_t>(seed + 2));
    sec.cookie.bytes.fill(static_cast<std::uint8_t>(seed + 4));
    return std::make_unique<tcp::TcpStack>(cs, sec, c, sc, sink);
}

} // namespace

int main(int argc, char** argv) {
    std::uint64_t messages = 20000;
    unsigned sessions = 20;
    bool check = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--messages" && i + 1 < argc)
            messages = std::strtoull(argv[++i], nullptr, 10);
        else if (a == "--sessions" && i + 1 < argc)
            sessions = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
        else if (a == "--check")
            check = true;
        else {
            std::fprintf(stderr, "usage: %s [--messages N] [--sessions N] [--check]\n", argv[0]);
            return 2;
        }
    }
    if (!bench::start_eal("smtpgw-bench-smtp", 1024))
        return 1;
    bench::RingPort wan, lan;
    if (auto why = bench::make_ring_port(wan, 65535, 65536, "wan"); !why.empty()) {
        std::fprintf(stderr, "setup: %s\n", why.c_str());
        return 1;
    }
    if (auto why = bench::make_ring_port(lan, 0, 65536, "lan", wan.pool); !why.empty()) {
        std::fprintf(stderr, "setup: %s\n", why.c_str());
        return 1;
    }
    std::atomic<bool> stop{false};
    io::WorkerState w;
    w.pool = wan.pool;
    w.stop = &stop;
    net::NeighborCounters nc;
    auto wp = std::make_unique<io::WorkerPort>(wan.port, 0, "wan", bench::wan_addressing(),
                                               net::NeighborCache(1024, 3600ull * 1'000'000'000));
    wp->l3.neighbors.learn(kSender4, kSenderMac, now_ns(), nc);
    w.ports.push_back(std::move(wp));
    net::PortAddressing lan_addr{kLanGwMac, net::Ipv4Prefix{kLanGw4, 24},
                                 *net::parse_ipv6_prefix("2001:db8:2::1/64"),
                                 net::link_local_from_mac(kLanGwMac)};
    auto lp = std::make_unique<io::WorkerPort>(lan.port, 0, "lan", lan_addr,
                                               net::NeighborCache(1024, 3600ull * 1'000'000'000));
    lp->l3.neighbors.learn(kLanServer4, kLanServerMac, now_ns(), nc);
    w.ports.push_back(std::move(lp));

    io::TcpAdapterConfig cfg;
    cfg.stack.max_connections = 65536;
    cfg.stack.syn_backlog_high = 16384;
    cfg.stack.syn_backlog_low = 8192;
    for (auto* k : {&cfg.secrets.isn, &cfg.secrets.cookie, &cfg.secrets.flow})
        for (auto& b : k->bytes)
            b = static_cast<std::uint8_t>(rand());
    smtp::SmtpServiceConfig sc;
    sc.local4 = net::v4_mapped(kLanGw4);
    sc.lan4 = net::v4_mapped(kLanServer4);
    sc.proxy.session.hostname = "mx.example.com";
    sc.proxy.session.relay.domains = {"example.com"};
    sc.proxy.client.helo_name = "mx.example.com";
    cfg.smtp = sc;
    w.tcp = std::make_unique<io::TcpAdapter>(w, cfg);

    FrameSink to_wan, to_lan; // the sender's frames into the WAN port, the sink's into the LAN port
    to_wan.pool = to_lan.pool = wan.pool;
    to_wan.ring = wan.rx;
    to_wan.src = kSenderMac;
    to_wan.dst = bench::kGatewayMac;
    to_lan.ring = lan.rx;
    to_lan.src = kLanServerMac;
    to_lan.dst = kLanGwMac;
    tcp::TcpCounters c1, c2;
    tcp::TcpStackCounters s1, s2;
    auto sender_stack = peer_stack(to_wan, c1, s1, 3);
    auto sink_stack = peer_stack(to_lan, c2, s2, 7);
    Sender sender;
    Sink sink;
    sink_stack->listen(25, sink);
    // A 2 KB message, like smtp-source -l 2048.
    sender.body = "Subject: bench\r\nFrom: <a@example.org>\r\n\r\n";
    while (sender.body.size() < 2048)
        sender.body +=
            "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\r\n";

    const double hz = static_cast<double>(rte_get_tsc_hz());
    std::uint64_t started = 0, gw_cycles = 0;
    auto t0 = std::chrono::steady_clock::now();
    const auto gw = net::v4_mapped(bench::kGateway4), me = net::v4_mapped(kSender4);
    while (sender.ok + sender.failed < messages && bench::seconds_since(t0) < 300) {
        std::uint64_t now = now_ns();
        while (sender.in_flight < sessions && started < messages) {
            tcp::ConnRef c = sender_stack->connect(me, gw, 25, sender, now);
            if (c == tcp::kNoConn)
                break;
            sender.start(*sender_stack, c);
            ++sender.in_flight;
            ++started;
        }
        sender_stack->run_timers(now);
        sink_stack->run_timers(now);
        std::uint64_t c0 = rte_rdtsc();
        while (io::worker_iteration(w, now) != 0) { // the gateway, as its lcore runs it
        }
        gw_cycles += rte_rdtsc() - c0;
        deliver(wan.tx, *sender_stack, now);
        deliver(lan.tx, *sink_stack, now);
    }
    double wall = bench::seconds_since(t0);
    double gw_s = static_cast<double>(gw_cycles) / hz;
    std::printf(
        "SMTP through one fast-path core, no kernel (ring PMD, synthetic sender and LAN sink):\n");
    std::printf("  %" PRIu64 " messages of 2 KB, one per connection, %u sessions at once: %" PRIu64
                " got 250, %" PRIu64 " failed, %" PRIu64 " reached the sink\n",
                messages, sessions, sender.ok, sender.failed, sink.messages);
    std::printf("  gateway CPU %.3f s: %.0f transactions per second of one core (%.1f us each)\n",
                gw_s, static_cast<double>(sender.ok) / gw_s,
                gw_s / static_cast<double>(std::max<std::uint64_t>(sender.ok, 1)) * 1e6);
    std::printf("  wall %.2f s for the whole loop (peers included)\n", wall);
    if (check && (sender.ok != messages || sink.messages != messages)) {
        std::fprintf(stderr, "check failed\n");
        return 1;
    }
    return 0;
}
