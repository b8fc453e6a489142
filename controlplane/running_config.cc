// running_config.cc: the running configuration as commands (see header).
#include "running_config.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace smtpgw::control {

namespace {

constexpr std::string_view kHeader = "# smtpgw configuration: console commands, one per line\n";

std::vector<std::string_view> split_lines(std::string_view text) {
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        auto nl = text.find('\n');
        auto line = text.substr(0, nl);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        lines.push_back(line);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    }
    return lines;
}

bool is_blank_or_comment(std::string_view line) {
    auto first = line.find_first_not_of(" \t");
    return first == std::string_view::npos || line[first] == '#';
}

std::string quoted_if_needed(const std::string& v) {
    if (!v.empty() && v.find_first_of(" \t\"\\#") == std::string::npos)
        return v;
    std::string out = "\"";
    for (char c : v) {
        if (c == '"' || c == '\\')
            out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

// Writes `text` to `path` so that a crash leaves either the old file or the
// new one, never a mix: temporary file, fsync, rename, fsync of the folder.
std::string write_atomically(const std::string& path, std::string_view text) {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return "cannot write " + tmp + ": " + std::strerror(errno);
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            std::string why = std::strerror(errno);
            ::close(fd);
            ::unlink(tmp.c_str());
            return "cannot write " + tmp + ": " + why;
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        ::unlink(tmp.c_str());
        return "cannot sync " + tmp + ": " + std::strerror(errno);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        std::string why = std::strerror(errno);
        ::unlink(tmp.c_str());
        return "cannot rename " + tmp + " to " + path + ": " + why;
    }
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
        ::fsync(dfd); // the rename itself survives a power cut
        ::close(dfd);
    }
    return {};
}

} // namespace

std::string diff_lines(std::string_view a, std::string_view b) {
    auto x = split_lines(a), y = split_lines(b);
    // Longest common subsequence, table of (n+1)(m+1): config files are small.
    std::size_t n = x.size(), m = y.size();
    std::vector<std::uint32_t> lcs((n + 1) * (m + 1), 0);
    auto at = [&](std::size_t i, std::size_t j) -> std::uint32_t& { return lcs[i * (m + 1) + j]; };
    for (std::size_t i = n; i-- > 0;)
        for (std::size_t j = m; j-- > 0;)
            at(i, j) = x[i] == y[j] ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
    std::string out;
    std::size_t i = 0, j = 0;
    while (i < n || j < m) {
        if (i < n && j < m && x[i] == y[j]) {
            ++i, ++j;
        } else if (i < n && (j == m || at(i + 1, j) >= at(i, j + 1))) {
            out.append("-").append(x[i++]).append("\n"); // removals first, as diff -u does
        } else {
            out.append("+").append(y[j++]).append("\n");
        }
    }
    return out;
}

RunningConfig::RunningConfig(CommandTable& table, SettingStore& store, std::string path,
                             std::function<std::uint64_t()> now_ms)
    : table_(table), store_(store), path_(std::move(path)), now_ms_(std::move(now_ms)) {}

std::optional<std::string> RunningConfig::read_file(const std::string& path, std::string* error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        *error = path + ": " + std::strerror(errno);
        return std::nullopt;
    }
    std::string text(kMaxConfigBytes + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) {
        *error = path + ": larger than " + std::to_string(kMaxConfigBytes) + " bytes";
        return std::nullopt;
    }
    return text;
}

std::string RunningConfig::running_text(bool all) const {
    std::string out(kHeader);
    for (const auto& key : store_.keys()) {
        std::string v = store_.value(key);
        if (all || v != store_.base_value(key))
            out += "set " + key + " " + quoted_if_needed(v) + "\n";
    }
    for (const auto* s : sections_)
        for (const auto& line : s->config_lines())
            out += line + "\n";
    return out;
}

CommandResult RunningConfig::set(const std::string& key, const std::string& value) {
    bool at_restart = false;
    if (auto why = store_.set(key, value, &at_restart); !why.empty())
        return CommandResult::failure(why);
    return CommandResult::success(key + " " + store_.value(key) +
                                  (at_restart ? " (takes effect at the next start)\n" : "\n"));
}

