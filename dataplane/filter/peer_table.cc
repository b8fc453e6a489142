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

bool PeerTable::V6Set::contains(const net::Ipv6Addr& m) const {
    for (std::size_t i = mix(m) & mask;; i = (i + 1) & mask) {
        if (!used[i])
            return false;
        if (slots[i] == m)
            return true;
    }
}

bool PeerTable::v6_in(const std::vector<V6Set>& sets, const net::Ipv6Addr& addr) {
    for (const auto& s : sets)
        if (s.contains(masked(addr, s.length)))
            return true;
    return false;
}

bool PeerTable::listed_v6(const net::Ipv6Addr& addr) const {
    return !v6_black_.empty() && v6_in(v6_black_, addr) && !v6_in(v6_white_, addr);
}

std::vector<PeerTable::V6Set> PeerTable::build_v6(const std::vector<net::Ipv6Prefix>& prefixes) {
    std::map<std::uint8_t, std::vector<net::Ipv6Addr>, std::greater<>> by_length;
    for (const auto& p : prefixes)
        by_length[p.length].push_back(masked(p.addr, p.length));
    std::vector<V6Set> sets;
    for (auto& [length, addrs] : by_length) {
        V6Set s;
        s.length = length;
        std::size_t cap = std::bit_ceil(std::max<std::size_t>(8, 2 * addrs.size()));
        s.slots.resize(cap);
        s.used.assign(cap, 0);
        s.mask = cap - 1;
        for (const auto& a : addrs) {
            std::size_t i = mix(a) & s.mask;
            while (s.used[i] && !(s.slots[i] == a))
                i = (i + 1) & s.mask;
            s.slots[i] = a;
            s.used[i] = 1;
        }
        sets.push_back(std::move(s));
    }
    return sets;
}

void PeerTable::set_range_v4(std::uint32_t first, std::uint32_t last, bool listed) {
    std::uint32_t want = listed ? kListed : kNotListed;
    for (std::uint32_t block = first >> 8;; ++block) {
        std::uint32_t lo = std::max(first, block << 8);
        std::uint32_t hi = std::min(last, (block << 8) | 0xff);
        std::uint32_t& w = slash24_[block];
        if ((lo & 0xff) == 0 && (hi & 0xff) == 0xff) {
            w = want; // the whole /24 (a bitmap it had is simply abandoned)
        } else if (w != want) {
            if (w < kFirstBitmap) { // split a uniform /24 into a bitmap
                std::uint64_t fill = w == kListed ? ~std::uint64_t{0} : 0;
                bitmaps_.push_back(Bitmap{{fill, fill, fill, fill}});
                w = static_cast<std::uint32_t>(bitmaps_.size() - 1) + kFirstBitmap;
            }
            Bitmap& b = bitmaps_[w - kFirstBitmap];
            for (std::uint32_t bit = lo & 0xff; bit <= (hi & 0xff); ++bit) {
                std::uint64_t m = std::uint64_t{1} << (bit & 63);
                if (listed)
                    b.words[bit >> 6] |= m;
                else
                    b.words[bit >> 6] &= ~m;
            }
        }
        if (block == (last >> 8))
            break;
    }
}

std::string PeerTable::build(const std::vector<PeerPrefix>& prefixes, std::size_t max_entries) {
    *this = PeerTable{};
    if (prefixes.size() > max_entries)
        return "too many entries: " + std::to_string(prefixes.size()) + " (limit " +
               std::to_string(max_entries) + ")";
    std::vector<net::Ipv6Prefix> v6_black, v6_white;
    bool any_v4_black = false;
    for (const auto& p : prefixes) {
        if (p.is_v6)
            (p.kind == PeerListKind::black ? v6_black : v6_white).push_back(p.v6);
        else if (p.kind == PeerListKind::black)
            any_v4_black = true;
    }
    if (any_v4_black) {
        slash24_.assign(std::size_t{1} << 24, kNotListed);
        // The blacklist first, then the whitelist clears what it covers.
        for (PeerListKind pass : {PeerListKind::black, PeerListKind::white})
            for (const auto& p : prefixes) {
                if (p.is_v6 || p.kind != pass)
                    continue;
                std::uint32_t first = p.v4.network().addr.value;
                set_range_v4(first, first | ~net::ipv4_mask(p.v4.length),
                             pass == PeerListKind::black);
                ++(pass == PeerListKind::black ? stats_.v4_black : stats_.v4_white);
            }
    } else {
        for (const auto& p : prefixes)
            stats_.v4_white += !p.is_v6;
    }
    v6_black_ = build_v6(v6_black);
    v6_white_ = build_v6(v6_white);
    stats_.v6_black = v6_black.size();
    stats_.v6_white = v6_white.size();
    stats_.mixed_slash24 = bitmaps_.size();
    stats_.bytes = slash24_.size() * sizeof(std::uint32_t) + bitmaps_.size() * sizeof(Bitmap);
    for (const auto* sets : {&v6_black_, &v6_white_})
        for (const auto& s : *sets)
            stats_.bytes += s.slots.size() * (sizeof(net::Ipv6Addr) + 1);
    return {};
}

} // namespace smtpgw::filter
