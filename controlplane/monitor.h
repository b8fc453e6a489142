// monitor.h: the live view (`monitor` on the console): the gateway's
// headline figures, sampled once a second, with text graphs of the last
// minutes.
//
// Purpose: what an administrator watches at 3 a.m. over a serial line:
// connections, messages per second, drops per second, SYNs refused, each
// with a small graph, on one 80x24 screen of plain ASCII (VT100, no
// colours). The gateway keeps the history (so the graphs are full as soon
// as the view opens); the console only redraws the screen it is sent.
// Pure: samples and a time in, text out; no clock or I/O.
// Security: memory is fixed (kMonitorSeconds samples of a fixed set of
// series); a counter that goes backwards (a restart of its owner) counts as
// no events rather than a huge rate.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace smtpgw::control {

// The series the view shows. Counters are turned into rates per second;
// gauges are shown as they are.
enum class MonitorSeries : std::uint8_t {
    connections,     // gauge: TCP connections on every lcore
    sessions,        // gauge: SMTP sessions open
    messages_sent,   // counter: the LAN server accepted
    messages_refused, // counter: rejected or deferred
    drops,           // counter: frames dropped, every reason
    syns_refused,    // counter: SYNs refused by the peer filter (listed or over a limit)
    rx_packets,      // counter: frames received on every port
    count_
};
inline constexpr std::size_t kMonitorSeriesCount = static_cast<std::size_t>(MonitorSeries::count_);
// Ten minutes of history: the graphs' span.
inline constexpr std::size_t kMonitorSeconds = 600;

struct MonitorSample {
    std::uint64_t second = 0; // monotonic seconds
    std::array<std::uint64_t, kMonitorSeriesCount> values{};
};

class MonitorHistory {
  public:
    // Records one sample; samples must come in increasing `second` (a
    // second sampled twice keeps the last).
    void add(const MonitorSample& s);
    std::size_t size() const { return count_; }
    // The i-th sample, 0 the oldest kept.
    const MonitorSample& at(std::size_t i) const {
        return ring_[(head_ + kMonitorSeconds - count_ + i) % kMonitorSeconds];
    }

  private:
    std::array<MonitorSample, kMonitorSeconds> ring_{};
    std::size_t head_ = 0, count_ = 0; // head_: where the next sample goes
};

// The rate of a counter series between samples a and b (events per second;
// 0 when the counter went backwards or no time passed).
double monitor_rate(const MonitorSample& a, const MonitorSample& b, MonitorSeries s);

// The whole screen: a title line (`title` plus the hint to quit), the
// current figures, and a graph per headline series over the history,
// `width` columns wide (at least 40), fitting 24 rows.
std::string render_monitor(const MonitorHistory& h, std::string_view title, int width = 80);

} // namespace smtpgw::control
