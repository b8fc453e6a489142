// running_config_test.cc: unit tests of controlplane/running_config.{h,cc}:
// `set` refuses bad values and changes nothing, `show config` holds only
// what differs from the board, save is atomic and keeps the previous
// version, save -> rollback round-trips, a file with one bad line is
// refused whole with FILE:LINE, commit confirmed rolls back by itself on a
// fake clock unless confirmed, the startup file skips and reports bad
// lines, and the line diff.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "command_table.h"
#include "running_config.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw::control;

namespace {

// A store with three keys and real rules: `limit` is a number 1..100,
// `name` 1..20 characters, `size` a number that "takes effect at the next start".
class TableStore final : public SettingStore {
  public:
    std::map<std::string, std::string> base{{"limit", "10"}, {"name", "gw"}, {"size", "64"}};
    std::map<std::string, std::string> running = base;
    int applied = 0;

    std::vector<std::string> keys() const override { return {"limit", "name", "size"}; }
    std::string help(std::string_view key) const override { return "the " + std::string(key); }
    std::string value(std::string_view key) const override {
        return running.at(std::string(key));
    }
    std::string base_value(std::string_view key) const override {
        return base.at(std::string(key));
    }
    std::string check(std::string_view key, std::string_view v) const override {
        if (key == "name")
            return v.empty() || v.size() > 20 ? "name must be 1..20 characters" : "";
        char* end = nullptr;
        std::string s(v);
        long n = std::strtol(s.c_str(), &end, 10);
        if (s.empty() || *end != '\0' || n < 1 || n > (key == "limit" ? 100 : 4096))
            return std::string(key) + " out of range";
        return {};
    }
    std::string set(std::string_view key, std::string_view v, bool* at_restart) override {
        if (auto why = check(key, v); !why.empty())
            return why;
        running[std::string(key)] = std::string(v);
        *at_restart = key == "size";
        ++applied;
        return {};
    }
};

// A section standing for loaded lists: `list add NAME` adds one.
class ListSection final : public ConfigSection {
  public:
    std::set<std::string> names;
    int cleared = 0;
    std::vector<std::string> config_lines() const override {
        std::vector<std::string> out;
        for (const auto& n : names)
            out.push_back("list add " + n);
        return out;
    }
    void clear_config() override {
        names.clear();
        ++cleared;
    }
};

struct Rig {
    std::string dir, path;
    CommandTable table;
    TableStore store;
    ListSection lists;
    std::uint64_t now = 1'000'000;
    RunningConfig config;

