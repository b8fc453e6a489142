// peer_table.cc: building and querying the compiled peer table (see header).
#include "filter/peer_table.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>

namespace smtpgw::filter {

namespace {

net::Ipv6Addr masked(const net::Ipv6Addr& a, std::uint8_t length) {
    return net::Ipv6Prefix{a, length}.network().addr;
}

// A fixed mix of the 128 bits (xor-multiply-shift on two halves). Lists are
// chosen by administrators and feeds, not by the peers being looked up, and
// a peer cannot insert entries: a keyed hash is not needed here.
std::uint64_t mix(const net::Ipv6Addr& a) {
    std::uint64_t hi = 0, lo = 0;
    std::memcpy(&hi, a.bytes.data(), 8);
    std::memcpy(&lo, a.bytes.data() + 8, 8);
    std::uint64_t h = (hi ^ 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull;
    h ^= (lo + (h >> 29)) * 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

} // namespace

PeerListId PeerTable::V6Set::find(const net::Ipv6Addr& m) const {
    for (std::size_t i = mix(m) & mask;; i = (i + 1) & mask) {
        if (ids[i] == 0)
            return 0;
        if (slots[i] == m)
            return ids[i];
    }
}

PeerListId PeerTable::v6_find(const std::vector<V6Set>& sets, const net::Ipv6Addr& addr) {
    for (const auto& s : sets) // longest first: the longest match decides
        if (PeerListId id = s.find(masked(addr, s.length)))
            return id;
    return 0;
}

PeerListId PeerTable::lookup_v6(const net::Ipv6Addr& addr) const {
    if (v6_black_.empty())
        return 0;
    PeerListId id = v6_find(v6_black_, addr);
    return id != 0 && v6_find(v6_white_, addr) == 0 ? id : 0;
}

// `prefixes` in build order: a later equal prefix takes the slot's list.
std::vector<PeerTable::V6Set> PeerTable::build_v6(const std::vector<PeerPrefix>& prefixes) {
    std::map<std::uint8_t, std::vector<const PeerPrefix*>, std::greater<>> by_length;
    for (const auto* p = prefixes.data(); p != prefixes.data() + prefixes.size(); ++p)
        by_length[p->v6.length].push_back(p);
    std::vector<V6Set> sets;
    for (auto& [length, entries] : by_length) {
        V6Set s;
        s.length = length;
        std::size_t cap = std::bit_ceil(std::max<std::size_t>(8, 2 * entries.size()));
        s.slots.resize(cap);
        s.ids.assign(cap, 0);
        s.mask = cap - 1;
        for (const auto* p : entries) {
            net::Ipv6Addr a = masked(p->v6.addr, length);
            std::size_t i = mix(a) & s.mask;
            while (s.ids[i] != 0 && !(s.slots[i] == a))
                i = (i + 1) & s.mask;
            s.slots[i] = a;
            s.ids[i] = p->kind == PeerListKind::black ? p->list : 1; // white: any non-zero
        }
        sets.push_back(std::move(s));
    }
    return sets;
}

// Records that address `bit` of the bitmap's /24 is listed by `list`.
void PeerTable::attribute(Bitmap& b, std::uint32_t bit, PeerListId list) {
    if (b.ids == kNoIds) {
        bool any = (b.words[0] | b.words[1] | b.words[2] | b.words[3]) != 0;
        if (!any || b.list == list || b.list == 0) {
            b.list = list;
            return;
        }
        // A second list in this /24: per-address ids from now on.
        ListIds ids;
        std::memset(ids.id, b.list, sizeof ids.id);
        list_ids_.push_back(ids);
        b.ids = static_cast<std::uint32_t>(list_ids_.size() - 1);
    }
    list_ids_[b.ids].id[bit] = list;
}

// Paints [first, last] with `list` (0: not listed, for the whitelist).
void PeerTable::set_range_v4(std::uint32_t first, std::uint32_t last, PeerListId list) {
    for (std::uint32_t block = first >> 8;; ++block) {
        std::uint32_t lo = std::max(first, block << 8);
        std::uint32_t hi = std::min(last, (block << 8) | 0xff);
        std::uint32_t& w = slash24_[block];
        if ((lo & 0xff) == 0 && (hi & 0xff) == 0xff) {
            w = list; // the whole /24 (a bitmap it had is simply abandoned)
        } else if (w != list) {
            if (w < kFirstBitmap) { // split a uniform /24 into a bitmap
                std::uint64_t fill = w != 0 ? ~std::uint64_t{0} : 0;
                bitmaps_.push_back(Bitmap{{fill, fill, fill, fill}, kNoIds,
                                          static_cast<PeerListId>(w)});
                w = static_cast<std::uint32_t>(bitmaps_.size() - 1) + kFirstBitmap;
            }
            Bitmap& b = bitmaps_[w - kFirstBitmap];
            for (std::uint32_t bit = lo & 0xff; bit <= (hi & 0xff); ++bit) {
                std::uint64_t m = std::uint64_t{1} << (bit & 63);
                if (list != 0) {
                    attribute(b, bit, list);
                    b.words[bit >> 6] |= m;
                } else {
                    b.words[bit >> 6] &= ~m;
                }
            }
        }
        if (block == (last >> 8))
            break;
    }
}

// Once painted: /24s left with one listed address get the one-address word,
// and bitmaps no word points to any more (whole /24s painted over, single
// addresses) are dropped, so memory follows what is listed.
void PeerTable::compact_v4() {
    decltype(bitmaps_) kept;
    for (std::uint32_t& w : slash24_) {
        if (w < kFirstBitmap)
            continue;
        const Bitmap& b = bitmaps_[w - kFirstBitmap];
        int count = 0;
        std::uint32_t bit = 0;
        for (std::uint32_t k = 0; k < 4; ++k) {
            count += std::popcount(b.words[k]);
            if (b.words[k] != 0)
                bit = k * 64 + static_cast<std::uint32_t>(std::countr_zero(b.words[k]));
        }
        if (count == 0) {
            w = 0; // the whitelist cleared it all
        } else if (count == 1) {
            PeerListId list = b.ids == kNoIds ? b.list : list_ids_[b.ids].id[bit];
            w = kOneAddress | std::uint32_t{list} << 8 | bit;
        } else {
            kept.push_back(b);
            w = static_cast<std::uint32_t>(kept.size() - 1) + kFirstBitmap;
        }
    }
    bitmaps_ = std::move(kept);
}

std::string PeerTable::build(const std::vector<PeerPrefix>& prefixes, std::size_t max_entries,
                             const std::array<ListedAction, kMaxPeerLists + 1>& actions) {
    *this = PeerTable{};
    if (prefixes.size() > max_entries)
        return "too many entries: " + std::to_string(prefixes.size()) + " (limit " +
               std::to_string(max_entries) + ")";
    actions_ = actions;
    std::vector<PeerPrefix> v6_black, v6_white;
    std::vector<const PeerPrefix*> v4_black, v4_white;
    for (const auto& p : prefixes) {
        if (p.kind == PeerListKind::black && p.list == 0)
            return "a blacklist entry without a list id";
        if (p.is_v6)
            (p.kind == PeerListKind::black ? v6_black : v6_white).push_back(p);
        else
            (p.kind == PeerListKind::black ? v4_black : v4_white).push_back(&p);
    }
    if (!v4_black.empty()) {
        slash24_.assign(std::size_t{1} << 24, 0);
        // Shortest prefixes first, so a longer one paints over them and
        // decides the list; then the whitelist clears what it covers.
        std::stable_sort(v4_black.begin(), v4_black.end(),
                         [](const PeerPrefix* a, const PeerPrefix* b) {
                             return a->v4.length < b->v4.length;
                         });
        for (const auto* pass : {&v4_black, &v4_white})
            for (const auto* p : *pass) {
                std::uint32_t first = p->v4.network().addr.value;
                set_range_v4(first, first | ~net::ipv4_mask(p->v4.length),
                             pass == &v4_black ? p->list : 0);
            }
        compact_v4();
    }
    stats_.v4_black = v4_black.size();
    stats_.v4_white = v4_white.size();
    v6_black_ = build_v6(v6_black);
    v6_white_ = build_v6(v6_white);
    stats_.v6_black = v6_black.size();
    stats_.v6_white = v6_white.size();
    stats_.mixed_slash24 = bitmaps_.size();
    for (std::uint32_t w : slash24_)
        stats_.one_address_slash24 += (w & kOneAddress) != 0;
    stats_.multi_list_slash24 = list_ids_.size();
    stats_.bytes = slash24_.size() * sizeof(std::uint32_t) + bitmaps_.size() * sizeof(Bitmap) +
                   list_ids_.size() * sizeof(ListIds);
    for (const auto* sets : {&v6_black_, &v6_white_})
        for (const auto& s : *sets)
            stats_.bytes += s.slots.size() * (sizeof(net::Ipv6Addr) + sizeof(PeerListId));
    return {};
}

} // namespace smtpgw::filter
