// mime_transfer.h: streaming Content-Transfer-Encoding decoders.
//
// Purpose: undo base64, quoted-printable and uuencode on a part body that
// arrives in pieces of any size (down to one octet), with the same output
// whatever the split, so a scanner sees the bytes a mail client would save
// or display. Each decoder keeps a few octets of state between calls and
// never needs the whole body.
// RFCs: 2045 6.1 (encodings, 7bit when absent), 6.7 (quoted-printable: =XX
// escapes, soft line breaks, trailing white space deleted), 6.8 (base64:
// characters outside the alphabet ignored, "=" padding); uuencode is the
// POSIX uuencode format ("begin MODE NAME", length-prefixed lines, "`" or
// " " then "end").
// Security: decoders are tolerant like the mail clients they stand in for,
// so content cannot hide behind a sloppy encoding, and every tolerance is
// counted (junk base64 characters, data after padding, invalid "="
// escapes, bad uuencode lines) for the caller's verdict. Output per call is
// bounded by max_output() of the input size; no allocation after
// construction, no exceptions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace smtpgw::mime {

// -1 or the value of a hex digit (either case): quoted-printable (RFC 2045
// 6.7), RFC 2047 Q words and RFC 2231 %XX all use it.
constexpr int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

// RFC 2045 6.1. `uuencode` is the x-uuencode family (x-uuencode, x-uue,
// uuencode, uue); `unknown` is any other token: passed through as is.
enum class TransferEncoding : std::uint8_t {
    seven_bit,
    eight_bit,
    binary,
    base64,
    quoted_printable,
    uuencode,
    unknown,
};

// "7bit", "base64", ... ("unknown" for unknown).
const char* transfer_encoding_name(TransferEncoding e);

// True for 7bit, 8bit and binary: the body is the content.
inline bool is_identity(TransferEncoding e) {
    return e == TransferEncoding::seven_bit || e == TransferEncoding::eight_bit ||
           e == TransferEncoding::binary;
}

// RFC 2045 6.8, tolerant: CR, LF, SP and HT are skipped silently; other
// characters outside the alphabet are skipped and counted; "=" ends a
// group (a group of 2 or 3 characters yields 1 or 2 octets, so missing
// padding is harmless). Alphabet characters after the padding start a new
// group and are counted: some clients decode concatenated base64 and the
// content after the "=" must not go unseen.
class Base64Decoder {
  public:
    // Output octets a decode() of n input octets can write at most.
    static constexpr std::size_t max_output(std::size_t n) { return (n + 3) / 4 * 3; }
    // finish() writes at most this.
    static constexpr std::size_t kMaxFinishOutput = 2;

    void reset() { *this = Base64Decoder{}; }
    // Decodes `in` into `out` (room for max_output(in.size())); returns the
    // octets written.
    std::size_t decode(std::span<const std::uint8_t> in, std::uint8_t* out);
    // End of the body: a pending group of 2 or 3 characters yields its
    // octets; a lone character is dropped and counted as truncated.
    std::size_t finish(std::uint8_t* out);

    std::uint64_t bad_chars() const { return bad_chars_; }         // junk skipped
    std::uint64_t after_padding() const { return after_padding_; } // groups after "="
    std::uint32_t truncated() const { return truncated_; }         // a dangling character

  private:
    std::uint32_t acc_ = 0; // sextets of the current group, high first
    std::uint8_t count_ = 0;
    bool padded_ = false; // an "=" was seen; the next alphabet character restarts
    std::uint64_t bad_chars_ = 0;
    std::uint64_t after_padding_ = 0;
    std::uint32_t truncated_ = 0;
};

// RFC 2045 6.7, tolerant: "=XX" with upper or lower case hex is an octet;
// "=" then optional SP/HT then CRLF (or a bare LF or CR) is a soft line
// break; any other "=" sequence is passed through literally and counted.
// Trailing SP/HT before a line end are deleted (rule 3); line ends are
// passed through as received. A "=" at the very end of the body is a soft
// break: the CRLF before a boundary belongs to the boundary (RFC 2046 5.1.1).
class QpDecoder {
  public:
    // A run of SP/HT longer than this is content, whatever follows it
    // (it bounds the state kept between calls).
    static constexpr std::size_t kMaxPendingSpace = 256;
    static constexpr std::size_t max_output(std::size_t n) { return n + kMaxPendingSpace + 2; }
    static constexpr std::size_t kMaxFinishOutput = 2;

    void reset() { *this = QpDecoder{}; }
    std::size_t decode(std::span<const std::uint8_t> in, std::uint8_t* out);
    std::size_t finish(std::uint8_t* out);

    std::uint64_t bad_escapes() const { return bad_escapes_; }

  private:
    enum class State : std::uint8_t {
        text,
        eq,       // "="
        eq_hex,   // "=" and one hex digit (hex_)
        eq_space, // "=" and SP/HT (in pending_)
        eq_cr,    // "=" [SP/HT] CR: a soft break, an LF may follow
    };
    std::size_t flush_pending(std::uint8_t* out);

    State state_ = State::text;
    std::uint8_t hex_ = 0;
    std::uint16_t pending_n_ = 0;
    std::uint8_t pending_[kMaxPendingSpace] = {};
    std::uint64_t bad_escapes_ = 0;
};

// Uuencode lines. A "begin" line is "begin" SP MODE SP NAME with MODE 1 to 4
// octal digits and NAME the rest of the line less trailing blanks (not
// empty). `line` has no line end.
bool parse_uu_begin(std::string_view line, std::string_view* name);
// True for "end" (trailing blanks allowed).
bool is_uu_end(std::string_view line);
// Largest output of decode_uu_line().
inline constexpr std::size_t kMaxUuLineOutput = 63;
// Decodes one data line into `out` (kMaxUuLineOutput room): the first
// character gives the octet count, each 4 characters give 3 octets ("`"
// and " " are 0). Returns the octet count (0 for the empty or zero-length
// line that ends the data), or -1 when the line is not uuencode (a
// character outside " ".."`", or too short for its count; trailing spaces
// some encoders strip are allowed to be missing).
int decode_uu_line(std::string_view line, std::uint8_t* out);

// A whole body in uuencode (Content-Transfer-Encoding: x-uuencode): lines
// before "begin" and after "end" are ignored; a data line that is not
// uuencode ends the data (counted).
class UuDecoder {
  public:
    // Longer lines are not uuencode (real ones are 61 characters).
    static constexpr std::size_t kMaxLine = 1024;
    static constexpr std::size_t max_output(std::size_t n) { return n + kMaxUuLineOutput; }
    static constexpr std::size_t kMaxFinishOutput = kMaxUuLineOutput;

    void reset() { *this = UuDecoder{}; }
    std::size_t decode(std::span<const std::uint8_t> in, std::uint8_t* out);
    std::size_t finish(std::uint8_t* out);

    bool saw_begin() const { return state_ != State::before_begin; }
    bool missing_end() const { return state_ == State::data || state_ == State::after_zero; }
    std::uint32_t bad_lines() const { return bad_lines_; }

  private:
    enum class State : std::uint8_t { before_begin, data, after_zero, done };
    std::size_t line(std::uint8_t* out);

    State state_ = State::before_begin;
    bool overflow_ = false;
    std::uint16_t line_n_ = 0;
    std::uint32_t bad_lines_ = 0;
    char line_[kMaxLine] = {};
};

} // namespace smtpgw::mime
