// worker.cc: the fast-path loop (see worker.h).
#include "io/worker.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <sys/prctl.h>
#include <time.h>

namespace smtpgw::io {

namespace {

constexpr std::uint16_t kBurst = 32;
// Empty polls before the first nap: keeps latency low while traffic is bursty.
constexpr unsigned kIdlePollsBeforeNap = 256;
constexpr unsigned kFirstNapUs = 10;

// TSC to nanoseconds as a 32.32 fixed-point multiply: the division by the
// TSC frequency happens once at start, not on every loop iteration.
struct TscToNs {
    explicit TscToNs(std::uint64_t hz)
        : mult_q32(static_cast<std::uint64_t>((static_cast<unsigned __int128>(1000000000u) << 32) / hz)) {}
    std::uint64_t operator()(std::uint64_t tsc) const {
        return static_cast<std::uint64_t>((static_cast<unsigned __int128>(tsc) * mult_q32) >> 32);
    }
    std::uint64_t mult_q32;
};

void answer(WorkerState& w, ControlRequest& req, std::uint64_t now_ns) {
    switch (req.kind) {
    case RequestKind::snapshot_neighbors:
        for (std::size_t i = 0; i < w.ports.size() && i < req.neighbors.size(); ++i) {
            w.ports[i]->l3.neighbors.snapshot_into(req.neighbors[i], now_ns);
        }
        break;
    }
}

// Runs one burst on one port queue; returns how many frames arrived.
std::uint16_t poll_port(WorkerState& w, WorkerPort& p, std::uint64_t now_ns) {
    rte_mbuf* rx[kBurst];
    rte_mbuf* tx[kBurst];
    rte_mbuf* to_free[kBurst];
    std::uint16_t n = rte_eth_rx_burst(p.port_id, p.queue, rx, kBurst);
    if (n == 0)
        return 0;
    std::uint16_t ntx = 0, nfree = 0;
    std::uint64_t bytes = 0;
    for (std::uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = rx[i];
        bytes += rte_pktmbuf_pkt_len(m);
        if (m->nb_segs != 1) { // af_packet and our MTUs give single-segment frames
            w.drops.count(net::DropReason::frame_truncated);
            to_free[nfree++] = m;
            continue;
        }
        net::FrameBuffer fb{rte_pktmbuf_mtod(m, std::uint8_t*), rte_pktmbuf_data_len(m),
                            static_cast<std::size_t>(rte_pktmbuf_data_len(m)) +
                                rte_pktmbuf_tailroom(m)};
        net::FrameResult r = net::handle_frame(fb, p.l3, now_ns);
        switch (r.verdict) {
        case net::FrameVerdict::transmit:
            m->data_len = static_cast<std::uint16_t>(fb.length);
            m->pkt_len = static_cast<std::uint32_t>(fb.length);
            tx[ntx++] = m;
            break;
        case net::FrameVerdict::deliver_tcp:
            // The TCP stack plugs in here; until then no port has a service.
            w.drops.count(net::DropReason::l4_no_service);
            to_free[nfree++] = m;
            break;
        case net::FrameVerdict::consumed:
            to_free[nfree++] = m;
            break;
        case net::FrameVerdict::drop:
            w.drops.count(r.reason);
            to_free[nfree++] = m;
            break;
        }
    }
    p.stats.rx_packets.add(n);
    p.stats.rx_bytes.add(bytes);
    if (ntx > 0) {
        std::uint64_t tx_bytes = 0;
        for (std::uint16_t i = 0; i < ntx; ++i)
            tx_bytes += rte_pktmbuf_pkt_len(tx[i]);
        std::uint16_t sent = rte_eth_tx_burst(p.port_id, p.queue, tx, ntx);
        for (std::uint16_t i = sent; i < ntx; ++i) {
            tx_bytes -= rte_pktmbuf_pkt_len(tx[i]);
            w.drops.count(net::DropReason::tx_queue_full);
            to_free[nfree++] = tx[i];
        }
        p.stats.tx_packets.add(sent);
        p.stats.tx_bytes.add(tx_bytes);
    }
    if (nfree > 0)
        rte_pktmbuf_free_bulk(to_free, nfree);
    return n;
}

} // namespace

int worker_main(void* arg) {
    auto& w = *static_cast<WorkerState*>(arg);
    const TscToNs tsc_to_ns(rte_get_tsc_hz());
    if (w.settings.idle_backoff)
        prctl(PR_SET_TIMERSLACK, 1000UL); // naps of tens of microseconds, not 50 us of slack
    unsigned idle_polls = 0, nap_us = kFirstNapUs;
    std::uint64_t iteration = 0;
    std::uint64_t last = rte_get_tsc_cycles();
    while (!w.stop->load(std::memory_order_relaxed)) {
        std::uint64_t now_ns = tsc_to_ns(last);
        unsigned got = 0;
        for (auto& p : w.ports)
            got += poll_port(w, *p, now_ns);
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
    return 0;
}

} // namespace smtpgw::io
