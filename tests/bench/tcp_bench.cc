// tcp_bench.cc: the TCP stack's benchmark (issue 3), run by scripts/bench.
//
// What it measures, in one run, on one core:
//  * handshake+close and 1-KB request/response per second through the real
//    fast path: synthetic frames in mbufs enter a DPDK ethdev (the ring PMD,
//    so no kernel is in the loop), worker_iteration() runs handle_frame ->
//    TcpAdapter -> TcpStack -> lab services -> frames out through the same
//    ethdev. The peer is a second TcpStack (pure) driven by this program.
//  * the same two workloads with the Linux kernel at both ends on loopback
//    (accept+close, and a 1-KB echo), as the baseline.
//  * bytes of state per idle established connection and per half-open
//    entry under SYN cookies.
// Rates are per CPU-second (process CPU time), so the kernel's two threads
// and our one are compared per core. The figures are printed, never
// asserted: `--check` only verifies that every connection completed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_rig.h"
#include "io/tcp_adapter.h"
#include "io/worker.h"
#include "net/byte_order.h"
#include "net/l3_output.h"
#include "net/wire.h"
#include "tcp/tcp_stack.h"

using namespace smtpgw;
using namespace smtpgw::net::wire;

namespace {

double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
double wall_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
std::uint64_t now_ns() { return static_cast<std::uint64_t>(wall_seconds() * 1e9); }

using bench::kGateway4;
using bench::kGatewayMac;
const net::MacAddr kClientMac = bench::kPeerMac;
const net::Ipv4Addr kClient4 = *net::parse_ipv4("203.0.113.10");

// ------------------------------------------------------------ the peer

// The synthetic client: a TcpStack whose segments become frames on the
// gateway's receive ring.
struct Peer final : tcp::SegmentSink {
    rte_mempool* pool = nullptr;
    rte_ring* to_gateway = nullptr;
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
        tcp::tcp_fill_checksum_v4({tcp, seg}, net::v4_unmapped(t.local), net::v4_unmapped(t.remote));
        net::write_ipv4_header(f + kEtherHeaderLen, net::v4_unmapped(t.local),
                               net::v4_unmapped(t.remote), kProtoTcp,
                               static_cast<std::uint16_t>(seg), ip_id++);
        net::write_ether_header(f, kGatewayMac, kClientMac, kEtherTypeIpv4);
        rte_pktmbuf_append(m, static_cast<std::uint16_t>(kEtherHeaderLen + kIpv4MinHeaderLen + seg));
        if (rte_ring_enqueue(to_gateway, m) != 0) {
            ++dropped;
            rte_pktmbuf_free(m);
        }
    }
};

enum class Workload { handshake, request_1k };

// One client connection's behaviour for a workload.
struct ClientApp final : tcp::StreamHandler {
    Workload workload = Workload::handshake;
    std::uint64_t completed = 0, failed = 0, in_flight = 0;
    std::array<std::uint8_t, 1024> request{};

    void on_events(tcp::TcpStack& s, tcp::ConnRef c, std::uint32_t ev, std::uint64_t) override {
        using namespace tcp::app_event;
        if (ev & (kReset | kTimedOut))
            ++failed;
        if (ev & kEstablished) {
            if (workload == Workload::request_1k)
                s.send(c, request);
            s.close(c); // handshake: close at once; request: half-close after it
        }
        if (ev & kReadable) {
            std::uint8_t buf[2048];
            std::size_t n = s.receive(c, buf);
            s.set_user(c, s.user(c) + n);
        }
        if (ev & kClosed) {
            --in_flight;
            bool ok = workload == Workload::handshake || s.user(c) == request.size();
            ok ? ++completed : ++failed;
        }
    }
};

// ------------------------------------------------------------ our stack

struct Rig {
    rte_mempool* pool = nullptr;
    rte_ring* rx = nullptr; // frames to the gateway
    rte_ring* tx = nullptr; // frames from the gateway
    std::uint16_t port = 0;
    std::unique_ptr<io::WorkerState> w;
    std::atomic<bool> stop{false};
    Peer peer;
    tcp::TcpCounters peer_counters;
    tcp::TcpStackCounters peer_stack_counters;
    std::unique_ptr<tcp::TcpStack> client;
    std::uint64_t gateway_cycles = 0;
};

