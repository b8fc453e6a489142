// peer_filter.h: the peer filter as the TCP stack's SYN admission: a listed
// peer is refused at its SYN (silently by default, so it learns nothing and
// costs nothing), then per-peer limits (rate, concurrency, half-open) apply.
//
// Purpose: the product's headline, on the fast path. One PeerFilter per
// lcore; the compiled PeerTable is shared read-only by every lcore and
// replaced whole by the control plane (RCU: the lcore reads the pointer once
// per SYN and reports a quiescent state once per loop iteration, so the old
// table is freed only when no lcore can still be reading it).
// Security: lookups never allocate or block; every refusal is counted by
// reason (peer_filter_events.def), never logged per packet; the limits
// table is bounded (peer_limits.h).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "filter/peer_limits.h"
#include "filter/peer_table.h"
#include "net/counters.h"
#include "tcp/tcp_stack.h"

namespace smtpgw::filter {

enum class PeerFilterEvent : std::uint8_t {
#define SMTPGW_PEER_FILTER_EVENT(name, severity, sentence) name,
#include "filter/peer_filter_events.def"
#undef SMTPGW_PEER_FILTER_EVENT
    count_
};
inline constexpr std::size_t kPeerFilterEventCount =
    static_cast<std::size_t>(PeerFilterEvent::count_);
const net::ReasonInfo& peer_filter_event_info(PeerFilterEvent e);
using PeerFilterCounters = net::CounterTable<PeerFilterEvent, kPeerFilterEventCount>;
// SYNs refused per list (index: PeerListId), one per lcore, single writer:
// "which list is doing the work" for the administrator.
struct PeerListCounters {
    std::array<net::Counter, kMaxPeerLists + 1> refused{};
};

// Where the filter asks for a peer over its limits to be listed for a while
// (the control plane does it, off the fast path). Must not block.
class AutoListSink {
  public:
    virtual ~AutoListSink() = default;
    // `aggregate` is the peer's limits aggregate (v4-mapped for IPv4).
    // Returns false when the request could not be queued (counted).
    virtual bool request(const net::Ipv6Prefix& aggregate) = 0;
};

class PeerFilter final : public tcp::SynAdmission {
  public:
    // `table` is the published table pointer (nullptr: nothing listed); it
    // carries each list's action. It and the counters outlive the filter.
    PeerFilter(const std::atomic<const PeerTable*>& table, const PeerLimitSettings& limits,
               const PeerHashKey& key, PeerFilterCounters& counters,
               PeerListCounters& list_counters);

    Verdict on_syn(const tcp::FourTuple& t, bool stateful, std::uint64_t now) override;
    void on_established(const tcp::FourTuple& t, bool was_half_open, std::uint64_t now) override;
    void on_half_open_gone(const tcp::FourTuple& t) override;
    void on_closed(const tcp::FourTuple& t) override;
    bool proven(const tcp::FourTuple& t) const override;

    // True when the current table lists `peer` (used to reset connections
    // of peers that became listed).
    bool listed(const net::Ipv6Addr& peer) const {
        const PeerTable* t = table_.load(std::memory_order_acquire);
        return t && t->listed(peer);
    }
    const PeerLimits& limits() const { return limits_; }
    // Another part of the gateway saw `peer` misbehave (the SMTP engine: an
    // early talker). Counted; auto-listed like a peer over a limit when
    // auto-listing is on. Must not block.
    void report_misbehaving(const net::Ipv6Addr& peer);
    // Peers refused for a limit are reported to `sink` while `enabled` is
    // non-zero (the control plane's auto-list duration); nullptr: never.
    void set_auto_list(AutoListSink* sink, const std::atomic<std::uint32_t>* enabled) {
        auto_list_ = sink;
        auto_list_enabled_ = enabled;
    }
    // The current table (may be null), for the burst-level early drop in
    // the worker loop, which counts what it drops here.
    const PeerTable* table() const { return table_.load(std::memory_order_acquire); }
    void count_listed_drops(PeerListId list, std::uint64_t n) {
        counters_.by_reason[static_cast<std::size_t>(PeerFilterEvent::listed_dropped)].add(n);
        list_counters_.refused[list].add(n);
    }

  private:
    Verdict refuse(PeerFilterEvent why, const net::Ipv6Addr& peer);
    void request_auto_list(const net::Ipv6Addr& peer);

    const std::atomic<const PeerTable*>& table_;
    PeerLimits limits_;
    PeerFilterCounters& counters_;
    PeerListCounters& list_counters_;
    AutoListSink* auto_list_ = nullptr;
    const std::atomic<std::uint32_t>* auto_list_enabled_ = nullptr;
};

} // namespace smtpgw::filter
