// control_protocol.cc: control socket framing (see header).
#include "control_protocol.h"

#include <charconv>

namespace smtpgw::control {

std::string encode_request(std::string_view command) {
    return std::to_string(command.size()) + "\n" + std::string(command);
}

std::string encode_response(bool ok, std::string_view text) {
    return std::string(ok ? "ok " : "err ") + std::to_string(text.size()) + "\n" +
           std::string(text);
}

std::string encode_progress(std::string_view text) {
    return "progress " + std::to_string(text.size()) + "\n" + std::string(text);
}

void FrameDecoder::feed(std::string_view bytes) {
    if (failed())
        return;
    buffer_.append(bytes);
}

std::optional<Frame> FrameDecoder::next() {
    if (failed())
        return std::nullopt;
    auto nl = buffer_.find('\n');
    constexpr std::size_t max_header = 24; // "progress 16777216" with room to spare
    if (nl == std::string::npos) {
        if (buffer_.size() > max_header)
            error_ = "control frame header too long";
        return std::nullopt;
    }
    if (nl > max_header) {
        error_ = "control frame header too long";
        return std::nullopt;
    }
    std::string_view header(buffer_.data(), nl);
    Frame f;
    if (responses_) {
        if (header.starts_with("ok ")) {
            header.remove_prefix(3);
        } else if (header.starts_with("err ")) {
            f.ok = false;
            header.remove_prefix(4);
        } else if (header.starts_with("progress ")) {
            f.progress = true;
            header.remove_prefix(9);
        } else {
            error_ = "control response without ok/err/progress";
            return std::nullopt;
        }
    }
    std::size_t len = 0;
    auto [p, ec] = std::from_chars(header.data(), header.data() + header.size(), len);
    if (ec != std::errc{} || p != header.data() + header.size() || header.empty()) {
        error_ = "control frame length is not a number";
        return std::nullopt;
    }
    if (len > kMaxFrameBytes) {
        error_ = "control frame larger than the limit";
        return std::nullopt;
    }
    if (buffer_.size() - nl - 1 < len)
        return std::nullopt;
    f.payload = buffer_.substr(nl + 1, len);
    buffer_.erase(0, nl + 1 + len);
    return f;
}

} // namespace smtpgw::control
