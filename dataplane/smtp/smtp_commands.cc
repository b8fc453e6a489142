// smtp_commands.cc: the command table and parameter parsing (see smtp_commands.h).
#include "smtp/smtp_commands.h"

#include <array>

#include "smtp/smtp_address.h"

namespace smtpgw::smtp {

namespace {

constexpr std::uint8_t kB4Tls = kAllowedBeforeTls;
constexpr std::uint8_t kB4Helo = kAllowedBeforeHelo;
constexpr std::uint8_t kInTx = kAllowedInTransaction;
constexpr std::uint8_t kLast = kEndsPipelineGroup;

// The table. Before TLS (when it is required) only what leads to TLS or out
// of the session is allowed (RFC 3207 4: 530 for the rest); VRFY/EXPN are
// refused anyway but not before TLS, so a policy cannot be probed in clear.
constexpr std::array<CommandInfo, 15> kTable{{
    {Command::helo, "HELO", kB4Tls | kB4Helo | kInTx | kLast, ArgRule::required,
     "Syntax: HELO hostname"},
    {Command::ehlo, "EHLO", kB4Tls | kB4Helo | kInTx | kLast, ArgRule::required,
     "Syntax: EHLO hostname"},
    {Command::mail, "MAIL", 0, ArgRule::required, "Syntax: MAIL FROM:<address> [parameters]"},
    {Command::rcpt, "RCPT", kInTx, ArgRule::required, "Syntax: RCPT TO:<address> [parameters]"},
    {Command::data, "DATA", kInTx | kLast, ArgRule::none, "Syntax: DATA"},
    {Command::bdat, "BDAT", kInTx, ArgRule::required, "Syntax: BDAT size [LAST]"},
    {Command::rset, "RSET", kB4Tls | kB4Helo | kInTx | kJunk, ArgRule::none, "Syntax: RSET"},
    {Command::noop, "NOOP", kB4Tls | kB4Helo | kInTx | kLast | kJunk, ArgRule::optional, ""},
    {Command::quit, "QUIT", kB4Tls | kB4Helo | kInTx | kLast, ArgRule::none, "Syntax: QUIT"},
    {Command::help, "HELP", kB4Tls | kB4Helo | kInTx | kJunk, ArgRule::optional, ""},
    {Command::vrfy, "VRFY", kB4Helo | kInTx | kLast | kJunk, ArgRule::required,
     "Syntax: VRFY address"},
    {Command::expn, "EXPN", kB4Helo | kInTx | kLast | kJunk, ArgRule::required,
     "Syntax: EXPN list"},
    {Command::starttls, "STARTTLS", kB4Tls | kLast, ArgRule::none, "Syntax: STARTTLS"},
    {Command::forbidden, "", kB4Tls | kB4Helo | kInTx | kLast, ArgRule::optional, ""},
    {Command::unknown, "", kB4Tls | kB4Helo | kInTx, ArgRule::optional, ""},
}};

// Requests of other protocols sent to port 25 (Postfix's
// smtpd_forbidden_commands): a web client or an open-proxy probe.
constexpr bool table_in_enum_order() {
    for (std::size_t i = 0; i < kTable.size(); ++i)
        if (static_cast<std::size_t>(kTable[i].command) != i)
            return false;
    return kTable.size() == static_cast<std::size_t>(Command::unknown) + 1;
}
static_assert(table_in_enum_order(), "kTable has one row per Command, in enum order");

constexpr std::array<std::string_view, 5> kForbiddenVerbs{"CONNECT", "GET", "POST", "HEAD", "PUT"};

char upper(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}
bool is_alpha(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}
bool is_upper_hex(unsigned char c) {
    return is_digit(c) || (c >= 'A' && c <= 'F');
}

bool verb_equals(std::string_view verb, std::string_view upper_verb) {
    if (verb.size() != upper_verb.size())
        return false;
    for (std::size_t i = 0; i < verb.size(); ++i)
        if (upper(verb[i]) != upper_verb[i])
            return false;
    return true;
}

// Decimal digits only, without overflow (RFC 1870 and RFC 3030 sizes).
std::optional<std::uint64_t> parse_u64(std::string_view s) {
    if (s.empty() || s.size() > 20)
        return std::nullopt;
    std::uint64_t v = 0;
    for (char ch : s) {
        if (!is_digit(static_cast<unsigned char>(ch)))
            return std::nullopt;
        const auto d = static_cast<std::uint64_t>(ch - '0');
        if (v > (UINT64_MAX - d) / 10)
            return std::nullopt;
        v = v * 10 + d;
    }
    return v;
}

// RFC 3461 4: xtext = *( xchar / hexchar ), xchar = "!".."~" except "+" and
// "=", hexchar = "+" 2(upper-case HEXDIG).
bool is_xtext(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '+') {
            if (i + 2 >= s.size())
                return false;
            if (!is_upper_hex(static_cast<unsigned char>(s[i + 1])) ||
                !is_upper_hex(static_cast<unsigned char>(s[i + 2])))
                return false;
            i += 2;
            continue;
        }
        if (c < 0x21 || c > 0x7e || c == '=')
            return false;
    }
    return true;
}