std::vector<RunningConfig::SetLine> RunningConfig::set_lines(std::string_view text) {
    std::vector<SetLine> out;
    std::size_t n = 0;
    for (auto line : split_lines(text)) {
        ++n;
        if (is_blank_or_comment(line))
            continue;
        auto tokens = tokenize(line, nullptr);
        if (tokens && tokens->size() == 3 && (*tokens)[0] == "set")
            out.push_back({(*tokens)[1], (*tokens)[2], n});
    }
    return out;
}

std::vector<std::string> RunningConfig::load_startup() {
    std::vector<std::string> reports;
    if (path_.empty() || ::access(path_.c_str(), F_OK) != 0)
        return reports;
    std::string err;
    auto text = read_file(path_, &err);
    if (!text)
        return {err};
    std::size_t n = 0;
    for (auto line : split_lines(*text)) {
        ++n;
        if (is_blank_or_comment(line))
            continue;
        CommandResult r = table_.execute(line);
        if (!r.ok)
            reports.push_back(path_ + ":" + std::to_string(n) + ": " + r.text);
    }
    return reports;
}

CommandResult RunningConfig::apply_text(std::string_view text, std::string_view source) {
    // 1. Validate everything before touching anything.
    std::map<std::string, std::string> settings;
    std::vector<std::string> commands;
    std::size_t n = 0;
    auto where = [&] { return std::string(source) + ":" + std::to_string(n) + ": "; };
    for (auto line : split_lines(text)) {
        ++n;
        if (is_blank_or_comment(line))
            continue;
        std::string err;
        auto tokens = tokenize(line, &err);
        if (!tokens)
            return CommandResult::failure(where() + err);
        CommandResult path = table_.resolve_path(*tokens);
        if (!path.ok)
            return CommandResult::failure(where() + path.text);
        if (path.text.starts_with("set ") && tokens->size() >= 2) {
            std::string key = path.text.substr(4);
            const std::vector<std::string> known = store_.keys();
            if (std::find(known.begin(), known.end(), key) != known.end()) {
                if (auto why = store_.check(key, tokens->back()); !why.empty())
                    return CommandResult::failure(where() + why);
                settings[key] = tokens->back();
                continue;
            }
        }
        if (path.text.starts_with("config ") || path.text.starts_with("commit"))
            return CommandResult::failure(where() + "'" + path.text +
                                          "' does not belong in a configuration");
        commands.emplace_back(line);
    }
    // 2. Settings: the file's value, or the board's for keys it leaves out.
    std::string out, failures;
    for (const auto& key : store_.keys()) {
        auto it = settings.find(key);
        std::string target = it != settings.end() ? it->second : store_.base_value(key);
        if (store_.value(key) == target)
            continue;
        CommandResult r = set(key, target);
        (r.ok ? out : failures) += r.ok ? "set " + r.text : key + ": " + r.text + "\n";
    }
    // 3. Everything else is replayed on a clean slate.
    for (auto* s : sections_)
        s->clear_config();
    for (const auto& c : commands)
        if (CommandResult r = table_.execute(c); !r.ok)
            failures += c + ": " + r.text + "\n";
    if (!failures.empty())
        return CommandResult::failure("applied with errors:\n" + failures);
    return CommandResult::success(out.empty() ? "no setting changed\n" : out);
}

CommandResult RunningConfig::save() {
    if (path_.empty())
        return CommandResult::failure("no configuration file on this board");
    std::string text = running_text();
    // Keep the version being replaced (itself written atomically).
    std::string err;
    if (::access(path_.c_str(), F_OK) == 0) {
        auto old = read_file(path_, &err);
        if (!old)
            return CommandResult::failure(err);
        if (auto why = write_atomically(path_ + ".prev", *old); !why.empty())
            return CommandResult::failure(why);
    }
    if (auto why = write_atomically(path_, text); !why.empty())
        return CommandResult::failure(why);
    return CommandResult::success("saved " + path_ + " (" + std::to_string(text.size()) +
                                  " bytes; the previous version is " + path_ + ".prev)\n");
}

