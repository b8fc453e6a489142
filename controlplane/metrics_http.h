// metrics_http.h: the metrics endpoint: HTTP/1.1 GET /metrics on a
// management address (the kernel's TCP, never the WAN port), answered with
// the Prometheus text format.
//
// Purpose: what Prometheus scrapes. Polled from the daemon's control loop
// (poll_once(0)); the body is rendered by a callback at each request, on
// the control thread.
// Security: listens on loopback unless the board says otherwise
// (allow_non_loopback): counters describe traffic and must not leak to the
// Internet. Bounded: kMaxClients at once (a scraper, a person with curl),
// kMaxRequestBytes per request (GET lines are short), kRequestTimeoutMs to
// send it (a slow client cannot hold a slot). Anything but a GET of
// /metrics gets 404/405/400, then the connection closes.
// Error contract: start() returns "" or the reason (address, bind).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace smtpgw::control {

inline constexpr std::size_t kMaxMetricsClients = 8;
inline constexpr std::size_t kMaxRequestBytes = 8192;
inline constexpr std::uint64_t kRequestTimeoutMs = 5000;

class MetricsHttp {
  public:
    // `listen`: "127.0.0.1:9101" or "[::1]:9101".
    MetricsHttp(std::string listen, bool allow_non_loopback, std::function<std::string()> render);
    ~MetricsHttp();
    MetricsHttp(const MetricsHttp&) = delete;
    MetricsHttp& operator=(const MetricsHttp&) = delete;

    std::string start();
    // Accepts, reads and answers what is ready; `now_ms` is a monotonic clock.
    void poll_once(int timeout_ms, std::uint64_t now_ms);
    std::uint16_t port() const { return port_; } // the bound port (listen port 0: chosen)
    std::uint64_t served() const { return served_; }

  private:
    struct Client {
        int fd;
        std::string in, out;
        std::uint64_t deadline_ms;
        bool answered = false;
    };
    void answer(Client& c);

    std::string listen_;
    bool allow_non_loopback_;
    std::function<std::string()> render_;
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::vector<Client> clients_;
    std::uint64_t served_ = 0;
};

// The HTTP response to one request head (pure, for tests): 200 with the body
// for "GET /metrics", else 404, 405 or 400.
std::string metrics_http_response(const std::string& request_head, const std::string& body);

} // namespace smtpgw::control
