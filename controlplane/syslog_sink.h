// syslog_sink.h: the mail log to a syslog daemon (smtp.log_syslog), the way
// mail administrators collect Postfix's: facility mail, one datagram per
// line, on a Unix socket (/dev/log on a real box).
//
// Purpose: the control thread's writer for SMTP log lines besides the log
// file. It speaks the local syslog protocol itself (RFC 3164 framing, as
// glibc's syslog() does) instead of calling syslog(3), so the socket is a
// setting and a test can listen on its own.
// Security: a missing or full syslog socket never blocks the control
// thread (non-blocking sends); lines that could not go are counted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace smtpgw::control {

class SyslogSink {
  public:
    SyslogSink() = default;
    ~SyslogSink();
    SyslogSink(const SyslogSink&) = delete;
    SyslogSink& operator=(const SyslogSink&) = delete;

    // Targets `socket_path` ("" : off). Reconnects lazily when it changes or
    // after a failure.
    void set_target(const std::string& socket_path);
    const std::string& target() const { return path_; }
    // Sends "<22>Mmm dd hh:mm:ss smtpgw[pid]: line" (facility mail, info).
    void send(std::string_view line, std::int64_t unix_seconds);
    std::uint64_t dropped() const { return dropped_; }

  private:
    bool connect();
    std::string path_;
    int fd_ = -1;
    std::uint64_t dropped_ = 0;
};

// The RFC 3164 datagram for `line` (facility mail, severity info): pure, for tests.
std::string syslog_datagram(std::string_view line, std::int64_t unix_seconds, int pid);

} // namespace smtpgw::control