// RFC 6533 3: utf-8-addr-xtext (ASCII, "\x{HEX}" escapes, no "+", "=",
// "\" otherwise) and, in an SMTPUTF8 transaction, utf-8-addr-unitext (raw
// UTF-8 allowed as well).
bool is_utf8_addr_text(std::string_view s, bool utf8_transaction) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '\\') {
            // \x{1..6 HEXDIG}
            if (i + 4 >= s.size() || s[i + 1] != 'x' || s[i + 2] != '{')
                return false;
            std::size_t j = i + 3;
            while (j < s.size() && j - (i + 3) < 6 &&
                   is_upper_hex(static_cast<unsigned char>(s[j])))
                ++j;
            if (j == i + 3 || j >= s.size() || s[j] != '}')
                return false;
            i = j;
            continue;
        }
        if (c >= 0x80) {
            if (!utf8_transaction)
                return false;
            continue; // well-formedness was checked with the whole command
        }
        if (c < 0x21 || c > 0x7e || c == '+' || c == '=')
            return false;
    }
    return true;
}

// One "keyword[=value]" of RFC 5321 4.1.2: esmtp-keyword = (ALPHA / DIGIT)
// *(ALPHA / DIGIT / "-"), esmtp-value = 1*(%d33-60 / %d62-126), and with
// SMTPUTF8 UTF-8 octets in values (RFC 6531 3.3).
struct Param {
    std::string_view keyword;
    std::string_view value;
    bool has_value = false;
};

bool split_param(std::string_view token, Param& p) {
    const std::size_t eq = token.find('=');
    p.keyword = token.substr(0, eq);
    p.has_value = eq != std::string_view::npos;
    p.value = p.has_value ? token.substr(eq + 1) : std::string_view();
    if (p.keyword.empty())
        return false;
    for (std::size_t i = 0; i < p.keyword.size(); ++i) {
        const auto c = static_cast<unsigned char>(p.keyword[i]);
        if (!(is_alpha(c) || is_digit(c) || (i > 0 && c == '-')))
            return false;
    }
    if (p.has_value) {
        if (p.value.empty())
            return false;
        for (char ch : p.value) {
            const auto c = static_cast<unsigned char>(ch);
            if (c == '=' || c < 33 || c == 127)
                return false;
        }
    }
    return true;
}

