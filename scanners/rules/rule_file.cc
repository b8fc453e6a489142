// rule_file.cc: the rule file parser (format and contracts in rule_file.h).
#include "rules/rule_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <unordered_set>

namespace smtpgw::rules {

namespace {

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

bool is_id_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

// RFC 5322 3.6.8: ftext is printable ASCII except ':'.
bool is_field_name_char(char c) {
    return c >= 33 && c <= 126 && c != ':';
}

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Input quoted in a reason, cut and escaped so a reason is printable ASCII.
std::string quote(std::string_view s) {
    constexpr std::size_t kMaxQuoted = 60;
    std::string out = "'";
    for (std::size_t i = 0; i < s.size() && i < kMaxQuoted; ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
            out += static_cast<char>(c);
        } else {
            static const char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    if (s.size() > kMaxQuoted)
        out += "...";
    out += "'";
    return out;
}

// Splits off the next blank-separated field; empty at the end of the line.
std::string_view next_field(std::string_view& rest) {
    std::size_t i = 0;
    while (i < rest.size() && is_blank(rest[i]))
        ++i;
    std::size_t start = i;
    while (i < rest.size() && !is_blank(rest[i]))
        ++i;
    std::string_view field = rest.substr(start, i - start);
    rest.remove_prefix(i);
    return field;
}

void skip_blanks(std::string_view& rest) {
    while (!rest.empty() && is_blank(rest.front()))
        rest.remove_prefix(1);
}

// Parses one non-comment line into `rule`; returns the reason on error.
std::optional<std::string> parse_line(std::string_view line, Rule& rule) {
    for (char ch : line) {
        auto c = static_cast<unsigned char>(ch);
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return "control byte in line (write it \\xNN in a pattern)";
    }
    std::string_view rest = line;

    // ID
    std::string_view id = next_field(rest);
    if (id.size() > kMaxIdBytes)
        return "id " + quote(id) + " longer than " + std::to_string(kMaxIdBytes) + " bytes";
    if (!is_id_char(id.front()) || id.front() == '.' || id.front() == '_' || id.front() == '-')
        return "id " + quote(id) + " must start with a letter or a digit";
    for (char c : id)
        if (!is_id_char(c))
            return "id " + quote(id) + " has a byte other than [A-Za-z0-9._-]";
    rule.id = std::string(id);

    // /PATTERN/FLAGS
    skip_blanks(rest);
    if (rest.empty())
        return "missing pattern after the id";
    if (rest.front() != '/')
        return "pattern must start with '/', got " + quote(next_field(rest));
    std::size_t close = 1;
    for (; close < rest.size(); ++close) {
        if (rest[close] == '\\')
            ++close; // the escaped byte cannot close the pattern
        else if (rest[close] == '/')
            break;
    }
    if (close >= rest.size())
        return "unterminated pattern (no closing '/')";
    rule.pattern = std::string(rest.substr(1, close - 1));
    if (rule.pattern.empty())
        return "empty pattern";
    rest.remove_prefix(close + 1);
    rule.flags = 0;
    while (!rest.empty() && !is_blank(rest.front())) {
        unsigned bit = 0;
        switch (rest.front()) {
        case 'i':
            bit = kCaseless;
            break;
        case 's':
            bit = kDotall;
            break;
        case 'm':
            bit = kMultiline;
            break;
        case 'u':
            bit = kUtf8;
            break;
        default:
            return "unknown pattern flag " + quote(rest.substr(0, 1)) + " (flags are i, s, m, u)";
        }
        if (rule.flags & bit)
            return "pattern flag " + quote(rest.substr(0, 1)) + " given twice";
        rule.flags |= bit;
        rest.remove_prefix(1);
    }

    // TARGET
    std::string_view target = next_field(rest);
    if (target.empty())
        return "missing target after the pattern";
    constexpr std::string_view kHeaderPrefix = "header:";
    if (target == "raw-headers") {
        rule.target = TargetKind::raw_headers;
    } else if (target == "text") {
        rule.target = TargetKind::text;
    } else if (target == "attachment") {
        rule.target = TargetKind::attachment;
    } else if (target == "raw-body") {
        rule.target = TargetKind::raw_body;
    } else if (target.starts_with(kHeaderPrefix)) {
        std::string_view name = target.substr(kHeaderPrefix.size());
        if (name.empty())
            return "missing header name in target " + quote(target);
        if (name.size() > kMaxHeaderNameBytes)
            return "header name longer than " + std::to_string(kMaxHeaderNameBytes) + " bytes";
        for (char c : name)
            if (!is_field_name_char(c))
                return "bad header name " + quote(name) + " (RFC 5322 field name)";
        rule.target = TargetKind::header;
        rule.header_name.clear();
        for (char c : name)
            rule.header_name += lower(c);
    } else {
        return "unknown target " + quote(target) +
               " (raw-headers, header:NAME, text, attachment, raw-body)";
    }

    // ACTION
    std::string_view action = next_field(rest);
    if (action.empty())
        return "missing action after the target";
    constexpr std::string_view kScorePrefix = "score=";
    if (action == "reject") {
        rule.action = ActionKind::reject;
    } else if (action == "tag") {
        rule.action = ActionKind::tag;
    } else if (action.starts_with(kScorePrefix)) {
        std::string_view digits = action.substr(kScorePrefix.size());
        int value = 0;
        bool good = !digits.empty() && digits.front() != '0';
        for (char c : digits) {
            if (c < '0' || c > '9' || value > kMaxScore) {
                good = false;
                break;
            }
            value = value * 10 + (c - '0');
        }
        if (!good || value < 1 || value > kMaxScore)
            return "bad score " + quote(digits) + " (1.." + std::to_string(kMaxScore) + ")";
        rule.action = ActionKind::score;
        rule.score = value;
    } else {
        return "unknown action " + quote(action) + " (reject, tag, score=N)";
    }

    // "DESCRIPTION"
    skip_blanks(rest);
    if (rest.empty())
        return "missing description after the action";
    if (rest.front() != '"')
        return "description must be quoted, got " + quote(rest);
    rule.description.clear();
    std::size_t i = 1;
    bool closed = false;
    for (; i < rest.size(); ++i) {
        char c = rest[i];
        if (c == '"') {
            closed = true;
            ++i;
            break;
        }
        if (c == '\\') {
            if (i + 1 >= rest.size() || (rest[i + 1] != '"' && rest[i + 1] != '\\'))
                return "bad escape in description (only \\\" and \\\\)";
            c = rest[++i];
        }
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f)
            return "description must be printable ASCII";
        rule.description += c;
    }
    if (!closed)
        return "unterminated description (no closing '\"')";
    if (rule.description.empty())
        return "empty description";
    if (rule.description.size() > kMaxDescriptionBytes)
        return "description longer than " + std::to_string(kMaxDescriptionBytes) + " bytes";
    rest.remove_prefix(i);
    skip_blanks(rest);
    if (!rest.empty())
        return "unexpected text after the description: " + quote(rest);
    return std::nullopt;
}

} // namespace

RuleFileParse parse_rule_file(std::string_view text) {
    RuleFileParse result;
    std::unordered_set<std::string> ids;
    auto add_error = [&](std::uint32_t line, std::string reason) {
        ++result.bad_lines;
        if (result.errors.size() < kMaxReportedErrors)
            result.errors.push_back({line, std::move(reason)});
    };
    std::uint32_t line_no = 0;
    bool too_many = false;
    while (!text.empty() && !too_many) {
        ++line_no;
        std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        if (line.size() > kMaxLineBytes) {
            add_error(line_no, "line longer than " + std::to_string(kMaxLineBytes) + " bytes");
            continue;
        }
        std::string_view body = line;
        skip_blanks(body);
        if (body.empty() || body.front() == '#')
            continue;
        Rule rule;
        rule.line = line_no;
        if (auto why = parse_line(body, rule)) {
            add_error(line_no, std::move(*why));
            continue;
        }
        if (!ids.insert(rule.id).second) {
            std::uint32_t first = 0;
            for (const auto& r : result.rules)
                if (r.id == rule.id)
                    first = r.line;
            add_error(line_no, "duplicate id " + quote(rule.id) +
                                   (first ? " (first on line " + std::to_string(first) + ")"
                                          : std::string()));
            continue;
        }
        if (result.rules.size() >= kMaxRules) {
            add_error(line_no, "too many rules (limit " + std::to_string(kMaxRules) + ")");
            too_many = true;
            continue;
        }
        result.rules.push_back(std::move(rule));
    }
    if (result.bad_lines > result.errors.size())
        result.errors.push_back(
            {0, std::to_string(result.bad_lines - result.errors.size()) + " more bad lines"});
    return result;
}

RuleFileParse read_rule_file(const std::string& path) {
    RuleFileParse failed;
    auto fail = [&](std::string why) {
        failed.errors.push_back({0, std::move(why)});
        failed.bad_lines = 1;
        return failed;
    };
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return fail("not a regular file");
    }
    constexpr std::uint64_t kMaxFileBytes = std::uint64_t{kMaxRules} * kMaxLineBytes;
    if (static_cast<std::uint64_t>(st.st_size) > kMaxFileBytes) {
        ::close(fd);
        return fail("larger than " + std::to_string(kMaxFileBytes) + " bytes");
    }
    std::string text;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            ::close(fd);
            return fail(std::string("cannot read: ") + std::strerror(err));
        }
        if (n == 0)
            break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > kMaxFileBytes) { // grew while being read
            ::close(fd);
            return fail("larger than " + std::to_string(kMaxFileBytes) + " bytes");
        }
    }
    ::close(fd);
    return parse_rule_file(text);
}

