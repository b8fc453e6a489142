// command_table.h: the one command language of smtpgw.
//
// Purpose: a table of commands (token path -> handler -> text) shared by the
// serial console, `smtpgw-cli COMMAND...`, and the startup configuration
// (a file of these commands). Handlers are plain functions: tokens in, text
// out, testable without a terminal or a socket.
// Grammar: tokens separated by blanks; "double quotes" group blanks, with \"
// and \\ escapes; a line starting with # is a comment. Keywords may be
// abbreviated to any unique prefix ("sh int"). A trailing "?" lists what may
// come next, with help, instead of running the command.
// Error contract: execute() never throws; unknown or ambiguous commands, bad
// arguments and handler refusals come back as ok=false with a one-line reason.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smtpgw::control {

struct CommandResult {
    bool ok = true;
    std::string text; // output on success, the reason on failure

    static CommandResult success(std::string text = {}) { return {true, std::move(text)}; }
    static CommandResult failure(std::string reason) { return {false, std::move(reason)}; }
};

using CommandArgs = std::vector<std::string>;
using CommandHandler = std::function<CommandResult(const CommandArgs& args)>;
using ArgCompleter = std::function<std::vector<std::string>()>;

struct ArgSpec {
    std::string name;        // shown in help: ADDRESS, FILE, MINUTES
    std::string help;
    ArgCompleter complete{}; // optional candidates for tab completion
};

struct CommandSpec {
    std::string path;             // keywords: "show stats"
    std::string help;             // one line
    std::vector<ArgSpec> args{};  // positional, all required
    std::size_t optional_args = 0; // how many of the last args may be omitted
    CommandHandler handler;
};

// Splits a line into tokens. Returns nullopt (with `error` set) on an
// unterminated quote or a dangling escape.
std::optional<std::vector<std::string>> tokenize(std::string_view line, std::string* error);

class CommandTable {
  public:
    // Adds a command. Aborts on a duplicate path (a programming error).
    void add(CommandSpec spec);

    CommandResult execute(std::string_view line) const;
    CommandResult execute(const std::vector<std::string>& tokens) const;
    // What execute() would run, without running it: the command's path
    // ("set smtp.hostname") in text, or the reason it would be refused
    // (unknown, ambiguous, wrong number of arguments).
    CommandResult resolve_path(const std::vector<std::string>& tokens) const;

    // Candidates for the token being typed at the end of `line` (the text
    // after the last blank), for tab completion.
    std::vector<std::string> complete(std::string_view line) const;

    // Every command with its arguments and help, sorted.
    std::string help_all() const;

    const std::vector<CommandSpec>& commands() const { return commands_; }

  private:
    struct Match {
        const CommandSpec* spec = nullptr;
        std::size_t keywords = 0; // tokens consumed by the path
        std::string error;
    };
    Match resolve(const std::vector<std::string>& tokens) const;
    std::string check_args(const Match& m, const std::vector<std::string>& tokens) const;
    std::string help_next(const std::vector<std::string>& tokens) const;
    // Indices of the commands whose keywords extend `typed` (each typed word
    // a prefix of the keyword at its depth) by at least one more keyword.
    std::vector<std::size_t> continuing(const std::vector<std::string>& typed) const;

    std::vector<CommandSpec> commands_;
    std::vector<std::vector<std::string>> keywords_; // commands_[i].path split once, at add()
};

// Formats rows as aligned columns (two spaces apart), for `show` output that
// fits an 80-column serial terminal.
std::string format_table(const std::vector<std::vector<std::string>>& rows);

} // namespace smtpgw::control
