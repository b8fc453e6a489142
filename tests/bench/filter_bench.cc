// filter_bench.cc: the peer filter's benchmark (issue 4), run by scripts/bench.
//
// In one run, on one core, on the same synthetic mbuf stream (SYNs from
// listed sources, through DPDK's ring PMD so no kernel is in the loop):
//  * bare loop: rx burst, free: the floor of any DPDK application;
//  * the fast path: worker_iteration() (handle_frame, the TCP adapter, the
//    stack, the peer filter consulting a table of 1,000,000 entries) drops
//    every SYN.
// Both loops also pay the same producer (allocate an mbuf, copy a 54-byte
// frame, enqueue), reported separately. Also: table build and swap-ready
// time for 1,000,000 entries and the memory per entry. Figures are printed,
// never asserted; `--check` only verifies that every SYN was dropped by the
// filter.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lpm.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_rig.h"
#include "filter/peer_filter.h"
#include "io/tcp_adapter.h"
#include "io/worker.h"
#include "net/byte_order.h"
#include "net/l3_output.h"
#include "net/wire.h"

using namespace smtpgw;
using namespace smtpgw::net::wire;

namespace {

using bench::kGateway4;
using bench::kGatewayMac;
using bench::kPeerMac;
using bench::seconds_since;
constexpr unsigned kBurst = 32;
constexpr std::size_t kTemplates = 4096;

// A SYN from `src` to the gateway's echo port, checksums filled.
std::vector<std::uint8_t> syn_frame(std::uint32_t src, std::uint16_t sport) {
    std::vector<std::uint8_t> f(kEtherHeaderLen + kIpv4MinHeaderLen + 20);
    std::uint8_t* tcp = f.data() + kEtherHeaderLen + kIpv4MinHeaderLen;
    net::store_be16(tcp, sport);
    net::store_be16(tcp + 2, tcp::kEchoPort);
    net::store_be32(tcp + 4, src * 2654435761u);
    tcp[12] = 5 << 4;
    tcp[13] = tcp::flags::kSyn;
    net::store_be16(tcp + 14, 65535);
    tcp::tcp_fill_checksum_v4({tcp, 20}, net::Ipv4Addr{src}, kGateway4);
    net::write_ipv4_header(f.data() + kEtherHeaderLen, net::Ipv4Addr{src}, kGateway4, kProtoTcp,
                           20, 0);
    net::write_ether_header(f.data(), kGatewayMac, kPeerMac, kEtherTypeIpv4);
    return f;
}

struct Stream {
    rte_mempool* pool;
    rte_ring* rx;
    std::vector<std::vector<std::uint8_t>> frames;
    std::size_t next = 0;

    // Puts `n` frames on the receive ring; returns how many went.
    unsigned produce(unsigned n) {
        rte_mbuf* m[kBurst];
        if (rte_pktmbuf_alloc_bulk(pool, m, n) != 0)
            return 0;
        for (unsigned i = 0; i < n; ++i) {
            const auto& f = frames[next++ % frames.size()];
            std::memcpy(rte_pktmbuf_mtod(m[i], void*), f.data(), f.size());
            m[i]->data_len = m[i]->pkt_len = static_cast<std::uint32_t>(f.size());
        }
        unsigned q = rte_ring_enqueue_burst(rx, reinterpret_cast<void**>(m), n, nullptr);
        if (q < n)
            rte_pktmbuf_free_bulk(m + q, n - q);
        return q;
    }
};

} // namespace

