// smtp_address.h: SMTP paths (MAIL FROM:/RCPT TO: arguments) and the relay rule.
//
// Purpose: parse a reverse-path or forward-path strictly, and decide whether
// a recipient is one the gateway may relay to (its configured domains, and
// optionally an explicit recipient list). The session turns the results
// into replies; nothing here knows about the wire beyond the path's text.
// RFCs: 5321 4.1.2 (Path, Mailbox, Local-part, Domain, address-literal
// grammar), 4.1.1.3 (source routes: accepted, the route ignored, the final
// mailbox decides), 4.1.3 (IPv4/IPv6 address literals), 4.5.1 (RCPT
// TO:<Postmaster> without a domain), 4.5.3.1 (path, domain lengths);
// 6531 3.3 (UTF-8 in local parts and domains only with SMTPUTF8), 3629
// (well-formed UTF-8).
// Security: this is the open-relay barrier. A recipient relays only when
// its final domain equals a relay domain (ASCII case-insensitive) or, with
// relay_subdomains, ends in "." + a relay domain; address literals never
// relay; a local part that still contains '%', '!' or '@' once unquoted
// (the "percent hack", UUCP bang paths, `"u@foreign"@example.com`) never
// relays, because a server behind us might route on it. Anything outside
// the grammar (trailing dots, empty labels or domains, control characters,
// unbalanced quotes or brackets, malformed UTF-8) is a syntax error, never
// "probably fine".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace smtpgw::smtp {

struct AddressLimits {
    // Octets between '<' and '>'. RFC 5321 4.5.3.1.3 says 256, but SRS and
    // VERP senders exceed it in practice; the command line bounds it anyway.
    std::size_t max_path_bytes = 512;
    // RFC 5321 4.5.3.1.2 and DNS (RFC 1035 2.3.4): a domain name is at most
    // 255 octets, a label at most 63; nothing longer can be delivered.
    std::size_t max_domain_bytes = 255;
    std::size_t max_label_bytes = 63;
};

struct Mailbox {
    bool is_null = false;       // the reverse-path <> (RFC 5321 4.5.5)
    bool is_postmaster = false; // RCPT TO:<Postmaster> without a domain (RFC 5321 4.5.1)
    bool is_literal = false;    // the domain is an address literal [..]
    bool is_utf8 = false;       // some octet >= 0x80 (RFC 6531)
    bool had_route = false;     // a source route was given and dropped (RFC 5321 4.1.1.3)
    std::string local_part;     // as received (quotes and escapes kept)
    std::string local_value;    // unquoted and unescaped: what the relay rule inspects
    std::string domain;         // as received (case kept); empty for <> and <Postmaster>

    // The address as it should be passed on, without brackets or route:
    // "local@domain", "Postmaster", or "" for the null path.
    std::string address() const;
};

enum class PathKind : std::uint8_t {
    reverse, // MAIL FROM: the null path <> is allowed
    forward, // RCPT TO: <Postmaster> without a domain is allowed
};

enum class PathError : std::uint8_t {
    none,
    syntax,         // not a Path: 501 5.1.7 (MAIL) / 501 5.1.3 (RCPT)
    too_long,       // over a limit of AddressLimits: 501 5.1.7 / 5.1.3 as well
    utf8_forbidden, // octets >= 0x80 without SMTPUTF8: 553 5.6.7 (RFC 6531 3.5)
};

struct PathResult {
    PathError error = PathError::none;
    Mailbox mailbox;
    // Octets of the input the path used ("<...>"), valid when error == none;
    // what follows must be empty or " " + ESMTP parameters.
    std::size_t consumed = 0;
};

// Parses a Path at the start of `text` (which begins with '<'). With
// `utf8_allowed` false any octet >= 0x80 is utf8_forbidden (checked before
// the grammar so the client learns the real reason); with it true such
// octets must form well-formed UTF-8 and may appear in atoms, quoted strings
// and domain labels (RFC 6531 3.3). Never reads past `text`.
PathResult parse_path(std::string_view text, PathKind kind, bool utf8_allowed,
                      const AddressLimits& limits);

// A HELO/EHLO argument we accept: one token of visible ASCII (or
// well-formed UTF-8), at most max_domain_bytes. Deliberately looser than
// RFC 5321's Domain / address-literal: real clients send "localhost",
// NetBIOS names and underscores, and the name decides nothing here.
bool is_acceptable_helo_name(std::string_view name, const AddressLimits& limits);

struct RelayPolicy {
    // Domains we accept mail for (the LAN server's domains), compared
    // ASCII case-insensitively, without a trailing dot. Empty: relay nothing.
    std::vector<std::string> domains;
    // Also accept any subdomain ("mx.example.com" for "example.com").
    bool relay_subdomains = false;
    // When non-empty, only these addresses ("user@example.com", compared
    // ASCII case-insensitively on the unquoted local part and the domain) are
    // accepted; others in a relay domain get unknown_recipient.
    std::vector<std::string> recipients;
    // RCPT TO:<Postmaster> (no domain) is accepted, as RFC 5321 4.5.1
    // requires; the LAN server delivers it to its own postmaster.
    bool accept_postmaster = true;
    // Outbound (mail from the LAN to the world): any domain is accepted;
    // who may send is checked on the client's address instead. The
    // address-form rules below still apply.
    bool any_domain = false;
};

enum class RelayVerdict : std::uint8_t {
    accept,
    relay_denied,      // 554 5.7.1: not ours, or a routing trick
    unknown_recipient, // 550 5.1.1: ours, but not on the recipient list
};

// The relay decision for a parsed forward-path (never the null path).
RelayVerdict check_relay(const Mailbox& rcpt, const RelayPolicy& policy);

// ASCII case-insensitive equality (octets >= 0x80 compare exactly): how
// domains, and local parts on the recipient list, are compared.
bool equal_ignoring_ascii_case(std::string_view a, std::string_view b);

} // namespace smtpgw::smtp
