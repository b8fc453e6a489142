// tcp_adapter.cc: TCP stack <-> mbufs (see tcp_adapter.h).
#include "io/tcp_adapter.h"

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstring>

#include "net/byte_order.h"
#include "net/l3_output.h"
#include "net/wire.h"

namespace smtpgw::io {

using namespace net::wire;

namespace {
net::Ipv6Addr read_ipv6(const std::uint8_t* p) {
    net::Ipv6Addr a;
    std::memcpy(a.bytes.data(), p, 16);
    return a;
}
} // namespace

TcpAdapter::TcpAdapter(WorkerState& w, const TcpAdapterConfig& config)
    : w_(w), stack_(std::make_unique<tcp::TcpStack>(config.stack, config.secrets, w.tcp_events,
                                                    w.tcp_stack_events, *this)) {
    held_.reserve(kMaxHeld);
    if (config.lab_services) {
        auto add = [&](std::uint16_t port, std::unique_ptr<tcp::StreamHandler> h) {
            stack_->listen(port, *h);
            services_.push_back(std::move(h));
        };
        add(tcp::kEchoPort, std::make_unique<tcp::EchoService>());
        add(tcp::kDiscardPort, std::make_unique<tcp::DiscardService>());
        add(tcp::kChargenPort, std::make_unique<tcp::ChargenService>());
        if (config.relay_port != 0)
            add(config.relay_port, std::make_unique<tcp::RelayService>(
                                       config.relay, config.stack.max_connections / 2));
    }
    if (config.smtp) {
        smtp_ = std::make_unique<smtp::SmtpService>(*config.smtp, config.stack.owner_index,
                                                    w.smtp_log_sink.get(), w.smtp_reporter.get(),
                                                    w.smtp_counters);
        stack_->listen(config.smtp->port, *smtp_);
    }
    if (config.smtp_outbound) {
        smtp_out_ = std::make_unique<smtp::SmtpService>(
            *config.smtp_outbound, config.stack.owner_index, w.smtp_log_sink.get(),
            w.smtp_reporter.get(), w.smtp_counters);
        stack_->listen(config.smtp_outbound->port, *smtp_out_);
    }
}

void TcpAdapter::set_av_queue(smtp::AvQueue* queue) {
    av_ = queue;
    if (smtp_)
        smtp_->set_av_queue(queue);
    if (smtp_out_)
        smtp_out_->set_av_queue(queue);
}

TcpAdapter::~TcpAdapter() {
    release_frames();
}

void TcpAdapter::release_frames() {
    for (auto& h : held_)
        rte_pktmbuf_free(h.m);
    held_.clear();
}

void TcpAdapter::deliver(WorkerPort& p, rte_mbuf* m, const net::L4View& l4, std::uint64_t now) {
    now_ = now;
    const std::uint8_t* frame = rte_pktmbuf_mtod(m, const std::uint8_t*);
    // A reply to an active open may hash to another lcore's queue: hand it
    // to the lcore that owns its local port (tcp_stack.h owner_of).
    if (l4.l4_length >= 4) {
        std::uint16_t local_port = net::load_be16(frame + l4.l4_offset + 2);
        auto owner = stack_->owner_of(local_port);
        if (owner && *owner != stack_->owner_index() && *owner < w_.peers.size()) {
            m->port = p.port_id;
            if (rte_ring_enqueue(w_.peers[*owner]->steer_in, m) == 0) {
                w_.steered_out.add();
            } else {
                w_.drops.count(net::DropReason::steer_ring_full);
                rte_pktmbuf_free(m);
            }
            return;
        }
    }
    const std::uint8_t* ip = frame + l4.l3_offset;
    net::Ipv6Addr src, dst;
    if (l4.ip_version == 4) {
        src = net::v4_mapped(net::Ipv4Addr{net::load_be32(ip + kIpv4Src)});
        dst = net::v4_mapped(net::Ipv4Addr{net::load_be32(ip + kIpv4Dst)});
    } else {
        src = read_ipv6(ip + kIpv6Src);
        dst = read_ipv6(ip + kIpv6Dst);
    }
    stack_->input(src, dst, {frame + l4.l4_offset, l4.l4_length}, now);
    rte_pktmbuf_free(m); // the stack copied what it keeps
}

unsigned TcpAdapter::poll(std::uint64_t now) {
    now_ = now;
    stack_->run_timers(now);
    if (av_)
        for (int i = 0; i < 32; ++i) { // verdicts back from the antivirus threads
            auto job = av_->poll();
            if (!job)
                break;
            smtp::SmtpService* to = job->outbound ? smtp_out_.get() : smtp_.get();
            if (to)
                to->on_av_result(*stack_, std::move(job), now);
        }
    if (smtp_)
        smtp_->poll(*stack_, now);
    if (smtp_out_)
        smtp_out_->poll(*stack_, now);
    if (held_.empty())
        return 0;
    unsigned work = 0;
    std::size_t kept = 0;
    for (auto& h : held_) {
        if (auto mac = h.port->l3.neighbors.lookup(h.hop, now)) {
            set_dst_mac(h.m, *mac);
            queue_tx(w_, *h.port, h.m, now);
            ++work;
        } else if (now - h.since >= kHoldNs) {
            w_.drops.count(net::DropReason::neighbor_unresolved);
            rte_pktmbuf_free(h.m);
        } else {
            if (now - h.solicited >= kResolicitNs) {
                solicit(*h.port, h.hop);
                h.solicited = now;
            }
            held_[kept++] = h;
        }
    }
    held_.resize(kept);
    return work;
}

WorkerPort* TcpAdapter::port_for(const net::Ipv6Addr& local) {
    for (auto& p : w_.ports) {
        const auto& a = p->l3.addressing;
        if (local.is_v4_mapped() ? net::v4_unmapped(local) == a.ipv4.addr
                                 : (local == a.ipv6.addr || local == a.link_local))
            return p.get();
    }
    return nullptr;
}

void TcpAdapter::set_dst_mac(rte_mbuf* m, const net::MacAddr& mac) {
    std::memcpy(rte_pktmbuf_mtod(m, std::uint8_t*) + kEtherDst, mac.bytes.data(), 6);
}

void TcpAdapter::solicit(WorkerPort& p, const net::Ipv6Addr& hop) {
    rte_mbuf* m = rte_pktmbuf_alloc(w_.pool);
    if (!m) {
        w_.drops.count(net::DropReason::tx_no_mbuf);
        return;
    }
    std::uint8_t* buf = rte_pktmbuf_mtod(m, std::uint8_t*);
    std::span<std::uint8_t> room(buf, rte_pktmbuf_tailroom(m));
    std::size_t len = hop.is_v4_mapped()
                          ? net::build_arp_request(room, p.l3.addressing, net::v4_unmapped(hop))
                          : net::build_neighbor_solicit(room, p.l3.addressing, hop);
    if (len == 0 || !rte_pktmbuf_append(m, static_cast<std::uint16_t>(len))) {
        rte_pktmbuf_free(m);
        return;
    }
    queue_tx(w_, p, m, now_);
}

void TcpAdapter::emit(const tcp::FourTuple& t, const tcp::OutSegment& seg) {
    WorkerPort* p = port_for(t.local);
    if (!p)
        return; // the stack only ever uses our addresses
    auto hop = net::next_hop(p->l3.addressing, p->gateway4, p->gateway6, t.remote);
    if (!hop) {
        w_.drops.count(net::DropReason::tx_no_route);
        return;
    }
    rte_mbuf* m = rte_pktmbuf_alloc(w_.pool);
    if (!m) {
        w_.drops.count(net::DropReason::tx_no_mbuf);
        return;
    }
    bool v4 = t.local.is_v4_mapped();
    std::size_t l3_len = v4 ? kIpv4MinHeaderLen : kIpv6HeaderLen;
    std::size_t payload = seg.payload.size();
    std::uint8_t* frame = rte_pktmbuf_mtod(m, std::uint8_t*);
    std::size_t room = rte_pktmbuf_tailroom(m);
    std::uint8_t* tcp_start = frame + kEtherHeaderLen + l3_len;
    std::size_t tcp_hdr =
        tcp::build_header(seg.header, {tcp_start, room - std::min(room, kEtherHeaderLen + l3_len)});
    std::size_t total = kEtherHeaderLen + l3_len + tcp_hdr + payload;
    if (tcp_hdr == 0 || total > room) { // cannot happen: MSS <= MTU - 40 < data room
        w_.drops.count(net::DropReason::reply_no_room);
        rte_pktmbuf_free(m);
        return;
    }
    seg.payload.copy_to({tcp_start + tcp_hdr, payload});
    std::span<std::uint8_t> tcp_bytes(tcp_start, tcp_hdr + payload);
    std::uint8_t* ip = frame + kEtherHeaderLen;
    if (v4) {
        net::Ipv4Addr s = net::v4_unmapped(t.local), d = net::v4_unmapped(t.remote);
        tcp::tcp_fill_checksum_v4(tcp_bytes, s, d);
        net::write_ipv4_header(ip, s, d, kProtoTcp, static_cast<std::uint16_t>(tcp_bytes.size()),
                               ip_id_++);
        net::write_ether_header(frame, {}, p->l3.addressing.mac, kEtherTypeIpv4);
    } else {
        tcp::tcp_fill_checksum_v6(tcp_bytes, t.local, t.remote);
        net::write_ipv6_header(ip, t.local, t.remote, kProtoTcp,
                               static_cast<std::uint16_t>(tcp_bytes.size()));
        net::write_ether_header(frame, {}, p->l3.addressing.mac, kEtherTypeIpv6);
    }
    rte_pktmbuf_append(m, static_cast<std::uint16_t>(total));

    if (auto mac = p->l3.neighbors.lookup(*hop, now_)) {
        set_dst_mac(m, *mac);
        queue_tx(w_, *p, m, now_);
        return;
    }
    if (held_.size() >= kMaxHeld) {
        w_.drops.count(net::DropReason::neighbor_queue_full);
        rte_pktmbuf_free(m);
        return;
    }
    bool asked = false;
    for (const auto& h : held_)
        asked = asked || (h.hop == *hop && h.port == p);
    if (!asked)
        solicit(*p, *hop);
    held_.push_back({m, p, *hop, now_, now_});
}

} // namespace smtpgw::io
