// smtp_body_encoder.h: the message body as the gateway writes it to the
// LAN server: dot-stuffed for DATA, or as it is for BDAT chunks, checked
// to be canonical either way.
//
// Purpose: a streaming encoder that takes the message in pieces cut
// anywhere (a line starting with '.' may be split between any two calls)
// and appends its wire form to a buffer; plus the BDAT command line.
// RFCs: 5321 4.5.2 (transparency: a line starting with '.' gets another
// '.'), 4.1.1.4 (the end of data is CRLF.CRLF; a body not ending in CRLF
// gets one), 2.3.8 (CR and LF only as CRLF), 3030 2 (BDAT n [LAST]: exact
// octet counts, no stuffing; BINARYMIME bodies are opaque).
// Security: input is expected canonical (CRLF lines): the server-side
// decoder makes it so. A bare CR or bare LF is refused, never passed on
// and never "repaired": a stray line end is how a message smuggles a
// second end-of-data past a filter ("smtp smuggling"). The encoder holds a
// CR back until the LF after it arrives, so it never writes a bare CR or
// LF, and after a refusal it writes nothing more. The caller must then
// abandon the message (for DATA: close without the final dot).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace smtpgw::smtp {

enum class BodyEncoding : std::uint8_t {
    dot_stuffed, // DATA: canonical lines, stuffed, ended with ".\r\n"
    chunked,     // BDAT with 7BIT/8BITMIME: canonical lines, unstuffed
    binary,      // BDAT with BODY=BINARYMIME (RFC 3030 3): bytes as they are
};

enum class EncodeStatus : std::uint8_t {
    ok,
    bare_cr, // a CR not followed by LF (also: the body ended on a CR)
    bare_lf, // an LF not preceded by CR
};

class BodyEncoder {
  public:
    explicit BodyEncoder(BodyEncoding e = BodyEncoding::dot_stuffed) : enc_(e) {}
    void reset(BodyEncoding e);

    // Appends the wire form of `in` to `out`. On a bare CR or LF returns
    // the refusal: the bytes before the offending one were appended (they
    // are canonical), nothing of it or after it, and every later call
    // returns the same refusal and appends nothing.
    EncodeStatus encode(std::span<const std::uint8_t> in, std::string& out);
    // Ends the body: appends CRLF if the text did not end with one (not for
    // binary, and not for an empty text), then ".\r\n" for dot_stuffed.
    // Refused (nothing appended) after an earlier refusal or when the body
    // ends on a held-back CR.
    EncodeStatus finish(std::string& out);

    EncodeStatus status() const { return status_; }
    // Body bytes accepted so far (before stuffing).
    std::uint64_t bytes_in() const { return bytes_in_; }

  private:
    BodyEncoding enc_;
    EncodeStatus status_ = EncodeStatus::ok;
    bool line_start_ = true; // next byte starts a line
    bool cr_ = false;        // a CR is held back, waiting for its LF
    std::uint64_t bytes_in_ = 0;
};

// RFC 3030 2: "BDAT <size>\r\n" or "BDAT <size> LAST\r\n", appended to out.
void append_bdat_command(std::string& out, std::uint64_t size, bool last);

} // namespace smtpgw::smtp
