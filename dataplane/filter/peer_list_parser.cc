// peer_list_parser.cc: peer list formats (see peer_list_parser.h).
#include "filter/peer_list_parser.h"

#include <algorithm>
#include <charconv>

namespace smtpgw::filter {

namespace {

std::string_view trim(std::string_view s) {
    auto b = s.find_first_not_of(" \t\r");
    if (b == std::string_view::npos)
        return {};
    auto e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

bool parse_number(std::string_view s, std::uint32_t& out, std::uint32_t max) {
    if (s.empty() || s.size() > 10)
        return false;
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || v > max)
        return false;
    out = static_cast<std::uint32_t>(v);
    return true;
}

std::uint32_t mask_of(std::uint8_t length) { return length == 0 ? 0 : ~0u << (32 - length); }

void clear_host_bits(net::Ipv6Prefix& p) {
    for (std::size_t i = 0; i < 16; ++i) {
        int keep = std::clamp(static_cast<int>(p.length) - static_cast<int>(i) * 8, 0, 8);
        p.addr.bytes[i] &= static_cast<std::uint8_t>(keep == 8 ? 0xff : (0xff00 >> keep) & 0xff);
    }
}

// A result of one address token: entries to add, or a reason.
struct Parsed {
    std::vector<PeerListEntry> entries;
    std::string error;
};

// "ADDR" or "ADDR/LEN", IPv4 or IPv6, as written in CIDR and DROP lists.
Parsed parse_prefix_token(std::string_view tok) {
    Parsed r;
    auto slash = tok.find('/');
    std::string_view addr = tok.substr(0, slash);
    bool v6 = addr.find(':') != std::string_view::npos;
    std::uint32_t length = v6 ? 128 : 32;
    if (slash != std::string_view::npos &&
        !parse_number(tok.substr(slash + 1), length, v6 ? 128 : 32))
        return {{}, "bad prefix length in '" + std::string(tok) + "' (0.." + (v6 ? "128" : "32") + ")"};
    PeerListEntry e;
    if (v6) {
        auto a = net::parse_ipv6(addr);
        if (!a)
            return {{}, "not an IPv6 address: '" + std::string(addr) + "'"};
        if (a->is_v4_mapped())
            return {{}, "IPv4-mapped IPv6 address: write the IPv4 address instead"};
        e.is_v6 = true;
        e.v6 = net::Ipv6Prefix{*a, static_cast<std::uint8_t>(length)};
        clear_host_bits(e.v6);
    } else {
        auto a = net::parse_ipv4(addr);
        if (!a)
            return {{}, "not an IPv4 or IPv6 address: '" + std::string(addr) + "'"};
        e.v4 = net::Ipv4Prefix{net::Ipv4Addr{a->value & mask_of(static_cast<std::uint8_t>(length))},
                               static_cast<std::uint8_t>(length)};
    }
    r.entries.push_back(e);
    return r;
}

// Fewest prefixes covering units [first, last] of size 2^unit_bits.
void expand_range(std::uint32_t first, std::uint32_t last, unsigned unit_bits,
                  std::uint32_t base, std::vector<PeerListEntry>& out) {
    std::uint64_t lo = first, hi = last;
    while (lo <= hi) {
        unsigned bits = 0; // block of 2^bits units, aligned and inside the range
        while (bits < 32 && (lo & ((std::uint64_t{1} << (bits + 1)) - 1)) == 0 &&
               lo + (std::uint64_t{1} << (bits + 1)) - 1 <= hi)
            ++bits;
        PeerListEntry e;
        e.v4.length = static_cast<std::uint8_t>(32 - unit_bits - bits);
        e.v4.addr = net::Ipv4Addr{base | static_cast<std::uint32_t>(lo << unit_bits)};
        out.push_back(e);
        lo += std::uint64_t{1} << bits;
    }
}

// rbldnsd ip4set entry: a, a.b, a.b.c, a.b.c.d, optionally /LEN or a range
// on the last given octet (a.b.c.d-e, a.b.c-e).
Parsed parse_rbldnsd_v4(std::string_view tok) {
    std::string_view body = tok;
    std::string_view len_part, range_part;
    if (auto s = body.find('/'); s != std::string_view::npos) {
        len_part = body.substr(s + 1);
        body = body.substr(0, s);
    } else if (auto d = body.find('-'); d != std::string_view::npos) {
        range_part = body.substr(d + 1);
        body = body.substr(0, d);
    }
    std::uint32_t octets[4] = {0, 0, 0, 0};
    unsigned n = 0;
    while (true) {
        auto dot = body.find('.');
        if (n == 4 || !parse_number(body.substr(0, dot), octets[n], 255))
            return {{}, "bad IPv4 entry '" + std::string(tok) + "' (octets are 0..255, at most 4)"};
        ++n;
        if (dot == std::string_view::npos)
            break;
        body = body.substr(dot + 1);
    }
    std::uint32_t base = (octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3];
    Parsed r;
    if (!range_part.empty()) {
        std::uint32_t end = 0;
        if (!parse_number(range_part, end, 255))
            return {{}, "bad range end in '" + std::string(tok) + "' (0..255)"};
        if (end < octets[n - 1])
            return {{}, "reversed range '" + std::string(tok) + "'"};
        unsigned unit_bits = 8 * (4 - n);
        std::uint32_t first = octets[n - 1];
        std::uint32_t prefix_base = base & ~((0xffu << unit_bits) | ((1u << unit_bits) - 1));
        expand_range(first, end, unit_bits, prefix_base, r.entries);
        return r;
    }
    std::uint32_t length = 8 * n;
    if (!len_part.empty() && !parse_number(len_part, length, 32))
        return {{}, "bad prefix length in '" + std::string(tok) + "' (0..32)"};
    PeerListEntry e;
    e.v4 = net::Ipv4Prefix{net::Ipv4Addr{base & mask_of(static_cast<std::uint8_t>(length))},
                           static_cast<std::uint8_t>(length)};
    r.entries.push_back(e);
    return r;
}

} // namespace

PeerListParse parse_peer_list(std::string_view text, PeerListFormat format,
                              std::size_t max_entries) {
    PeerListParse out;
    std::uint32_t line_no = 0;
    auto fail = [&](std::string reason) { out.errors.push_back({line_no, std::move(reason)}); };
    while (!text.empty()) {
        ++line_no;
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (line.size() > kMaxLineBytes) {
            fail("line longer than " + std::to_string(kMaxLineBytes) + " bytes");
            continue;
        }
        line = trim(line);
        if (line.empty())
            continue;
        std::string_view token, rest;
        bool exclude = false;
        switch (format) {
        case PeerListFormat::cidr: {
            line = trim(line.substr(0, line.find_first_of("#;")));
            if (line.empty())
                continue;
            auto sp = line.find_first_of(" \t");
            token = line.substr(0, sp);
            if (sp != std::string_view::npos) {
                fail("unexpected text after the address: '" + std::string(trim(line.substr(sp))) + "'");
                continue;
            }
            break;
        }
        case PeerListFormat::drop: {
            if (line.front() == ';' || line.front() == '#')
                continue;
            auto semi = line.find(';');
            token = trim(line.substr(0, semi));
            if (semi != std::string_view::npos)
                rest = trim(line.substr(semi + 1));
            if (token.find_first_of(" \t") != std::string_view::npos) {
                fail("expected 'prefix ; SBLnnnn', got '" + std::string(line) + "'");
                continue;
            }
            break;
        }
        case PeerListFormat::rbldnsd: {
            if (line.front() == '#' || line.front() == ';' || line.front() == '$' ||
                line.front() == ':')
                continue; // comment, directive, default value
            if (line.front() == '!') {
                exclude = true;
                line = trim(line.substr(1));
            }
            auto sp = line.find_first_of(" \t");
            token = line.substr(0, sp);
            if (sp != std::string_view::npos)
                rest = trim(line.substr(sp));
            if (!rest.empty() && rest.front() == '#')
                rest = {};
            break;
        }
        }
        if (token.empty()) {
            fail("no address on the line");
            continue;
        }
        Parsed p = format == PeerListFormat::rbldnsd && token.find(':') == std::string_view::npos
                       ? parse_rbldnsd_v4(token)
                       : parse_prefix_token(token);
        if (!p.error.empty()) {
            fail(p.error);
            continue;
        }
        for (auto& e : p.entries) {
            if (out.entries.size() >= max_entries) {
                fail("too many entries (limit " + std::to_string(max_entries) + "): the rest is ignored");
                return out;
            }
            e.exclude = exclude;
            e.tag = std::string(rest);
            e.line = line_no;
            out.entries.push_back(std::move(e));
        }
    }
    return out;
}

std::optional<PeerListFormat> detect_peer_list_format(std::string_view text) {
    bool seen = false;
    for (int n = 0; n < 1000 && !text.empty(); ++n) {
        auto nl = text.find('\n');
        std::string_view line = trim(text.substr(0, nl));
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (line.empty() || line.front() == '#')
            continue;
        if (line.front() == ';')
            continue; // DROP comments; CIDR files may use them too
        if (line.front() == '$' || line.front() == ':' || line.front() == '!')
            return PeerListFormat::rbldnsd;
        seen = true;
        if (auto semi = line.find(';');
            semi != std::string_view::npos && line.find("SBL", semi) != std::string_view::npos)
            return PeerListFormat::drop;
        std::string_view tok = line.substr(0, line.find_first_of(" \t#;"));
        bool v6 = tok.find(':') != std::string_view::npos;
        if (!v6 && (tok.find('-') != std::string_view::npos ||
                    (tok.find('/') == std::string_view::npos &&
                     std::count(tok.begin(), tok.end(), '.') < 3)))
            return PeerListFormat::rbldnsd;
        if (!v6 && line.find_first_of(" \t") != std::string_view::npos &&
            line.substr(line.find_first_of(" \t")).find_first_not_of(" \t") != std::string_view::npos &&
            trim(line.substr(line.find_first_of(" \t"))).front() != '#' &&
            trim(line.substr(line.find_first_of(" \t"))).front() != ';')
            return PeerListFormat::rbldnsd; // an entry with a value
    }
    return seen ? std::optional<PeerListFormat>(PeerListFormat::cidr) : std::nullopt;
}

std::optional<PeerListFormat> parse_format_name(std::string_view name) {
    if (name == "cidr")
        return PeerListFormat::cidr;
    if (name == "drop")
        return PeerListFormat::drop;
    if (name == "rbldnsd")
        return PeerListFormat::rbldnsd;
    return std::nullopt;
}

std::string_view format_name(PeerListFormat f) {
    switch (f) {
    case PeerListFormat::cidr:
        return "cidr";
    case PeerListFormat::drop:
        return "drop";
    case PeerListFormat::rbldnsd:
        return "rbldnsd";
    }
    return "?";
}

std::string describe(const PeerListError& e, std::string_view file_name) {
    return std::string(file_name) + ":" + std::to_string(e.line) + ": " + e.reason;
}

} // namespace smtpgw::filter
