// syslog_sink.cc: SMTP log lines to a syslog socket (see header).
#include "syslog_sink.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

namespace smtpgw::control {

std::string syslog_datagram(std::string_view line, std::int64_t unix_seconds, int pid) {
    // <PRI> = facility mail (2) * 8 + severity info (6).
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm);
    std::string d = "<22>";
    d += stamp;
    d += " smtpgw[" + std::to_string(pid) + "]: ";
    d += line;
    return d;
}

SyslogSink::~SyslogSink() {
    if (fd_ >= 0)
        ::close(fd_);
}

void SyslogSink::set_target(const std::string& socket_path) {
    if (socket_path == path_)
        return;
    path_ = socket_path;
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

bool SyslogSink::connect() {
    if (fd_ >= 0)
        return true;
    if (path_.empty() || path_.size() >= sizeof(sockaddr_un::sun_path))
        return false;
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0)
        return false;
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path_.data(), path_.size());
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd_);
        fd_ = -1;
        return false;
    }
    return true;
}

void SyslogSink::send(std::string_view line, std::int64_t unix_seconds) {
    if (path_.empty())
        return;
    if (!connect()) {
        ++dropped_;
        return;
    }
    std::string d = syslog_datagram(line, unix_seconds, static_cast<int>(::getpid()));
    if (::send(fd_, d.data(), d.size(), MSG_NOSIGNAL) < 0) {
        ++dropped_;
        ::close(fd_); // the daemon may have restarted: reconnect next time
        fd_ = -1;
    }
}

} // namespace smtpgw::control
