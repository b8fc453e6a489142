// peer_list_parser.cc: the cidr, drop and rbldnsd peer list formats. The
// formats, the error contract and the security posture are described in
// peer_list_parser.h; this file is line splitting, one parser per format,
// and the address parsers they share.
#include "filter/peer_list_parser.h"

#include <algorithm>
#include <array>
#include <bit>
#include <limits>

namespace smtpgw::filter {

namespace {

constexpr auto npos = std::string_view::npos;
constexpr std::string_view kBlanks = " \t";
// Bytes of input quoted in a reason: enough to recognise the entry, and a
// 4 KB junk line does not make a 4 KB message.
constexpr std::size_t kQuoteBytes = 64;

std::string_view trim(std::string_view s) {
    auto b = s.find_first_not_of(kBlanks);
    if (b == npos)
        return {};
    auto e = s.find_last_not_of(kBlanks);
    return s.substr(b, e - b + 1);
}

// s[pos..], empty when pos is past the end (string_view::substr would throw).
std::string_view from(std::string_view s, std::size_t pos) {
    return pos >= s.size() ? std::string_view{} : s.substr(pos);
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// Input as it appears in a reason: quoted, cut at kQuoteBytes, and every
// byte outside printable ASCII as \xNN, so a reason is safe on any terminal.
std::string quote(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string q = "'";
    for (std::size_t i = 0; i < s.size() && i < kQuoteBytes; ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f) {
            q += static_cast<char>(c);
        } else {
            q += "\\x";
            q += kHex[c >> 4];
            q += kHex[c & 0xf];
        }
    }
    if (s.size() > kQuoteBytes)
        q += "...";
    q += '\'';
    return q;
}

// "SBL" and 1..10 digits: a Spamhaus Block List record reference.
bool is_sbl_reference(std::string_view s) {
    if (!s.starts_with("SBL") || s.size() < 4 || s.size() > 13)
        return false;
    return std::all_of(s.begin() + 3, s.end(), is_digit);
}

// What one line yields, on the stack: the prefixes of an IPv4 entry (a
// range gives several) or one IPv6 prefix, and what applies to them all.
struct LineEntries {
    std::array<net::Ipv4Prefix, kMaxRangePrefixes> v4{};
    std::size_t v4_count = 0;
    bool has_v6 = false;
    net::Ipv6Prefix v6{};
    bool exclude = false;
    std::string_view tag;

