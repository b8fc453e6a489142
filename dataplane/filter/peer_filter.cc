// peer_filter.cc: SYN admission by lists and per-peer limits (see peer_filter.h).
#include "filter/peer_filter.h"

#include <array>

namespace smtpgw::filter {

namespace {
constexpr std::array<net::ReasonInfo, kPeerFilterEventCount> kInfo{{
#define SMTPGW_PEER_FILTER_EVENT(name, severity, sentence)                                         \
    {#name, net::Severity::severity, sentence},
#include "filter/peer_filter_events.def"
#undef SMTPGW_PEER_FILTER_EVENT
}};
} // namespace

const net::ReasonInfo& peer_filter_event_info(PeerFilterEvent e) {
    return kInfo[static_cast<std::size_t>(e)];
}

PeerFilter::PeerFilter(const std::atomic<const PeerTable*>& table, const PeerLimitSettings& limits,
                       const PeerHashKey& key, PeerFilterCounters& counters,
                       PeerListCounters& list_counters)
    : table_(table), limits_(limits, key), counters_(counters), list_counters_(list_counters) {}

tcp::SynAdmission::Verdict PeerFilter::on_syn(const tcp::FourTuple& t, bool stateful,
                                              std::uint64_t now) {
    counters_.count(PeerFilterEvent::syn_checked);
    // Lists first: a listed peer costs one lookup and nothing else.
    const PeerTable* table = table_.load(std::memory_order_acquire);
    if (PeerListId list = table ? table->lookup(t.remote) : 0) {
        list_counters_.refused[list].add();
        if (table->action_of(list) == ListedAction::reset) {
            counters_.count(PeerFilterEvent::listed_reset);
            return Verdict::reset;
        }
        counters_.count(PeerFilterEvent::listed_dropped);
        return Verdict::drop;
    }
    switch (limits_.on_syn(t.remote, now)) {
    case PeerVerdict::allow:
        break;
    case PeerVerdict::rate_exceeded:
        return refuse(PeerFilterEvent::rate_limited, t.remote);
    case PeerVerdict::too_many_connections:
        return refuse(PeerFilterEvent::too_many_connections, t.remote);
    case PeerVerdict::too_many_half_open:
        return refuse(PeerFilterEvent::too_many_half_open, t.remote);
    case PeerVerdict::table_full:
    case PeerVerdict::count_:
        counters_.count(PeerFilterEvent::limits_table_full);
        return Verdict::drop;
    }
    // A SYN cookie keeps no half-open entry: release the count at once (the
    // rate token stays spent).
    if (!stateful)
        limits_.on_half_open_failed(t.remote);
    return Verdict::accept;
}

void PeerFilter::report_misbehaving(const net::Ipv6Addr& peer) {
    counters_.count(PeerFilterEvent::misbehaving_reported);
    request_auto_list(peer);
}

void PeerFilter::request_auto_list(const net::Ipv6Addr& peer) {
    if (auto_list_ && auto_list_enabled_ &&
        auto_list_enabled_->load(std::memory_order_relaxed) != 0) {
        bool queued = auto_list_->request(limits_.aggregate(peer));
        counters_.count(queued ? PeerFilterEvent::auto_list_requested
                               : PeerFilterEvent::auto_list_queue_full);
    }
}

tcp::SynAdmission::Verdict PeerFilter::refuse(PeerFilterEvent why, const net::Ipv6Addr& peer) {
    counters_.count(why);
    // Optionally the peer is listed for a while: its next SYNs then cost a
    // lookup, not a limits check. Once listed it stops reaching here.
    request_auto_list(peer);
    return Verdict::drop;
}

void PeerFilter::on_established(const tcp::FourTuple& t, bool was_half_open, std::uint64_t now) {
    if (was_half_open)
        limits_.on_established(t.remote);
    else // counted now; a limit it would break was already checked at its SYN
        limits_.on_cookie_established(t.remote, now);
}

void PeerFilter::on_half_open_gone(const tcp::FourTuple& t) {
    limits_.on_half_open_failed(t.remote);
}

void PeerFilter::on_closed(const tcp::FourTuple& t) {
    limits_.on_closed(t.remote);
}

bool PeerFilter::proven(const tcp::FourTuple& t) const {
    return limits_.proven(t.remote);
}

} // namespace smtpgw::filter
