// smtp_address.cc: path parsing and the relay rule (see smtp_address.h).
#include "smtp/smtp_address.h"

#include "net/addr.h"

namespace smtpgw::smtp {

namespace {

bool is_alpha(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}
char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// RFC 5322 3.2.3 atext, as RFC 5321 4.1.2 Atom uses it.
bool is_atext(unsigned char c) {
    if (is_alpha(c) || is_digit(c))
        return true;
    switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '/':
    case '=':
    case '?':
    case '^':
    case '_':
    case '`':
    case '{':
    case '|':
    case '}':
    case '~':
        return true;
    default:
        return false;
    }
}

// RFC 5321 4.1.2 qtextSMTP: %d32-33 / %d35-91 / %d93-126.
bool is_qtext(unsigned char c) {
    return c == 32 || c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126);
}

// RFC 3629 4: well-formed UTF-8 (no overlong forms, no surrogates, at most
// U+10FFFF). ASCII is well-formed too.
bool is_well_formed_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        unsigned char lo = 0x80, hi = 0xbf; // range of the second octet
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0)
                lo = 0xa0; // overlong
            else if (c == 0xed)
                hi = 0x9f; // surrogates
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0)
                lo = 0x90; // overlong
            else if (c == 0xf4)
                hi = 0x8f; // above U+10FFFF
        } else {
            return false;
        }
        if (i + len > s.size())
            return false;
        const auto c1 = static_cast<unsigned char>(s[i + 1]);
        if (c1 < lo || c1 > hi)
            return false;
        for (std::size_t k = 2; k < len; ++k) {
            const auto ck = static_cast<unsigned char>(s[i + k]);
            if (ck < 0x80 || ck > 0xbf)
                return false;
        }
        i += len;
    }
    return true;
}

bool has_8bit(std::string_view s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) >= 0x80)
            return true;
    return false;
}

// A cursor over the inside of "<...>". Every parse_* advances only on success.
struct Cursor {
    std::string_view s;
    std::size_t pos = 0;
    bool utf8 = false; // octets >= 0x80 allowed (already checked well formed)

    bool done() const { return pos >= s.size(); }
    unsigned char peek() const { return done() ? 0 : static_cast<unsigned char>(s[pos]); }
};

// RFC 5321 4.1.2 Dot-string = Atom *("." Atom); with SMTPUTF8 an atom may
// hold UTF-8 (RFC 6531 3.3 atext =/ UTF8-non-ascii).
bool parse_dot_string(Cursor& c, std::string& value) {
    const std::size_t start = c.pos;
    bool need_atom = true;
    while (!c.done()) {
        const unsigned char ch = c.peek();
        if (is_atext(ch) || (c.utf8 && ch >= 0x80)) {
            need_atom = false;
        } else if (ch == '.' && !need_atom) {
            need_atom = true;
        } else {
            break;
        }
        ++c.pos;
    }
    if (need_atom || c.pos == start) // empty, leading, trailing or doubled dot
        return false;
    value.assign(c.s.substr(start, c.pos - start));
    return true;
}

// RFC 5321 4.1.2 Quoted-string = DQUOTE *QcontentSMTP DQUOTE, with
// quoted-pairSMTP = "\" %d32-126. `value` receives the unescaped content.
bool parse_quoted_string(Cursor& c, std::string& value) {
    if (c.peek() != '"')
        return false;
    std::size_t i = c.pos + 1;
    value.clear();
    while (i < c.s.size()) {
        const auto ch = static_cast<unsigned char>(c.s[i]);
        if (ch == '"') {
            c.pos = i + 1;
            return true;
        }
        if (ch == '\\') {
            if (i + 1 >= c.s.size())
                return false;
            const auto next = static_cast<unsigned char>(c.s[i + 1]);
            if (next < 32 || next > 126)
                return false;
            value.push_back(static_cast<char>(next));
            i += 2;
            continue;
        }
        if (!is_qtext(ch) && !(c.utf8 && ch >= 0x80))
            return false;
        value.push_back(static_cast<char>(ch));
        ++i;
    }
    return false; // unterminated
}