    std::size_t count() const { return has_v6 ? 1 : v4_count; }
    void add_v4(std::uint32_t addr, unsigned length) {
        if (v4_count < v4.size())
            v4[v4_count++] = net::Ipv4Prefix{net::Ipv4Addr{addr & net::ipv4_mask(length)},
                                             static_cast<std::uint8_t>(length)};
    }
};

// A reason why a line is bad; empty when it is good.
using Reason = std::string;

// Dotted decimal with 1..4 octets ("10", "192.0.2", "192.0.2.1"): `value`
// gets the octets left-aligned in host order (192.0.2 -> 192.0.2.0), `count`
// how many were given. `token` is the whole entry, quoted in reasons.
Reason parse_octets(std::string_view text, std::string_view token, std::uint32_t& value,
                    unsigned& count) {
    value = 0;
    count = 0;
    if (text.find_first_of("0123456789") == npos)
        return "not an IP address: " + quote(token);
    std::size_t i = 0;
    while (true) {
        std::size_t start = i;
        unsigned octet = 0;
        for (; i < text.size() && is_digit(text[i]); ++i)
            if (octet <= 255) // stop growing once out of range: no overflow
                octet = octet * 10 + static_cast<unsigned>(text[i] - '0');
        std::string_view digits = text.substr(start, i - start);
        if (digits.empty()) {
            if (i < text.size() && text[i] != '.')
                return "unexpected character " + quote(text.substr(i, 1)) + " in " + quote(token);
            return "empty octet in " + quote(token);
        }
        if (count == 4)
            return "more than 4 octets in " + quote(token);
        if (octet > 255)
            return "octet " + quote(digits) + " out of range (0..255) in " + quote(token);
        if (digits.size() > 1 && digits[0] == '0')
            return "octet " + quote(digits) + " has a leading zero (octal or decimal?) in " +
                   quote(token);
        value |= octet << (24 - 8 * count);
        ++count;
        if (i == text.size())
            return {};
        if (text[i] != '.')
            return "unexpected character " + quote(text.substr(i, 1)) + " in " + quote(token);
        ++i; // a trailing dot leaves nothing: "empty octet" on the next round
    }
}

// The LEN of "ADDR/LEN": decimal, at most 3 digits, 0..max.
Reason parse_length(std::string_view text, unsigned max, std::string_view token, unsigned& length) {
    if (text.empty())
        return "missing prefix length after '/' in " + quote(token);
    unsigned v = 0;
    bool ok = text.size() <= 3;
    for (char c : text) {
        ok = ok && is_digit(c);
        if (ok)
            v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (!ok || v > max)
        return "bad prefix length " + quote(text) + " in " + quote(token) + " (0.." +
               std::to_string(max) + ")";
    length = v;
    return {};
}

// The fewest CIDR prefixes covering [first, last] (RFC 4632 aggregation):
// from the low end, each time the largest aligned block that fits.
void add_range(std::uint32_t first, std::uint32_t last, LineEntries& out) {
    std::uint64_t lo = first;
    const std::uint64_t hi = last;
    while (lo <= hi && out.v4_count < out.v4.size()) {
        unsigned bits = lo == 0 ? 32u : static_cast<unsigned>(std::countr_zero(lo));
        while (lo + (std::uint64_t{1} << bits) - 1 > hi)
            --bits;
        out.add_v4(static_cast<std::uint32_t>(lo), 32 - bits);
        lo += std::uint64_t{1} << bits;
    }
}

// IPv6 "ADDR[/LEN]". ADDR is a standard text form (RFC 4291 2.2) or, when
// `allow_groups` (rbldnsd), an uncompressed prefix of 1..7 groups whose
// implied length is 16 bits a group ("2001:db8:1:2" is a /64).
Reason parse_v6(std::string_view token, bool allow_groups, LineEntries& out) {
    auto slash = token.find('/');
    std::string_view addr = token.substr(0, slash);
    if (addr.empty() || (addr.front() != ':' && net::hex_digit(addr.front()) < 0))
        return "not an IP address: " + quote(token);
    if (addr.find('-') != npos)
        return "ranges are IPv4 only: " + quote(token);
    net::Ipv6Addr a{};
    unsigned length = 128;
    auto colons = static_cast<std::size_t>(std::count(addr.begin(), addr.end(), ':'));
    if (addr.find("::") != npos || addr.find('.') != npos || colons >= 7) {
        auto parsed = net::parse_ipv6(addr);
        if (!parsed)
            return "not an IPv6 address: " + quote(addr);
        a = *parsed;
    } else {
        // Groups of 1..4 hex digits, as rbldnsd's ip6prefix() reads them.
        unsigned groups = 0;
        std::size_t i = 0;
        while (true) {
            std::size_t start = i;
            unsigned v = 0;
            for (; i < addr.size() && i - start < 5 && net::hex_digit(addr[i]) >= 0; ++i)
                v = v * 16 + static_cast<unsigned>(net::hex_digit(addr[i]));
            if (i == start || i - start > 4 || (i < addr.size() && addr[i] != ':'))
                return "not an IPv6 address: " + quote(addr);
            a.bytes[2 * groups] = static_cast<std::uint8_t>(v >> 8);
            a.bytes[2 * groups + 1] = static_cast<std::uint8_t>(v);
            ++groups;
            if (i == addr.size())
                break;
            ++i; // the ':'
        }
        if (!allow_groups)
            return "incomplete IPv6 address " + quote(addr) + " (abbreviations are rbldnsd syntax)";
        length = 16 * groups;
    }
    // An IPv4 peer is looked up as IPv4; written as IPv6 it would never match.
    if (a.is_v4_mapped())
        return "IPv4-mapped IPv6 address in " + quote(token) + ": write the IPv4 address";
    if (addr.find('.') != npos &&
        std::all_of(a.bytes.begin(), a.bytes.begin() + 12, [](std::uint8_t b) { return b == 0; }))
        return "IPv4-compatible IPv6 address in " + quote(token) +
               " (deprecated, RFC 4291 2.5.5.1): write the IPv4 address";
    if (slash != npos)
        if (auto why = parse_length(token.substr(slash + 1), 128, token, length); !why.empty())
            return why;
    out.has_v6 = true;
    out.v6 = net::Ipv6Prefix{a, static_cast<std::uint8_t>(length)};
    out.v6 = out.v6.network();
    return {};
}

// A full IPv4 address with an optional /LEN: the cidr and drop forms.
Reason parse_full_v4(std::string_view token, LineEntries& out) {
    auto slash = token.find('/');
    std::string_view addr = token.substr(0, slash);
    if (addr.empty())
        return "missing address before '/' in " + quote(token);
    if (addr.find('-') != npos)
        return "ranges are rbldnsd syntax: " + quote(token);
    std::uint32_t value = 0;
    unsigned count = 0;
    if (auto why = parse_octets(addr, token, value, count); !why.empty())
        return why;
    if (count < 4)
        return "incomplete IPv4 address " + quote(addr) + " (abbreviations are rbldnsd syntax)";
    unsigned length = 32;
    if (slash != npos)
        if (auto why = parse_length(token.substr(slash + 1), 32, token, length); !why.empty())
            return why;
    out.add_v4(value, length);
    return {};
}

// rbldnsd syntax at the start of a cidr or drop line: the reason says so,
// as the file was probably loaded with the wrong format.
Reason rbldnsd_only_syntax(std::string_view token) {
    if (token.front() == '!')
        return "exclusions ('!') are rbldnsd syntax: " + quote(token);
    if (token.front() == '$')
        return "directives ('$') are rbldnsd syntax: " + quote(token);
    if (token.front() == ':' && !token.starts_with("::"))
        return "default values (':') are rbldnsd syntax: " + quote(token);
    return {};
}

// An entry of the cidr and drop formats: a full address or prefix.
Reason parse_strict_entry(std::string_view token, LineEntries& out) {
    if (auto why = rbldnsd_only_syntax(token); !why.empty())
        return why;
    if (token.find(':') != npos)
        return parse_v6(token, false, out);
    return parse_full_v4(token, out);
}

// rbldnsd ip4set entry: 1..4 octets, optionally /LEN, or a range
// "START-END" where END is as many octets as START (192.0.2.0-192.0.3.255)
// or one octet replacing START's last given one (192.0.2.3-10); END is
// completed with all-ones. As rbldnsd's ip4range() (not its manual, whose
// "127-127.0.0" example the code refuses), other mixes are refused.
Reason parse_rbldnsd_v4(std::string_view token, LineEntries& out) {
    auto dash = token.find('-');
    if (dash == npos) {
        auto slash = token.find('/');
        std::string_view addr = token.substr(0, slash);
        if (addr.empty())
            return "missing address before '/' in " + quote(token);
        std::uint32_t value = 0;
        unsigned count = 0;
        if (auto why = parse_octets(addr, token, value, count); !why.empty())
            return why;
        unsigned length = 8 * count; // "192.0.2" is 192.0.2.0/24
        if (slash != npos)
            if (auto why = parse_length(token.substr(slash + 1), 32, token, length); !why.empty())
                return why;
        out.add_v4(value, length);
        return {};
    }
    if (token.find('/') != npos)
        return "a range cannot have a prefix length: " + quote(token);
    std::string_view first_text = token.substr(0, dash), last_text = from(token, dash + 1);
    if (first_text.empty())
        return "missing range start in " + quote(token);
    if (last_text.empty())
        return "empty range end in " + quote(token);
    std::uint32_t first = 0, last = 0;
    unsigned first_count = 0, last_count = 0;
    if (auto why = parse_octets(first_text, token, first, first_count); !why.empty())
        return why;
    if (auto why = parse_octets(last_text, token, last, last_count); !why.empty())
        return why;
    unsigned given_bits = 8 * first_count;
    if (last_count == 1) // "10.0.0.3-10": END is START's last given octet
        last = (last >> (given_bits - 8)) | (first & net::ipv4_mask(given_bits - 8));
    else if (last_count != first_count)
        return "range end " + quote(last_text) + " must have 1 octet or as many as the start (" +
               std::to_string(first_count) + "), in " + quote(token);
    last |= ~net::ipv4_mask(given_bits);
    if (first > last)
        return "reversed range " + quote(token) + " (the end is below the start)";
    add_range(first, last, out);
    return {};
}

// cidr: ENTRY [# or ; comment]
Reason parse_cidr_line(std::string_view line, LineEntries& out) {
    line = trim(line.substr(0, line.find_first_of("#;")));
    if (line.empty())
        return {};
    auto end = line.find_first_of(kBlanks);
    std::string_view token = line.substr(0, end);
    if (auto why = rbldnsd_only_syntax(token); !why.empty())
        return why;
    if (end != npos)
        return "unexpected text after the address: " + quote(trim(from(line, end)));
    return parse_strict_entry(token, out);
}

// drop: PREFIX [; SBLnnn], or a `;` comment line.
Reason parse_drop_line(std::string_view line, LineEntries& out) {
    if (line.front() == ';' || line.front() == '#')
        return {};
    if (line.front() == '{') // Spamhaus also publishes the lists as JSON lines
        return "JSON is not read: use the text list (drop.txt, dropv6.txt)";
    auto end = line.find_first_of(" \t;");
    std::string_view token = line.substr(0, end);
    std::string_view rest = trim(from(line, end));
    if (token.empty())
        return "no prefix before ';'";
    if (auto why = parse_strict_entry(token, out); !why.empty())
        return why;
    if (rest.empty())
        return {};
    if (rest.front() != ';')
        return "unexpected text after the prefix: " + quote(rest) +
               " (DROP lines are 'prefix ; SBLnnn')";
    std::string_view ref = trim(rest.substr(1));
    if (!is_sbl_reference(ref))
        return "expected an SBL reference after ';', got " + quote(ref);
    out.tag = ref;
    return {};
}

// rbldnsd: [!]ENTRY [VALUE], `$` directives, `:` default values, comments.
Reason parse_rbldnsd_line(std::string_view line, LineEntries& out) {
    char lead = line.front();
    if (lead == '#' || lead == ';' || lead == '$')
        return {}; // comment, or a directive ($TTL, $SOA, $NS, $n; also #$ and ;$)
    if (lead == ':' && !line.starts_with("::"))
        return {}; // the default value for the entries that follow
    if (lead == '!') {
        out.exclude = true;
        line = trim(line.substr(1));
    }
    auto end = line.find_first_of(" \t#;");
    std::string_view token = line.substr(0, end);
    if (token.empty())
        return "no address after '!'";
    auto colon = token.find(':');
    bool v6 = colon != npos;
    if (v6 && token.substr(0, colon).find_first_of("./-") != npos) {
        v6 = false; // "1.2.3.4:2:listed": an IPv4 entry with its value attached
        end = colon;
        token = token.substr(0, colon);
    }
    std::string_view value = trim(from(line, end));
    // rbldnsd ignores an exclusion's value; a comment is no value.
    if (!out.exclude && !value.empty() && value.front() != '#' && value.front() != ';')
        out.tag = value;
    return v6 ? parse_v6(token, true, out) : parse_rbldnsd_v4(token, out);
}

Reason parse_line(PeerListFormat format, std::string_view line, LineEntries& out) {
    switch (format) {
    case PeerListFormat::cidr:
        return parse_cidr_line(line, out);
    case PeerListFormat::drop:
        return parse_drop_line(line, out);
    case PeerListFormat::rbldnsd:
        return parse_rbldnsd_line(line, out);
    }
    return "unknown list format";
}

// The first byte that has no business in a text list (NUL, ESC, ...); the
// tab is a blank. npos when there is none.
std::size_t find_control(std::string_view line) {
    for (std::size_t i = 0; i < line.size(); ++i) {
        auto c = static_cast<unsigned char>(line[i]);
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return i;
    }
    return npos;
}

// Walks the lines of a text: LF or CRLF ends a line, the last one may lack it.
class LineReader {
  public:
    explicit LineReader(std::string_view text) : rest_(text) {}

    // The next line without its line end; false at the end of the text.
    bool next(std::string_view& line) {
        if (rest_.empty())
            return false;
        auto nl = rest_.find('\n');
        line = rest_.substr(0, nl);
        rest_ = from(rest_, nl == npos ? rest_.size() : nl + 1);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        return true;
    }

  private:
    std::string_view rest_;
};

// The parse of one text, kept between lines.
class ListParser {
  public:
    ListParser(PeerListParse& out, std::size_t max_entries)
        : out_(out), max_entries_(max_entries) {}

    void run(std::string_view text, PeerListFormat format) {
        LineReader reader(text);
        std::string_view line;
        while (reader.next(line)) {
            if (line_ == std::numeric_limits<std::uint32_t>::max()) {
                report("too many lines (limit " + std::to_string(line_) + ")");
                break;
            }
            ++line_;
            if (line.size() > kMaxLineBytes) {
                report("line longer than " + std::to_string(kMaxLineBytes) + " bytes");
                continue;
            }
            if (auto at = find_control(line); at != npos) {
                report("control character " + quote(line.substr(at, 1)) + " in the line");
                continue;
            }
            line = trim(line);
            if (line.empty())
                continue;
            LineEntries found;
            if (Reason why = parse_line(format, line, found); !why.empty()) {
                report(std::move(why));
                continue;
            }
            if (found.count() > max_entries_ - out_.entries.size()) {
                summarize_unreported();
                ++out_.bad_lines;
                out_.errors.push_back(
                    {line_, "too many entries (limit " + std::to_string(max_entries_) + ")"});
                return;
            }
            keep(found);
        }
        summarize_unreported();
    }

    std::uint32_t line() const { return line_; }

  private:
    void report(std::string reason) {
        ++out_.bad_lines;
        if (out_.bad_lines <= kMaxReportedErrors)
            out_.errors.push_back({line_, std::move(reason)});
        else if (first_unreported_ == 0)
            first_unreported_ = line_;
    }

    void summarize_unreported() {
        if (out_.bad_lines <= kMaxReportedErrors)
            return;
        out_.errors.push_back(
            {first_unreported_, std::to_string(out_.bad_lines - kMaxReportedErrors) +
                                    " more bad lines from here on not reported (only the first " +
                                    std::to_string(kMaxReportedErrors) + " are)"});
    }

    void keep(const LineEntries& found) {
        std::string_view tag = found.tag.substr(0, kMaxTagBytes);
        if (found.has_v6) {
            out_.entries.push_back({true, {}, found.v6, found.exclude, std::string(tag), line_});
            return;
        }
        for (std::size_t i = 0; i < found.v4_count; ++i)
            out_.entries.push_back(
                {false, found.v4[i], {}, found.exclude, std::string(tag), line_});
    }

    PeerListParse& out_;
    const std::size_t max_entries_;
    std::uint32_t line_ = 0;
    std::uint32_t first_unreported_ = 0;
};

// Evidence of rbldnsd syntax in an entry token: a value attached with ':',
// an uncompressed IPv6 group prefix, an IPv4 range or abbreviation.
bool looks_rbldnsd(std::string_view token) {
    if (auto colon = token.find(':'); colon != npos) {
        if (token.substr(0, colon).find_first_of("./-") != npos)
            return true;
        std::string_view addr = token.substr(0, token.find('/'));
        return addr.find("::") == npos && addr.find('.') == npos &&
               std::count(addr.begin(), addr.end(), ':') < 7;
    }
    if (token.empty() || !is_digit(token.front()) ||
        token.find_first_not_of("0123456789./-") != npos)
        return false;
    if (token.find('-') != npos)
        return true;
    std::string_view addr = token.substr(0, token.find('/'));
    return std::count(addr.begin(), addr.end(), '.') < 3;
}

} // namespace

PeerListParse parse_peer_list(std::string_view text, PeerListFormat format,
                              std::size_t max_entries) noexcept {
    PeerListParse out;
    ListParser parser(out, max_entries);
    try {
        parser.run(text, format);
    } catch (...) {
        // Only allocation can fail. Drop what was built, to make room and
        // so that a partial list is never taken for the file.
        std::vector<PeerListEntry>().swap(out.entries);
        std::vector<PeerListError>().swap(out.errors);
        ++out.bad_lines;
        try {
            // One small block, just freed above; the reason fits in the string itself.
            out.errors.push_back({parser.line(), "out of memory"});
        } catch (...) {
        }
    }
    return out;
}

std::optional<PeerListFormat> detect_peer_list_format(std::string_view text) noexcept {
    bool rbldnsd = false, entries = false;
    LineReader reader(text);
    std::string_view line;
    while (reader.next(line)) {
        if (line.size() > kMaxLineBytes)
            continue;
        line = trim(line);
        if (line.empty() || line.front() == '#' || line.front() == ';')
            continue;
        if (line.front() == '$' || line.front() == '!' ||
            (line.front() == ':' && !line.starts_with("::"))) {
            rbldnsd = true;
            continue;
        }
        entries = true;
        auto end = line.find_first_of(" \t#;");
        std::string_view token = line.substr(0, end);
        std::string_view rest = trim(from(line, end));
        if (!rest.empty() && rest.front() == ';' && is_sbl_reference(trim(rest.substr(1))))
            return PeerListFormat::drop;
        bool has_value = !rest.empty() && rest.front() != '#' && rest.front() != ';';
        if (has_value || looks_rbldnsd(token))
            rbldnsd = true;
    }
    if (rbldnsd)
        return PeerListFormat::rbldnsd;
    if (entries)
        return PeerListFormat::cidr;
    return std::nullopt;
}

std::optional<PeerListFormat> parse_format_name(std::string_view name) noexcept {
    for (auto f : {PeerListFormat::cidr, PeerListFormat::drop, PeerListFormat::rbldnsd})
        if (name == format_name(f))
            return f;
    return std::nullopt;
}

std::string_view format_name(PeerListFormat format) noexcept {
    switch (format) {
    case PeerListFormat::cidr:
        return "cidr";
    case PeerListFormat::drop:
        return "drop";
    case PeerListFormat::rbldnsd:
        return "rbldnsd";
    }
    return "unknown";
}

std::string describe(const PeerListError& error, std::string_view file_name) {
    return std::string(file_name) + ":" + std::to_string(error.line) + ": " + error.reason;
}

} // namespace smtpgw::filter