std::string describe(const RuleError& error, std::string_view file_name) {
    std::string s(file_name);
    if (error.line != 0) {
        s += ':';
        s += std::to_string(error.line);
    }
    s += ": ";
    s += error.reason;
    return s;
}

std::string target_name(const Rule& rule) {
    switch (rule.target) {
    case TargetKind::raw_headers:
        return "raw-headers";
    case TargetKind::header:
        return "header:" + rule.header_name;
    case TargetKind::text:
        return "text";
    case TargetKind::attachment:
        return "attachment";
    case TargetKind::raw_body:
        return "raw-body";
    }
    return "?";
}

std::string action_name(const Rule& rule) {
    switch (rule.action) {
    case ActionKind::reject:
        return "reject";
    case ActionKind::tag:
        return "tag";
    case ActionKind::score:
        return "score=" + std::to_string(rule.score);
    }
    return "?";
}

std::string pattern_text(const Rule& rule) {
    std::string s = "/" + rule.pattern + "/";
    if (rule.flags & kCaseless)
        s += 'i';
    if (rule.flags & kDotall)
        s += 's';
    if (rule.flags & kMultiline)
        s += 'm';
    if (rule.flags & kUtf8)
        s += 'u';
    return s;
}

std::string format_rule(const Rule& rule) {
    std::string desc;
    for (char c : rule.description) {
        if (c == '"' || c == '\\')
            desc += '\\';
        desc += c;
    }
    return rule.id + " " + pattern_text(rule) + " " + target_name(rule) + " " + action_name(rule) +
           " \"" + desc + "\"";
}

} // namespace smtpgw::rules
