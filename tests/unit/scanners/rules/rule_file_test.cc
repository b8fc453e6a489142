// rule_file_test.cc: the rule file format (rules/rule_file.h). Good lines
// of every field form, read back field by field and through format_rule();
// every kind of bad line with its exact line number and reason; comments,
// blank lines and CRLF; a file with one bad line refused whole; the limits
// (line length, reported errors); reading from a path; the shipped
// default.rules parses clean.
#include "rules/rule_file.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <CppUTest/TestHarness.h>

using namespace smtpgw::rules;

namespace {

std::string errors_of(const RuleFileParse& p) {
    std::string s;
    for (const auto& e : p.errors) {
        if (!s.empty())
            s += " | ";
        s += describe(e, "f");
    }
    return s;
}

std::string source_dir() {
    return std::filesystem::path(__FILE__)
        .parent_path()
        .parent_path()
        .parent_path()
        .parent_path()
        .parent_path()
        .string();
}

} // namespace

TEST_GROUP(RuleFile){};

TEST(RuleFile, GoodLinesGiveEveryField) {
    auto p = parse_rule_file(
        "SMTPGW-0001 /GTUBE-STANDARD-ANTI-UBE-TEST/ raw-body reject \"GTUBE spam test string\"\n");
    STRCMP_EQUAL("", errors_of(p).c_str());
    CHECK_TRUE(p.ok());
    LONGS_EQUAL(1, p.rules.size());
    const Rule& r = p.rules[0];
    STRCMP_EQUAL("SMTPGW-0001", r.id.c_str());
    STRCMP_EQUAL("GTUBE-STANDARD-ANTI-UBE-TEST", r.pattern.c_str());
    LONGS_EQUAL(0, r.flags);
    CHECK(r.target == TargetKind::raw_body);
    CHECK(r.action == ActionKind::reject);
    STRCMP_EQUAL("GTUBE spam test string", r.description.c_str());
    LONGS_EQUAL(1, r.line);

    auto q = parse_rule_file("a.b_c-9\t/x\\/y\\\\/isum\theader:Reply-TO\tscore=1000\t"
                             "\"say \\\"hi\\\" \\\\ there\"  \t\r\n");
    STRCMP_EQUAL("", errors_of(q).c_str());
    const Rule& s = q.rules[0];
    STRCMP_EQUAL("x\\/y\\\\", s.pattern.c_str()); // handed to Hyperscan as written
    LONGS_EQUAL(kCaseless | kDotall | kUtf8 | kMultiline, s.flags);
    CHECK(s.target == TargetKind::header);
    STRCMP_EQUAL("reply-to", s.header_name.c_str());
    CHECK(s.action == ActionKind::score);
    LONGS_EQUAL(1000, s.score);
    STRCMP_EQUAL("say \"hi\" \\ there", s.description.c_str());
}

TEST(RuleFile, EveryTargetActionAndFlagReadsBackAsWritten) {
    const char* lines[] = {
        "R1 /a/ raw-headers reject \"d\"",
        "R2 /a/i header:subject tag \"d\"",
        "R3 /a/s text score=1 \"d\"",
        "R4 /\\AMZ/ attachment score=10 \"Windows executable\"",
        "R5 /a.b/ism raw-body reject \"x \\\"y\\\"\"",
        "R6 /\\x00\\xff/u text tag \"d\"",
    };
    for (const char* line : lines) {
        auto p = parse_rule_file(line);
        STRCMP_EQUAL_TEXT("", errors_of(p).c_str(), line);
        LONGS_EQUAL_TEXT(1, p.rules.size(), line);
        STRCMP_EQUAL_TEXT(line, format_rule(p.rules[0]).c_str(), line);
    }
}

TEST(RuleFile, CommentsBlankLinesAndCrlfAreSkippedAndLinesCounted) {
    auto p = parse_rule_file("# comment\r\n"
                             "\r\n"
                             "   \t \n"
                             "  # indented comment\n"
                             "R1 /a/ text tag \"one\"\r\n"
                             "#R2 /b/ text tag \"commented out\"\n"
                             "\tR3 /#not a comment/ text tag \"# neither\"\n"
                             "R4 /c/ text tag \"no final newline\"");
    STRCMP_EQUAL("", errors_of(p).c_str());
    LONGS_EQUAL(3, p.rules.size());
    LONGS_EQUAL(5, p.rules[0].line);
    STRCMP_EQUAL("R3", p.rules[1].id.c_str());
    STRCMP_EQUAL("#not a comment", p.rules[1].pattern.c_str());
    STRCMP_EQUAL("# neither", p.rules[1].description.c_str());
    LONGS_EQUAL(7, p.rules[1].line);
    LONGS_EQUAL(8, p.rules[2].line);
    CHECK_TRUE(parse_rule_file("").ok());
    LONGS_EQUAL(0, parse_rule_file("# only\n\n").rules.size());
}

