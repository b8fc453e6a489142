// smtp_data_decoder.cc: the DATA stream decoder (see smtp_data_decoder.h).
#include "smtp/smtp_data_decoder.h"

namespace smtpgw::smtp {

void DataDecoder::reset(const DataDecoderConfig& config) {
    config_ = config;
    // RFC 5321 4.1.1.4: the DATA command's own CRLF counts as the first CRLF
    // of CRLF "." CRLF, so data begins at a real line start.
    state_ = State::line_start;
    defect_ = DataDefect::none;
    after_bare_ = false;
    line_len_ = 0;
    message_bytes_ = 0;
}

bool DataDecoder::emit(const char* p, std::size_t n, std::string& out) {
    if (n > config_.max_message_bytes - message_bytes_) {
        set_defect(DataDefect::too_big);
        return false;
    }
    out.append(p, n);
    message_bytes_ += n;
    return true;
}

DataDecoder::Result DataDecoder::decode(std::span<const std::uint8_t> in, std::string& out,
                                        std::size_t out_room) {
    const std::size_t base = out.size();
    const std::size_t n = in.size();
    const auto* bytes = reinterpret_cast<const char*>(in.data());
    // Longest line body: max_line_bytes less the CRLF.
    const std::size_t max_text = config_.max_line_bytes > 2 ? config_.max_line_bytes - 2 : 0;
    const bool normalize = config_.bare_newline == BareNewlinePolicy::normalize;
    std::size_t i = 0;
    // After a normalised bare CR has emitted its CRLF, the octet that
    // followed it is handled in the next step whatever the room left (at
    // least one octet of it: kMinOutRoom is CRLF plus one), so every call
    // with kMinOutRoom of room consumes something.
    bool follow_up = false;

    while (i < n && state_ != State::done) {
        const bool discarding = defect_ != DataDefect::none;
        const std::size_t used = out.size() - base;
        const std::size_t room = used < out_room ? out_room - used : 0;
        if (!discarding && !follow_up && room < kMinOutRoom)
            break;
        follow_up = false;
        const char c = bytes[i];

        switch (state_) {
        case State::dot:
            if (c == '\r') {
                state_ = State::dot_cr;
                ++i;
            } else if (c == '\n') {
                // "." LF: a lone dot ended by a bare LF.
                if (!discarding)
                    set_defect(DataDefect::smuggling);
                state_ = State::text;
                ++i;
            } else {
                // RFC 5321 4.5.2: a line starting with "." and holding more
                // loses the first "." (which still counts in line_len_).
                state_ = State::text;
                after_bare_ = false;
            }
            break;

        case State::dot_cr:
            if (c == '\n') {
                ++i;
                if (!discarding && after_bare_) {
                    // bare newline "." CRLF: a fake end of data (\n.\r\n).
                    set_defect(DataDefect::smuggling);
                    state_ = State::line_start; // that CRLF was real
                    after_bare_ = false;
                    break;
                }
                state_ = State::done; // RFC 5321 4.1.1.4: CRLF "." CRLF
                break;
            }
            // "." CR without LF: a lone dot ended by a bare CR (\r.\r).
            if (!discarding)
                set_defect(DataDefect::smuggling);
            state_ = State::text; // c is text of the discarded message
            break;

        case State::cr:
            if (c == '\n') {
                ++i;
                if (!discarding)
                    emit("\r\n", 2, out);
                state_ = State::line_start;
                after_bare_ = false;
                break;
            }
            // A bare CR (RFC 5321 2.3.8): c is not consumed here.
            if (!discarding && normalize) {
                emit("\r\n", 2, out);
                state_ = State::line_start;
                after_bare_ = true;
                follow_up = true;
                break;
            }
            if (!discarding)
                set_defect(DataDefect::bare_newline);
            state_ = State::text;
            break;

        case State::line_start:
            if (c == '.') {
                state_ = State::dot;
                line_len_ = 1;
                ++i;
                break;
            }
            state_ = State::text;
            after_bare_ = false;
            line_len_ = 0;
            [[fallthrough]]; // c is the line's first octet

        case State::text: {
            if (c == '\r') {
                state_ = State::cr;
                ++i;
                break;
            }
            if (c == '\n') {
                ++i;
                if (discarding)
                    break; // text of the discarded message
                if (normalize) {
                    emit("\r\n", 2, out);
                    state_ = State::line_start;
                    after_bare_ = true;
                } else {
                    set_defect(DataDefect::bare_newline);
                }
                break;
            }
            // A run of ordinary octets, copied at once (room >= 1 here).
            const std::size_t limit = discarding || room >= n - i ? n : i + room;
            std::size_t j = i;
            while (j < limit && bytes[j] != '\r' && bytes[j] != '\n')
                ++j;
            const std::size_t run = j - i;
            if (!discarding) {
                if (line_len_ + run > max_text)
                    set_defect(DataDefect::line_too_long);
                else
                    emit(bytes + i, run, out);
                line_len_ += run;
            }
            i = j;
            break;
        }

        case State::done:
            break;
        }
    }
    return Result{i, state_ == State::done};
}

} // namespace smtpgw::smtp