// RFC 5321 4.1.2 Domain = sub-domain *("." sub-domain), sub-domain =
// Let-dig [Ldh-str] (letters, digits, inner hyphens); with SMTPUTF8 a label
// may be a U-label (RFC 6531 3.3), so octets >= 0x80 count as letters. No
// trailing dot, no empty label.
bool parse_domain(Cursor& c, const AddressLimits& limits) {
    const std::size_t start = c.pos;
    std::size_t label_len = 0;
    bool last_hyphen = false;
    while (!c.done()) {
        const unsigned char ch = c.peek();
        const bool letdig = is_alpha(ch) || is_digit(ch) || (c.utf8 && ch >= 0x80);
        if (letdig) {
            ++label_len;
            last_hyphen = false;
        } else if (ch == '-' && label_len > 0) {
            ++label_len;
            last_hyphen = true;
        } else if (ch == '.' && label_len > 0 && !last_hyphen) {
            label_len = 0;
            ++c.pos;
            continue;
        } else {
            break;
        }
        if (label_len > limits.max_label_bytes)
            return false;
        ++c.pos;
    }
    if (label_len == 0 || last_hyphen) { // empty, trailing dot or trailing hyphen
        c.pos = start;
        return false;
    }
    if (c.pos - start > limits.max_domain_bytes) {
        c.pos = start;
        return false;
    }
    return true;
}

// RFC 5321 4.1.3 address-literal: "[" IPv4-address-literal "]" or
// "[IPv6:" IPv6-addr "]". General-address-literal (a registered tag) has no
// registered tags besides IPv6 and is refused.
bool parse_address_literal(Cursor& c) {
    if (c.peek() != '[')
        return false;
    const std::size_t close = c.s.find(']', c.pos);
    if (close == std::string_view::npos)
        return false;
    std::string_view inside = c.s.substr(c.pos + 1, close - c.pos - 1);
    bool ok = false;
    if (inside.size() > 5 && equal_ignoring_ascii_case(inside.substr(0, 5), "IPv6:"))
        ok = net::parse_ipv6(inside.substr(5)).has_value();
    else
        ok = net::parse_ipv4(inside).has_value();
    if (!ok)
        return false;
    c.pos = close + 1;
    return true;
}

// RFC 5321 4.1.2 A-d-l = At-domain *( "," At-domain ), At-domain = "@" Domain,
// followed by ":". The route is checked for syntax and then ignored (4.1.1.3).
bool parse_source_route(Cursor& c, const AddressLimits& limits) {
    while (true) {
        if (c.peek() != '@')
            return false;
        ++c.pos;
        if (!parse_domain(c, limits))
            return false;
        if (c.peek() == ',') {
            ++c.pos;
            continue;
        }
        if (c.peek() == ':') {
            ++c.pos;
            return true;
        }
        return false;
    }
}

} // namespace

bool equal_ignoring_ascii_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

std::string Mailbox::address() const {
    if (is_null)
        return {};
    if (domain.empty())
        return local_part;
    std::string out = local_part;
    out.push_back('@');
    out += domain;
    return out;
}