    Rig() : dir(make_dir()), path(dir + "/smtpgw.conf"), config(table, store, path, [this] { return now; }) {
        table.add({"list add", "add a list", {{"NAME", "", {}}}, 0, [this](const CommandArgs& a) {
                       if (a[0] == "bad")
                           return CommandResult::failure("no such list");
                       lists.names.insert(a[0]);
                       return CommandResult::success();
                   }});
        config.add_section(&lists);
        config.register_commands();
    }
    ~Rig() {
        for (const char* f : {"/smtpgw.conf", "/smtpgw.conf.prev", "/smtpgw.conf.tmp"})
            ::unlink((dir + f).c_str());
        ::rmdir(dir.c_str());
    }
    static std::string make_dir() {
        char tmpl[] = "/tmp/smtpgw-running-config-XXXXXX";
        const char* d = ::mkdtemp(tmpl);
        return d ? d : "/tmp";
    }
    CommandResult run(const std::string& line) { return table.execute(line); }
    std::string file(const std::string& name) const {
        std::ifstream in(dir + "/" + name);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    void write(const std::string& text) const { std::ofstream(path) << text; }
};

bool contains(const std::string& hay, const std::string& needle) {
    return hay.find(needle) != std::string::npos;
}

} // namespace

TEST_GROUP(RunningConfig){};

TEST(RunningConfig, SetAppliesAGoodValueAndRefusesABadOneChangingNothing) {
    struct Case {
        const char* line;
        bool ok;
        const char* limit_after;
        const char* says;
    };
    const Case cases[] = {
        {"set limit 20", true, "20", "limit 20"},
        {"set limit 0", false, "10", "out of range"},
        {"set limit 101", false, "10", "out of range"},
        {"set limit x", false, "10", "out of range"},
        {"set limit", false, "10", "usage"},
        {"set lim 30", true, "30", "limit 30"}, // keywords abbreviate
        {"set nosuch 1", false, "10", "unknown keyword 'nosuch'"},
    };
    for (const auto& c : cases) {
        Rig rig;
        CommandResult r = rig.run(c.line);
        CHECK_EQUAL_TEXT(c.ok, r.ok, c.line);
        STRCMP_EQUAL_TEXT(c.limit_after, rig.store.running["limit"].c_str(), c.line);
        CHECK_TEXT(contains(r.text, c.says), (std::string(c.line) + " -> " + r.text).c_str());
    }
}

TEST(RunningConfig, ASettingForTheNextStartSaysSo) {
    Rig rig;
    CommandResult r = rig.run("set size 128");
    CHECK_TRUE(r.ok);
    CHECK_TRUE(contains(r.text, "next start"));
    CHECK_FALSE(contains(rig.run("set limit 5").text, "next start"));
}

TEST(RunningConfig, ShowConfigHoldsOnlyWhatDiffersFromTheBoardUnlessAll) {
    Rig rig;
    CHECK_FALSE(contains(rig.run("show config").text, "set "));
    rig.run("set name edge-1");
    rig.run("list add drop");
    std::string text = rig.run("show config").text;
    CHECK_TRUE(contains(text, "set name edge-1\n"));
    CHECK_FALSE(contains(text, "set limit"));
    CHECK_TRUE(contains(text, "list add drop\n"));
    std::string all = rig.run("show config all").text;
    CHECK_TRUE(contains(all, "set limit 10\n"));
    CHECK_TRUE(contains(all, "set size 64\n"));
    CHECK_FALSE(rig.run("show config everything").ok);
}

TEST(RunningConfig, SaveWritesTheRunningTextAndKeepsThePreviousVersion) {
    Rig rig;
    rig.run("set limit 20");
    CHECK_TRUE(rig.run("config save").ok);
    std::string first = rig.file("smtpgw.conf");
    CHECK_TRUE(contains(first, "set limit 20\n"));
    CHECK_EQUAL(0, ::access((rig.path + ".tmp").c_str(), F_OK) == 0 ? 1 : 0);
    rig.run("set limit 30");
    CHECK_TRUE(rig.run("config save").ok);
    CHECK_TRUE(contains(rig.file("smtpgw.conf"), "set limit 30\n"));
    STRCMP_EQUAL(first.c_str(), rig.file("smtpgw.conf.prev").c_str());
}

TEST(RunningConfig, SaveThenRollbackReturnsToTheSavedStateSettingsAndSections) {
    Rig rig;
    rig.run("set limit 20");
    rig.run("list add drop");
    rig.run("config save");
    std::string saved = rig.config.running_text();
    rig.run("set limit 99");
    rig.run("set name other");
    rig.run("list add extra");
    CHECK_TRUE(rig.run("config diff").text.find("+set limit 99") != std::string::npos);
    CommandResult r = rig.run("config rollback");
    CHECK_TEXT(r.ok, r.text.c_str());
    STRCMP_EQUAL(saved.c_str(), rig.config.running_text().c_str());
    CHECK_EQUAL(1, rig.lists.cleared);
    CHECK_TRUE(contains(rig.run("config diff").text, "is the saved one"));
}

TEST(RunningConfig, RollbackPreviousReturnsToTheVersionBeforeTheLastSave) {
    Rig rig;
    CHECK_FALSE(rig.run("config rollback previous").ok); // nothing saved twice yet
    rig.run("set limit 20");
    rig.run("config save");
    rig.run("set limit 30");
    rig.run("config save");
    CHECK_TRUE(rig.run("config rollback previous").ok);
    STRCMP_EQUAL("20", rig.store.running["limit"].c_str());
}

TEST(RunningConfig, AFileWithOneBadLineIsRefusedWholeWithItsLine) {
    struct Case {
        const char* bad_line;
        const char* reason;
    };
    const Case cases[] = {
        {"set limit 1000", "out of range"},
        {"set nosuch 1", "unknown"},
        {"frobnicate", "unknown"},
        {"set name \"unterminated", "unterminated quote"},
        {"config save", "does not belong"},
        {"commit confirmed 5", "does not belong"},
    };
    for (const auto& c : cases) {
        Rig rig;
        rig.write("# saved\nset limit 20\nlist add a\n" + std::string(c.bad_line) + "\n");
        int applied = rig.store.applied;
        CommandResult r = rig.run("config rollback");
        CHECK_FALSE_TEXT(r.ok, c.bad_line);
        CHECK_TEXT(contains(r.text, rig.path + ":4: "), (c.bad_line + (" -> " + r.text)).c_str());
        CHECK_TEXT(contains(r.text, c.reason), (c.bad_line + (" -> " + r.text)).c_str());
        CHECK_EQUAL_TEXT(applied, rig.store.applied, c.bad_line);
        CHECK_EQUAL_TEXT(0, rig.lists.cleared, c.bad_line);
        STRCMP_EQUAL_TEXT("10", rig.store.running["limit"].c_str(), c.bad_line);
    }
}

TEST(RunningConfig, CommitConfirmedRollsBackByItselfUnlessConfirmed) {
    Rig rig;
    CHECK_FALSE(rig.run("commit confirmed 0").ok);
    CHECK_FALSE(rig.run("commit confirmed 61").ok);
    CHECK_TRUE(rig.run("commit confirmed 1").ok);
    rig.run("set limit 50");
    rig.run("list add risky");
    rig.now += 59'999;
    CHECK_EQUAL(std::string(), rig.config.tick());
    STRCMP_EQUAL("50", rig.store.running["limit"].c_str());
    rig.now += 1;
    CHECK_TRUE(contains(rig.config.tick(), "rolled back"));
    STRCMP_EQUAL("10", rig.store.running["limit"].c_str());
    CHECK_TRUE(rig.lists.names.empty());
    CHECK_EQUAL(std::string(), rig.config.tick()); // once

    rig.run("commit confirmed 1");
    rig.run("set limit 60");
    CHECK_TRUE(contains(rig.run("commit").text, "confirmed"));
    rig.now += 120'000;
    CHECK_EQUAL(std::string(), rig.config.tick());
    STRCMP_EQUAL("60", rig.store.running["limit"].c_str());
    CHECK_TRUE(contains(rig.run("commit").text, "nothing to confirm"));
}

TEST(RunningConfig, TheStartupFileSkipsAndReportsBadLinesAndAppliesTheRest) {
    Rig rig;
    CHECK_TRUE(rig.config.load_startup().empty()); // no file yet: nothing to say
    rig.write("# startup\n\nset limit 20\nset limit 1000\nlist add bad\nlist add ok\nset name edge\n");
    auto reports = rig.config.load_startup();
    CHECK_EQUAL(2u, reports.size());
    CHECK_TRUE(contains(reports[0], rig.path + ":4: limit out of range"));
    CHECK_TRUE(contains(reports[1], rig.path + ":5: no such list"));
    STRCMP_EQUAL("20", rig.store.running["limit"].c_str());
    STRCMP_EQUAL("edge", rig.store.running["name"].c_str());
    CHECK_EQUAL(1u, rig.lists.names.count("ok"));
}

TEST(RunningConfig, AnOversizedFileIsRefused) {
    Rig rig;
    rig.write(std::string(kMaxConfigBytes + 1, '#'));
    auto reports = rig.config.load_startup();
    CHECK_EQUAL(1u, reports.size());
    CHECK_TRUE(contains(reports[0], "larger than"));
    CHECK_FALSE(rig.run("config rollback").ok);
}

TEST(RunningConfig, SetLinesFindTheSettingsOfAText) {
    auto lines = RunningConfig::set_lines("# c\nset a 1\n  # x\nset b \"two words\"\nlist add z\nset c\n");
    CHECK_EQUAL(2u, lines.size());
    STRCMP_EQUAL("a", lines[0].key.c_str());
    CHECK_EQUAL(2u, lines[0].line);
    STRCMP_EQUAL("two words", lines[1].value.c_str());
    CHECK_EQUAL(4u, lines[1].line);
}

TEST(RunningConfig, ValuesWithBlanksOrQuotesAreQuotedAndReadBack) {
    Rig rig;
    CHECK_TRUE(rig.run("set name \"two \\\"words\\\"\"").ok);
    STRCMP_EQUAL("two \"words\"", rig.store.running["name"].c_str());
    CHECK_TRUE(contains(rig.run("show config").text, "set name \"two \\\"words\\\"\"\n"));
    rig.run("config save");
    rig.run("set name plain");
    CHECK_TRUE(rig.run("config rollback").ok);
    STRCMP_EQUAL("two \"words\"", rig.store.running["name"].c_str());
}

TEST(RunningConfig, DiffLinesMarksRemovedAndAddedLines) {
    struct Case {
        const char *a, *b, *diff;
    };
    const Case cases[] = {
        {"x\ny\n", "x\ny\n", ""},
        {"x\ny\n", "x\nz\n", "-y\n+z\n"},
        {"", "a\n", "+a\n"},
        {"a\n", "", "-a\n"},
        {"a\nb\nc\n", "a\nc\nd\n", "-b\n+d\n"},
        {"a\r\nb\n", "a\nb\n", ""}, // CRLF files from another system
    };
    for (const auto& c : cases)
        STRCMP_EQUAL_TEXT(c.diff, diff_lines(c.a, c.b).c_str(), c.b);
}
