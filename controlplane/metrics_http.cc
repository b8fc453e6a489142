// metrics_http.cc: the metrics endpoint (see header).
#include "metrics_http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace smtpgw::control {

namespace {

std::string status_response(const char* status, const char* text) {
    std::string body = std::string(text) + "\n";
    return std::string("HTTP/1.1 ") + status +
           "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

} // namespace

std::string metrics_http_response(const std::string& head, const std::string& body) {
    auto eol = head.find("\r\n");
    std::string line = head.substr(0, eol);
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
    if (sp1 == std::string::npos || sp2 == std::string::npos ||
        !line.substr(sp2 + 1).starts_with("HTTP/1."))
        return status_response("400 Bad Request", "bad request");
    std::string method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    auto query = target.find('?');
    std::string path = target.substr(0, query);
    if (path != "/metrics")
        return status_response("404 Not Found", "not found: the metrics are at /metrics");
    if (method != "GET" && method != "HEAD")
        return status_response("405 Method Not Allowed", "only GET");
    std::string out =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    if (method == "GET")
        out += body;
    return out;
}

MetricsHttp::MetricsHttp(std::string listen, bool allow_non_loopback,
                         std::function<std::string()> render)
    : listen_(std::move(listen)), allow_non_loopback_(allow_non_loopback),
      render_(std::move(render)) {}

MetricsHttp::~MetricsHttp() {
    for (auto& c : clients_)
        ::close(c.fd);
    if (fd_ >= 0)
        ::close(fd_);
}

std::string MetricsHttp::start() {
    auto colon = listen_.rfind(':');
    if (colon == std::string::npos)
        return "metrics.listen must be ADDRESS:PORT";
    std::string host = listen_.substr(0, colon);
    unsigned long port = std::strtoul(listen_.c_str() + colon + 1, nullptr, 10);
    if (port > 65535)
        return "metrics.listen: bad port";
    sockaddr_storage ss{};
    socklen_t len = 0;
    bool loopback = false;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(static_cast<std::uint16_t>(port));
        if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a->sin6_addr) != 1)
            return "metrics.listen: bad IPv6 address " + host;
        loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
        len = sizeof *a;
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(static_cast<std::uint16_t>(port));
        if (inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1)
            return "metrics.listen: bad IPv4 address " + host;
        loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
        len = sizeof *a;
    }
    if (!loopback && !allow_non_loopback_)
        return "metrics.listen " + listen_ +
               " is not a loopback address (metrics.allow_non_loopback = on to allow it)";
    fd_ = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0)
        return std::string("metrics socket: ") + std::strerror(errno);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd_, 16) != 0) {
        std::string why = std::strerror(errno);
        ::close(fd_);
        fd_ = -1;
        return "metrics.listen " + listen_ + ": " + why;
    }
    sockaddr_storage bound{};
    socklen_t blen = sizeof bound;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &blen);
    port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    return {};
}

void MetricsHttp::answer(Client& c) {
    c.out = metrics_http_response(c.in, c.in.starts_with("GET /metrics") ||
                                                c.in.starts_with("HEAD /metrics")
                                            ? render_()
                                            : std::string());
    c.answered = true;
    ++served_;
}

void MetricsHttp::poll_once(int timeout_ms, std::uint64_t now_ms) {
    if (fd_ < 0)
        return;
    std::vector<pollfd> fds{{fd_, POLLIN, 0}};
    for (auto& c : clients_)
        fds.push_back({c.fd, static_cast<short>(c.answered ? POLLOUT : POLLIN), 0});
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0)
        return;
    std::vector<Client> keep;
    for (std::size_t i = 0; i < clients_.size(); ++i) {
        Client& c = clients_[i];
        bool done = false;
        if (!c.answered && (fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) {
            char buf[2048];
            ssize_t n = ::read(c.fd, buf, sizeof buf);
            if (n <= 0) {
                done = n == 0 || (errno != EAGAIN && errno != EINTR);
            } else {
                c.in.append(buf, static_cast<std::size_t>(n));
                if (c.in.find("\r\n\r\n") != std::string::npos)
                    answer(c);
                else if (c.in.size() > kMaxRequestBytes) {
                    c.out = status_response("431 Request Header Fields Too Large", "too large");
                    c.answered = true;
                }
            }
        }
        if (c.answered && !c.out.empty()) {
            ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
            if (n > 0)
                c.out.erase(0, static_cast<std::size_t>(n));
            else if (n < 0 && errno != EAGAIN && errno != EINTR)
                done = true;
        }
        if (c.answered && c.out.empty())
            done = true;
        if (!c.answered && now_ms > c.deadline_ms)
            done = true; // too slow to ask
        if (done)
            ::close(c.fd);
        else
            keep.push_back(std::move(c));
    }
    clients_ = std::move(keep);
    if (fds[0].revents & POLLIN) {
        for (;;) {
            int cfd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (cfd < 0)
                break;
            if (clients_.size() >= kMaxMetricsClients) {
                ::close(cfd); // over the bound: the scraper retries
                continue;
            }
            clients_.push_back({cfd, {}, {}, now_ms + kRequestTimeoutMs, false});
        }
    }
}

} // namespace smtpgw::control
