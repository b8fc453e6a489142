// monitor_test.cc: unit tests of controlplane/monitor.{h,cc}: rates from
// counters (including a counter that went backwards), the history ring's
// bound and order, and a screen that fits 80x24 (or the width asked) with
// bars where the traffic was.
#include <string>
#include <vector>

#include "monitor.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw::control;

namespace {

MonitorSample sample(std::uint64_t second, std::uint64_t sent, std::uint64_t connections = 0) {
    MonitorSample s;
    s.second = second;
    s.values[static_cast<std::size_t>(MonitorSeries::messages_sent)] = sent;
    s.values[static_cast<std::size_t>(MonitorSeries::connections)] = connections;
    return s;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
        auto nl = text.find('\n', start);
        out.push_back(text.substr(start, nl - start));
        start = nl == std::string::npos ? text.size() : nl + 1;
    }
    return out;
}

} // namespace

TEST_GROUP(Monitor){};

TEST(Monitor, RatesComeFromCounterDifferencesOverTime) {
    struct Case {
        std::uint64_t t0, v0, t1, v1;
        double rate;
    };
    const Case cases[] = {
        {10, 100, 11, 150, 50.0}, {10, 100, 12, 150, 25.0}, {10, 100, 11, 100, 0.0},
        {10, 100, 11, 40, 0.0},  // went backwards: an owner restarted, not a huge rate
        {10, 100, 10, 200, 0.0}, // no time passed
    };
    for (const auto& c : cases)
        DOUBLES_EQUAL(c.rate,
                      monitor_rate(sample(c.t0, c.v0), sample(c.t1, c.v1),
                                   MonitorSeries::messages_sent),
                      1e-9);
}

TEST(Monitor, TheHistoryKeepsTheLastTenMinutesInOrder) {
    MonitorHistory h;
    for (std::uint64_t t = 1; t <= kMonitorSeconds + 50; ++t)
        h.add(sample(t, t * 2));
    CHECK_EQUAL(kMonitorSeconds, h.size());
    CHECK_EQUAL(51u, h.at(0).second);
    CHECK_EQUAL(kMonitorSeconds + 50, h.at(h.size() - 1).second);
    for (std::size_t i = 1; i < h.size(); ++i)
        CHECK_EQUAL(h.at(i - 1).second + 1, h.at(i).second);
}

TEST(Monitor, ASecondSampledTwiceKeepsTheLastSample) {
    MonitorHistory h;
    h.add(sample(5, 10));
    h.add(sample(5, 12));
    CHECK_EQUAL(1u, h.size());
    CHECK_EQUAL(12u, h.at(0).values[static_cast<std::size_t>(MonitorSeries::messages_sent)]);
}

TEST(Monitor, TheScreenFitsTheTerminalAndShowsTheFigures) {
    for (int width : {40, 80, 132}) {
        MonitorHistory h;
        for (std::uint64_t t = 0; t < 700; ++t)
            h.add(sample(t, t < 650 ? 0 : (t - 650) * 8, 3));
        std::string text = render_monitor(h, "smtpgw monitor", width);
        auto lines = lines_of(text);
        CHECK_TRUE(lines.size() <= 23); // a 24-row terminal keeps one row
        for (const auto& l : lines)
            CHECK_TEXT(static_cast<int>(l.size()) <= width, l.c_str());
        CHECK_TRUE(text.find("(q to quit)") != std::string::npos);
        CHECK_TRUE(text.find("messages/s 8.0") != std::string::npos);
        CHECK_TRUE(text.find("connections 3") != std::string::npos);
    }
}

TEST(Monitor, BarsAppearWhereTheTrafficWasAndNowhereElse) {
    MonitorHistory h;
    // Ten minutes: nothing, then 100 messages/s during the last minute.
    for (std::uint64_t t = 0; t < kMonitorSeconds; ++t)
        h.add(sample(t, t < kMonitorSeconds - 60 ? 0 : (t - (kMonitorSeconds - 60)) * 100));
    auto lines = lines_of(render_monitor(h, "m", 80));
    std::size_t title = 0;
    while (title < lines.size() && lines[title].rfind("messages/s, last", 0) != 0)
        ++title;
    CHECK_TRUE(title + 3 < lines.size());
    const std::string& top_row = lines[title + 1];
    const std::string& bottom = lines[title + 3];
    // The last minute is the right tenth of the graph: full bars there.
    CHECK_EQUAL('#', top_row[top_row.size() - 1]);
    CHECK_EQUAL('#', bottom[bottom.size() - 2]);
    CHECK_EQUAL('.', bottom[0]);
    CHECK_EQUAL(' ', top_row[0]);
    CHECK_TRUE(lines[title].find("top 100") != std::string::npos);
}

TEST(Monitor, AnEmptyHistorySaysSo) {
    MonitorHistory h;
    CHECK_TRUE(render_monitor(h, "m").find("no sample yet") != std::string::npos);
}
