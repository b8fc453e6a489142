// control_client.h: the CLI side of the control socket.
//
// Error contract: connect() returns an empty string or the reason;
// request() returns nullopt when the connection broke (reason in error()).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "control_protocol.h"

namespace smtpgw::control {

// Default socket path; overridden by $SMTPGW_CONTROL_SOCKET or `-s PATH`.
inline constexpr const char* kDefaultControlSocket = "/run/smtpgw/control.sock";

class ControlClient {
  public:
    ControlClient() = default;
    ~ControlClient();
    ControlClient(const ControlClient&) = delete;
    ControlClient& operator=(const ControlClient&) = delete;

    std::string connect(const std::string& path);
    // Sends one command and waits for its answer; progress notes that come
    // first go to `on_progress` (ignored when empty).
    std::optional<Frame> request(const std::string& command);
    void set_progress_handler(std::function<void(const std::string&)> on_progress) {
        on_progress_ = std::move(on_progress);
    }
    const std::string& error() const { return error_; }

  private:
    int fd_ = -1;
    FrameDecoder decoder_{true};
    std::string error_;
    std::function<void(const std::string&)> on_progress_;
};

} // namespace smtpgw::control
