// smtp_reply_parser.h: reads the LAN mail server's replies (the client side
// of RFC 5321 4.2), single- and multi-line, from a byte stream cut anywhere.
//
// Purpose: turn "250-first\r\n250 last\r\n" into one UpstreamReply {code,
// lines}; the SMTP client (smtp/smtp_client.h) feeds it what the server
// sends and matches replies to the commands it sent. Enhanced status codes
// (RFC 3463, announced by ENHANCEDSTATUSCODES, RFC 2034) are split off the
// first line by split_enhanced_code() once the client knows they are on.
// RFCs: 5321 4.2 (reply syntax, continuation lines, one code per reply),
// 4.2.1 (first digit 2..5, second 0..5), 4.5.3.1.5 (512-octet reply lines,
// which we allow to be longer, up to max_reply_line), 3463 / 2034
// (enhanced codes: class matches the reply's first digit).
// Security: the server is on the LAN but still a peer: a line is bounded
// (max_reply_line), a reply is bounded (max_reply_lines), NUL, bare CR and
// bare LF are refused (a line must not split differently for us and for
// whoever later relays its text), codes must agree across lines. Any error
// is final: the parser stops and the client drops the connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace smtpgw::smtp {

// One reply from the LAN server (or made up by the client: see
// ClientResult::synthetic). `lines` are the texts of every line as sent,
// after "ddd-"/"ddd " (enhanced code included); `text` is the first line's
// text without its enhanced code once split_enhanced_code() ran, else the
// same as lines[0].
struct UpstreamReply {
    std::uint16_t code = 0;
    std::string enhanced; // "2.1.0", empty when the server gave none
    std::string text;
    std::vector<std::string> lines;
};

struct ReplyParserLimits {
    // Bytes of one reply line, CRLF included: 4x RFC 5321 4.5.3.1.5's 512
    // for servers with long texts; bounds the memory one line can take.
    std::size_t max_reply_line = 2048;
    // Lines of one reply: an EHLO reply has ~15; bounds a reply's memory
    // against a server that never sends the final line.
    std::size_t max_reply_lines = 64;
};

enum class ReplyError : std::uint8_t {
    none,
    bad_code,          // not three digits 2..5 0..5 0..9, or no SP/'-' after them
    inconsistent_code, // a continuation line with another code (RFC 5321 4.2)
    line_too_long,     // more than max_reply_line bytes
    too_many_lines,    // more than max_reply_lines lines
    nul_byte,          // NUL anywhere
    bare_cr,           // CR not followed by LF
    bare_lf,           // LF not preceded by CR
};
const char* reply_error_name(ReplyError e);

enum class ReplyParseStatus : std::uint8_t { need_more, complete, error };

class ReplyParser {
  public:
    explicit ReplyParser(const ReplyParserLimits& limits = {}) : limits_(limits) {}

    // Reads `in` up to the end of the first complete reply. Returns
    // `complete` (take() it; `consumed` counts the bytes up to and
    // including its final LF; feed the rest again), `need_more` (all of
    // `in` consumed, keep feeding) or `error` (see error(); the parser
    // stays in error until reset(): the caller must drop the connection,
    // since it can no longer tell where the server's next reply starts).
    ReplyParseStatus feed(std::span<const std::uint8_t> in, std::size_t& consumed);
    // The reply that feed() completed; the parser then starts a new one.
    UpstreamReply take();
    ReplyError error() const { return error_; }
    // True while part of a reply has been read.
    bool partial() const { return !line_.empty() || cr_ || !reply_.lines.empty(); }
    void reset();

  private:
    bool end_line();

    ReplyParserLimits limits_;
    ReplyError error_ = ReplyError::none;
    std::string line_; // current line, without CRLF
    bool cr_ = false;  // the previous byte was CR
    bool done_ = false;
    UpstreamReply reply_;
};

// RFC 3463 / 2034: if reply.lines[0] starts with "class.subject.detail"
// (class = the reply code's first digit, subject and detail 1-3 digits)
// followed by SP or the end, moves it to reply.enhanced and sets
// reply.text to the rest. Otherwise leaves `enhanced` empty and `text`
// equal to lines[0]. Returns whether a code was found.
bool split_enhanced_code(UpstreamReply& reply);

} // namespace smtpgw::smtp
