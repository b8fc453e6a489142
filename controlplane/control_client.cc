// control_client.cc: blocking client for smtpgw-cli (see header).
#include "control_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace smtpgw::control {

ControlClient::~ControlClient() {
    if (fd_ >= 0)
        close(fd_);
}

std::string ControlClient::connect(const std::string& path) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path)
        return "control socket path too long";
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0)
        return std::strerror(errno);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
        return "cannot reach the gateway at " + path + ": " + std::strerror(errno) +
               " (is smtpgw running?)";
    timeval tv{30, 0}; // a command never takes longer; a hung daemon must not hang scripts
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return {};
}

std::optional<Frame> ControlClient::request(const std::string& command) {
    std::string out = encode_request(command);
    std::size_t off = 0;
    while (off < out.size()) {
        ssize_t n = write(fd_, out.data() + off, out.size() - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            error_ = std::string("write: ") + std::strerror(errno);
            return std::nullopt;
        }
        off += static_cast<std::size_t>(n);
    }
    char buf[65536];
    while (true) {
        if (auto f = decoder_.next()) {
            if (!f->progress)
                return f;
            if (on_progress_)
                on_progress_(f->payload);
            continue;
        }
        if (decoder_.failed()) {
            error_ = decoder_.error();
            return std::nullopt;
        }
        ssize_t n = read(fd_, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            error_ = n == 0 ? "the gateway closed the connection"
                            : std::string("read: ") + std::strerror(errno);
            return std::nullopt;
        }
        decoder_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    }
}

} // namespace smtpgw::control