std::string setup(Rig& r) {
    bench::RingPort rp;
    if (auto why = bench::make_ring_port(rp, 65535, 65536); !why.empty())
        return why;
    r.pool = rp.pool;
    r.rx = rp.rx;
    r.tx = rp.tx;
    r.port = rp.port;

    r.w = std::make_unique<io::WorkerState>();
    r.w->pool = r.pool;
    r.w->stop = &r.stop;
    auto wp = std::make_unique<io::WorkerPort>(r.port, 0, "wan", bench::wan_addressing(),
                                               net::NeighborCache(1024, 3600ull * 1'000'000'000));
    net::NeighborCounters nc;
    wp->l3.neighbors.learn(kClient4, kClientMac, now_ns(), nc);
    r.w->ports.push_back(std::move(wp));

    io::TcpAdapterConfig cfg;
    cfg.stack.max_connections = 65536;
    cfg.stack.syn_backlog_high = 16384;
    cfg.stack.syn_backlog_low = 8192;
    cfg.lab_services = true;
    for (auto* k : {&cfg.secrets.isn, &cfg.secrets.cookie, &cfg.secrets.flow})
        for (auto& b : k->bytes)
            b = static_cast<std::uint8_t>(rand());
    r.w->tcp = std::make_unique<io::TcpAdapter>(*r.w, cfg);

    r.peer.pool = r.pool;
    r.peer.to_gateway = r.rx;
    tcp::TcpStackSettings cs;
    cs.max_connections = 65536;
    cs.time_wait_max = 1024;
    cs.tcp.time_wait_ns = 1'000'000; // the synthetic peer need not linger
    tcp::TcpStackSecrets sec;
    sec.isn.bytes.fill(3);
    sec.flow.bytes.fill(5);
    r.client = std::make_unique<tcp::TcpStack>(cs, sec, r.peer_counters, r.peer_stack_counters,
                                               r.peer);
    return {};
}

// Frames the gateway sent go to the peer stack.
void deliver_to_peer(Rig& r, std::uint64_t now) {
    rte_mbuf* out[64];
    unsigned n;
    while ((n = rte_ring_dequeue_burst(r.tx, reinterpret_cast<void**>(out), 64, nullptr)) > 0) {
        for (unsigned i = 0; i < n; ++i) {
            const std::uint8_t* f = rte_pktmbuf_mtod(out[i], const std::uint8_t*);
            if (net::load_be16(f + kEtherType) == kEtherTypeIpv4) {
                const std::uint8_t* ip = f + kEtherHeaderLen;
                std::size_t ihl = (ip[0] & 0x0f) * 4u;
                std::size_t total = net::load_be16(ip + kIpv4TotalLen);
                auto src = net::v4_mapped(net::Ipv4Addr{net::load_be32(ip + kIpv4Src)});
                auto dst = net::v4_mapped(net::Ipv4Addr{net::load_be32(ip + kIpv4Dst)});
                r.client->input(src, dst, {ip + ihl, total - ihl}, now);
            }
        }
        rte_pktmbuf_free_bulk(out, n);
    }
}

struct Result {
    std::uint64_t completed = 0, failed = 0;
    double wall = 0, cpu = 0, gateway_cpu = 0;
};

Result run_ours(Rig& r, Workload wl, std::uint64_t count, unsigned window) {
    ClientApp app;
    app.workload = wl;
    std::memset(app.request.data(), 'r', app.request.size());
    const auto server = net::v4_mapped(kGateway4), me = net::v4_mapped(kClient4);
    const std::uint16_t port = wl == Workload::handshake ? tcp::kDiscardPort : tcp::kEchoPort;
    const double hz = static_cast<double>(rte_get_tsc_hz());
    std::uint64_t started = 0, gw_cycles = 0;
    double w0 = wall_seconds(), c0 = cpu_seconds();
    double deadline = w0 + 120;
    while (app.completed + app.failed < count && wall_seconds() < deadline) {
        std::uint64_t now = now_ns();
        while (app.in_flight < window && started < count) {
            if (r.client->connect(me, server, port, app, now) == tcp::kNoConn)
                break;
            ++app.in_flight;
            ++started;
        }
        r.client->run_timers(now);
        std::uint64_t t0 = rte_rdtsc();
        // The gateway's fast path, exactly as its lcore runs it.
        while (io::worker_iteration(*r.w, now) != 0) {
        }
        gw_cycles += rte_rdtsc() - t0;
        deliver_to_peer(r, now);
    }
    Result res;
    res.completed = app.completed;
    res.failed = app.failed;
    res.wall = wall_seconds() - w0;
    res.cpu = cpu_seconds() - c0;
    res.gateway_cpu = static_cast<double>(gw_cycles) / hz;
    // Let the gateway finish its side (LAST-ACK) before the next run.
    for (int i = 0; i < 200; ++i) {
        std::uint64_t now = now_ns();
        r.client->run_timers(now);
        io::worker_iteration(*r.w, now);
        deliver_to_peer(r, now);
    }
    return res;
}

// ------------------------------------------------------------ the kernel

Result run_kernel(Workload wl, std::uint64_t count) {
    int srv = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(srv, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(srv, 1024);
    socklen_t alen = sizeof a;
    getsockname(srv, reinterpret_cast<sockaddr*>(&a), &alen);
    Result res;
    double w0 = wall_seconds(), c0 = cpu_seconds();
    std::thread server([&] {
        char buf[2048];
        for (std::uint64_t i = 0; i < count; ++i) {
            int c = accept(srv, nullptr, nullptr);
            if (c < 0)
                break;
            if (wl == Workload::request_1k) {
                std::size_t got = 0;
                for (ssize_t n; got < 1024 && (n = read(c, buf, sizeof buf)) > 0;)
                    got += static_cast<std::size_t>(n);
                if (write(c, buf, got) < 0)
                    break;
            }
            close(c);
        }
    });
    char req[1024];
    std::memset(req, 'r', sizeof req);
    for (std::uint64_t i = 0; i < count; ++i) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            ++res.failed;
            close(c);
            continue;
        }
        if (wl == Workload::request_1k) {
            char buf[2048];
            std::size_t got = 0;
            if (write(c, req, sizeof req) == sizeof req) {
                shutdown(c, SHUT_WR);
                for (ssize_t n; (n = read(c, buf, sizeof buf)) > 0;)
                    got += static_cast<std::size_t>(n);
            }
            got == sizeof req ? ++res.completed : ++res.failed;
        } else {
            ++res.completed;
        }
        close(c);
    }
    server.join();
    close(srv);
    res.wall = wall_seconds() - w0;
    res.cpu = cpu_seconds() - c0;
    return res;
}

// ------------------------------------------------------------ memory

void report_memory(Rig& r) {
    // Idle established connections held by the gateway (the peer never closes).
    struct Idle final : tcp::StreamHandler {
        void on_events(tcp::TcpStack&, tcp::ConnRef, std::uint32_t, std::uint64_t) override {}
    } idle;
    const std::uint32_t n = 10000;
    const auto server = net::v4_mapped(kGateway4), me = net::v4_mapped(kClient4);
    std::uint32_t before = r.w->tcp->stack().connections();
    for (std::uint32_t i = 0; i < n; ++i)
        r.client->connect(me, server, tcp::kDiscardPort, idle, now_ns());
    for (int i = 0; i < 100; ++i) {
        std::uint64_t now = now_ns();
        while (io::worker_iteration(*r.w, now) != 0) {
        }
        deliver_to_peer(r, now);
    }
    std::uint32_t held = r.w->tcp->stack().connections() - before;
    std::vector<tcp::ConnInfo> conns;
    conns.reserve(held + before);
    r.w->tcp->stack().snapshot_into(conns);
    std::size_t buffers = 0;
    for (const auto& c : conns)
        buffers += c.buffer_bytes;
    tcp::TcpSettings ts;
    std::printf("memory per connection (gateway side)\n");
    std::printf("  idle established connections held: %u\n", held);
    std::printf("  state per connection slot (TCB, tuple, table, timers): %zu bytes\n",
                tcp::TcpStack::slot_bytes());
    std::printf("  of which the TCB: %zu bytes\n", tcp::Tcb::state_bytes());
    std::printf("  data buffers: up to %u bytes while data is in flight (send %u + receive %u),\n"
                "    allocated on first use and freed when drained; held by the %u idle "
                "connections: %zu bytes\n",
                ts.send_buffer_bytes + ts.recv_buffer_bytes, ts.send_buffer_bytes,
                ts.recv_buffer_bytes, held, buffers);

    // Half-open entries under SYN cookies: force cookie mode, count state.
    struct Syn final : tcp::SegmentSink {
        void emit(const tcp::FourTuple&, const tcp::OutSegment&) override {}
    };
    tcp::TcpStackSettings s;
    s.max_connections = 1024;
    s.syn_backlog_high = 16;
    s.syn_backlog_low = 8;
    tcp::TcpCounters c;
    tcp::TcpStackCounters sc;
    Syn sink;
    tcp::TcpStack flood(s, {}, c, sc, sink);
    tcp::EchoService echo;
    flood.listen(7, echo);
    for (std::uint32_t i = 0; i < 100000; ++i) {
        std::uint8_t seg[20] = {};
        net::store_be16(seg, static_cast<std::uint16_t>(1024 + (i & 0x7fff)));
        net::store_be16(seg + 2, 7);
        net::store_be32(seg + 4, i * 2654435761u);
        seg[12] = 5 << 4;
        seg[13] = tcp::flags::kSyn;
        net::store_be16(seg + 14, 65535);
        auto src = net::Ipv4Addr{0xc6120000u + i}, dst = kGateway4;
        tcp::tcp_fill_checksum_v4(seg, src, dst);
        flood.input(net::v4_mapped(src), net::v4_mapped(dst), seg, now_ns());
    }
    std::printf("  half-open entries under SYN cookies: 100000 SYNs -> %u entries held "
                "(the backlog bound), %" PRIu64 " answered with cookies: 0 bytes each\n",
                flood.half_open(), sc.read(tcp::TcpStackEvent::cookie_sent));
}

void print_pair(const char* what, const Result& ours, const Result& kernel) {
    double ours_rate = static_cast<double>(ours.completed) / ours.cpu;
    double gw_rate = static_cast<double>(ours.completed) / ours.gateway_cpu;
    double k_rate = static_cast<double>(kernel.completed) / kernel.cpu;
    std::printf("%s\n", what);
    std::printf("  smtpgw fast path (gateway side only):   %10.0f per CPU-second  (%" PRIu64
                " done, %" PRIu64 " failed)\n",
                gw_rate, ours.completed, ours.failed);
    std::printf("  smtpgw, both ends in our stack:         %10.0f per CPU-second  (wall %.2f s)\n",
                ours_rate, ours.wall);
    std::printf("  Linux kernel, both ends, loopback:      %10.0f per CPU-second  (wall %.2f s, "
                "%" PRIu64 " done)\n",
                k_rate, kernel.wall, kernel.completed);
    std::printf("  ratio gateway side / kernel:            %10.1fx\n", gw_rate / k_rate);
    std::printf("  ratio both ends / kernel:               %10.1fx\n", ours_rate / k_rate);
}

} // namespace

