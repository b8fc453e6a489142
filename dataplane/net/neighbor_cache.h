// neighbor_cache.h: the ARP (RFC 826) and IPv6 Neighbor Discovery (RFC 4861)
// cache of one port, owned by one lcore.
//
// Purpose: map on-link IPv4/IPv6 addresses to MAC addresses, with aging.
// Security: fixed capacity chosen at construction (setting
// `neighbor-cache-size`): an ARP/ND flood can never grow memory; when a probe
// window is full the oldest entry is replaced and counted. Entries older than
// `max_age` are invisible to lookups (so a replaced host is relearned).
// Not thread-safe: one owner lcore; others ask it through its mailbox.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "net/addr.h"
#include "net/counters.h"

namespace smtpgw::net {

struct NeighborEntry {
    Ipv6Addr ip;        // IPv4 entries are stored v4-mapped (::ffff:a.b.c.d)
    MacAddr mac;
    std::uint64_t updated_ns = 0;
    bool used = false;
};

class NeighborCache {
  public:
    // capacity is rounded up to a power of two (at least the probe window).
    NeighborCache(std::size_t capacity, std::uint64_t max_age_ns);

    std::optional<MacAddr> lookup(const Ipv6Addr& ip, std::uint64_t now_ns) const;
    std::optional<MacAddr> lookup(Ipv4Addr ip, std::uint64_t now_ns) const {
        return lookup(v4_mapped(ip), now_ns);
    }
    // True when an entry for `ip` exists, fresh or not (RFC 826 "merge").
    bool contains(const Ipv6Addr& ip) const;

    // Creates or refreshes the entry for `ip`.
    void learn(const Ipv6Addr& ip, const MacAddr& mac, std::uint64_t now_ns,
               NeighborCounters& counters);
    void learn(Ipv4Addr ip, const MacAddr& mac, std::uint64_t now_ns, NeighborCounters& counters) {
        learn(v4_mapped(ip), mac, now_ns, counters);
    }

    // Entries that are fresh at `now_ns`, for `show neighbors`.
    std::vector<NeighborEntry> snapshot(std::uint64_t now_ns) const;
    // Same, appended to `out` without growing it past its capacity (the fast
    // path answers snapshot requests into storage the control side reserved).
    void snapshot_into(std::vector<NeighborEntry>& out, std::uint64_t now_ns) const {
        for (const auto& e : slots_)
            if (fresh(e, now_ns) && out.size() < out.capacity())
                out.push_back(e);
    }

    std::size_t capacity() const { return slots_.size(); }
    std::uint64_t max_age_ns() const { return max_age_ns_; }

    static constexpr std::size_t kProbeWindow = 8;

  private:
    std::size_t home_slot(const Ipv6Addr& ip) const;
    const NeighborEntry* find(const Ipv6Addr& ip) const; // fresh or not
    bool fresh(const NeighborEntry& e, std::uint64_t now_ns) const {
        return e.used && now_ns - e.updated_ns < max_age_ns_;
    }

    std::vector<NeighborEntry> slots_;
    std::uint64_t max_age_ns_;
};

} // namespace smtpgw::net
