// peer_table.h: the compiled peer filter table the fast path consults at
// every SYN: is this source address listed?
//
// Purpose: answer "listed or not" in one or two memory reads for IPv4 and a
// few hash probes for IPv6, whatever the number of entries (target: over a
// million). The table is built off the fast path from prefixes (blacklist,
// whitelist, exclusions), then published whole and never modified: the
// adapter swaps tables RCU-style, so lookups need no lock.
// Structure: IPv4 is a DIR-24-8 variant that stores a verdict instead of a
// next hop. Each /24 has a 32-bit word: "not listed", "listed", or the
// index of a 256-bit bitmap for a /24 whose addresses differ. A whitelist
// entry or an rbldnsd exclusion is folded in at build time (its bits are
// cleared after the blacklist's are set), so the whitelist always wins,
// whatever the prefix lengths. IPv6 keeps one hash set per prefix length in
// use (typically /32, /48, /64, /128), longest first, for the blacklist and
// for the whitelist. Lookups take v4-mapped addresses for IPv4.
// Security: memory is fixed by the number of entries at build time
// (64 MiB for the /24 words, 32 bytes per mixed /24, 24 bytes per IPv6
// entry); build() refuses more than `max_entries`. Lookups never allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "net/addr.h"

namespace smtpgw::filter {

enum class PeerListKind : std::uint8_t {
    black, // listed: dropped at SYN
    white, // never listed, whatever the blacklist says
};

// What a listed peer gets at its SYN.
enum class ListedAction : std::uint8_t {
    drop,  // nothing at all (default): no SYN-ACK, no RST, no state
    reset, // a RST, for peers that should stop retrying quickly
};

struct PeerPrefix {
    bool is_v6 = false;
    net::Ipv4Prefix v4;
    net::Ipv6Prefix v6;
    PeerListKind kind = PeerListKind::black;
};

struct PeerTableStats {
    std::size_t v4_black = 0, v4_white = 0, v6_black = 0, v6_white = 0;
    std::size_t mixed_slash24 = 0; // /24s with a bitmap
    std::size_t bytes = 0;         // memory held by the table
};

class PeerTable {
  public:
    // An empty table: nothing is listed (and no 64 MiB array is held).
    PeerTable() = default;

    // Builds the table. Error contract: returns an empty string, or the
    // reason (too many entries) with the table left empty.
    std::string build(const std::vector<PeerPrefix>& prefixes, std::size_t max_entries);

    // True when `addr` (IPv6, or v4-mapped IPv4) is blacklisted and not
    // whitelisted. Never allocates.
    bool listed(const net::Ipv6Addr& addr) const {
        return addr.is_v4_mapped() ? listed_v4(net::v4_unmapped(addr).value) : listed_v6(addr);
    }
    bool listed_v4(std::uint32_t addr) const {
        if (slash24_.empty())
            return false;
        std::uint32_t w = slash24_[addr >> 8];
        if (w <= kListed)
            return w == kListed;
        const Bitmap& b = bitmaps_[w - kFirstBitmap];
        std::uint32_t bit = addr & 0xff;
        return (b.words[bit >> 6] >> (bit & 63)) & 1u;
    }
    bool listed_v6(const net::Ipv6Addr& addr) const;

    // Batched lookups: a burst first prefetches every source's /24 word,
    // then every bitmap those words point to, then looks up; the DRAM
    // latency of a large table is paid once per burst instead of per SYN.
    void prefetch_v4(std::uint32_t addr) const {
        if (!slash24_.empty())
            __builtin_prefetch(&slash24_[addr >> 8]);
    }
    void prefetch_bitmap_v4(std::uint32_t addr) const {
        if (slash24_.empty())
            return;
        std::uint32_t w = slash24_[addr >> 8];
        if (w >= kFirstBitmap)
            __builtin_prefetch(&bitmaps_[w - kFirstBitmap]);
    }

    const PeerTableStats& stats() const { return stats_; }

  private:
    static constexpr std::uint32_t kNotListed = 0, kListed = 1, kFirstBitmap = 2;
    struct Bitmap {
        std::uint64_t words[4];
    };
    // One prefix length's set of IPv6 prefixes (open addressing on the
    // masked address; keyed mix so a list cannot be made to collide).
    struct V6Set {
        std::uint8_t length = 0;
        std::vector<net::Ipv6Addr> slots;
        std::vector<std::uint8_t> used;
        std::size_t mask = 0;
        bool contains(const net::Ipv6Addr& masked) const;
    };
    static bool v6_in(const std::vector<V6Set>& sets, const net::Ipv6Addr& addr);
    static std::vector<V6Set> build_v6(const std::vector<net::Ipv6Prefix>& prefixes);

    void set_range_v4(std::uint32_t first, std::uint32_t last, bool listed);

    std::vector<std::uint32_t> slash24_; // 2^24 words, or empty when no IPv4 entry
    std::vector<Bitmap> bitmaps_;
    std::vector<V6Set> v6_black_, v6_white_; // longest prefix length first
    PeerTableStats stats_;
};

} // namespace smtpgw::filter