CommandResult RunningConfig::diff() const {
    std::string saved, err;
    if (!path_.empty() && ::access(path_.c_str(), F_OK) == 0) {
        auto t = read_file(path_, &err);
        if (!t)
            return CommandResult::failure(err);
        saved = *t;
    }
    std::string d = diff_lines(saved.empty() ? std::string(kHeader) : saved, running_text());
    if (d.empty())
        return CommandResult::success("the running configuration is the saved one\n");
    return CommandResult::success("--- saved " + path_ + "\n+++ running\n" + d);
}

std::string RunningConfig::tick() {
    if (!checkpoint_ || now_ms_() < rollback_at_ms_)
        return {};
    std::string text = std::move(*checkpoint_);
    checkpoint_.reset();
    CommandResult r = apply_text(text, "<commit confirmed checkpoint>");
    return "commit confirmed was not confirmed in time: rolled back" +
           (r.ok ? std::string() : " (" + r.text + ")");
}

void RunningConfig::register_commands() {
    for (const auto& key : store_.keys())
        table_.add({"set " + key,
                    store_.help(key),
                    {{"VALUE", "now: " + store_.value(key), {}}},
                    0,
                    [this, key](const CommandArgs& a) { return set(key, a[0]); }});
    table_.add({"show config",
                "the running configuration, as commands (all: every setting)",
                {{"all", "also settings left at the board's value",
                  [] { return std::vector<std::string>{"all"}; }}},
                1,
                [this](const CommandArgs& a) {
                    if (!a.empty() && a[0] != "all")
                        return CommandResult::failure("usage: show config [all]");
                    return CommandResult::success(running_text(!a.empty()));
                }});
    table_.add({"config save",
                "write the running configuration to the startup file",
                {},
                0,
                [this](const CommandArgs&) { return save(); }});
    table_.add(
        {"config diff", "what changed since the last save", {}, 0, [this](const CommandArgs&) {
             return diff();
         }});
    table_.add({"config rollback",
                "return to the saved configuration (previous: the one before the last save)",
                {{"previous", "the version the last save replaced",
                  [] { return std::vector<std::string>{"previous"}; }}},
                1,
                [this](const CommandArgs& a) {
                    if (!a.empty() && a[0] != "previous")
                        return CommandResult::failure("usage: config rollback [previous]");
                    std::string file = a.empty() ? path_ : path_ + ".prev", err;
                    if (path_.empty())
                        return CommandResult::failure("no configuration file on this board");
                    std::string text(kHeader); // never saved: the board's configuration
                    if (::access(file.c_str(), F_OK) == 0) {
                        auto t = read_file(file, &err);
                        if (!t)
                            return CommandResult::failure(err);
                        text = *t;
                    } else if (!a.empty()) {
                        return CommandResult::failure("no previous version (" + file + ")");
                    }
                    return apply_text(text, file);
                }});
    table_.add({"commit confirmed",
                "keep the changes that follow only if `commit` confirms within MINUTES",
                {{"MINUTES", "1..60", {}}},
                0,
                [this](const CommandArgs& a) {
                    char* end = nullptr;
                    unsigned long m = std::strtoul(a[0].c_str(), &end, 10);
                    if (a[0].empty() || *end != '\0' || m < 1 || m > 60)
                        return CommandResult::failure("MINUTES must be 1..60");
                    if (!checkpoint_) // a second one extends the first, same checkpoint
                        checkpoint_ = running_text();
                    rollback_at_ms_ = now_ms_() + m * 60'000;
                    return CommandResult::success("checkpoint taken: changes roll back in " +
                                                  std::to_string(m) +
                                                  " minute(s) unless `commit` confirms them\n");
                }});
    table_.add({"commit",
                "confirm the changes made since `commit confirmed`",
                {},
                0,
                [this](const CommandArgs&) {
                    if (!checkpoint_)
                        return CommandResult::success("nothing to confirm\n");
                    checkpoint_.reset();
                    return CommandResult::success("confirmed (`config save` makes it the startup "
                                                  "configuration)\n");
                }});
}

} // namespace smtpgw::control