int main(int argc, char** argv) {
    std::uint64_t count = 50000;
    bool check = false, kernel = true;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--connections" && i + 1 < argc)
            count = std::strtoull(argv[++i], nullptr, 10);
        else if (a == "--check")
            check = true;
        else if (a == "--no-kernel") // for profiling our side alone
            kernel = false;
        else {
            std::fprintf(stderr, "usage: %s [--connections N] [--check] [--no-kernel]\n", argv[0]);
            return 2;
        }
    }
    if (!bench::start_eal("smtpgw-bench-tcp", 512))
        return 1;
    Rig rig;
    if (auto err = setup(rig); !err.empty()) {
        std::fprintf(stderr, "setup failed: %s\n", err.c_str());
        return 1;
    }
    std::printf("TCP benchmark: %" PRIu64 " connections per workload, one core\n", count);
    Result hs = run_ours(rig, Workload::handshake, count, 256);
    Result khs = kernel ? run_kernel(Workload::handshake, count) : Result{count, 0, 1, 1, 1};
    print_pair("handshake + close", hs, khs);
    Result rq = run_ours(rig, Workload::request_1k, count, 256);
    Result krq = kernel ? run_kernel(Workload::request_1k, count) : Result{count, 0, 1, 1, 1};
    print_pair("1-KB request/response (connect, send 1 KB, echo, close)", rq, krq);
    report_memory(rig);
    bool ok = hs.completed == count && rq.completed == count && khs.completed == count &&
              krq.completed == count;
    rig.w->tcp.reset();
    io::release_worker_frames(*rig.w);
    rte_eth_dev_stop(rig.port);
    rte_eal_cleanup();
    if (check && !ok) {
        std::fprintf(stderr, "not every connection completed\n");
        return 1;
    }
    return 0;
}
