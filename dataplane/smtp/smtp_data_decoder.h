// smtp_data_decoder.h: the DATA stream decoder (message text after 354).
//
// Purpose: turn the bytes a client sends after "354" into the message
// (dot-stuffing undone, every line ending in CRLF), find the one end of
// data, and report what makes the message unacceptable (bare newlines,
// smuggling attempts, over-long lines, over-size), streaming: input in any
// split, bounded output per call, no buffering of the message.
// RFCs: 5321 4.1.1.4 (the end of data is CRLF "." CRLF), 4.5.2
// (transparency: a line starting with "." loses that first "."), 2.3.8 and
// 4.1.1.4 (CR and LF only as CRLF), 4.5.3.1.6 (text lines of at most 1000
// octets including CRLF); 1870 (message size: the decoded octets, CRLFs
// counted, stuffing dots and the final "." not).
// Security (SMTP smuggling): the end of data is recognised only as CRLF "."
// CRLF where both CRLFs are real. A bare CR or LF is either a defect that
// rejects the message (BareNewlinePolicy::reject, the default) or becomes a
// CRLF (normalize); in both modes a line holding a lone "." that touches a
// bare CR or LF (\n.\n, \r.\r, \n.\r\n, \r\n.\n, \r\n.\r, \r.\r\n, ...) is a
// smuggling attempt no legitimate client produces, and rejects the message.
// So the output never holds a bare CR or LF, and no byte sequence a lenient
// LAN server could read as an end of data ever comes from a client's fake
// one. After any defect the decoder emits nothing more and only looks for
// the real end of data, bare CR/LF then counting as ordinary text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace smtpgw::smtp {

enum class BareNewlinePolicy : std::uint8_t {
    reject,    // a bare CR or LF rejects the message (554 5.6.0 at its end)
    normalize, // a bare CR or LF ends the line: it becomes CRLF
};

struct DataDecoderConfig {
    BareNewlinePolicy bare_newline = BareNewlinePolicy::reject;
    // RFC 5321 4.5.3.1.6: 1000 octets per text line, CRLF included (the
    // stuffing dot counts: it is on the wire). Longer lines get mangled by
    // relays further on, so the message is refused rather than passed on.
    std::size_t max_line_bytes = 1000;
    // Decoded octets (RFC 1870 size); more is a `too_big` defect.
    std::uint64_t max_message_bytes = UINT64_MAX;
};

enum class DataDefect : std::uint8_t {
    none,
    bare_newline,  // a bare CR or LF (reject policy)
    smuggling,     // a lone "." line touching a bare CR or LF (either policy)
    line_too_long, // a line over max_line_bytes
    too_big,       // the message passed max_message_bytes
};

class DataDecoder {
  public:
    // decode() consumes at least one octet whenever the output room is at
    // least this (a normalised bare CR's CRLF plus the octet after it).
    static constexpr std::size_t kMinOutRoom = 3;

    explicit DataDecoder(const DataDecoderConfig& config = {}) { reset(config); }
    // Ready for a new message, positioned just after the DATA command's CRLF
    // (so an immediate ".\r\n" is an empty message).
    void reset(const DataDecoderConfig& config);

    struct Result {
        std::size_t consumed = 0; // input octets used; the rest follows the end of data
        bool finished = false;    // the end of data was consumed
    };
    // Decodes `in`, appending at most `out_room` octets of message to `out`.
    // Stops at the end of data (the octets after it are not consumed: they
    // are the next command), at the end of `in`, or when the room left is
    // below kMinOutRoom (consumed < in.size(): call again with more room).
    // Once defect() != none nothing more is appended and the room is not
    // needed. Calling after finished() consumes nothing.
    Result decode(std::span<const std::uint8_t> in, std::string& out, std::size_t out_room);

    bool finished() const { return state_ == State::done; }
    DataDefect defect() const { return defect_; }
    // Octets appended so far (the message size while defect() == none).
    std::uint64_t message_bytes() const { return message_bytes_; }

  private:
    enum class State : std::uint8_t {
        line_start, // after a CRLF (or a normalised bare newline)
        dot,        // a "." at the start of a line
        dot_cr,     // "." CR at the start of a line
        text,       // inside a line
        cr,         // a CR inside or at the end of a line
        done,       // the end of data was consumed
    };

    bool emit(const char* p, std::size_t n, std::string& out);
    void set_defect(DataDefect d) {
        if (defect_ == DataDefect::none)
            defect_ = d;
    }

    DataDecoderConfig config_;
    State state_ = State::line_start;
    DataDefect defect_ = DataDefect::none;
    bool after_bare_ = false;  // this line began at a normalised bare newline
    std::size_t line_len_ = 0; // octets of the current line so far, CRLF excluded
    std::uint64_t message_bytes_ = 0;
};

} // namespace smtpgw::smtp
