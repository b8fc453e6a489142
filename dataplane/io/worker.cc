// worker.cc: the fast-path loop (see worker.h).
#include "io/worker.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <sys/prctl.h>
#include <time.h>

#include "io/tcp_adapter.h"
#include "net/byte_order.h"
#include "net/wire.h"

namespace smtpgw::io {

WorkerState::WorkerState() = default;
WorkerState::~WorkerState() = default;

namespace {

constexpr std::uint16_t kBurst = 32;
// Empty polls before the first nap: keeps latency low while traffic is bursty.
constexpr unsigned kIdlePollsBeforeNap = 256;
constexpr unsigned kFirstNapUs = 10;
// Seeds of the two directions differ so their decisions are independent.
constexpr std::uint64_t kTxSeedSalt = 0x5deece66dull;

// TSC to nanoseconds as a 32.32 fixed-point multiply: the division by the
// TSC frequency happens once at start, not on every loop iteration.
struct TscToNs {
    explicit TscToNs(std::uint64_t hz)
        : mult_q32(static_cast<std::uint64_t>((static_cast<unsigned __int128>(1000000000u) << 32) /
                                              hz)) {}
    std::uint64_t operator()(std::uint64_t tsc) const {
        return static_cast<std::uint64_t>((static_cast<unsigned __int128>(tsc) * mult_q32) >> 32);
    }
    std::uint64_t mult_q32;
};

void transmit_batch(WorkerState& w, WorkerPort& p) {
    TxBatch& b = p.tx;
    if (b.count == 0)
        return;
    std::uint64_t bytes = 0;
    for (std::uint16_t i = 0; i < b.count; ++i)
        bytes += rte_pktmbuf_pkt_len(b.frames[i]);
    std::uint16_t sent = rte_eth_tx_burst(p.port_id, p.queue, b.frames, b.count);
    for (std::uint16_t i = sent; i < b.count; ++i) {
        bytes -= rte_pktmbuf_pkt_len(b.frames[i]);
        w.drops.count(net::DropReason::tx_queue_full);
        rte_pktmbuf_free(b.frames[i]);
    }
    p.stats.tx_packets.add(sent);
    p.stats.tx_bytes.add(bytes);
    b.count = 0;
}

void batch_frame(WorkerState& w, WorkerPort& p, rte_mbuf* m) {
    if (p.tx.count == TxBatch::kSize)
        transmit_batch(w, p);
    p.tx.frames[p.tx.count++] = m;
}

// Applies one direction's faults to `m`. Returns the frame to pass on now
// (possibly nullptr: dropped or held); a duplicate is passed to `pass` first.
template <typename Pass>
rte_mbuf* apply_faults(WorkerState& w, FaultPath& f, rte_mbuf* m, std::uint64_t now, Pass&& pass) {
    net::FaultDecision d = f.injector.decide();
    if (d.drop) {
        f.counters.dropped.add();
        w.drops.count(net::DropReason::fault_injected);
        rte_pktmbuf_free(m);
        return nullptr;
    }
    if (d.duplicate) {
        if (rte_mbuf* copy = rte_pktmbuf_copy(m, w.pool, 0, UINT32_MAX)) {
            f.counters.duplicated.add();
            pass(copy);
        }
    }
    if (d.delay_ns != 0 && f.held.hold(m, now + d.delay_ns)) {
        f.counters.delayed.add();
        return nullptr;
    }
    return m;
}

void answer(WorkerState& w, ControlRequest& req, std::uint64_t now_ns) {
    switch (req.kind) {
    case RequestKind::snapshot_neighbors:
        for (std::size_t i = 0; i < w.ports.size() && i < req.neighbors.size(); ++i) {
            w.ports[i]->l3.neighbors.snapshot_into(req.neighbors[i], now_ns);
        }
        break;
    case RequestKind::snapshot_tcp:
        if (w.tcp)
            w.tcp->stack().snapshot_into(req.connections);
        break;
    case RequestKind::set_fault:
        if (req.port_index < w.ports.size()) {
            WorkerPort& p = *w.ports[req.port_index];
            net::FaultSettings tx = req.fault;
            tx.seed ^= kTxSeedSalt;
            p.rx_fault.injector.configure(req.fault);
            p.tx_fault.injector.configure(tx);
        }
        break;
    case RequestKind::enforce_peer_filter:
        // Peers that became listed lose their connections (RST), here on
        // the lcore that owns them.
        if (w.tcp && w.peer_filter) {
            std::size_t n = w.tcp->stack().abort_peers(
                [&](const net::Ipv6Addr& peer) { return w.peer_filter->listed(peer); });
            for (std::size_t i = 0; i < n; ++i)
                w.filter_events.count(filter::PeerFilterEvent::reset_when_listed);
        }
        break;
    case RequestKind::set_tcp_idle:
        if (w.tcp)
            w.tcp->stack().set_idle_timeout(req.idle_timeout_ns);
        break;
    case RequestKind::set_smtp:
        if (w.tcp && w.tcp->smtp() && req.smtp)
            w.tcp->smtp()->reconfigure(*req.smtp);
        if (w.tcp && w.tcp->smtp_outbound() && req.smtp_outbound)
            w.tcp->smtp_outbound()->reconfigure(*req.smtp_outbound);
        break;
    }
}

// Tells the other lcores what this one just learned (best effort: a full
// ring only means another ARP/ND exchange there).
void share_learned(WorkerState& w, WorkerPort& p) {
    for (WorkerState* peer : w.peers) {
        if (peer == &w || !peer->neighbor_in)
            continue;
        for (std::size_t i = 0; i < p.l3.learned.count; ++i) {
            NeighborNews news{p.l3.learned.entries[i].ip, p.l3.learned.entries[i].mac, p.port_id};
            rte_ring_enqueue_elem(peer->neighbor_in, &news, sizeof news);
        }
    }
    p.l3.learned.count = 0;
}

void take_neighbor_news(WorkerState& w, std::uint64_t now_ns) {
    NeighborNews news[16];
    unsigned n = rte_ring_dequeue_burst_elem(w.neighbor_in, news, sizeof news[0], 16, nullptr);
    for (unsigned i = 0; i < n; ++i)
        for (auto& p : w.ports)
            if (p->port_id == news[i].port_id)
                p->l3.neighbors.learn(news[i].ip, news[i].mac, now_ns, p->l3.neighbor_counters);
}

void process_frame(WorkerState& w, WorkerPort& p, rte_mbuf* m, std::uint64_t now_ns) {
    if (m->nb_segs != 1) { // af_packet and our MTUs give single-segment frames
        w.drops.count(net::DropReason::frame_truncated);
        rte_pktmbuf_free(m);
        return;
    }
    net::FrameBuffer fb{rte_pktmbuf_mtod(m, std::uint8_t*), rte_pktmbuf_data_len(m),
                        static_cast<std::size_t>(rte_pktmbuf_data_len(m)) +
                            rte_pktmbuf_tailroom(m)};
    net::FrameResult r = net::handle_frame(fb, p.l3, now_ns);
    if (p.l3.learned.count != 0)
        share_learned(w, p);
    switch (r.verdict) {
    case net::FrameVerdict::transmit:
        m->data_len = static_cast<std::uint16_t>(fb.length);
        m->pkt_len = static_cast<std::uint32_t>(fb.length);
        queue_tx(w, p, m, now_ns);
        return;
    case net::FrameVerdict::deliver_tcp:
        w.tcp->deliver(p, m, r.l4, now_ns); // consumes m
        return;
    case net::FrameVerdict::consumed:
        break;
    case net::FrameVerdict::drop:
        w.drops.count(r.reason);
        break;
    }
    rte_pktmbuf_free(m);
}

// The IPv4 source of a plain SYN (no ACK/RST/FIN) in `m`, or 0: just enough
// parsing to read the fields safely; full validation follows for the rest.
std::uint32_t syn_source_v4(const rte_mbuf* m) {
    using namespace net::wire;
    if (rte_pktmbuf_data_len(m) < kEtherHeaderLen + kIpv4MinHeaderLen + 20)
        return 0;
    const auto* f = rte_pktmbuf_mtod(m, const std::uint8_t*);
    if (net::load_be16(f + kEtherType) != kEtherTypeIpv4)
        return 0;
    const std::uint8_t* ip = f + kEtherHeaderLen;
    std::size_t ihl = (ip[kIpv4VerIhl] & 0x0f) * 4u;
    if ((ip[kIpv4VerIhl] >> 4) != 4 || ihl < kIpv4MinHeaderLen || ip[kIpv4Proto] != kProtoTcp ||
        rte_pktmbuf_data_len(m) < kEtherHeaderLen + ihl + 20 ||
        (net::load_be16(ip + kIpv4FragOff) & kIpv4FragOffsetMask) != 0)
        return 0;
    std::uint8_t flags = ip[ihl + 13];
    if ((flags & (tcp::flags::kSyn | tcp::flags::kAck | tcp::flags::kRst | tcp::flags::kFin)) !=
        tcp::flags::kSyn)
        return 0;
    return net::load_be32(ip + kIpv4Src);
}

// Listed IPv4 SYNs of drop-action lists are dropped here, before anything
// else is spent on them (the headline: no SYN-ACK, no state, almost no
// cycles). Lookups are batched with prefetches. SYNs of RST-action lists go
// on to the TCP stack, which answers them through PeerFilter::on_syn.
// Returns the frames left, compacted in `rx`.
std::uint16_t drop_listed_syns(WorkerState& w, rte_mbuf** rx, std::uint16_t n) {
    if (!w.peer_filter)
        return n;
    const filter::PeerTable* table = w.peer_filter->table();
    if (!table)
        return n;
    std::uint32_t src[kBurst];
    for (std::uint16_t i = 0; i < n; ++i)
        if ((src[i] = syn_source_v4(rx[i])) != 0)
            table->prefetch_v4(src[i]);
    for (std::uint16_t i = 0; i < n; ++i)
        if (src[i] != 0)
            table->prefetch_bitmap_v4(src[i]);
    std::uint16_t kept = 0, dropped = 0;
    rte_mbuf* drop[kBurst];
    // Runs of SYNs from one list are counted together.
    filter::PeerListId run_list = 0;
    std::uint64_t run = 0;
    for (std::uint16_t i = 0; i < n; ++i) {
        filter::PeerListId list = src[i] != 0 ? table->lookup_v4(src[i]) : 0;
        if (list != 0 && table->action_of(list) == filter::ListedAction::drop) {
            drop[dropped++] = rx[i];
            if (list != run_list) {
                if (run != 0)
                    w.peer_filter->count_listed_drops(run_list, run);
                run_list = list;
                run = 0;
            }
            ++run;
        } else {
            rx[kept++] = rx[i];
        }
    }
    if (dropped != 0) {
        w.peer_filter->count_listed_drops(run_list, run);
        rte_pktmbuf_free_bulk(drop, dropped);
    }
    return kept;
}

// Runs one burst on one port queue; returns how many frames arrived.
std::uint16_t poll_port(WorkerState& w, WorkerPort& p, std::uint64_t now_ns) {
    rte_mbuf* rx[kBurst];
    std::uint16_t received = rte_eth_rx_burst(p.port_id, p.queue, rx, kBurst);
    std::uint64_t bytes = 0;
    for (std::uint16_t i = 0; i < received; ++i)
        bytes += rte_pktmbuf_pkt_len(rx[i]);
    std::uint16_t n = drop_listed_syns(w, rx, received);
    for (std::uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = rx[i];
        if (p.rx_fault.injector.active())
            m = apply_faults(w, p.rx_fault, m, now_ns,
                             [&](rte_mbuf* dup) { process_frame(w, p, dup, now_ns); });
        if (m)
            process_frame(w, p, m, now_ns);
    }
    p.stats.rx_packets.add(received);
    p.stats.rx_bytes.add(bytes);
    // Frames whose injected delay is over, in both directions.
    rte_mbuf* due[kBurst];
    if (!p.rx_fault.held.empty())
        for (std::size_t k = p.rx_fault.held.release(now_ns, due, kBurst), i = 0; i < k; ++i)
            process_frame(w, p, due[i], now_ns);
    if (!p.tx_fault.held.empty())
        for (std::size_t k = p.tx_fault.held.release(now_ns, due, kBurst), i = 0; i < k; ++i)
            batch_frame(w, p, due[i]);
    return received;
}

// Frames steered here by other lcores: processed as if received here, on
// this lcore's queue of the same port.
unsigned poll_steered(WorkerState& w, std::uint64_t now_ns) {
    rte_mbuf* in[kBurst];
    unsigned n = rte_ring_dequeue_burst(w.steer_in, reinterpret_cast<void**>(in), kBurst, nullptr);
    for (unsigned i = 0; i < n; ++i) {
        WorkerPort* port = nullptr;
        for (auto& p : w.ports)
            if (p->port_id == in[i]->port)
                port = p.get();
        if (port)
            process_frame(w, *port, in[i], now_ns);
        else
            rte_pktmbuf_free(in[i]);
    }
    return n;
}

} // namespace

unsigned worker_iteration(WorkerState& w, std::uint64_t now_ns) {
    unsigned got = 0;
    for (auto& p : w.ports)
        got += poll_port(w, *p, now_ns);
    if (w.neighbor_in)
        take_neighbor_news(w, now_ns);
    if (w.steer_in)
        got += poll_steered(w, now_ns);
    if (w.tcp)
        got += w.tcp->poll(now_ns);
    for (auto& p : w.ports)
        transmit_batch(w, *p);
    return got;
}

void queue_tx(WorkerState& w, WorkerPort& p, rte_mbuf* m, std::uint64_t now_ns) {
    if (p.tx_fault.injector.active())
        m = apply_faults(w, p.tx_fault, m, now_ns, [&](rte_mbuf* dup) { batch_frame(w, p, dup); });
    if (m)
        batch_frame(w, p, m);
}

void release_worker_frames(WorkerState& w) {
    rte_mbuf* held[DelayLine::kCapacity];
    for (auto& p : w.ports) {
        for (FaultPath* f : {&p->rx_fault, &p->tx_fault}) {
            std::size_t k = f->held.take_all(held, DelayLine::kCapacity);
            for (std::size_t i = 0; i < k; ++i)
                rte_pktmbuf_free(held[i]);
        }
        for (std::uint16_t i = 0; i < p->tx.count; ++i)
            rte_pktmbuf_free(p->tx.frames[i]);
        p->tx.count = 0;
    }
    if (w.tcp)
        w.tcp->release_frames();
}

int worker_main(void* arg) {
    auto& w = *static_cast<WorkerState*>(arg);
    const TscToNs tsc_to_ns(rte_get_tsc_hz());
    if (w.settings.idle_backoff)
        prctl(PR_SET_TIMERSLACK, 1000UL); // naps of tens of microseconds, not 50 us of slack
    unsigned idle_polls = 0, nap_us = kFirstNapUs;
    std::uint64_t iteration = 0;
    std::uint64_t last = rte_get_tsc_cycles();
    if (w.qsbr)
        rte_rcu_qsbr_thread_online(w.qsbr, w.qsbr_id);
    while (!w.stop->load(std::memory_order_relaxed)) {
        std::uint64_t now_ns = tsc_to_ns(last);
        unsigned got = worker_iteration(w, now_ns);
        if (w.qsbr) // no reference to a peer table is held between iterations
            rte_rcu_qsbr_quiescent(w.qsbr, w.qsbr_id);
        if ((iteration & 0xfffff) == 0 && w.tcp && w.tcp->smtp()) {
            // The SMTP engine's Received: dates: the realtime clock's offset
            // to this loop's clock, refreshed every million iterations.
            timespec ts{};
            clock_gettime(CLOCK_REALTIME, &ts);
            std::int64_t wall_ms = std::int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
            w.tcp->smtp()->set_wall_clock_offset_ms(wall_ms -
                                                    static_cast<std::int64_t>(now_ns / 1'000'000));
        }
        if ((++iteration % kMailboxPollInterval) == 0) {
            if (ControlRequest* req = w.mailbox.poll()) {
                answer(w, *req, now_ns);
                w.mailbox.reply(req);
            }
        }
        w.heartbeat.add();
        if (got == 0 && w.settings.idle_backoff && ++idle_polls > kIdlePollsBeforeNap) {
            timespec ts{0, static_cast<long>(nap_us) * 1000};
            nanosleep(&ts, nullptr);
            nap_us = std::min(nap_us * 2, std::max(w.settings.idle_sleep_max_us, 1u));
        } else if (got != 0) {
            idle_polls = 0;
            nap_us = kFirstNapUs;
        }
        std::uint64_t t = rte_get_tsc_cycles();
        (got ? w.busy_cycles : w.idle_cycles).add(t - last);
        last = t;
    }
    if (w.qsbr)
        rte_rcu_qsbr_thread_offline(w.qsbr, w.qsbr_id);
    return 0;
}

} // namespace smtpgw::io
