// mime_transfer.cc: streaming base64, quoted-printable and uuencode decoders.
#include "mime/mime_transfer.h"

#include <array>
#include <cstring>

namespace smtpgw::mime {

namespace {

// Base64 character classes: 0..63 a sextet; the others have bit 7 set so
// one OR over four lookups tells whether a group is all alphabet.
constexpr std::uint8_t kB64Space = 0x80;
constexpr std::uint8_t kB64Pad = 0x81;
constexpr std::uint8_t kB64Junk = 0xff;

constexpr std::array<std::uint8_t, 256> make_b64_table() {
    std::array<std::uint8_t, 256> t{};
    for (auto& v : t)
        v = kB64Junk;
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (std::uint8_t i = 0; i < 64; ++i)
        t[static_cast<std::uint8_t>(alphabet[i])] = i;
    t['\r'] = t['\n'] = t[' '] = t['\t'] = kB64Space;
    t['='] = kB64Pad;
    return t;
}
constexpr auto kB64 = make_b64_table();

// Quoted-printable octets copied as they are (everything but "=", SP, HT).
constexpr std::array<bool, 256> make_qp_plain() {
    std::array<bool, 256> t{};
    for (auto& v : t)
        v = true;
    t['='] = t[' '] = t['\t'] = false;
    return t;
}
constexpr auto kQpPlain = make_qp_plain();

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

std::string_view trim_blanks_right(std::string_view s) {
    while (!s.empty() && (is_blank(s.back()) || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

} // namespace

const char* transfer_encoding_name(TransferEncoding e) {
    switch (e) {
    case TransferEncoding::seven_bit:
        return "7bit";
    case TransferEncoding::eight_bit:
        return "8bit";
    case TransferEncoding::binary:
        return "binary";
    case TransferEncoding::base64:
        return "base64";
    case TransferEncoding::quoted_printable:
        return "quoted-printable";
    case TransferEncoding::uuencode:
        return "x-uuencode";
    case TransferEncoding::unknown:
        break;
    }
    return "unknown";
}

// ---------------------------------------------------------------- base64

std::size_t Base64Decoder::decode(std::span<const std::uint8_t> in, std::uint8_t* out) {
    const std::uint8_t* p = in.data();
    const std::uint8_t* const end = p + in.size();
    std::uint8_t* o = out;
    while (p < end) {
        // Whole groups of four alphabet characters, the bulk of any body.
        if (count_ == 0) {
            while (end - p >= 4) {
                const std::uint8_t a = kB64[p[0]], b = kB64[p[1]], c = kB64[p[2]], d = kB64[p[3]];
                if ((a | b | c | d) & 0x80)
                    break;
                if (padded_) {
                    padded_ = false;
                    ++after_padding_;
                }
                const std::uint32_t v = (std::uint32_t{a} << 18) | (std::uint32_t{b} << 12) |
                                        (std::uint32_t{c} << 6) | d;
                o[0] = static_cast<std::uint8_t>(v >> 16);
                o[1] = static_cast<std::uint8_t>(v >> 8);
                o[2] = static_cast<std::uint8_t>(v);
                o += 3;
                p += 4;
            }
            if (p == end)
                break;
        }
        const std::uint8_t v = kB64[*p++];
        if (v < 64) {
            if (padded_) {
                padded_ = false;
                ++after_padding_;
            }
            acc_ = (acc_ << 6) | v;
            if (++count_ == 4) {
                o[0] = static_cast<std::uint8_t>(acc_ >> 16);
                o[1] = static_cast<std::uint8_t>(acc_ >> 8);
                o[2] = static_cast<std::uint8_t>(acc_);
                o += 3;
                acc_ = 0;
                count_ = 0;
            }
        } else if (v == kB64Pad) {
            // RFC 2045 6.8: "=" pads the last group; it yields what it holds.
            o += finish(o);
            padded_ = true;
        } else if (v == kB64Junk) {
            ++bad_chars_;
        }
    }
    return static_cast<std::size_t>(o - out);
}

std::size_t Base64Decoder::finish(std::uint8_t* out) {
    std::size_t n = 0;
    if (count_ == 2) {
        out[0] = static_cast<std::uint8_t>(acc_ >> 4);
        n = 1;
    } else if (count_ == 3) {
        out[0] = static_cast<std::uint8_t>(acc_ >> 10);
        out[1] = static_cast<std::uint8_t>(acc_ >> 2);
        n = 2;
    } else if (count_ == 1) {
        ++truncated_; // 6 bits make no octet
    }
    acc_ = 0;
    count_ = 0;
    return n;
}

// ---------------------------------------------------------------- quoted-printable

std::size_t QpDecoder::flush_pending(std::uint8_t* out) {
    const std::size_t n = pending_n_;
    std::memcpy(out, pending_, n);
    pending_n_ = 0;
    return n;
}

std::size_t QpDecoder::decode(std::span<const std::uint8_t> in, std::uint8_t* out) {
    const std::uint8_t* p = in.data();
    const std::uint8_t* const end = p + in.size();
    std::uint8_t* o = out;
    while (p < end) {
        switch (state_) {
        case State::text: {
            if (pending_n_ == 0) {
                const std::uint8_t* run = p;
                while (p < end && kQpPlain[*p])
                    ++p;
                std::memcpy(o, run, static_cast<std::size_t>(p - run));
                o += p - run;
                if (p == end)
                    break;
            }
            const std::uint8_t c = *p++;
            if (c == ' ' || c == '\t') {
                if (pending_n_ == kMaxPendingSpace)
                    o += flush_pending(o); // too long to be transport padding
                pending_[pending_n_++] = c;
            } else if (c == '\r' || c == '\n') {
                pending_n_ = 0; // RFC 2045 6.7 (3): trailing white space is deleted
                *o++ = c;
            } else if (c == '=') {
                o += flush_pending(o);
                state_ = State::eq;
            } else {
                o += flush_pending(o);
                *o++ = c;
            }
            break;
        }
        case State::eq: {
            const std::uint8_t c = *p;
            if (hex_value(c) >= 0) {
                hex_ = c;
                state_ = State::eq_hex;
                ++p;
            } else if (c == ' ' || c == '\t') {
                pending_[pending_n_++] = c; // maybe padding before a soft break
                state_ = State::eq_space;
                ++p;
            } else if (c == '\r') {
                state_ = State::eq_cr;
                ++p;
            } else if (c == '\n') {
                state_ = State::text; // RFC 2045 6.7 (5): soft line break
                ++p;
            } else {
                *o++ = '='; // not an escape: literal, c is read again as text
                ++bad_escapes_;
                state_ = State::text;
            }
            break;
        }
        case State::eq_hex: {
            const std::uint8_t c = *p;
            const int lo = hex_value(c);
            if (lo >= 0) {
                *o++ = static_cast<std::uint8_t>((hex_value(hex_) << 4) | lo);
                ++p;
            } else {
                *o++ = '=';
                *o++ = hex_;
                ++bad_escapes_;
            }
            state_ = State::text;
            break;
        }
        case State::eq_space: {
            const std::uint8_t c = *p;
            if ((c == ' ' || c == '\t') && pending_n_ < kMaxPendingSpace) {
                pending_[pending_n_++] = c;
                ++p;
            } else if (c == '\r') {
                pending_n_ = 0;
                state_ = State::eq_cr;
                ++p;
            } else if (c == '\n') {
                pending_n_ = 0;
                state_ = State::text;
                ++p;
            } else {
                // "=" then blanks then text: the "=" is literal, the blanks
                // stay pending as ordinary text blanks.
                *o++ = '=';
                ++bad_escapes_;
                state_ = State::text;
            }
            break;
        }
        case State::eq_cr:
            if (*p == '\n')
                ++p;
            state_ = State::text;
            break;
        }
    }
    return static_cast<std::size_t>(o - out);
}

std::size_t QpDecoder::finish(std::uint8_t* out) {
    std::size_t n = 0;
    if (state_ == State::eq_hex) {
        out[0] = '=';
        out[1] = hex_;
        n = 2;
        ++bad_escapes_;
    }
    // text: pending blanks end the body's last line (deleted); eq, eq_space,
    // eq_cr: a soft break at the end of the body.
    pending_n_ = 0;
    state_ = State::text;
    return n;
}

// ---------------------------------------------------------------- uuencode

bool parse_uu_begin(std::string_view line, std::string_view* name) {
    line = trim_blanks_right(line);
    if (line.size() < 9 || line.substr(0, 6) != "begin ")
        return false;
    std::size_t i = 6;
    std::size_t digits = 0;
    while (i < line.size() && line[i] >= '0' && line[i] <= '7' && digits < 5) {
        ++i;
        ++digits;
    }
    if (digits == 0 || digits > 4 || i >= line.size() || line[i] != ' ')
        return false;
    while (i < line.size() && line[i] == ' ')
        ++i;
    if (i >= line.size())
        return false;
    if (name)
        *name = line.substr(i);
    return true;
}

bool is_uu_end(std::string_view line) {
    return trim_blanks_right(line) == "end";
}

int decode_uu_line(std::string_view line, std::uint8_t* out) {
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
    if (line.empty())
        return 0;
    for (char ch : line) {
        const auto c = static_cast<std::uint8_t>(ch);
        if (c < 0x20 || c > 0x60)
            return -1;
    }
    const auto sextet = [](char ch) { return static_cast<std::uint32_t>((ch - 0x20) & 0x3f); };
    const std::size_t n = sextet(line[0]);
    const std::string_view data = line.substr(1);
    // n octets need ceil(4n/3) characters; the rest of the last group may
    // be trailing spaces an encoder or a relay stripped.
    if (data.size() < (4 * n + 2) / 3)
        return -1;
    std::size_t o = 0;
    for (std::size_t i = 0; o < n; i += 4) {
        std::uint32_t v = 0;
        for (std::size_t k = 0; k < 4; ++k)
            v = (v << 6) | (i + k < data.size() ? sextet(data[i + k]) : 0);
        for (int shift = 16; shift >= 0 && o < n; shift -= 8)
            out[o++] = static_cast<std::uint8_t>(v >> shift);
    }
    return static_cast<int>(n);
}

std::size_t UuDecoder::line(std::uint8_t* out) {
    const std::string_view text(line_, line_n_);
    const bool overflow = overflow_;
    line_n_ = 0;
    overflow_ = false;
    switch (state_) {
    case State::before_begin:
        if (!overflow && parse_uu_begin(text, nullptr))
            state_ = State::data;
        return 0;
    case State::data: {
        if (!overflow && is_uu_end(text)) {
            state_ = State::done;
            return 0;
        }
        const int n = overflow ? -1 : decode_uu_line(text, out);
        if (n < 0) {
            ++bad_lines_;
            state_ = State::done;
            return 0;
        }
        if (n == 0)
            state_ = State::after_zero;
        return static_cast<std::size_t>(n);
    }
    case State::after_zero:
        if (overflow || !is_uu_end(text))
            ++bad_lines_;
        state_ = State::done;
        return 0;
    case State::done:
        return 0;
    }
    return 0;
}

std::size_t UuDecoder::decode(std::span<const std::uint8_t> in, std::uint8_t* out) {
    const auto* p = reinterpret_cast<const char*>(in.data());
    const char* const end = p + in.size();
    std::uint8_t* o = out;
    while (p < end) {
        if (state_ == State::done)
            break;
        const auto* lf =
            static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
        const char* stop = lf ? lf : end;
        const auto take = static_cast<std::size_t>(stop - p);
        const std::size_t room = kMaxLine - line_n_;
        if (take > room)
            overflow_ = true;
        const std::size_t keep = take < room ? take : room;
        std::memcpy(line_ + line_n_, p, keep);
        line_n_ = static_cast<std::uint16_t>(line_n_ + keep);
        p = stop;
        if (lf) {
            o += line(o);
            ++p;
        }
    }
    return static_cast<std::size_t>(o - out);
}

std::size_t UuDecoder::finish(std::uint8_t* out) {
    std::size_t n = 0;
    if (line_n_ > 0 || overflow_)
        n = line(out);
    return n;
}

} // namespace smtpgw::mime
