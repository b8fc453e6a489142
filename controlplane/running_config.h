// running_config.h: the running configuration as commands: `set KEY VALUE`,
// `show config`, `config save|diff|rollback`, `commit confirmed MINUTES`, and
// the startup configuration file.
//
// Purpose: one configuration language. The startup configuration is a file
// of console commands (`set smtp.max_recipients 500`, `peer-filter load
// /etc/smtpgw/drop.txt black drop`); the running configuration is rendered
// back as the same commands, only what differs from the board profile, so
// `config save` writes a file that reproduces the running state and
// `config diff` shows what an administrator changed since.
// Model (after Junos and IOS): changes apply at once. `config save` writes
// the file atomically (write, fsync, rename) after keeping the previous
// version as FILE.prev. `config rollback` returns the running state to the
// saved file, `config rollback previous` to the version before the last
// save. `commit confirmed MINUTES` takes a checkpoint of the running state;
// unless `commit` confirms within MINUTES, tick() puts the checkpoint back,
// so a change that cuts the administrator off undoes itself.
// Security: every value is validated by the SettingStore before anything
// changes; a whole file (rollback) is validated line by line first and
// refused as a whole with FILE:LINE: reason. The file is read whole but
// bounded (kMaxConfigBytes). Callers run on the control thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "command_table.h"

namespace smtpgw::control {

// A config file is a few hundred lines; anything much larger is not one
// (and is read whole into memory).
inline constexpr std::size_t kMaxConfigBytes = 4 << 20;

// The settings behind `set KEY VALUE`: the daemon's board profile and the
// parts of the running system each key drives.
class SettingStore {
  public:
    virtual ~SettingStore() = default;
    virtual std::vector<std::string> keys() const = 0;
    virtual std::string help(std::string_view key) const = 0;
    // The running value, and the value with no configuration line at all
    // (the board profile's), in the syntax set() takes.
    virtual std::string value(std::string_view key) const = 0;
    virtual std::string base_value(std::string_view key) const = 0;
    // Error contract: "" when `value` would be accepted, else the reason.
    // Changes nothing.
    virtual std::string check(std::string_view key, std::string_view value) const = 0;
    // Validates, then applies to the running system. Error contract: "" or
    // the reason, with nothing changed. `*at_restart` is set when the value
    // is kept but takes effect at the next start only.
    virtual std::string set(std::string_view key, std::string_view value, bool* at_restart) = 0;
};

// Parts of the running configuration that are not settings (loaded list
// files, run-time entries), rendered as the commands that recreate them.
class ConfigSection {
  public:
    virtual ~ConfigSection() = default;
    virtual std::vector<std::string> config_lines() const = 0;
    // Forgets everything config_lines() would recreate (before a rollback
    // replays the lines of the file it returns to).
    virtual void clear_config() = 0;
};

class RunningConfig {
  public:
    // `path`: the startup configuration file ("" : none, save refused).
    // `now_ms`: a monotonic clock in milliseconds (commit confirmed).
    RunningConfig(CommandTable& table, SettingStore& store, std::string path,
                  std::function<std::uint64_t()> now_ms);

    void add_section(ConfigSection* section) { sections_.push_back(section); }
    // Adds `set KEY VALUE` for every key, `show config`, `config ...` and
    // `commit ...` to the table.
    void register_commands();

    // The running configuration as commands: settings that differ from the
    // board's (all with `all`), then every section's lines.
    std::string running_text(bool all = false) const;

    // Runs the startup file: each line through the command table, a bad line
    // reported as FILE:LINE: reason and skipped (the rest applies; the board
    // profile stands in for what was refused). Returns those reports; a
    // missing file is no error (nothing saved yet).
    std::vector<std::string> load_startup();

    // Returns to the state `text` describes: validated whole first (refused
    // with FILE:LINE: reason, nothing changed), then every setting not in it
    // goes back to the board's value, sections are cleared and replayed.
    CommandResult apply_text(std::string_view text, std::string_view source);

    // Atomic save of running_text() (the previous file kept as PATH.prev).
    CommandResult save();
    // Unified-style line diff: saved file (---) against running (+++).
    CommandResult diff() const;

    // Call from the control loop: rolls a commit confirmed back when due.
    // Returns a line to log when it did, else "".
    std::string tick();

    // The `set` lines of a configuration text (key, value, line number), for
    // settings that must be in the board profile before the daemon starts.
    struct SetLine {
        std::string key, value;
        std::size_t line = 0;
    };
    static std::vector<SetLine> set_lines(std::string_view text);

    static std::optional<std::string> read_file(const std::string& path, std::string* error);

  private:
    CommandResult set(const std::string& key, const std::string& value);

    CommandTable& table_;
    SettingStore& store_;
    std::string path_;
    std::function<std::uint64_t()> now_ms_;
    std::vector<ConfigSection*> sections_;
    // commit confirmed: the state to return to, and when.
    std::optional<std::string> checkpoint_;
    std::uint64_t rollback_at_ms_ = 0;
};

// Line diff of two texts (LCS; texts of at most a few thousand lines):
// lines only in `a` start with "-", only in `b` with "+", common ones are
// left out. Empty when they are equal.
std::string diff_lines(std::string_view a, std::string_view b);

} // namespace smtpgw::control
