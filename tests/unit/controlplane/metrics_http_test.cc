// metrics_http_test.cc: unit tests of controlplane/metrics_http.{h,cc} over
// real loopback sockets: GET /metrics gets the rendered body with the
// Prometheus content type; 404, 405, 400; a request sent a byte at a time
// still works; an oversized one is refused; a non-loopback address is
// refused without allow_non_loopback.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "metrics_http.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw::control;

namespace {

// Sends `request` (in pieces of `step` octets), runs the server until the
// answer is complete, returns it.
std::string exchange(MetricsHttp& m, const std::string& request, std::size_t step = 0) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(m.port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        return "(connect failed)";
    std::uint64_t now = 1000;
    m.poll_once(10, now); // accept
    for (std::size_t off = 0; off < request.size();) {
        std::size_t n = step ? std::min(step, request.size() - off) : request.size() - off;
        if (send(fd, request.data() + off, n, MSG_NOSIGNAL) < 0)
            break;
        off += n;
        m.poll_once(5, ++now);
    }
    std::string out;
    for (int i = 0; i < 200; ++i) {
        m.poll_once(5, ++now);
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0)
            out.append(buf, static_cast<std::size_t>(n));
        else if (n == 0)
            break;
    }
    close(fd);
    return out;
}

} // namespace

TEST_GROUP(MetricsHttp){};

TEST(MetricsHttp, AnswersEachRequestLikeAPrometheusTarget) {
    MetricsHttp m("127.0.0.1:0", false, [] { return std::string("smtpgw_up 1\n"); });
    STRCMP_EQUAL("", m.start().c_str());
    struct Case {
        const char* request;
        std::size_t step;
        const char* status;
        bool body;
    };
    const Case cases[] = {
        {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 0, "HTTP/1.1 200 OK", true},
        {"GET /metrics?x=1 HTTP/1.0\r\n\r\n", 0, "HTTP/1.1 200 OK", true},
        {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 1, "HTTP/1.1 200 OK", true}, // byte by byte
        {"GET / HTTP/1.1\r\n\r\n", 0, "HTTP/1.1 404", false},
        {"POST /metrics HTTP/1.1\r\n\r\n", 0, "HTTP/1.1 405", false},
        {"garbage\r\n\r\n", 0, "HTTP/1.1 400", false},
    };
    for (const auto& c : cases) {
        std::string r = exchange(m, c.request, c.step);
        CHECK_TEXT(r.starts_with(c.status), (std::string(c.request) + " -> " + r).c_str());
        CHECK_EQUAL_TEXT(c.body, r.find("smtpgw_up 1\n") != std::string::npos, c.request);
        if (c.body)
            CHECK_TRUE(r.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
    }
    std::string big = "GET /metrics HTTP/1.1\r\nX: " + std::string(kMaxRequestBytes + 100, 'a');
    CHECK_TRUE(exchange(m, big).starts_with("HTTP/1.1 431"));
}

TEST(MetricsHttp, ANonLoopbackAddressNeedsTheBoardsConsent) {
    MetricsHttp refused("198.51.100.1:9101", false, [] { return std::string(); });
    CHECK_TRUE(refused.start().find("not a loopback address") != std::string::npos);
    MetricsHttp bad("nonsense", false, [] { return std::string(); });
    CHECK_FALSE(bad.start().empty());
    MetricsHttp v6("[::1]:0", false, [] { return std::string(); });
    STRCMP_EQUAL("", v6.start().c_str());
}
