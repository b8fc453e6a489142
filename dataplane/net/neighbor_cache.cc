// neighbor_cache.cc: bounded open-addressing neighbor cache (see header).
#include "net/neighbor_cache.h"

#include <bit>

namespace smtpgw::net {

NeighborCache::NeighborCache(std::size_t capacity, std::uint64_t max_age_ns)
    : slots_(std::bit_ceil(capacity < kProbeWindow ? kProbeWindow : capacity)),
      max_age_ns_(max_age_ns) {}

std::size_t NeighborCache::home_slot(const Ipv6Addr& ip) const {
    // FNV-1a: addresses are attacker-chosen but the probe window bounds the
    // damage of collisions to one window's worth of evictions.
    std::uint64_t h = 1469598103934665603ull;
    for (auto b : ip.bytes) {
        h ^= b;
        h *= 1099511628211ull;
    }
    return static_cast<std::size_t>(h) & (slots_.size() - 1);
}

const NeighborEntry* NeighborCache::find(const Ipv6Addr& ip) const {
    std::size_t mask = slots_.size() - 1, home = home_slot(ip);
    for (std::size_t i = 0; i < kProbeWindow; ++i) {
        const auto& e = slots_[(home + i) & mask];
        if (e.used && e.ip == ip)
            return &e;
    }
    return nullptr;
}

std::optional<MacAddr> NeighborCache::lookup(const Ipv6Addr& ip, std::uint64_t now_ns) const {
    const NeighborEntry* e = find(ip);
    return e && fresh(*e, now_ns) ? std::optional<MacAddr>{e->mac} : std::nullopt;
}

bool NeighborCache::contains(const Ipv6Addr& ip) const { return find(ip) != nullptr; }

void NeighborCache::learn(const Ipv6Addr& ip, const MacAddr& mac, std::uint64_t now_ns,
                          NeighborCounters& counters) {
    std::size_t mask = slots_.size() - 1, home = home_slot(ip);
    NeighborEntry* free_slot = nullptr;
    NeighborEntry* oldest = nullptr;
    for (std::size_t i = 0; i < kProbeWindow; ++i) {
        auto& e = slots_[(home + i) & mask];
        if (e.used && e.ip == ip) {
            e.mac = mac;
            e.updated_ns = now_ns;
            counters.updated.add();
            return;
        }
        if (!free_slot && (!e.used || !fresh(e, now_ns)))
            free_slot = &e;
        if (!oldest || e.updated_ns < oldest->updated_ns)
            oldest = &e;
    }
    NeighborEntry* slot = free_slot;
    if (!slot) {
        slot = oldest;
        counters.evicted.add();
    }
    *slot = NeighborEntry{ip, mac, now_ns, true};
    counters.learned.add();
}

std::vector<NeighborEntry> NeighborCache::snapshot(std::uint64_t now_ns) const {
    std::vector<NeighborEntry> out;
    out.reserve(slots_.size());
    snapshot_into(out, now_ns);
    return out;
}

} // namespace smtpgw::net
