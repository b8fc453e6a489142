// peer_list_parser.h: reads peer lists in the formats mail administrators
// already have, for the peer filter's blacklist and whitelist.
//
// Purpose: a pure parser, sans I/O: text in, entries and per-line errors
// out. The caller reads the file (io/peer_filter_control.cc) and compiles
// the entries into a peer table (filter/peer_table.h).
//
// Formats (one entry per line; LF or CRLF; blank lines ignored):
//  * cidr: an IPv4 or IPv6 address or prefix (RFC 4632, RFC 4291 2.3);
//    a bare address is a /32 or /128. `#` and `;` start comments, on their
//    own line or after the entry. Nothing else may follow the entry.
//  * drop: Spamhaus DROP, EDROP and DROPv6 (the text lists,
//    https://www.spamhaus.org/drop/): `prefix ; SBLnnnnnn` lines and `;`
//    comment lines. The SBL reference becomes the entry's tag.
//  * rbldnsd: the ip4set and ip6tset/ip6trie dataset syntax of rbldnsd(8),
//    as DNSBL operators publish it:
//      - `$` directives ($TTL, $SOA, $NS, $n ...) and `:` default-value
//        lines (`:127.0.0.2:Listed`) are skipped, as are `#`/`;` comments;
//      - IPv4: full addresses, CIDR, abbreviated prefixes (`192.0.2` is a
//        /24, `10` a /8, `127/8`), ranges `a.b.c.d-e` (the last given octet)
//        and `a.b.c.d-e.f.g.h`, expanded into the fewest CIDR prefixes;
//      - IPv6: standard text forms with an optional /LEN, and rbldnsd's
//        uncompressed group prefixes (`2001:db8:1:2` is 2001:db8:1:2::/64);
//        a line starting with `::` is an address, not a default value;
//      - text after the entry is its value (`1.2.3.4 :127.0.0.2:listed` or
//        `1.2.3.4 listed for spam`), kept as the tag; a value may also be
//        attached to an IPv4 entry with `:` (`1.2.3.4:2:listed`);
//      - a leading `!` is an exclusion: the prefix must not be listed even
//        though a wider entry is. It is kept as an entry with exclude=true
//        and, as in rbldnsd, its value is ignored.
//    Unlike rbldnsd, a bare number (`10`) is accepted as a /8, and host bits
//    are cleared rather than refused (as rbldnsd -e does).
// In every format, host bits set beyond the prefix length are cleared
// silently (`10.1.2.3/8` is 10.0.0.0/8): lists are written normalised and a
// stray bit is not worth rejecting a line for.
//
// Security: the input is untrusted (downloaded feeds, files from anyone).
//  * Every length is checked: lines are at most kMaxLineBytes, numbers are
//    range checked digit by digit before conversion, tags are cut at
//    kMaxTagBytes.
//  * Output is bounded: at most `max_entries` entries (the caller's
//    setting); at most kMaxReportedErrors reasons are kept, the rest only
//    counted; a range yields at most kMaxRangePrefixes entries.
//  * No recursion; linear time in the input; no allocation besides the
//    result (and the reason strings in it); nothing thrown.
//  * Control characters (other than tab and the CR of CRLF) reject the line,
//    and reasons quote input with bytes outside printable ASCII escaped, so
//    neither a tag nor a reason can carry terminal escapes to the console.
//  * Octets with leading zeros (`010.0.0.1`) are refused: some parsers read
//    them as octal, and a list must not mean two things.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/addr.h"

namespace smtpgw::filter {

enum class PeerListFormat : std::uint8_t { cidr, drop, rbldnsd };

// Longest line accepted, without its LF/CRLF. Real entries are under 100
// bytes; the bound keeps one hostile line from making a huge tag or reason.
inline constexpr std::size_t kMaxLineBytes = 4096;
// Longest tag kept (longer values are cut): a DNS TXT string is at most 255
// bytes (RFC 1035 3.3.14) and rbldnsd truncates there too. Bounds the memory
// of a range, whose every prefix carries a copy of the tag.
inline constexpr std::size_t kMaxTagBytes = 255;
// Reasons kept per parse; further bad lines are only counted. Enough to fix
// a file, and a file of a million bad lines cannot make a million strings.
inline constexpr std::size_t kMaxReportedErrors = 100;
// The fewest prefixes covering any IPv4 range need at most 2*32-2 (e.g.
// 0.0.0.1-255.255.255.254).
inline constexpr std::size_t kMaxRangePrefixes = 62;

struct PeerListEntry {
    bool is_v6 = false;
    net::Ipv4Prefix v4;     // host bits cleared; valid when !is_v6
    net::Ipv6Prefix v6;     // host bits cleared; valid when is_v6
    bool exclude = false;   // rbldnsd "!": not listed, whatever wider entries say
    std::string tag;        // SBL reference (drop) or value (rbldnsd), else empty
    std::uint32_t line = 0; // 1-based line in the file
};

struct PeerListError {
    std::uint32_t line = 0; // 1-based
    std::string reason;     // printable ASCII; input quoted with \xNN escapes
};

struct PeerListParse {
    std::vector<PeerListEntry> entries; // in file order; a range gives several
    // The first kMaxReportedErrors bad lines, then (if more) one line saying
    // how many more, then (if hit) the "too many entries" stop.
    std::vector<PeerListError> errors;
    std::size_t bad_lines = 0; // every bad line, reported or not
};

// Parses `text` as `format`. Never throws. A bad line is reported (line and
// reason) and skipped; good lines are kept, so one typo never empties a
// list: the caller decides whether a file with errors is acceptable.
// Once an entry would exceed `max_entries`, that line is not taken (a range
// is taken whole or not at all), the error "too many entries (limit N)" is
// added and the rest of the file is ignored. On memory exhaustion the
// entries are dropped and the error "out of memory" is returned, so a
// partial list is never mistaken for the file.
PeerListParse parse_peer_list(std::string_view text, PeerListFormat format,
                              std::size_t max_entries) noexcept;

// The format the content looks like, in this order: any DROP line
// (`prefix ; SBLnnn`) -> drop; else any rbldnsd-only syntax (`$`
// directives, `:` default values, `!` exclusions, abbreviated or ranged
// IPv4, uncompressed IPv6 group prefixes, a value after an entry) ->
// rbldnsd; else any other non-comment line -> cidr; nullopt when the text
// has nothing but blanks and comments. Detection does not validate: parse
// with the result to learn about bad lines. When a file is ambiguous, the
// explicit format is the remedy.
std::optional<PeerListFormat> detect_peer_list_format(std::string_view text) noexcept;

// "cidr", "drop", "rbldnsd" (exactly, lower case) and back.
std::optional<PeerListFormat> parse_format_name(std::string_view name) noexcept;
std::string_view format_name(PeerListFormat format) noexcept;

// "FILE:LINE: reason", as the rest of the product reports configuration
// errors (board/board_profile.h).
std::string describe(const PeerListError& error, std::string_view file_name);

} // namespace smtpgw::filter
