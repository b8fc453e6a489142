// smtp_reply.cc: reply validation and formatting (see smtp_reply.h).
#include "smtp/smtp_reply.h"

namespace smtpgw::smtp {

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// One RFC 3463 number: 1..3 digits, "0" alone or no leading zero.
bool is_status_number(std::string_view s) {
    if (s.empty() || s.size() > 3)
        return false;
    for (char c : s)
        if (!is_digit(c))
            return false;
    return !(s.size() > 1 && s[0] == '0');
}

// A reply text byte that may go on the wire as is: printable ASCII and
// space. Everything else (controls, DEL, 8-bit bytes a non-SMTPUTF8 client
// cannot expect, RFC 5321 4.2) becomes '?'.
char safe_text_byte(char c) {
    auto u = static_cast<unsigned char>(c);
    return (u >= 0x20 && u < 0x7f) ? c : '?';
}

void append_line(std::string& out, std::uint16_t code, bool last, std::string_view enhanced,
                 std::string_view text) {
    const std::size_t start = out.size();
    out.push_back(static_cast<char>('0' + code / 100));
    out.push_back(static_cast<char>('0' + code / 10 % 10));
    out.push_back(static_cast<char>('0' + code % 10));
    if (enhanced.empty() && text.empty() && last) {
        out += "\r\n";
        return;
    }
    out.push_back(last ? ' ' : '-');
    if (!enhanced.empty()) {
        out += enhanced;
        if (!text.empty())
            out.push_back(' ');
    }
    // RFC 5321 4.5.3.1.5: the whole line, CRLF included, fits in 512 octets.
    const std::size_t used = out.size() - start;
    const std::size_t room = kMaxReplyLineBytes - 2 > used ? kMaxReplyLineBytes - 2 - used : 0;
    const std::size_t n = text.size() < room ? text.size() : room;
    for (std::size_t i = 0; i < n; ++i)
        out.push_back(safe_text_byte(text[i]));
    out += "\r\n";
}

} // namespace

bool is_reply_code(std::uint16_t code) {
    return code >= 200 && code <= 599 && (code / 10 % 10) <= 5;
}

bool is_enhanced_code(std::string_view s) {
    if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return false;
    const std::string_view rest = s.substr(2);
    const std::size_t dot = rest.find('.');
    if (dot == std::string_view::npos)
        return false;
    return is_status_number(rest.substr(0, dot)) && is_status_number(rest.substr(dot + 1));
}

bool enhanced_matches(std::uint16_t code, std::string_view enhanced) {
    return is_enhanced_code(enhanced) && enhanced[0] == static_cast<char>('0' + code / 100);
}

void append_reply(std::string& out, const Reply& r, bool with_enhanced) {
    const std::string_view enhanced =
        with_enhanced ? std::string_view(r.enhanced) : std::string_view();
    std::string_view text = r.text;
    // A trailing newline does not make an empty last line.
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.remove_suffix(1);
    std::size_t lines = 0;
    while (true) {
        std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1); // "\r\n" in upstream text separates lines too
        const bool last = nl == std::string_view::npos || lines + 1 == kMaxReplyLines;
        append_line(out, r.code, last, enhanced, line);
        if (last)
            return;
        text.remove_prefix(nl + 1);
        ++lines;
    }
}

std::string format_reply(const Reply& r, bool with_enhanced) {
    std::string out;
    append_reply(out, r, with_enhanced);
    return out;
}

} // namespace smtpgw::smtp
