// syslog_sink_test.cc: unit tests of controlplane/syslog_sink.{h,cc}: the
// RFC 3164 datagram (facility mail, severity info), delivery to a real Unix
// datagram socket, and counted drops when no syslog daemon listens.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "syslog_sink.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw::control;

TEST_GROUP(SyslogSink){};

TEST(SyslogSink, DatagramsAreMailInfoWithTimeAndPid) {
    struct Case {
        std::int64_t t;
        const char* expect;
    };
    const Case cases[] = {
        {0, "<22>Jan  1 00:00:00 smtpgw[42]: id=1 status=sent"},
        {1795493441, "<22>Nov 24 04:10:41 smtpgw[42]: id=1 status=sent"},
    };
    for (const auto& c : cases)
        STRCMP_EQUAL(c.expect, syslog_datagram("id=1 status=sent", c.t, 42).c_str());
}

TEST(SyslogSink, LinesReachTheSocketAndMissingDaemonsAreCounted) {
    std::string path = "/tmp/smtpgw-syslog-test-" + std::to_string(getpid());
    unlink(path.c_str());
    SyslogSink sink;
    sink.set_target(path);
    sink.send("before the daemon", 0); // nobody listens yet
    CHECK_EQUAL(1u, sink.dropped());
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.data(), path.size());
    CHECK_EQUAL(0, bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a));
    sink.send("id=2 status=sent", 1795493441);
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    CHECK_TRUE(n > 0);
    std::string got(buf, static_cast<std::size_t>(n > 0 ? n : 0));
    CHECK_TRUE(got.starts_with("<22>Nov 24 04:10:41 smtpgw["));
    CHECK_TRUE(got.ends_with("]: id=2 status=sent"));
    CHECK_EQUAL(1u, sink.dropped());
    sink.set_target(""); // off: nothing sent, nothing counted
    sink.send("off", 0);
    CHECK_EQUAL(1u, sink.dropped());
    close(fd);
    unlink(path.c_str());
}
