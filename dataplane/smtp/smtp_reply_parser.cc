// smtp_reply_parser.cc: see smtp_reply_parser.h.
#include "smtp/smtp_reply_parser.h"

#include <utility>

namespace smtpgw::smtp {

const char* reply_error_name(ReplyError e) {
    switch (e) {
    case ReplyError::none:
        return "none";
    case ReplyError::bad_code:
        return "bad_code";
    case ReplyError::inconsistent_code:
        return "inconsistent_code";
    case ReplyError::line_too_long:
        return "line_too_long";
    case ReplyError::too_many_lines:
        return "too_many_lines";
    case ReplyError::nul_byte:
        return "nul_byte";
    case ReplyError::bare_cr:
        return "bare_cr";
    case ReplyError::bare_lf:
        return "bare_lf";
    }
    return "unknown";
}

void ReplyParser::reset() {
    error_ = ReplyError::none;
    line_.clear();
    cr_ = false;
    done_ = false;
    reply_ = UpstreamReply{};
}

UpstreamReply ReplyParser::take() {
    UpstreamReply r = std::move(reply_);
    reply_ = UpstreamReply{};
    done_ = false;
    return r;
}

// A complete line (CRLF stripped) is in line_. RFC 5321 4.2:
//   Reply-line = *( Reply-code "-" [ textstring ] CRLF )
//                Reply-code [ SP textstring ] CRLF
// Returns false on error (error_ set).
bool ReplyParser::end_line() {
    const std::string& l = line_;
    // 4.2.1: first digit 2-5, second 0-5, third 0-9.
    if (l.size() < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '5' || l[2] < '0' ||
        l[2] > '9') {
        error_ = ReplyError::bad_code;
        return false;
    }
    bool last = true;
    if (l.size() > 3) {
        if (l[3] == '-')
            last = false;
        else if (l[3] != ' ') {
            error_ = ReplyError::bad_code;
            return false;
        }
    }
    auto code = static_cast<std::uint16_t>((l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0'));
    if (reply_.lines.empty())
        reply_.code = code;
    else if (code != reply_.code) {
        error_ = ReplyError::inconsistent_code;
        return false;
    }
    if (reply_.lines.size() >= limits_.max_reply_lines) {
        error_ = ReplyError::too_many_lines;
        return false;
    }
    reply_.lines.emplace_back(l.size() > 4 ? l.substr(4) : std::string());
    line_.clear();
    if (last) {
        reply_.text = reply_.lines.front();
        done_ = true;
    }
    return true;
}

ReplyParseStatus ReplyParser::feed(std::span<const std::uint8_t> in, std::size_t& consumed) {
    consumed = 0;
    if (error_ != ReplyError::none)
        return ReplyParseStatus::error;
    for (std::size_t i = 0; i < in.size(); ++i) {
        const std::uint8_t b = in[i];
        consumed = i + 1;
        if (cr_) {
            cr_ = false;
            if (b != '\n') {
                error_ = ReplyError::bare_cr;
                return ReplyParseStatus::error;
            }
            if (!end_line())
                return ReplyParseStatus::error;
            if (done_)
                return ReplyParseStatus::complete;
            continue;
        }
        if (b == '\r') {
            cr_ = true;
            // The CR counts toward the line; the LF is the line's last byte.
            if (line_.size() + 2 > limits_.max_reply_line) {
                error_ = ReplyError::line_too_long;
                return ReplyParseStatus::error;
            }
            continue;
        }
        if (b == '\n') {
            error_ = ReplyError::bare_lf;
            return ReplyParseStatus::error;
        }
        if (b == 0) {
            error_ = ReplyError::nul_byte;
            return ReplyParseStatus::error;
        }
        // Room must remain for CRLF.
        if (line_.size() + 3 > limits_.max_reply_line) {
            error_ = ReplyError::line_too_long;
            return ReplyParseStatus::error;
        }
        line_.push_back(static_cast<char>(b));
    }
    return ReplyParseStatus::need_more;
}

namespace {

// 1 to 3 digits at s[i...]; advances i.
bool digits_1_3(std::string_view s, std::size_t& i) {
    std::size_t n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && n < 4) {
        ++i;
        ++n;
    }
    return n >= 1 && n <= 3;
}

} // namespace

bool split_enhanced_code(UpstreamReply& reply) {
    reply.enhanced.clear();
    if (reply.lines.empty()) {
        reply.text.clear();
        return false;
    }
    std::string_view s = reply.lines.front();
    reply.text = std::string(s);
    // RFC 3463 2: status-code = class "." subject "." detail; class is
    // 2, 4 or 5 and (RFC 2034 4) matches the reply code's first digit.
    const char cls = static_cast<char>('0' + reply.code / 100);
    if (s.size() < 5 || s[0] != cls || (cls != '2' && cls != '4' && cls != '5') || s[1] != '.')
        return false;
    std::size_t i = 2;
    if (!digits_1_3(s, i) || i >= s.size() || s[i] != '.')
        return false;
    ++i;
    if (!digits_1_3(s, i))
        return false;
    if (i < s.size() && s[i] != ' ')
        return false;
    reply.enhanced = std::string(s.substr(0, i));
    reply.text = i < s.size() ? std::string(s.substr(i + 1)) : std::string();
    return true;
}

} // namespace smtpgw::smtp
