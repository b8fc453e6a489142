// peer_table.h: the compiled peer filter table the fast path consults at
// every SYN: is this source address listed?
//
// Purpose: answer "listed or not" in one or two memory reads for IPv4 and a
// few hash probes for IPv6, whatever the number of entries (target: over a
// million). The table is built off the fast path from prefixes (blacklist,
// whitelist, exclusions), then published whole and never modified: the
// adapter swaps tables RCU-style, so lookups need no lock.
// Structure: IPv4 is a DIR-24-8 variant that stores a verdict instead of a
// next hop. Each /24 has a 32-bit word: "not listed", "listed by list N"
// (1..255), or the index of a 256-bit bitmap for a /24 whose addresses
// differ (with the one list its addresses come from, or a per-address list
// id array when several lists meet in the /24). The list id selects the
// action (drop or RST) and the per-list counter. A whitelist
// entry or an rbldnsd exclusion is folded in at build time (its bits are
// cleared after the blacklist's are set), so the whitelist always wins,
// whatever the prefix lengths. IPv6 keeps one hash set per prefix length in
// use (typically /32, /48, /64, /128), longest first, for the blacklist and
// for the whitelist. Lookups take v4-mapped addresses for IPv4.
// Security: memory is fixed by the number of entries at build time
// (64 MiB for the /24 words, 48 bytes per /24 with two or more listed
// addresses plus 256 for one fed by several lists, 17 bytes per IPv6 slot); build() refuses more than
// `max_entries`. Lookups never allocate.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "filter/huge_page_allocator.h"
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

// Which list (source) an entry comes from: 1..kMaxPeerLists; 0 means "not
// listed". Ids are assigned by the control plane (runtime, dynamic, one per
// loaded file); each has its own action and its own drop counter.
using PeerListId = std::uint8_t;
inline constexpr std::size_t kMaxPeerLists = 255;

struct PeerPrefix {
    bool is_v6 = false;
    net::Ipv4Prefix v4;
    net::Ipv6Prefix v6;
    PeerListKind kind = PeerListKind::black;
    PeerListId list = 1; // blacklist entries: the list they belong to (never 0)
};

struct PeerTableStats {
    std::size_t v4_black = 0, v4_white = 0, v6_black = 0, v6_white = 0;
    std::size_t mixed_slash24 = 0; // /24s with a bitmap
    std::size_t one_address_slash24 = 0; // /24s with a single listed address (no bitmap)
    std::size_t multi_list_slash24 = 0; // of those, /24s whose addresses come from several lists
    std::size_t bytes = 0;         // memory held by the table
};

class PeerTable {
  public:
    // An empty table: nothing is listed (and no 64 MiB array is held).
    PeerTable() = default;

    // Builds the table; `actions[id]` is what list `id`'s peers get. Where
    // blacklist prefixes overlap, the longest decides the list (and so the
    // action); of equal ones, the one later in `prefixes`. Error contract:
    // returns an empty string, or the reason (too many entries, a list id
    // of 0) with the table left empty.
    std::string build(const std::vector<PeerPrefix>& prefixes, std::size_t max_entries,
                      const std::array<ListedAction, kMaxPeerLists + 1>& actions = {});

    // The list that blacklists `addr` (IPv6, or v4-mapped IPv4), or 0 when
    // it is not listed or whitelisted. Never allocates.
    PeerListId lookup(const net::Ipv6Addr& addr) const {
        return addr.is_v4_mapped() ? lookup_v4(net::v4_unmapped(addr).value) : lookup_v6(addr);
    }
    bool listed(const net::Ipv6Addr& addr) const { return lookup(addr) != 0; }
    PeerListId lookup_v4(std::uint32_t addr) const {
        if (slash24_.empty())
            return 0;
        std::uint32_t w = slash24_[addr >> 8];
        if (w < kFirstBitmap)
            return static_cast<PeerListId>(w);
        if (w & kOneAddress) // one read for the common sparse /32 list
            return (addr & 0xff) == (w & 0xff) ? static_cast<PeerListId>(w >> 8) : 0;
        const Bitmap& b = bitmaps_[w - kFirstBitmap];
        std::uint32_t bit = addr & 0xff;
        if (!((b.words[bit >> 6] >> (bit & 63)) & 1u))
            return 0;
        return b.ids == kNoIds ? b.list : list_ids_[b.ids].id[bit];
    }
    PeerListId lookup_v6(const net::Ipv6Addr& addr) const;
    ListedAction action_of(PeerListId list) const { return actions_[list]; }

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
        if (w >= kFirstBitmap && !(w & kOneAddress))
            __builtin_prefetch(&bitmaps_[w - kFirstBitmap]);
    }

    const PeerTableStats& stats() const { return stats_; }

  private:
    // A /24 word: 0 not listed, 1..255 wholly listed by that list,
    // kOneAddress | list << 8 | last octet when one address of the /24 is
    // listed (most /24s of a sparse /32 list: no second read, no bitmap),
    // else kFirstBitmap + the index of the /24's bitmap.
    static constexpr std::uint32_t kFirstBitmap = kMaxPeerLists + 1;
    static constexpr std::uint32_t kOneAddress = 0x80000000u;
    static constexpr std::uint32_t kNoIds = 0xffffffffu;
    struct Bitmap {
        std::uint64_t words[4];
        std::uint32_t ids = kNoIds; // per-address list ids, for a /24 fed by several lists
        PeerListId list = 0;        // else the one list of every listed address
    };
    struct ListIds {
        PeerListId id[256];
    };
    // One prefix length's set of IPv6 prefixes (open addressing on the
    // masked address; keyed mix so a list cannot be made to collide).
    // `ids[i]` is the slot's list (0: empty slot).
    struct V6Set {
        std::uint8_t length = 0;
        std::vector<net::Ipv6Addr> slots;
        std::vector<PeerListId> ids;
        std::size_t mask = 0;
        PeerListId find(const net::Ipv6Addr& masked) const;
    };
    static PeerListId v6_find(const std::vector<V6Set>& sets, const net::Ipv6Addr& addr);
    static std::vector<V6Set> build_v6(const std::vector<PeerPrefix>& prefixes);

    void set_range_v4(std::uint32_t first, std::uint32_t last, PeerListId list);
    void attribute(Bitmap& b, std::uint32_t bit, PeerListId list);
    void compact_v4();

    // On huge pages: every SYN reads both at a random place (huge_page_allocator.h).
    std::vector<std::uint32_t, HugePageAllocator<std::uint32_t>> slash24_; // 2^24 words, or empty
    std::vector<Bitmap, HugePageAllocator<Bitmap>> bitmaps_;
    std::vector<ListIds> list_ids_;
    std::vector<V6Set> v6_black_, v6_white_; // longest prefix length first
    std::array<ListedAction, kMaxPeerLists + 1> actions_{};
    PeerTableStats stats_;
};

} // namespace smtpgw::filter