struct BadCase {
    std::string line;
    const char* reason; // substring of the reason
};

TEST(RuleFile, BadLinesAreReportedWithLineAndReason) {
    const BadCase cases[] = {
        {"R1", "missing pattern"},
        {"R1 /a/", "missing target"},
        {"R1 /a/ text", "missing action"},
        {"R1 /a/ text tag", "missing description"},
        {"R1 a text tag \"d\"", "pattern must start with '/', got 'a'"},
        {"R1 /abc text tag \"d\"", "unterminated pattern"},
        {"R1 /abc\\/ text tag \"d\"", "unterminated pattern"},
        {"R1 /abc\\", "unterminated pattern"},
        {"R1 // text tag \"d\"", "empty pattern"},
        {"R1 /a/x text tag \"d\"", "unknown pattern flag 'x'"},
        {"R1 /a/ii text tag \"d\"", "pattern flag 'i' given twice"},
        {"R1 /a/I text tag \"d\"", "unknown pattern flag 'I'"},
        {"R1 /a/ body tag \"d\"", "unknown target 'body'"},
        {"R1 /a/ Text tag \"d\"", "unknown target 'Text'"},
        {"R1 /a/ header: tag \"d\"", "missing header name"},
        {"R1 /a/ header:Sub:ject tag \"d\"", "bad header name 'Sub:ject'"},
        {"R1 /a/ header:" + std::string(kMaxHeaderNameBytes + 1, 'h') + " tag \"d\"",
         "header name longer than 128 bytes"},
        {"R1 /a/ text drop \"d\"", "unknown action 'drop'"},
        {"R1 /a/ text REJECT \"d\"", "unknown action 'REJECT'"},
        {"R1 /a/ text score= \"d\"", "bad score ''"},
        {"R1 /a/ text score=0 \"d\"", "bad score '0'"},
        {"R1 /a/ text score=-3 \"d\"", "bad score '-3'"},
        {"R1 /a/ text score=07 \"d\"", "bad score '07'"},
        {"R1 /a/ text score=1001 \"d\"", "bad score '1001'"},
        {"R1 /a/ text score=99999999999999999999 \"d\"", "bad score"},
        {"R1 /a/ text score=5x \"d\"", "bad score '5x'"},
        {"R1 /a/ text tag d", "description must be quoted"},
        {"R1 /a/ text tag \"d", "unterminated description"},
        {"R1 /a/ text tag \"\"", "empty description"},
        {"R1 /a/ text tag \"a\\nb\"", "bad escape in description"},
        {"R1 /a/ text tag \"caf\xc3\xa9\"", "description must be printable ASCII"},
        {"R1 /a/ text tag \"" + std::string(kMaxDescriptionBytes + 1, 'd') + "\"",
         "description longer than 200 bytes"},
        {"R1 /a/ text tag \"d\" extra", "unexpected text after the description: 'extra'"},
        {"R1 /a/ text tag \"d\" # comment", "unexpected text after the description"},
        {"-R1 /a/ text tag \"d\"", "must start with a letter or a digit"},
        {"R!1 /a/ text tag \"d\"", "has a byte other than [A-Za-z0-9._-]"},
        {std::string(kMaxIdBytes + 1, 'R') + " /a/ text tag \"d\"", "longer than 64 bytes"},
        {"R1 /a\x01/ text tag \"d\"", "control byte in line"},
        {"R1 /a/ text tag \"d\x1b[31m\"", "control byte in line"},
        {"R1 /" + std::string(kMaxLineBytes, 'a') + "/ text tag \"d\"", "line longer than 4096"},
    };
    for (const auto& c : cases) {
        // Two comment lines and a good rule first: the bad line is line 4.
        std::string text =
            "# header\n\nR0 /ok/ text tag \"fine\"\n" + c.line + "\nR9 /z/ text tag \"z\"\n";
        auto p = parse_rule_file(text);
        CHECK_FALSE_TEXT(p.ok(), c.line.c_str());
        LONGS_EQUAL_TEXT(1, p.bad_lines, c.line.c_str());
        LONGS_EQUAL_TEXT(1, p.errors.size(), c.line.c_str());
        LONGS_EQUAL_TEXT(4, p.errors[0].line, c.line.c_str());
        std::string reason = p.errors[0].reason;
        CHECK_TEXT(reason.find(c.reason) != std::string::npos, (c.line + " -> " + reason).c_str());
        for (char ch : reason) // reasons never carry raw control or non-ASCII bytes
            CHECK_TEXT(ch >= 0x20 && ch < 0x7f, reason.c_str());
        // The good rules around it are still read (for the report), but the
        // file as a whole is refused (ok() is false).
        LONGS_EQUAL_TEXT(2, p.rules.size(), c.line.c_str());
    }
}

