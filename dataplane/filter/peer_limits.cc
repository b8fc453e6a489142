// peer_limits.cc: per-peer connection limits (see header).
#include "filter/peer_limits.h"

#include <array>
#include <bit>

#include "net/siphash.h"

namespace smtpgw::filter {

TokenBucketShape TokenBucketShape::make(std::uint32_t rate_per_second, std::uint32_t burst) {
    TokenBucketShape s;
    s.rate = std::clamp<std::uint32_t>(rate_per_second, 1, kMaxTokenRate);
    s.capacity = std::clamp<std::uint32_t>(burst, 1, kMaxTokenBurst) * kNanoTokensPerToken;
    s.fill_ns = s.capacity / s.rate + (s.capacity % s.rate != 0);
    return s;
}

std::optional<std::string_view> peer_limit_settings_error(const PeerLimitSettings& s) {
    if (s.rate_per_second < 1 || s.rate_per_second > kMaxTokenRate)
        return "rate_per_second must be 1..1000000";
    if (s.burst < 1 || s.burst > kMaxTokenBurst)
        return "burst must be 1..1000000";
    if (s.max_concurrent < 1 || s.max_concurrent > kMaxPeerConnections)
        return "max_concurrent must be 1..1000000";
    if (s.max_half_open < 1 || s.max_half_open > kMaxPeerConnections)
        return "max_half_open must be 1..1000000";
    if (s.v4_prefix_len < 24 || s.v4_prefix_len > 32)
        return "v4_prefix_len must be 24..32";
    if (s.v6_prefix_len < 32 || s.v6_prefix_len > 128)
        return "v6_prefix_len must be 32..128";
    if (s.table_size < 1 || s.table_size > kMaxPeerTableSize)
        return "table_size must be 1..16777216";
    return std::nullopt;
}

PeerLimitSettings clamp_peer_limit_settings(const PeerLimitSettings& s) {
    PeerLimitSettings c = s;
    c.rate_per_second = std::clamp<std::uint32_t>(s.rate_per_second, 1, kMaxTokenRate);
    c.burst = std::clamp<std::uint32_t>(s.burst, 1, kMaxTokenBurst);
    c.max_concurrent = std::clamp<std::uint32_t>(s.max_concurrent, 1, kMaxPeerConnections);
    c.max_half_open = std::clamp<std::uint32_t>(s.max_half_open, 1, kMaxPeerConnections);
    c.v4_prefix_len = std::clamp<std::uint8_t>(s.v4_prefix_len, 24, 32);
    c.v6_prefix_len = std::clamp<std::uint8_t>(s.v6_prefix_len, 32, 128);
    c.table_size = std::clamp<std::size_t>(s.table_size, kPeerProbeWindow, kMaxPeerTableSize);
    return c;
}

namespace {

constexpr std::array<net::ReasonInfo, kPeerVerdictCount> kVerdictInfo{{
#define SMTPGW_PEER_VERDICT_INFO(name, severity, sentence)                                         \
    {#name, net::Severity::severity, sentence},
    SMTPGW_PEER_VERDICTS(SMTPGW_PEER_VERDICT_INFO)
#undef SMTPGW_PEER_VERDICT_INFO
}};

} // namespace

const net::ReasonInfo& peer_verdict_info(PeerVerdict v) {
    static constexpr net::ReasonInfo kNone{"none", net::Severity::info, "not a verdict"};
    auto i = static_cast<std::size_t>(v);
    return i < kVerdictInfo.size() ? kVerdictInfo[i] : kNone;
}

std::uint64_t peer_hash(const PeerHashKey& key, const net::Ipv6Addr& a) {
    net::SipKey k;
    for (int i = 0; i < 8; ++i) {
        k.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(key.k0 >> (8 * i));
        k.bytes[static_cast<std::size_t>(8 + i)] = static_cast<std::uint8_t>(key.k1 >> (8 * i));
    }
    return net::siphash24(k, a.bytes);
}

PeerLimits::PeerLimits(const PeerLimitSettings& settings, const PeerHashKey& key)
    : settings_(clamp_peer_limit_settings(settings)), key_(key),
      shape_(TokenBucketShape::make(settings_.rate_per_second, settings_.burst)),
      slots_(std::bit_ceil(settings_.table_size)) {}

net::Ipv6Addr PeerLimits::aggregate_key(const net::Ipv6Addr& peer) const {
    net::Ipv6Addr k = peer;
    // A v4-mapped address keeps its ::ffff: prefix (so it never meets an IPv6
    // aggregate) and is cut at 96 + v4_prefix_len; v6_prefix_len never applies.
    auto length = static_cast<std::uint8_t>(peer.is_v4_mapped() ? 96u + settings_.v4_prefix_len
                                                                : settings_.v6_prefix_len);
    k = net::Ipv6Prefix{k, length}.network().addr;
    return k;
}

net::Ipv6Prefix PeerLimits::aggregate(const net::Ipv6Addr& peer) const {
    auto len = peer.is_v4_mapped() ? 96 + settings_.v4_prefix_len : settings_.v6_prefix_len;
    return net::Ipv6Prefix{aggregate_key(peer), static_cast<std::uint8_t>(len)};
}

std::size_t PeerLimits::home_slot(const net::Ipv6Addr& key) const {
    return static_cast<std::size_t>(peer_hash(key_, key)) & (slots_.size() - 1);
}

const PeerLimits::Record* PeerLimits::find(const net::Ipv6Addr& key) const {
    std::size_t mask = slots_.size() - 1, home = home_slot(key);
    for (std::size_t i = 0; i < kPeerProbeWindow; ++i) {
        const Record& r = slots_[(home + i) & mask];
        if (r.used && r.key == key)
            return &r;
    }
    return nullptr;
}

PeerLimits::Record* PeerLimits::find(const net::Ipv6Addr& key) {
    return const_cast<Record*>(static_cast<const PeerLimits*>(this)->find(key));
}

bool PeerLimits::reusable(const Record& r, std::uint64_t now_ns) const {
    if (r.concurrent != 0 || r.half_open != 0)
        return false;
    std::uint64_t full_at = token_full_at(r.bucket, shape_);
    return now_ns >= full_at && now_ns - full_at >= settings_.idle_expiry_ns;
}

PeerLimits::Record* PeerLimits::find_or_insert(const net::Ipv6Addr& key, std::uint64_t now_ns) {
    std::size_t mask = slots_.size() - 1, home = home_slot(key);
    Record* empty = nullptr;
    Record* expired = nullptr;
    Record* oldest_idle = nullptr;
    Record* oldest_idle_proven = nullptr; // evicted last: a flood must not push out real peers
    // The whole window is searched before anything is taken: records are
    // never removed, only replaced, so a peer's record may follow an empty
    // or reusable slot and must never be duplicated.
    for (std::size_t i = 0; i < kPeerProbeWindow; ++i) {
        Record& r = slots_[(home + i) & mask];
        if (!r.used) {
            if (!empty)
                empty = &r;
            continue;
        }
        if (r.key == key)
            return &r;
        if (r.concurrent != 0 || r.half_open != 0)
            continue;
        if (!expired && reusable(r, now_ns))
            expired = &r;
        Record*& oldest = r.proven ? oldest_idle_proven : oldest_idle;
        if (!oldest || r.bucket.last_ns < oldest->bucket.last_ns)
            oldest = &r;
    }
    Record* slot = nullptr;
    if (empty) {
        slot = empty;
        ++in_use_;
        counters_.created.add();
    } else if (expired) {
        slot = expired;
        counters_.recycled.add();
    } else if (oldest_idle || oldest_idle_proven) {
        slot = oldest_idle ? oldest_idle : oldest_idle_proven;
        counters_.evictions.add();
    } else {
        return nullptr;
    }
    *slot = Record{key, TokenBucketState::full(shape_, now_ns), 0, 0, true, false};
    return slot;
}

PeerVerdict PeerLimits::decide(Record& r, std::uint64_t now_ns) {
    // Refill first even when the SYN is refused: it keeps last_ns at the
    // peer's latest SYN, so a peer that keeps trying stays recently used.
    token_refill(r.bucket, shape_, now_ns);
    // Limits that cost nothing are checked before a token is charged, so a
    // refused SYN never uses up the peer's rate.
    if (r.half_open >= settings_.max_half_open)
        return PeerVerdict::too_many_half_open;
    if (r.half_open + r.concurrent >= settings_.max_concurrent)
        return PeerVerdict::too_many_connections;
    if (!token_take(r.bucket))
        return PeerVerdict::rate_exceeded;
    ++r.half_open;
    return PeerVerdict::allow;
}

PeerVerdict PeerLimits::on_syn(const net::Ipv6Addr& peer, std::uint64_t now_ns) {
    Record* r = find_or_insert(aggregate_key(peer), now_ns);
    PeerVerdict v = r ? decide(*r, now_ns) : PeerVerdict::table_full;
    counters_.verdicts.count(v);
    return v;
}

void PeerLimits::on_established(const net::Ipv6Addr& peer) {
    Record* r = find(aggregate_key(peer));
    if (!r || r->half_open == 0) {
        counters_.strays.add();
        return;
    }
    // Cannot pass max_concurrent: on_syn admitted this half-open only while
    // half_open + concurrent < max_concurrent, and the sum is unchanged here.
    --r->half_open;
    ++r->concurrent;
    r->proven = true;
}

void PeerLimits::on_half_open_failed(const net::Ipv6Addr& peer) {
    Record* r = find(aggregate_key(peer));
    if (!r || r->half_open == 0) {
        counters_.strays.add();
        return;
    }
    --r->half_open;
}

void PeerLimits::on_closed(const net::Ipv6Addr& peer) {
    Record* r = find(aggregate_key(peer));
    if (!r || r->concurrent == 0) {
        counters_.strays.add();
        return;
    }
    --r->concurrent;
}

PeerVerdict PeerLimits::on_cookie_established(const net::Ipv6Addr& peer, std::uint64_t now_ns) {
    Record* r = find_or_insert(aggregate_key(peer), now_ns);
    if (!r)
        return PeerVerdict::table_full;
    token_refill(r->bucket, shape_, now_ns);
    r->proven = true; // a valid cookie came back: the address is real
    if (r->half_open + r->concurrent >= settings_.max_concurrent)
        return PeerVerdict::too_many_connections;
    ++r->concurrent;
    return PeerVerdict::allow;
}

bool PeerLimits::proven(const net::Ipv6Addr& peer) const {
    const Record* r = find(aggregate_key(peer));
    return r && r->proven;
}

std::optional<PeerUsage> PeerLimits::usage(const net::Ipv6Addr& peer, std::uint64_t now_ns) const {
    const Record* r = find(aggregate_key(peer));
    if (!r)
        return std::nullopt;
    PeerUsage u;
    u.prefix = aggregate(peer);
    u.concurrent = r->concurrent;
    u.half_open = r->half_open;
    u.tokens = token_count(r->bucket, shape_, now_ns);
    u.last_seen_ns = r->bucket.last_ns;
    u.reusable = reusable(*r, now_ns);
    return u;
}

} // namespace smtpgw::filter