int main(int argc, char** argv) {
    std::uint64_t packets = 20'000'000;
    std::size_t entries = 1'000'000;
    std::size_t lpm_limit = 100'000;
    bool check = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--packets" && i + 1 < argc)
            packets = std::strtoull(argv[++i], nullptr, 10);
        else if (a == "--entries" && i + 1 < argc)
            entries = std::strtoull(argv[++i], nullptr, 10);
        else if (a == "--lpm-entries" && i + 1 < argc)
            lpm_limit = std::strtoull(argv[++i], nullptr, 10);
        else if (a == "--check")
            check = true;
        else {
            std::fprintf(stderr, "usage: %s [--packets N] [--entries N] [--lpm-entries N] [--check]\n", argv[0]);
            return 2;
        }
    }
    // 2 GiB: the rte_lpm comparison's tbl8 groups live in DPDK memory.
    if (!bench::start_eal("smtpgw-bench-filter", 2048))
        return 1;
    bench::RingPort rp;
    if (auto why = bench::make_ring_port(rp, 16383, 4096); !why.empty()) {
        std::fprintf(stderr, "setup failed: %s\n", why.c_str());
        return 1;
    }
    rte_mempool* pool = rp.pool;
    rte_ring* rx = rp.rx;
    std::uint16_t port = rp.port;

    // The list: `entries` random /32s; the SYNs come from listed ones.
    std::mt19937 rng(11);
    std::vector<filter::PeerPrefix> list(entries);
    for (auto& p : list) {
        // Unicast sources a gateway accepts (11.0.0.0 to 126.255.255.255).
        p.v4.addr = net::Ipv4Addr{(static_cast<std::uint32_t>(11 + rng() % 116) << 24) |
                                  (static_cast<std::uint32_t>(rng()) & 0xffffff)};
        p.v4.length = 32;
    }
    auto t0 = std::chrono::steady_clock::now();
    auto table = std::make_unique<filter::PeerTable>();
    if (auto why = table->build(list, entries); !why.empty()) {
        std::fprintf(stderr, "build: %s\n", why.c_str());
        return 1;
    }
    double build_s = seconds_since(t0);
    std::atomic<const filter::PeerTable*> published{table.get()};

    // One worker, exactly as the daemon sets it up (no RCU thread here: the
    // table does not change during the run).
    std::atomic<bool> stop{false};
    io::WorkerState w;
    w.pool = pool;
    w.stop = &stop;
    w.ports.push_back(std::make_unique<io::WorkerPort>(port, 0, "wan", bench::wan_addressing(),
                                                       net::NeighborCache(1024, 1ull << 40)));
    io::TcpAdapterConfig cfg;
    cfg.lab_services = true;
    w.tcp = std::make_unique<io::TcpAdapter>(w, cfg);
    w.peer_filter = std::make_unique<filter::PeerFilter>(published, filter::PeerLimitSettings{},
                                                         filter::PeerHashKey{1, 2}, w.filter_events,
                                                         w.filter_lists);
    w.tcp->stack().set_admission(w.peer_filter.get());

    Stream stream{pool, rx, {}, 0};
    for (std::size_t i = 0; i < kTemplates; ++i)
        stream.frames.push_back(syn_frame(list[i * 131 % list.size()].v4.addr.value,
                                          static_cast<std::uint16_t>(1024 + i)));
    const double hz = static_cast<double>(rte_get_tsc_hz());

    // 1. The producer alone (allocate, copy, enqueue; then dequeue and free).
    std::uint64_t c0 = rte_rdtsc();
    for (std::uint64_t n = 0; n < packets; n += kBurst) {
        stream.produce(kBurst);
        rte_mbuf* m[kBurst];
        unsigned got = rte_ring_dequeue_burst(rx, reinterpret_cast<void**>(m), kBurst, nullptr);
        rte_pktmbuf_free_bulk(m, got);
    }
    double producer_s = static_cast<double>(rte_rdtsc() - c0) / hz;

    // 2. Bare DPDK loop: rx burst from the port, free.
    c0 = rte_rdtsc();
    std::uint64_t bare = 0;
    for (std::uint64_t n = 0; n < packets; n += kBurst) {
        stream.produce(kBurst);
        rte_mbuf* m[kBurst];
        std::uint16_t got = rte_eth_rx_burst(port, 0, m, kBurst);
        rte_pktmbuf_free_bulk(m, got);
        bare += got;
    }
    double bare_s = static_cast<double>(rte_rdtsc() - c0) / hz;

    // 3. The fast path with the filter dropping every SYN.
    std::uint64_t dropped0 = w.filter_events.read(filter::PeerFilterEvent::listed_dropped);
    c0 = rte_rdtsc();
    std::uint64_t now = 1'000'000'000;
    for (std::uint64_t n = 0; n < packets; n += kBurst) {
        stream.produce(kBurst);
        io::worker_iteration(w, now);
        now += 1000;
    }
    double filter_s = static_cast<double>(rte_rdtsc() - c0) / hz;
    std::uint64_t dropped = w.filter_events.read(filter::PeerFilterEvent::listed_dropped) - dropped0;

    double bare_mpps = static_cast<double>(bare) / bare_s / 1e6;
    double filter_mpps = static_cast<double>(dropped) / filter_s / 1e6;
    std::printf("peer filter benchmark: %" PRIu64 " SYNs from listed sources, %zu-entry table, one core\n",
                packets, entries);
    std::printf("  producer alone (alloc, copy, enqueue, free):  %7.2f Mpps\n",
                static_cast<double>(packets) / producer_s / 1e6);
    std::printf("  bare DPDK loop (rx burst, free):              %7.2f Mpps\n", bare_mpps);
    std::printf("  smtpgw fast path, listed SYN dropped:         %7.2f Mpps  (%" PRIu64 " dropped)\n",
                filter_mpps, dropped);
    std::printf("  ratio fast path / bare loop:                  %7.2f\n", filter_mpps / bare_mpps);
    double per_pkt_bare = bare_s / static_cast<double>(bare) * 1e9;
    double per_pkt_filter = filter_s / static_cast<double>(std::max<std::uint64_t>(dropped, 1)) * 1e9;
    std::printf("  per SYN: bare %.1f ns, fast path %.1f ns, so the filter path costs %.1f ns\n",
                per_pkt_bare, per_pkt_filter, per_pkt_filter - per_pkt_bare);
    std::printf("table: %zu entries built in %.0f ms, %zu bytes (%.1f bytes per entry), %zu /24s with "
                "a bitmap, %zu with one address\n",
                entries, build_s * 1000, table->stats().bytes,
                static_cast<double>(table->stats().bytes) / static_cast<double>(entries),
                table->stats().mixed_slash24, table->stats().one_address_slash24);
    std::printf("  during a swap both tables are held: peak %.0f MiB\n",
                2.0 * static_cast<double>(table->stats().bytes) / (1 << 20));

    // Anything else that happened to the stream, by reason.
    for (std::size_t i = 0; i < net::kDropReasonCount; ++i)
        if (auto n = w.drops.read(static_cast<net::DropReason>(i)))
            std::printf("  other drop: %s %" PRIu64 "\n",
                        std::string(net::drop_reason_info(static_cast<net::DropReason>(i)).name).c_str(), n);
    for (std::size_t i = 0; i < tcp::kTcpEventCount; ++i)
        if (auto n = w.tcp_events.read(static_cast<tcp::TcpEvent>(i)))
            std::printf("  tcp event: %s %" PRIu64 "\n",
                        std::string(tcp::tcp_event_info(static_cast<tcp::TcpEvent>(i)).name).c_str(), n);
    // DPDK's LPM on the first `lpm_entries` of the same list (rte_lpm's rule
    // insertion scans the rules of its depth, so building a million /32s
    // takes hours; the lookup structure is the same DIR-24-8 either way):
    // build time, memory, single lookups against ours single and batched.
    const std::size_t lpm_entries = std::min<std::size_t>(entries, lpm_limit);
    filter::PeerTable sub;
    sub.build({list.begin(), list.begin() + static_cast<std::ptrdiff_t>(lpm_entries)}, lpm_entries);
    rte_lpm_config lc{};
    lc.max_rules = static_cast<std::uint32_t>(lpm_entries + 16);
    lc.number_tbl8s = static_cast<std::uint32_t>(lpm_entries) + 256;
    auto lt0 = std::chrono::steady_clock::now();
    rte_lpm* lpm = rte_lpm_create("bench_lpm", static_cast<int>(rte_socket_id()), &lc);
    bool lpm_ok = lpm != nullptr;
    for (std::size_t i = 0; lpm_ok && i < lpm_entries; ++i)
        lpm_ok = rte_lpm_add(lpm, list[i].v4.addr.value, 32, 1) == 0;
    double lpm_build_s = seconds_since(lt0);
    if (lpm_ok) {
        std::vector<std::uint32_t> probe(1 << 20);
        for (auto& addr : probe)
            addr = list[rng() % lpm_entries].v4.addr.value;
        std::uint64_t hits = 0;
        std::uint64_t l0 = rte_rdtsc();
        for (int rep = 0; rep < 8; ++rep)
            for (std::uint32_t addr : probe) {
                std::uint32_t nh = 0;
                hits += rte_lpm_lookup(lpm, addr, &nh) == 0;
            }
        double lpm_ns = static_cast<double>(rte_rdtsc() - l0) / hz * 1e9 / (8.0 * probe.size());
        l0 = rte_rdtsc();
        for (int rep = 0; rep < 8; ++rep)
            for (std::uint32_t addr : probe)
                hits += sub.lookup_v4(addr) != 0;
        double ours_ns = static_cast<double>(rte_rdtsc() - l0) / hz * 1e9 / (8.0 * probe.size());
        l0 = rte_rdtsc();
        for (int rep = 0; rep < 8; ++rep)
            for (std::size_t i = 0; i < probe.size(); i += kBurst) {
                for (std::size_t k = 0; k < kBurst; ++k)
                    sub.prefetch_v4(probe[i + k]);
                for (std::size_t k = 0; k < kBurst; ++k)
                    sub.prefetch_bitmap_v4(probe[i + k]);
                for (std::size_t k = 0; k < kBurst; ++k)
                    hits += sub.lookup_v4(probe[i + k]) != 0;
            }
        double ours_batched_ns = static_cast<double>(rte_rdtsc() - l0) / hz * 1e9 / (8.0 * probe.size());
        std::size_t lpm_bytes = (std::size_t{1} << 24) * 4 + std::size_t{lc.number_tbl8s} * 256 * 4;
        auto st0 = std::chrono::steady_clock::now();
        filter::PeerTable again;
        again.build({list.begin(), list.begin() + static_cast<std::ptrdiff_t>(lpm_entries)}, lpm_entries);
        double sub_build_s = seconds_since(st0);
        std::printf("against DPDK rte_lpm, the first %zu entries, random listed addresses (%" PRIu64 " hits):\n",
                    lpm_entries, hits);
        std::printf("  build: rte_lpm %.0f ms, peer table %.0f ms\n", lpm_build_s * 1000, sub_build_s * 1000);
        std::printf("  memory: rte_lpm %.0f MiB, peer table %.0f MiB\n",
                    static_cast<double>(lpm_bytes) / (1 << 20),
                    static_cast<double>(sub.stats().bytes) / (1 << 20));
        std::printf("  lookup: rte_lpm %.1f ns, peer table %.1f ns, peer table batched %.1f ns\n",
                    lpm_ns, ours_ns, ours_batched_ns);
    } else {
        std::printf("against DPDK rte_lpm: could not build it for %zu entries (memory)\n", lpm_entries);
    }
    if (lpm)
        rte_lpm_free(lpm);

    bool ok = dropped == packets - packets % kBurst || dropped == packets;
    w.tcp.reset();
    io::release_worker_frames(w);
    rte_eth_dev_stop(port);
    rte_eal_cleanup();
    if (check && !ok) {
        std::fprintf(stderr, "not every SYN was dropped by the filter (%" PRIu64 " of %" PRIu64 ")\n",
                     dropped, packets);
        return 1;
    }
    return 0;
}