// Walks the SP-separated parameters: `text` is "" or " kw=v kw2". Calls
// `one(param)` for each; stops at the first error. Duplicate keywords are
// refused (RFC 5321 4.1.2 does not allow a keyword twice; which would win
// is undefined, so neither does).
template <typename F>
ParamError for_each_param(std::string_view text, std::string& canonical, F&& one) {
    canonical.clear();
    std::array<std::string_view, 8> seen{};
    std::size_t seen_n = 0;
    while (!text.empty()) {
        if (text[0] != ' ')
            return ParamError::syntax;
        while (!text.empty() && text[0] == ' ')
            text.remove_prefix(1);
        if (text.empty())
            break; // trailing spaces: tolerated
        const std::size_t sp = text.find(' ');
        const std::string_view token = text.substr(0, sp);
        text = sp == std::string_view::npos ? std::string_view() : text.substr(sp);
        Param p;
        if (!split_param(token, p))
            return ParamError::syntax;
        for (std::size_t i = 0; i < seen_n; ++i)
            if (equal_ignoring_ascii_case(seen[i], p.keyword))
                return ParamError::syntax;
        if (seen_n == seen.size())
            return ParamError::syntax; // more parameters than all known keywords
        seen[seen_n++] = p.keyword;
        const ParamError e = one(p);
        if (e != ParamError::none)
            return e;
        if (!canonical.empty())
            canonical.push_back(' ');
        canonical += token;
    }
    return ParamError::none;
}

bool keyword_is(const Param& p, std::string_view upper_kw) {
    return verb_equals(p.keyword, upper_kw);
}

} // namespace

std::span<const CommandInfo> command_table() {
    return kTable;
}

const CommandInfo& command_info(Command c) {
    return kTable[static_cast<std::size_t>(c)];
}

CommandLine parse_command_line(std::string_view line) {
    CommandLine cl;
    const std::size_t sp = line.find(' ');
    cl.verb = line.substr(0, sp);
    cl.has_arg = sp != std::string_view::npos;
    cl.arg = cl.has_arg ? line.substr(sp + 1) : std::string_view();
    if (cl.verb.empty()) {
        cl.command = Command::unknown; // empty line or leading space: a syntax error
        return cl;
    }
    if (!is_alpha(static_cast<unsigned char>(cl.verb[0]))) {
        cl.command = Command::forbidden;
        return cl;
    }
    for (std::string_view f : kForbiddenVerbs)
        if (verb_equals(cl.verb, f)) {
            cl.command = Command::forbidden;
            return cl;
        }
    for (const CommandInfo& info : kTable)
        if (!info.verb.empty() && verb_equals(cl.verb, info.verb)) {
            cl.command = info.command;
            return cl;
        }
    cl.command = Command::unknown;
    return cl;
}

