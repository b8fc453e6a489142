// control_protocol.h: framing of the control socket between smtpgw-cli and
// the daemon.
//
// Request:  "<length>\n<command line>"
// Response: "ok <length>\n<text>" or "err <length>\n<reason>", after any
//           number of "progress <length>\n<text>" frames while a long
//           command runs (loading a big list, compiling rules).
// Requests starting with "\x01complete " ask for tab-completion candidates
// (one per line) instead of running a command.
// Security: lengths are bounded by kMaxFrameBytes (a peer cannot make the
// daemon buffer without limit); a malformed header is an error and the
// connection is closed.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace smtpgw::control {

// Largest request or response body: a full `show config` or a long peer list
// result fits; anything bigger is an attack or a bug.
inline constexpr std::size_t kMaxFrameBytes = 16u << 20;
inline constexpr std::string_view kCompletePrefix = "\x01" "complete ";

std::string encode_request(std::string_view command);
std::string encode_response(bool ok, std::string_view text);
std::string encode_progress(std::string_view text);

struct Frame {
    bool ok = true;       // responses only
    std::string payload;
    bool progress = false; // a progress note; the answer is still to come
};

// Incremental decoder: feed bytes as they arrive (split anywhere), take
// frames out. Error contract: once failed() is true the stream is unusable
// and the connection must be closed; error() says why.
class FrameDecoder {
  public:
    explicit FrameDecoder(bool responses) : responses_(responses) {}

    void feed(std::string_view bytes);
    std::optional<Frame> next();
    bool failed() const { return !error_.empty(); }
    const std::string& error() const { return error_; }

  private:
    bool responses_;
    std::string buffer_;
    std::string error_;
};

} // namespace smtpgw::control
