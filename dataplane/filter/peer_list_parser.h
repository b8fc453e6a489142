// peer_list_parser.h: reading peer lists in the formats mail administrators
// already have, for the peer filter's blacklist and whitelist.
//
// Formats:
//  * cidr: one address or prefix per line (IPv4 or IPv6; a bare address is
//    /32 or /128); `#` and `;` comments, whole-line or trailing.
//  * drop: Spamhaus DROP, EDROP and DROPv6: `prefix ; SBLnnnn` lines and
//    `;` comment lines; the SBL reference is kept as the entry's tag.
//  * rbldnsd: ip4set / ip6tset dataset lines: `$` directives and `:`
//    default-value lines are skipped; IPv4 entries as addresses, CIDR,
//    abbreviated prefixes (`127.0.0` is a /24, `10` a /8) and last-octet
//    ranges (`10.0.0.3-10`, expanded into the fewest prefixes); a leading
//    `!` is an exclusion (listed by a wider entry, but not this); text
//    after the entry is its value, kept as the tag.
// Purpose: pure parsing (no I/O): text in, entries and per-line errors out.
// Security: the input is untrusted (downloaded feeds): every line is length
// checked (kMaxLineBytes), every number range checked, no recursion, and
// the output is bounded by `max_entries` (the caller's setting). A bad line
// is reported with its number and reason and skipped; good lines are kept,
// so one typo never empties a list.
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

inline constexpr std::size_t kMaxLineBytes = 4096;

struct PeerListEntry {
    bool is_v6 = false;
    net::Ipv4Prefix v4;
    net::Ipv6Prefix v6;
    bool exclude = false; // rbldnsd "!": not listed, whatever wider entries say
    std::string tag;      // SBL reference or rbldnsd value, if any
    std::uint32_t line = 0;
};

struct PeerListError {
    std::uint32_t line = 0;
    std::string reason;
};

struct PeerListParse {
    std::vector<PeerListEntry> entries;
    std::vector<PeerListError> errors;
};

// Never throws. Bad lines are reported and skipped; good lines are kept.
// Stops with an error once `max_entries` entries were produced.
PeerListParse parse_peer_list(std::string_view text, PeerListFormat format,
                              std::size_t max_entries);

// The format a file's content looks like (nullopt: nothing to tell by).
std::optional<PeerListFormat> detect_peer_list_format(std::string_view text);
std::optional<PeerListFormat> parse_format_name(std::string_view name);
std::string_view format_name(PeerListFormat f);

// "FILE:LINE: reason", as the rest of the product reports configuration errors.
std::string describe(const PeerListError& e, std::string_view file_name);

} // namespace smtpgw::filter
