// control_client.h: the CLI side of the control socket.
//
// Error contract: connect() returns an empty string or the reason;
// request() returns nullopt when the connection broke (reason in error()).
#pragma once

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
    std::optional<Frame> request(const std::string& command);
    const std::string& error() const { return error_; }

  private:
    int fd_ = -1;
    FrameDecoder decoder_{true};
    std::string error_;
};

} // namespace smtpgw::control
