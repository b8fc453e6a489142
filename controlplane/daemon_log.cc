// daemon_log.cc: the daemon's own log (see header).
#include "daemon_log.h"

#include <cstdio>
#include <ctime>

namespace smtpgw::control {

namespace {
LogLevel g_level = LogLevel::info;
constexpr std::string_view kNames[] = {"error", "warn", "info", "debug"};
} // namespace

std::string_view log_level_name(LogLevel level) { return kNames[static_cast<int>(level)]; }

std::optional<LogLevel> parse_log_level(std::string_view text) {
    for (int i = 0; i < 4; ++i)
        if (kNames[i] == text)
            return static_cast<LogLevel>(i);
    return std::nullopt;
}

LogLevel log_level() { return g_level; }

void log_line(LogLevel level, std::string_view text) {
    if (static_cast<int>(level) > static_cast<int>(g_level))
        return;
    std::time_t now = std::time(nullptr);
    char ts[32];
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    std::fprintf(stderr, "%s %s smtpgw: %.*s\n", ts, kNames[static_cast<int>(level)].data(),
                 static_cast<int>(text.size()), text.data());
}

LogControl::LogControl(std::function<void(LogLevel)> on_change)
    : on_change_(std::move(on_change)) {}

CommandResult LogControl::set(std::string_view text) {
    auto level = parse_log_level(text);
    if (!level)
        return CommandResult::failure("LEVEL must be error, warn, info or debug");
    g_level = *level;
    if (on_change_)
        on_change_(*level);
    return CommandResult::success("log level " + std::string(text) + "\n");
}

void LogControl::register_commands(CommandTable& table) {
    table.add({"log level", "the daemon's log level (and DPDK's); without LEVEL: show it",
               {{"LEVEL", "error, warn, info (default: every command) or debug",
                 [] { return std::vector<std::string>{"error", "warn", "info", "debug"}; }}},
               1, [this](const CommandArgs& a) {
                   if (a.empty())
                       return CommandResult::success("log level " +
                                                     std::string(log_level_name(g_level)) + "\n");
                   return set(a[0]);
               }});
}

std::vector<std::string> LogControl::config_lines() const {
    if (g_level == LogLevel::info)
        return {};
    return {"log level " + std::string(log_level_name(g_level))};
}

void LogControl::clear_config() { set("info"); }

} // namespace smtpgw::control