PathResult parse_path(std::string_view text, PathKind kind, bool utf8_allowed,
                      const AddressLimits& limits) {
    PathResult r;
    r.error = PathError::syntax;
    if (text.empty() || text[0] != '<')
        return r;
    // Find the closing '>' outside any quoted string: `<"a>b"@x>` is one path.
    std::size_t end = std::string_view::npos;
    bool quoted = false;
    for (std::size_t i = 1; i < text.size(); ++i) {
        const char ch = text[i];
        if (quoted && ch == '\\') {
            ++i; // the escaped octet cannot close anything
            continue;
        }
        if (ch == '"')
            quoted = !quoted;
        else if (ch == '>' && !quoted) {
            end = i;
            break;
        }
    }
    if (end == std::string_view::npos)
        return r;
    const std::string_view inner = text.substr(1, end - 1);
    if (inner.size() > limits.max_path_bytes) {
        r.error = PathError::too_long;
        return r;
    }
    const bool eight_bit = has_8bit(inner);
    if (eight_bit && !utf8_allowed) { // RFC 6531 3.5: 553 5.6.7 tells the real reason
        r.error = PathError::utf8_forbidden;
        return r;
    }
    if (eight_bit && !is_well_formed_utf8(inner))
        return r;

    Mailbox& m = r.mailbox;
    m.is_utf8 = eight_bit;
    if (inner.empty()) { // RFC 5321 4.5.5: the null reverse-path
        if (kind != PathKind::reverse)
            return r;
        m.is_null = true;
        r.error = PathError::none;
        r.consumed = end + 1;
        return r;
    }
    // RFC 5321 4.5.1: "Postmaster" without a domain, case-insensitively.
    if (kind == PathKind::forward && equal_ignoring_ascii_case(inner, "postmaster")) {
        m.is_postmaster = true;
        m.local_part.assign(inner);
        m.local_value.assign(inner);
        r.error = PathError::none;
        r.consumed = end + 1;
        return r;
    }

    Cursor c{inner, 0, eight_bit};
    if (c.peek() == '@') { // RFC 5321 4.1.1.3: accept the route, ignore it
        if (!parse_source_route(c, limits))
            return r;
        m.had_route = true;
    }
    const std::size_t local_start = c.pos;
    if (c.peek() == '"') {
        if (!parse_quoted_string(c, m.local_value))
            return r;
    } else if (!parse_dot_string(c, m.local_value)) {
        return r;
    }
    m.local_part.assign(inner.substr(local_start, c.pos - local_start));
    if (c.peek() != '@')
        return r; // no domain (only Postmaster may go without one)
    ++c.pos;
    const std::size_t domain_start = c.pos;
    if (c.peek() == '[') {
        if (!parse_address_literal(c))
            return r;
        m.is_literal = true;
    } else if (!parse_domain(c, limits)) {
        return r;
    }
    if (!c.done())
        return r; // trailing octets: a second '@', a trailing dot, '%' in a domain...
    m.domain.assign(inner.substr(domain_start));
    r.error = PathError::none;
    r.consumed = end + 1;
    return r;
}

bool is_acceptable_helo_name(std::string_view name, const AddressLimits& limits) {
    if (name.empty() || name.size() > limits.max_domain_bytes)
        return false;
    for (char ch : name) {
        const auto u = static_cast<unsigned char>(ch);
        if (u <= 0x20 || u == 0x7f)
            return false;
    }
    return is_well_formed_utf8(name);
}

RelayVerdict check_relay(const Mailbox& rcpt, const RelayPolicy& policy) {
    if (rcpt.is_null)
        return RelayVerdict::relay_denied;
    if (rcpt.is_postmaster)
        return policy.accept_postmaster ? RelayVerdict::accept : RelayVerdict::relay_denied;
    // Address literals name a host, not a domain we serve.
    if (rcpt.is_literal || rcpt.domain.empty())
        return RelayVerdict::relay_denied;
    // The percent hack, bang paths and quoted '@': a server behind us may
    // route on them (u%foreign@ours -> u@foreign), so they never pass.
    if (rcpt.local_value.find_first_of("%!@") != std::string::npos)
        return RelayVerdict::relay_denied;
    if (policy.any_domain)
        return RelayVerdict::accept;

    const std::string_view domain = rcpt.domain;
    bool ours = false;
    for (std::string_view d : policy.domains) {
        if (!d.empty() && d.back() == '.')
            d.remove_suffix(1);
        if (d.empty())
            continue;
        if (equal_ignoring_ascii_case(domain, d)) {
            ours = true;
            break;
        }
        // A subdomain ends in "." + d: "evilexample.com" is not under "example.com".
        if (policy.relay_subdomains && domain.size() > d.size() + 1 &&
            domain[domain.size() - d.size() - 1] == '.' &&
            equal_ignoring_ascii_case(domain.substr(domain.size() - d.size()), d)) {
            ours = true;
            break;
        }
    }
    if (!ours)
        return RelayVerdict::relay_denied;
    if (policy.recipients.empty())
        return RelayVerdict::accept;
    for (std::string_view entry : policy.recipients) {
        const std::size_t at = entry.rfind('@');
        if (at == std::string_view::npos)
            continue;
        if (equal_ignoring_ascii_case(entry.substr(0, at), rcpt.local_value) &&
            equal_ignoring_ascii_case(entry.substr(at + 1), domain))
            return RelayVerdict::accept;
    }
    return RelayVerdict::unknown_recipient;
}

} // namespace smtpgw::smtp
