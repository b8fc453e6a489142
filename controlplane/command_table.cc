// command_table.cc: tokenizer, resolution, help and completion (see header).
#include "command_table.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

namespace smtpgw::control {

namespace {

std::vector<std::string> split_words(std::string_view path) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : path) {
        if (c == ' ') {
            if (!cur.empty())
                out.push_back(std::move(cur));
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty())
        out.push_back(std::move(cur));
    return out;
}

std::string usage_of(const CommandSpec& s) {
    std::string u = s.path;
    for (std::size_t i = 0; i < s.args.size(); ++i) {
        bool opt = i + s.optional_args >= s.args.size();
        u += opt ? " [" + s.args[i].name + "]" : " " + s.args[i].name;
    }
    return u;
}

} // namespace

std::optional<std::vector<std::string>> tokenize(std::string_view line, std::string* error) {
    std::vector<std::string> tokens;
    std::size_t i = 0;
    while (i < line.size()) {
        char c = line[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            ++i;
            continue;
        }
        if (c == '#' && tokens.empty())
            break; // comment line (startup configuration)
        std::string tok;
        if (c == '"') {
            ++i;
            bool closed = false;
            while (i < line.size()) {
                char d = line[i++];
                if (d == '\\') {
                    if (i >= line.size()) {
                        if (error)
                            *error = "dangling backslash";
                        return std::nullopt;
                    }
                    tok += line[i++];
                } else if (d == '"') {
                    closed = true;
                    break;
                } else {
                    tok += d;
                }
            }
            if (!closed) {
                if (error)
                    *error = "unterminated quote";
                return std::nullopt;
            }
        } else {
            while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r' &&
                   line[i] != '\n')
                tok += line[i++];
        }
        tokens.push_back(std::move(tok));
    }
    return tokens;
}

void CommandTable::add(CommandSpec spec) {
    for (const auto& c : commands_) {
        if (c.path == spec.path) {
            std::fprintf(stderr, "CommandTable::add: duplicate command '%s'\n", spec.path.c_str());
            std::abort();
        }
    }
    keywords_.push_back(split_words(spec.path));
    commands_.push_back(std::move(spec));
}

std::vector<std::size_t> CommandTable::continuing(const std::vector<std::string>& typed) const {
    std::vector<std::size_t> out;
    for (std::size_t c = 0; c < commands_.size(); ++c) {
        const auto& words = keywords_[c];
        if (words.size() <= typed.size())
            continue;
        bool match = true;
        for (std::size_t i = 0; i < typed.size() && match; ++i)
            match = words[i].starts_with(typed[i]);
        if (match)
            out.push_back(c);
    }
    return out;
}

CommandTable::Match CommandTable::resolve(const std::vector<std::string>& tokens) const {
    // Walk the keyword tree: at each depth, keep the commands whose keyword
    // at that depth starts with the token; an exact keyword match wins.
    std::vector<std::size_t> live;
    for (std::size_t c = 0; c < commands_.size(); ++c)
        live.push_back(c);
    std::size_t depth = 0;
    const CommandSpec* complete_match = nullptr;
    std::size_t complete_depth = 0;
    for (; depth < tokens.size(); ++depth) {
        const std::string& tok = tokens[depth];
        if (tok.empty())
            break; // "" is an argument, never an abbreviation of every keyword
        std::set<std::string> exact, prefixed;
        for (std::size_t c : live) {
            const auto& words = keywords_[c];
            if (depth < words.size()) {
                if (words[depth] == tok)
                    exact.insert(words[depth]);
                else if (words[depth].starts_with(tok))
                    prefixed.insert(words[depth]);
            }
        }
        std::string chosen;
        if (!exact.empty())
            chosen = *exact.begin();
        else if (prefixed.size() == 1)
            chosen = *prefixed.begin();
        else if (prefixed.size() > 1) {
            std::string list;
            for (const auto& p : prefixed)
                list += (list.empty() ? "" : ", ") + p;
            return Match{nullptr, depth, "ambiguous '" + tok + "': " + list};
        } else {
            break; // not a keyword: the rest are arguments
        }
        std::vector<std::size_t> next;
        for (std::size_t c : live) {
            const auto& words = keywords_[c];
            if (depth < words.size() && words[depth] == chosen)
                next.push_back(c);
        }
        live = std::move(next);
        for (std::size_t c : live) {
            if (keywords_[c].size() == depth + 1) {
                complete_match = &commands_[c];
                complete_depth = depth + 1;
            }
        }
    }
    if (complete_match) // the longest full path typed; the tokens after it are arguments
        return Match{complete_match, complete_depth, {}};
    if (depth == 0)
        return Match{nullptr, 0,
                     tokens.empty() ? "empty command"
                                    : "unknown command '" + tokens[0] + "' (try: help)"};
    std::string sofar;
    for (std::size_t i = 0; i < depth; ++i)
        sofar += (i ? " " : "") + tokens[i];
    if (depth < tokens.size() && !tokens[depth].empty())
        return Match{nullptr, depth,
                     "unknown keyword '" + tokens[depth] + "' after '" + sofar + "' (try: " +
                         sofar + " ?)"};
    return Match{nullptr, depth, "incomplete command '" + sofar + "' (try: " + sofar + " ?)"};
}

