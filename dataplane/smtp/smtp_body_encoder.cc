// smtp_body_encoder.cc: see smtp_body_encoder.h.
#include "smtp/smtp_body_encoder.h"

namespace smtpgw::smtp {

void BodyEncoder::reset(BodyEncoding e) {
    *this = BodyEncoder(e);
}

EncodeStatus BodyEncoder::encode(std::span<const std::uint8_t> in, std::string& out) {
    if (status_ != EncodeStatus::ok)
        return status_;
    if (enc_ == BodyEncoding::binary) {
        out.append(reinterpret_cast<const char*>(in.data()), in.size());
        bytes_in_ += in.size();
        return status_;
    }
    const bool stuff = enc_ == BodyEncoding::dot_stuffed;
    // Plain bytes are appended in runs; only CR, LF and a '.' at a line's
    // start need a decision.
    std::size_t run = 0; // start of the pending run of plain bytes
    auto flush = [&](std::size_t end) {
        out.append(reinterpret_cast<const char*>(in.data()) + run, end - run);
    };
    for (std::size_t i = 0; i < in.size(); ++i) {
        const std::uint8_t b = in[i];
        if (cr_) {
            // Only at i == 0: a CR held back at the end of the last call
            // (within a call a CRLF is written as a pair below).
            // RFC 5321 2.3.8: CR only as part of CRLF.
            if (b != '\n') {
                flush(i);
                status_ = EncodeStatus::bare_cr;
                bytes_in_ += i;
                return status_;
            }
            out.push_back('\r'); // the LF follows in the run
            cr_ = false;
            line_start_ = true;
            continue;
        }
        if (b == '\r') {
            flush(i);
            if (i + 1 == in.size()) {
                // Held until its LF arrives, so a bare CR is never written.
                cr_ = true;
                run = i + 1;
                break;
            }
            if (in[i + 1] != '\n') {
                status_ = EncodeStatus::bare_cr;
                bytes_in_ += i;
                return status_;
            }
            out.append("\r\n");
            run = i + 2;
            line_start_ = true;
            ++i;
            continue;
        }
        if (b == '\n') {
            flush(i);
            status_ = EncodeStatus::bare_lf;
            bytes_in_ += i;
            return status_;
        }
        if (line_start_) {
            line_start_ = false;
            // RFC 5321 4.5.2: a line starting with '.' gets one more.
            if (stuff && b == '.') {
                flush(i);
                out.push_back('.');
                run = i; // the original '.' follows in the run
            }
        }
    }
    flush(in.size());
    bytes_in_ += in.size();
    return status_;
}

EncodeStatus BodyEncoder::finish(std::string& out) {
    if (status_ != EncodeStatus::ok)
        return status_;
    if (cr_) {
        status_ = EncodeStatus::bare_cr;
        return status_;
    }
    if (enc_ == BodyEncoding::binary)
        return status_;
    // RFC 5321 4.1.1.4: the body ends with CRLF before the terminating
    // ".CRLF"; an empty body is just ".CRLF".
    if (!line_start_)
        out.append("\r\n");
    if (enc_ == BodyEncoding::dot_stuffed)
        out.append(".\r\n");
    line_start_ = true;
    return status_;
}

void append_bdat_command(std::string& out, std::uint64_t size, bool last) {
    out.append("BDAT ");
    out.append(std::to_string(size));
    if (last)
        out.append(" LAST");
    out.append("\r\n");
}

} // namespace smtpgw::smtp
