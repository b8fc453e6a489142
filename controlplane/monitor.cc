// monitor.cc: the live view's history and screen (see header).
#include "monitor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

namespace smtpgw::control {

namespace {

constexpr int kGraphRows = 3;

std::uint64_t value(const MonitorSample& s, MonitorSeries series) {
    return s.values[static_cast<std::size_t>(series)];
}

bool is_gauge(MonitorSeries s) {
    return s == MonitorSeries::connections || s == MonitorSeries::sessions;
}

std::string fixed(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, v < 10 ? "%.1f" : "%.0f", v);
    return buf;
}

std::string pad(std::string s, std::size_t n) {
    if (s.size() < n)
        s.append(n - s.size(), ' ');
    return s;
}

// One value per column: the series over the history, each column the
// average of the seconds it covers (rates) or their maximum (gauges).
std::vector<double> columns(const MonitorHistory& h, MonitorSeries s, std::size_t width) {
    std::vector<double> out(width, 0.0);
    std::vector<unsigned> seconds(width, 0);
    if (h.size() < 2)
        return out;
    // Oldest on the left; the newest second is the rightmost column.
    std::size_t spans = h.size() - 1;
    double per_column = std::max(1.0, static_cast<double>(kMonitorSeconds - 1) /
                                          static_cast<double>(width));
    for (std::size_t i = 1; i <= spans; ++i) {
        double age = static_cast<double>(spans - i); // 0: the newest
        auto col = static_cast<std::ptrdiff_t>(width) - 1 -
                   static_cast<std::ptrdiff_t>(age / per_column);
        if (col < 0)
            continue;
        double v = is_gauge(s) ? static_cast<double>(value(h.at(i), s))
                               : monitor_rate(h.at(i - 1), h.at(i), s);
        auto c = static_cast<std::size_t>(col);
        out[c] = is_gauge(s) ? std::max(out[c], v) : out[c] + v;
        ++seconds[c];
    }
    if (!is_gauge(s))
        for (std::size_t c = 0; c < width; ++c)
            out[c] = seconds[c] != 0 ? out[c] / seconds[c] : 0.0;
    return out;
}

void graph(std::string& out, const MonitorHistory& h, MonitorSeries s, const char* name,
           std::size_t width) {
    auto cols = columns(h, s, width);
    double top = *std::max_element(cols.begin(), cols.end());
    std::string title = std::string(name) + ", last " + std::to_string(kMonitorSeconds / 60) +
                        " minutes (top " + fixed(top) + ")";
    out += title.substr(0, width) + "\n";
    for (int row = kGraphRows; row >= 1; --row) {
        std::string line;
        for (double v : cols) {
            // A bar reaches this row when it is above the row's floor; any
            // non-zero value shows at least on the bottom row.
            double level = top > 0 ? v / top * kGraphRows : 0;
            bool on = v > 0 && (row == 1 || level > row - 1);
            line.push_back(on ? '#' : (row == 1 ? '.' : ' '));
        }
        out += line + "\n";
    }
}

} // namespace

void MonitorHistory::add(const MonitorSample& s) {
    if (count_ != 0) {
        MonitorSample& last = ring_[(head_ + kMonitorSeconds - 1) % kMonitorSeconds];
        if (s.second <= last.second) {
            last = s;
            last.second = std::max(last.second, s.second);
            return;
        }
    }
    ring_[head_] = s;
    head_ = (head_ + 1) % kMonitorSeconds;
    count_ = std::min(count_ + 1, kMonitorSeconds);
}

double monitor_rate(const MonitorSample& a, const MonitorSample& b, MonitorSeries s) {
    if (b.second <= a.second || value(b, s) < value(a, s))
        return 0.0;
    return static_cast<double>(value(b, s) - value(a, s)) /
           static_cast<double>(b.second - a.second);
}

std::string render_monitor(const MonitorHistory& h, std::string_view title, int width) {
    std::size_t w = static_cast<std::size_t>(std::max(width, 40));
    std::string out = pad(std::string(title.substr(0, w - 12)), w - 12) + "(q to quit)\n";
    if (h.size() == 0)
        return out + "no sample yet\n";
    const MonitorSample& now = h.at(h.size() - 1);
    const MonitorSample& prev = h.at(h.size() >= 2 ? h.size() - 2 : 0);
    auto rate = [&](MonitorSeries s) { return fixed(monitor_rate(prev, now, s)); };
    auto total = [&](MonitorSeries s) { return std::to_string(value(now, s)); };
    out += "\n";
    // Three figures a line, in columns of a third of the width (cut to fit).
    std::size_t col = w / 3;
    auto row = [&](std::string a, std::string b, std::string c) {
        std::string line = pad(std::move(a), col) + pad(std::move(b), col) + c;
        out += line.substr(0, w) + "\n";
    };
    row("connections " + total(MonitorSeries::connections),
        "smtp sessions " + total(MonitorSeries::sessions),
        "rx frames/s " + rate(MonitorSeries::rx_packets));
    row("messages/s " + rate(MonitorSeries::messages_sent),
        "refused/s " + rate(MonitorSeries::messages_refused),
        "sent " + total(MonitorSeries::messages_sent));
    row("drops/s " + rate(MonitorSeries::drops),
        "SYNs refused/s " + rate(MonitorSeries::syns_refused),
        "drops " + total(MonitorSeries::drops));
    std::size_t gw = w - 1;
    graph(out, h, MonitorSeries::messages_sent, "messages/s", gw);
    graph(out, h, MonitorSeries::connections, "connections", gw);
    graph(out, h, MonitorSeries::drops, "drops/s", gw);
    graph(out, h, MonitorSeries::syns_refused, "SYNs refused/s", gw);
    return out;
}

} // namespace smtpgw::control