std::string CommandTable::help_next(const std::vector<std::string>& tokens) const {
    // Expand abbreviations of the tokens typed so far, then list what follows.
    std::vector<std::pair<std::string, std::string>> lines;
    std::set<std::string> seen;
    auto m = resolve(tokens);
    if (m.spec && m.keywords <= tokens.size()) {
        std::size_t argi = tokens.size() - m.keywords;
        if (argi < m.spec->args.size()) {
            const auto& a = m.spec->args[argi];
            lines.emplace_back(a.name, a.help);
        } else {
            lines.emplace_back("<Enter>", m.spec->help);
        }
    }
    for (std::size_t c : continuing(tokens)) {
        const auto& words = keywords_[c];
        const std::string& next = words[tokens.size()];
        if (!seen.insert(next).second)
            continue;
        std::string h = words.size() == tokens.size() + 1 ? commands_[c].help : "...";
        lines.emplace_back(next, h);
    }
    if (lines.empty())
        return "no command continues here\n";
    std::vector<std::vector<std::string>> rows;
    for (auto& [w, h] : lines)
        rows.push_back({"  " + w, h});
    return format_table(rows);
}

CommandResult CommandTable::execute(std::string_view line) const {
    std::string err;
    auto tokens = tokenize(line, &err);
    if (!tokens)
        return CommandResult::failure(err);
    if (tokens->empty())
        return CommandResult::success();
    return execute(*tokens);
}

CommandResult CommandTable::execute(const std::vector<std::string>& tokens) const {
    if (tokens.empty())
        return CommandResult::success();
    if (tokens.back() == "?") {
        std::vector<std::string> before(tokens.begin(), tokens.end() - 1);
        return CommandResult::success(help_next(before));
    }
    if (!tokens.back().empty() && tokens.back().back() == '?' && tokens.back().size() > 1) {
        // "sh?" lists the keywords that start with "sh"
        std::vector<std::string> before(tokens.begin(), tokens.end() - 1);
        std::string partial = tokens.back().substr(0, tokens.back().size() - 1);
        std::string out;
        for (const auto& cand : complete([&] {
                 std::string l;
                 for (auto& t : before)
                     l += t + " ";
                 return l + partial;
             }()))
            out += "  " + cand + "\n";
        return CommandResult::success(out.empty() ? "no command continues here\n" : out);
    }
    auto m = resolve(tokens);
    if (auto why = check_args(m, tokens); !why.empty())
        return CommandResult::failure(why);
    CommandArgs args(tokens.begin() + static_cast<std::ptrdiff_t>(m.keywords), tokens.end());
    return m.spec->handler(args);
}

std::string CommandTable::check_args(const Match& m, const std::vector<std::string>& tokens) const {
    if (!m.spec)
        return m.error;
    std::size_t given = tokens.size() - m.keywords;
    std::size_t need = m.spec->args.size();
    std::size_t min = need - std::min(need, m.spec->optional_args);
    if (given < min || given > need)
        return "usage: " + usage_of(*m.spec);
    return {};
}

CommandResult CommandTable::resolve_path(const std::vector<std::string>& tokens) const {
    if (tokens.empty())
        return CommandResult::failure("no command");
    auto m = resolve(tokens);
    if (auto why = check_args(m, tokens); !why.empty())
        return CommandResult::failure(why);
    return CommandResult::success(m.spec->path);
}

std::vector<std::string> CommandTable::complete(std::string_view line) const {
    std::string err;
    std::string_view head = line;
    std::string partial;
    auto last_blank = line.find_last_of(" \t");
    if (last_blank == std::string_view::npos) {
        partial = std::string(line);
        head = {};
    } else {
        partial = std::string(line.substr(last_blank + 1));
        head = line.substr(0, last_blank);
    }
    auto tokens = tokenize(head, &err);
    if (!tokens)
        return {};
    std::set<std::string> out;
    // Keywords that continue the typed path.
    for (std::size_t c : continuing(*tokens)) {
        const std::string& next = keywords_[c][tokens->size()];
        if (next.starts_with(partial))
            out.insert(next);
    }
    // Argument values, when the path is complete.
    auto m = resolve(*tokens);
    if (m.spec && m.keywords <= tokens->size()) {
        std::size_t argi = tokens->size() - m.keywords;
        if (argi < m.spec->args.size() && m.spec->args[argi].complete)
            for (auto& v : m.spec->args[argi].complete())
                if (v.starts_with(partial))
                    out.insert(v);
    }
    return {out.begin(), out.end()};
}

std::string CommandTable::help_all() const {
    std::vector<const CommandSpec*> sorted;
    for (const auto& c : commands_)
        sorted.push_back(&c);
    std::sort(sorted.begin(), sorted.end(),
              [](auto* a, auto* b) { return a->path < b->path; });
    std::vector<std::vector<std::string>> rows;
    for (auto* c : sorted)
        rows.push_back({usage_of(*c), c->help});
    return format_table(rows);
}

std::string format_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> width;
    for (const auto& r : rows)
        for (std::size_t i = 0; i < r.size(); ++i) {
            if (width.size() <= i)
                width.push_back(0);
            width[i] = std::max(width[i], r[i].size());
        }
    std::string out;
    for (const auto& r : rows) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size())
                line += std::string(width[i] - r[i].size() + 2, ' ');
        }
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        out += line + "\n";
    }
    return out;
}

} // namespace smtpgw::control
