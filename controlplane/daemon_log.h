// daemon_log.h: the daemon's own log (not the mail log): control commands
// and who ran them, configuration events, start and stop, with a level the
// administrator sets with `log level`.
//
// Purpose: one place for the control thread's messages, each with a UTC
// time stamp and a level, on stderr (the appliance's supervisor keeps it;
// in the lab, /run/smtpgw-lab/smtpgw.log). The fast path never logs: it
// counts. `log level` also sets DPDK's own log level through a hook, so the
// PMDs and EAL follow the same knob.
// Levels: error < warn < info (default: every command, who ran it) < debug.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "command_table.h"
#include "running_config.h"

namespace smtpgw::control {

enum class LogLevel : int { error = 0, warn = 1, info = 2, debug = 3 };

std::string_view log_level_name(LogLevel level);
std::optional<LogLevel> parse_log_level(std::string_view text);

// Writes "TIMESTAMP LEVEL text" to stderr when `level` is at or below the
// current level.
void log_line(LogLevel level, std::string_view text);
LogLevel log_level();

// `log level [LEVEL]`, and the level's line in the running configuration
// when it is not the default. `on_change` also gets every new level (the
// daemon sets DPDK's log level there).
class LogControl final : public ConfigSection {
  public:
    explicit LogControl(std::function<void(LogLevel)> on_change = {});
    void register_commands(CommandTable& table);
    CommandResult set(std::string_view level);

    std::vector<std::string> config_lines() const override;
    void clear_config() override;

  private:
    std::function<void(LogLevel)> on_change_;
};

} // namespace smtpgw::control