TEST(RuleFile, DuplicateIdNamesTheFirstLine) {
    auto p =
        parse_rule_file("A /a/ text tag \"d\"\nB /b/ text tag \"d\"\n\nA /c/ text tag \"d\"\n");
    STRCMP_EQUAL("f:4: duplicate id 'A' (first on line 1)", errors_of(p).c_str());
    CHECK_FALSE(p.ok());
    // Ids are compared exactly: a differently cased id is another rule.
    CHECK_TRUE(parse_rule_file("A /a/ text tag \"d\"\na /a/ text tag \"d\"\n").ok());
}

TEST(RuleFile, ReportedErrorsAreBoundedAndTheRestCounted) {
    std::string text;
    for (int i = 0; i < 250; ++i)
        text += "bad line\n";
    auto p = parse_rule_file(text);
    LONGS_EQUAL(250, p.bad_lines);
    LONGS_EQUAL(kMaxReportedErrors + 1, p.errors.size());
    STRCMP_EQUAL("f: 150 more bad lines", describe(p.errors.back(), "f").c_str());
    LONGS_EQUAL(100, p.errors[99].line);
}

TEST(RuleFile, RulesPerFileAreBounded) {
    std::string text;
    for (std::size_t i = 0; i <= kMaxRules + 5; ++i) {
        text += 'R';
        text += std::to_string(i);
        text += " /a/ text tag \"d\"\n";
    }
    auto p = parse_rule_file(text);
    LONGS_EQUAL(kMaxRules, p.rules.size());
    CHECK_FALSE(p.ok());
    STRCMP_EQUAL("f:20001: too many rules (limit 20000)", errors_of(p).c_str());
}

TEST(RuleFile, DescribeAndNames) {
    STRCMP_EQUAL("rules.txt:7: why", describe({7, "why"}, "rules.txt").c_str());
    STRCMP_EQUAL("rules.txt: why", describe({0, "why"}, "rules.txt").c_str());
    auto p = parse_rule_file("X /a/im header:From score=3 \"d\"");
    STRCMP_EQUAL("header:from", target_name(p.rules[0]).c_str());
    STRCMP_EQUAL("score=3", action_name(p.rules[0]).c_str());
    STRCMP_EQUAL("/a/im", pattern_text(p.rules[0]).c_str());
}

TEST(RuleFile, ReadFromAPath) {
    auto dir = std::filesystem::temp_directory_path() / "smtpgw_rule_file_test";
    std::filesystem::create_directories(dir);
    auto path = (dir / "t.rules").string();
    {
        std::ofstream out(path, std::ios::binary);
        out << "# t\nT1 /abc/ raw-body tag \"t\"\nT2 /oops text tag \"t\"\n";
    }
    auto p = read_rule_file(path);
    LONGS_EQUAL(1, p.rules.size());
    STRCMP_EQUAL("f:3: unterminated pattern (no closing '/')", errors_of(p).c_str());

    auto missing = read_rule_file((dir / "missing.rules").string());
    CHECK_FALSE(missing.ok());
    STRCMP_EQUAL("f: cannot open: No such file or directory", errors_of(missing).c_str());
    auto directory = read_rule_file(dir.string());
    STRCMP_EQUAL("f: not a regular file", errors_of(directory).c_str());
    std::filesystem::remove_all(dir);
}

TEST(RuleFile, ShippedDefaultRulesParseClean) {
    auto p = read_rule_file(source_dir() + "/scanners/rules/default.rules");
    STRCMP_EQUAL("", errors_of(p).c_str());
    CHECK_TRUE(p.rules.size() >= 8);
    STRCMP_EQUAL("SMTPGW-0001", p.rules[0].id.c_str());
    CHECK(p.rules[0].action == ActionKind::reject);
    CHECK(p.rules[0].target == TargetKind::raw_body);
}
