// smtp_reply.h: SMTP replies as values, and their wire text.
//
// Purpose: one place that turns a reply (code, enhanced status code, text)
// into the bytes a client reads, for the session's own replies and for the
// LAN server's answers that the proxy passes on.
// RFCs: 5321 4.2 (reply lines: "CODE-text" continuation lines, "CODE text"
// last), 4.2.1 (the code's digits), 4.5.3.1.5 (512 octets per reply line);
// 2034 4 and 3463 2 (the enhanced code on every line of a reply, its class
// agreeing with the reply code's first digit).
// Security: reply text can come from the LAN server through the proxy, so it
// is never trusted to be well formed: a line cannot carry CR, LF or any
// other control character (each becomes '?'; '\n' separates lines), lines
// are cut to the RFC's 512 octets and a reply to kMaxReplyLines lines, so
// an answer can neither inject a second reply nor grow without bound.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace smtpgw::smtp {

struct Reply {
    std::uint16_t code = 0; // 200..599 on the wire (RFC 5321 4.2.1)
    std::string enhanced;   // "2.1.0" (RFC 3463), may be empty
    std::string text;       // '\n' separates the lines of a multi-line reply; may be empty
};

// RFC 5321 4.5.3.1.5: a reply line is at most 512 octets including CRLF.
inline constexpr std::size_t kMaxReplyLineBytes = 512;
// Lines kept from a multi-line reply: more than any real server sends (an
// EHLO reply has about 15); an answer cannot make one reply unbounded.
inline constexpr std::size_t kMaxReplyLines = 64;

// A code a client may receive: first digit 2..5, second 0..5 (RFC 5321 4.2.1).
bool is_reply_code(std::uint16_t code);
// "class.subject.detail" (RFC 3463 2): class 2, 4 or 5, subject and detail
// 1..3 digits each, no leading zeros beyond a single 0.
bool is_enhanced_code(std::string_view s);
// True when `enhanced` is a valid enhanced code whose class is the first
// digit of `code` (a 250 must not carry 5.1.1, RFC 3463 2).
bool enhanced_matches(std::uint16_t code, std::string_view enhanced);

// Appends the wire form of `r` to `out`. Each text line becomes one reply
// line ("CODE-" for all but the last, "CODE " or "CODE" for the last); when
// `with_enhanced` and `r.enhanced` is non-empty, each line carries the
// enhanced code after the reply code (RFC 2034 4). Text is sanitised as the
// header says. The caller guarantees is_reply_code(r.code); the function
// does not validate it (the session validates answers before formatting).
void append_reply(std::string& out, const Reply& r, bool with_enhanced);
std::string format_reply(const Reply& r, bool with_enhanced);

} // namespace smtpgw::smtp
