// daemon_log_test.cc: unit tests of controlplane/daemon_log.{h,cc}: level
// names, `log level` set/show/refuse, the DPDK hook, the level in the
// running configuration, and that lines below the level are not written.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "command_table.h"
#include "daemon_log.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw::control;

namespace {

// What log_line() writes to stderr while `f` runs.
template <typename F>
std::string stderr_of(F f) {
    std::fflush(stderr);
    int saved = dup(2);
    char path[] = "/tmp/smtpgw-daemon-log-XXXXXX";
    int fd = mkstemp(path);
    dup2(fd, 2);
    f();
    std::fflush(stderr);
    dup2(saved, 2);
    close(saved);
    std::string out;
    char buf[4096];
    lseek(fd, 0, SEEK_SET);
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
        out.append(buf, static_cast<std::size_t>(n));
    close(fd);
    unlink(path);
    return out;
}

} // namespace

TEST_GROUP(DaemonLog) {
    void teardown() override { LogControl().set("info"); }
};

TEST(DaemonLog, LevelNamesRoundTripAndUnknownOnesAreRefused) {
    for (auto l : {LogLevel::error, LogLevel::warn, LogLevel::info, LogLevel::debug})
        CHECK_TRUE(parse_log_level(log_level_name(l)) == l);
    for (const char* bad : {"", "INFO", "verbose", "warning", "info "})
        CHECK_FALSE_TEXT(parse_log_level(bad).has_value(), bad);
}

TEST(DaemonLog, LogLevelSetsShowsRefusesAndCallsTheHook) {
    std::vector<LogLevel> seen;
    LogControl control([&](LogLevel l) { seen.push_back(l); });
    CommandTable table;
    control.register_commands(table);
    CHECK_TRUE(table.execute("log level").text.find("log level info") != std::string::npos);
    CHECK_TRUE(table.execute("log level warn").ok);
    CHECK_TRUE(log_level() == LogLevel::warn);
    CHECK_FALSE(table.execute("log level loud").ok);
    CHECK_TRUE(log_level() == LogLevel::warn); // unchanged
    CHECK_EQUAL(1u, seen.size());
    CHECK_TRUE(seen[0] == LogLevel::warn);
}

TEST(DaemonLog, OnlyANonDefaultLevelIsInTheRunningConfiguration) {
    LogControl control;
    CHECK_TRUE(control.config_lines().empty());
    control.set("debug");
    CHECK_EQUAL(1u, control.config_lines().size());
    STRCMP_EQUAL("log level debug", control.config_lines()[0].c_str());
    control.clear_config();
    CHECK_TRUE(log_level() == LogLevel::info);
}

TEST(DaemonLog, LinesBelowTheLevelAreNotWritten) {
    LogControl control;
    control.set("warn");
    std::string out = stderr_of([] {
        log_line(LogLevel::info, "an info line");
        log_line(LogLevel::warn, "a warn line");
        log_line(LogLevel::error, "an error line");
    });
    CHECK_TRUE(out.find("an info line") == std::string::npos);
    CHECK_TRUE(out.find(" warn smtpgw: a warn line\n") != std::string::npos);
    CHECK_TRUE(out.find(" error smtpgw: an error line\n") != std::string::npos);
}