bool command_line_octets_ok(std::string_view line) {
    for (char ch : line) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

std::optional<std::string_view> after_path_keyword(std::string_view arg, std::string_view keyword) {
    if (arg.size() < keyword.size() || !verb_equals(arg.substr(0, keyword.size()), keyword))
        return std::nullopt;
    arg.remove_prefix(keyword.size());
    while (!arg.empty() && arg[0] == ' ')
        arg.remove_prefix(1);
    return arg;
}

ParamError parse_mail_params(std::string_view text, const ParamOffer& offer, MailParams& out,
                             std::string& canonical) {
    out = MailParams{};
    return for_each_param(text, canonical, [&](const Param& p) {
        if (keyword_is(p, "SIZE")) { // RFC 1870 3
            if (!offer.size)
                return ParamError::unrecognized;
            auto v = p.has_value ? parse_u64(p.value) : std::nullopt;
            if (!v)
                return ParamError::syntax;
            out.has_size = true;
            out.size = *v;
            return ParamError::none;
        }
        if (keyword_is(p, "BODY")) { // RFC 6152 2
            if (!offer.eight_bit_mime)
                return ParamError::unrecognized;
            if (p.has_value && verb_equals(p.value, "7BIT"))
                out.body = BodyType::seven_bit;
            else if (p.has_value && verb_equals(p.value, "8BITMIME"))
                out.body = BodyType::eight_bit_mime;
            else
                return ParamError::syntax; // BINARYMIME is not offered (RFC 3030 3)
            return ParamError::none;
        }
        if (keyword_is(p, "SMTPUTF8")) { // RFC 6531 3.4: no value
            if (!offer.smtputf8)
                return ParamError::unrecognized;
            if (p.has_value)
                return ParamError::syntax;
            out.smtputf8 = true;
            return ParamError::none;
        }
        if (keyword_is(p, "RET")) { // RFC 3461 4.3
            if (!offer.dsn)
                return ParamError::unrecognized;
            if (p.has_value && verb_equals(p.value, "FULL"))
                out.ret = DsnRet::full;
            else if (p.has_value && verb_equals(p.value, "HDRS"))
                out.ret = DsnRet::hdrs;
            else
                return ParamError::syntax;
            return ParamError::none;
        }
        if (keyword_is(p, "ENVID")) { // RFC 3461 4.4: xtext, at most 100 characters
            if (!offer.dsn)
                return ParamError::unrecognized;
            if (!p.has_value || p.value.size() > 100 || !is_xtext(p.value))
                return ParamError::syntax;
            out.envid.assign(p.value);
            return ParamError::none;
        }
        return ParamError::unrecognized;
    });
}

ParamError parse_rcpt_params(std::string_view text, const ParamOffer& offer, bool utf8_transaction,
                             RcptParams& out, std::string& canonical) {
    out = RcptParams{};
    return for_each_param(text, canonical, [&](const Param& p) {
        if (keyword_is(p, "NOTIFY")) { // RFC 3461 4.1
            if (!offer.dsn)
                return ParamError::unrecognized;
            if (!p.has_value)
                return ParamError::syntax;
            std::string_view v = p.value;
            std::uint8_t bits = 0;
            while (true) {
                const std::size_t comma = v.find(',');
                const std::string_view item = v.substr(0, comma);
                std::uint8_t bit = 0;
                if (verb_equals(item, "NEVER"))
                    bit = kNotifyNever;
                else if (verb_equals(item, "SUCCESS"))
                    bit = kNotifySuccess;
                else if (verb_equals(item, "FAILURE"))
                    bit = kNotifyFailure;
                else if (verb_equals(item, "DELAY"))
                    bit = kNotifyDelay;
                if (bit == 0 || (bits & bit) != 0)
                    return ParamError::syntax;
                bits |= bit;
                if (comma == std::string_view::npos)
                    break;
                v.remove_prefix(comma + 1);
            }
            // NEVER stands alone.
            if ((bits & kNotifyNever) != 0 && bits != kNotifyNever)
                return ParamError::syntax;
            out.notify = bits;
            return ParamError::none;
        }
        if (keyword_is(p, "ORCPT")) { // RFC 3461 4.2: addr-type ";" xtext, 500 characters
            if (!offer.dsn)
                return ParamError::unrecognized;
            if (!p.has_value || p.value.size() > 500)
                return ParamError::syntax;
            const std::size_t semi = p.value.find(';');
            if (semi == std::string_view::npos || semi == 0 || semi + 1 == p.value.size())
                return ParamError::syntax;
            const std::string_view type = p.value.substr(0, semi);
            const std::string_view addr = p.value.substr(semi + 1);
            bool ok = false;
            if (verb_equals(type, "RFC822"))
                ok = is_xtext(addr);
            else if (verb_equals(type, "UTF-8")) // RFC 6533 3
                ok = is_utf8_addr_text(addr, utf8_transaction);
            if (!ok)
                return ParamError::syntax;
            out.orcpt.assign(p.value);
            return ParamError::none;
        }
        return ParamError::unrecognized;
    });
}

std::optional<BdatArgs> parse_bdat_args(std::string_view arg) {
    const std::size_t sp = arg.find(' ');
    auto size = parse_u64(arg.substr(0, sp));
    if (!size)
        return std::nullopt;
    BdatArgs a;
    a.size = *size;
    if (sp != std::string_view::npos) {
        if (!verb_equals(arg.substr(sp + 1), "LAST"))
            return std::nullopt;
        a.last = true;
    }
    return a;
}

} // namespace smtpgw::smtp
