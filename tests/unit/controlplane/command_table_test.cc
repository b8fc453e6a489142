// command_table_test.cc: unit tests of controlplane/command_table.{h,cc}:
// the tokenizer, keyword resolution with abbreviations, usage errors, the
// "?" help, tab completion, help_all and format_table.
#include <string>
#include <vector>

#include "command_table.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw::control;

namespace {

using Tokens = std::vector<std::string>;

// Tokens joined with '|' so a failed check shows the split; "(error: ...)"
// when tokenize refuses the line.
std::string tokens_of(const std::string& line) {
    std::string err = "(not set)";
    auto t = tokenize(line, &err);
    if (!t)
        return "(error: " + err + ")";
    std::string s;
    for (std::size_t i = 0; i < t->size(); ++i)
        s += (i ? "|" : "") + (*t)[i];
    return "[" + s + "]";
}

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v)
        s += (s.empty() ? "" : " ") + x;
    return s;
}

std::string result_text(const CommandResult& r) { return (r.ok ? "ok: " : "error: ") + r.text; }

} // namespace

// ------------------------------------------------------------------ tokenize

TEST_GROUP(Tokenize){};

TEST(Tokenize, SplitsOnBlanksAndTabs) {
    STRCMP_EQUAL("[show|stats]", tokens_of("show stats").c_str());
    STRCMP_EQUAL("[show|stats]", tokens_of("  show \t stats  \r\n").c_str());
    STRCMP_EQUAL("[]", tokens_of("").c_str());
    STRCMP_EQUAL("[]", tokens_of(" \t ").c_str());
}

TEST(Tokenize, DoubleQuotesGroupBlanks) {
    STRCMP_EQUAL("[say|hello world]", tokens_of("say \"hello world\"").c_str());
    STRCMP_EQUAL("[say|  two  |x]", tokens_of("say \"  two  \" x").c_str());
    STRCMP_EQUAL("[say|]", tokens_of("say \"\"").c_str()); // an empty argument
    STRCMP_EQUAL("[a|b]", tokens_of("\"a\"\"b\"").c_str());
}

TEST(Tokenize, EscapesInsideQuotes) {
    STRCMP_EQUAL("[say|a\"b]", tokens_of("say \"a\\\"b\"").c_str());
    STRCMP_EQUAL("[say|a\\b]", tokens_of("say \"a\\\\b\"").c_str());
    STRCMP_EQUAL("[say|n]", tokens_of("say \"\\n\"").c_str()); // no C escapes: \n is n
    // Outside quotes a backslash is an ordinary character.
    STRCMP_EQUAL("[say|a\\b]", tokens_of("say a\\b").c_str());
}

TEST(Tokenize, UnterminatedQuoteOrDanglingEscapeIsAnError) {
    STRCMP_EQUAL("(error: unterminated quote)", tokens_of("say \"hello").c_str());
    STRCMP_EQUAL("(error: unterminated quote)", tokens_of("\"").c_str());
    STRCMP_EQUAL("(error: dangling backslash)", tokens_of("say \"abc\\").c_str());
    CHECK_FALSE(tokenize("say \"x", nullptr).has_value()); // error pointer is optional
}

TEST(Tokenize, HashStartsACommentOnlyAtTheStartOfALine) {
    STRCMP_EQUAL("[]", tokens_of("# startup configuration").c_str());
    STRCMP_EQUAL("[]", tokens_of("   # indented comment").c_str());
    STRCMP_EQUAL("[say|#1|a#b]", tokens_of("say #1 a#b").c_str());
}

// ------------------------------------------------------------------ the table

TEST_GROUP(CommandTable) {
    CommandTable table;
    std::string ran;  // path of the last handler run
    Tokens args;      // its arguments

    CommandHandler record(const std::string& path) {
        return [this, path](const CommandArgs& a) {
            ran = path;
            args = a;
            return CommandResult::success(path + " ran\n");
        };
    }

    void setup() override {
        auto ports = [] { return Tokens{"wan", "lan"}; };
        auto levels = [] { return Tokens{"debug", "info", "warn", "error"}; };
        table.add({"show stats", "drop counters by reason", {}, false, record("show stats")});
        table.add({"show interfaces", "ports, addresses and link state", {}, false,
                   record("show interfaces")});
        table.add({"show neighbors", "ARP and ND cache", {{"PORT", "wan or lan", ports}}, true,
                   record("show neighbors")});
        table.add({"show ip", "IPv4 addresses", {}, false, record("show ip")});
        table.add({"show ipv6", "IPv6 addresses", {}, false, record("show ipv6")});
        table.add({"set log-level", "logging threshold", {{"LEVEL", "debug, info, warn or error",
                                                          levels}},
                   false, record("set log-level")});
        table.add({"set neighbor-cache-size", "entries per port", {{"SIZE", "8..1048576"}}, false,
                   record("set neighbor-cache-size")});
        table.add({"service restart", "restart the SMTP service", {}, false,
                   record("service restart")});
        table.add({"ping", "send echo requests",
                   {{"ADDRESS", "IPv4 or IPv6 address"}, {"COUNT", "how many"}}, false,
                   record("ping")});
        table.add({"say", "echo the argument", {{"TEXT", "any text"}}, false, record("say")});
        table.add({"refuse", "a handler that fails", {}, false,
                   [](const CommandArgs&) { return CommandResult::failure("not now"); }});
        table.add({"help", "list every command", {}, false,
                   [this](const CommandArgs&) { return CommandResult::success(table.help_all()); }});
    }

    std::string run(const std::string& line) { return result_text(table.execute(line)); }
};

TEST(CommandTable, ExactKeywordsRunTheirHandler) {
    STRCMP_EQUAL("ok: show stats ran\n", run("show stats").c_str());
    STRCMP_EQUAL("show stats", ran.c_str());
    CHECK_TRUE(args.empty());
    STRCMP_EQUAL("ok: service restart ran\n", run("service restart").c_str());
}

TEST(CommandTable, UniquePrefixesAbbreviateKeywords) {
    const char* lines[] = {"sh st", "sho stat", "sh stats", "show st"};
    for (const char* l : lines) {
        ran.clear();
        STRCMP_EQUAL_TEXT("ok: show stats ran\n", run(l).c_str(), l);
        STRCMP_EQUAL_TEXT("show stats", ran.c_str(), l);
    }
    STRCMP_EQUAL("ok: show interfaces ran\n", run("sh int").c_str());
    STRCMP_EQUAL("ok: set log-level ran\n", run("set log info").c_str());
    STRCMP_EQUAL("ok: service restart ran\n", run("serv r").c_str());
}

TEST(CommandTable, AnExactKeywordWinsOverLongerOnesItPrefixes) {
    STRCMP_EQUAL("ok: show ip ran\n", run("sh ip").c_str());
    STRCMP_EQUAL("ok: show ipv6 ran\n", run("sh ipv").c_str());
}

TEST(CommandTable, AmbiguousPrefixesListTheCandidates) {
    STRCMP_EQUAL("error: ambiguous 'se': service, set", run("se log-level info").c_str());
    STRCMP_EQUAL("error: ambiguous 's': say, service, set, show", run("s").c_str());
    STRCMP_EQUAL("error: ambiguous 'i': interfaces, ip, ipv6", run("show i").c_str());
    CHECK_TRUE(ran.empty());
}

TEST(CommandTable, UnknownAndIncompleteCommandsAreRefused) {
    STRCMP_EQUAL("error: unknown command 'frob' (try: help)", run("frob").c_str());
    STRCMP_EQUAL("error: unknown command 'SHOW' (try: help)", run("SHOW STATS").c_str());
    STRCMP_EQUAL("error: incomplete command 'show' (try: show ?)", run("show").c_str());
    STRCMP_EQUAL("error: incomplete command 'sh' (try: sh ?)", run("sh").c_str());
    STRCMP_EQUAL("error: unknown keyword 'frob' after 'show' (try: show ?)", run("show frob").c_str());
    // An empty quoted word abbreviates nothing (it used to match every keyword).
    STRCMP_EQUAL("error: unknown command '' (try: help)", run("\"\"").c_str());
    STRCMP_EQUAL("error: incomplete command 'show' (try: show ?)", run("show \"\"").c_str());
    CHECK_TRUE(ran.empty());
}

TEST(CommandTable, WrongArgumentCountsGiveTheUsage) {
    STRCMP_EQUAL("error: usage: show stats", run("show stats now").c_str());
    STRCMP_EQUAL("error: usage: ping ADDRESS COUNT", run("ping").c_str());
    STRCMP_EQUAL("error: usage: ping ADDRESS COUNT", run("ping 203.0.113.10").c_str());
    STRCMP_EQUAL("error: usage: ping ADDRESS COUNT", run("ping 203.0.113.10 3 4").c_str());
    STRCMP_EQUAL("error: usage: set log-level LEVEL", run("set log-level").c_str());
    STRCMP_EQUAL("error: usage: show neighbors [PORT]", run("sh nei wan lan").c_str());
    CHECK_TRUE(ran.empty());
}

TEST(CommandTable, ArgumentsArePassedVerbatim) {
    STRCMP_EQUAL("ok: ping ran\n", run("ping 203.0.113.10 3").c_str());
    STRCMP_EQUAL("203.0.113.10 3", joined(args).c_str());
    run("set log-level d"); // arguments are not expanded like keywords
    STRCMP_EQUAL("d", joined(args).c_str());
    run("say \"hello  world\"");
    UNSIGNED_LONGS_EQUAL(1, args.size());
    STRCMP_EQUAL("hello  world", args[0].c_str());
}

TEST(CommandTable, TrailingOptionalArgumentMayBeOmitted) {
    STRCMP_EQUAL("ok: show neighbors ran\n", run("show neighbors").c_str());
    CHECK_TRUE(args.empty());
    STRCMP_EQUAL("ok: show neighbors ran\n", run("sh n lan").c_str());
    STRCMP_EQUAL("lan", joined(args).c_str());
}

TEST(CommandTable, HandlerFailuresComeBackAsErrors) {
    STRCMP_EQUAL("error: not now", run("refuse").c_str());
}

TEST(CommandTable, BlankLinesCommentsAndBadQuotingDoNotRunAnything) {
    STRCMP_EQUAL("ok: ", run("").c_str());
    STRCMP_EQUAL("ok: ", run("   ").c_str());
    STRCMP_EQUAL("ok: ", run("# show stats").c_str());
    STRCMP_EQUAL("ok: ", result_text(table.execute(Tokens{})).c_str());
    STRCMP_EQUAL("error: unterminated quote", run("say \"oops").c_str());
    CHECK_TRUE(ran.empty());
}

TEST(CommandTable, TokenVectorsExecuteLikeLines) {
    STRCMP_EQUAL("ok: show stats ran\n", result_text(table.execute(Tokens{"sh", "st"})).c_str());
    STRCMP_EQUAL("ok: say ran\n", result_text(table.execute(Tokens{"say", "a b"})).c_str());
    STRCMP_EQUAL("a b", args[0].c_str());
}

TEST(CommandTable, QuestionMarkListsTheFirstKeywords) {
    STRCMP_EQUAL("ok: "
                 "  show     ...\n"
                 "  set      ...\n"
                 "  service  ...\n"
                 "  ping     send echo requests\n"
                 "  say      echo the argument\n"
                 "  refuse   a handler that fails\n"
                 "  help     list every command\n",
                 run("?").c_str());
    CHECK_TRUE(ran.empty());
}

TEST(CommandTable, QuestionMarkAfterKeywordsListsWhatMayFollow) {
    const char* show_help = "ok: "
                            "  stats       drop counters by reason\n"
                            "  interfaces  ports, addresses and link state\n"
                            "  neighbors   ARP and ND cache\n"
                            "  ip          IPv4 addresses\n"
                            "  ipv6        IPv6 addresses\n";
    STRCMP_EQUAL(show_help, run("show ?").c_str());
    STRCMP_EQUAL(show_help, run("sh ?").c_str());
    STRCMP_EQUAL("ok:   <Enter>  drop counters by reason\n", run("show stats ?").c_str());
    STRCMP_EQUAL("ok:   <Enter>  IPv4 addresses\n", run("sh ip ?").c_str());
    STRCMP_EQUAL("ok:   PORT  wan or lan\n", run("show neighbors ?").c_str());
    STRCMP_EQUAL("ok:   ADDRESS  IPv4 or IPv6 address\n", run("ping ?").c_str());
    STRCMP_EQUAL("ok:   COUNT  how many\n", run("ping 203.0.113.10 ?").c_str());
    STRCMP_EQUAL("ok:   <Enter>  send echo requests\n", run("ping 203.0.113.10 3 ?").c_str());
    STRCMP_EQUAL("ok: no command continues here\n", run("frob ?").c_str());
    CHECK_TRUE(ran.empty());
}

TEST(CommandTable, PartialWordWithQuestionMarkListsMatchingKeywords) {
    STRCMP_EQUAL("ok:   show\n", run("sh?").c_str());
    STRCMP_EQUAL("ok:   say\n  service\n  set\n  show\n", run("s?").c_str());
    STRCMP_EQUAL("ok:   interfaces\n  ip\n  ipv6\n", run("show i?").c_str());
    STRCMP_EQUAL("ok:   debug\n", run("set log-level d?").c_str());
    STRCMP_EQUAL("ok: no command continues here\n", run("zz?").c_str());
    CHECK_TRUE(ran.empty());
}

TEST(CommandTable, CompletesKeywords) {
    STRCMP_EQUAL("help ping refuse say service set show", joined(table.complete("")).c_str());
    STRCMP_EQUAL("show", joined(table.complete("sh")).c_str());
    STRCMP_EQUAL("say service set show", joined(table.complete("s")).c_str());
    STRCMP_EQUAL("interfaces ip ipv6 neighbors stats", joined(table.complete("show ")).c_str());
    STRCMP_EQUAL("stats", joined(table.complete("sh st")).c_str());
    STRCMP_EQUAL("log-level neighbor-cache-size", joined(table.complete("set\t")).c_str());
    STRCMP_EQUAL("", joined(table.complete("frob ")).c_str());
    STRCMP_EQUAL("", joined(table.complete("show x")).c_str());
}

TEST(CommandTable, CompletesArgumentValues) {
    STRCMP_EQUAL("lan wan", joined(table.complete("show neighbors ")).c_str());
    STRCMP_EQUAL("wan", joined(table.complete("sh nei w")).c_str());
    STRCMP_EQUAL("debug error info warn", joined(table.complete("set log-level ")).c_str());
    STRCMP_EQUAL("info", joined(table.complete("set log-level in")).c_str());
    STRCMP_EQUAL("", joined(table.complete("ping ")).c_str());           // no completer
    STRCMP_EQUAL("", joined(table.complete("show neighbors wan ")).c_str()); // no more args
    STRCMP_EQUAL("", joined(table.complete("say \"open ")).c_str());     // bad quoting
}

TEST(CommandTable, HelpAllListsEveryCommandSortedWithItsUsage) {
    const char* want = "help                          list every command\n"
                       "ping ADDRESS COUNT            send echo requests\n"
                       "refuse                        a handler that fails\n"
                       "say TEXT                      echo the argument\n"
                       "service restart               restart the SMTP service\n"
                       "set log-level LEVEL           logging threshold\n"
                       "set neighbor-cache-size SIZE  entries per port\n"
                       "show interfaces               ports, addresses and link state\n"
                       "show ip                       IPv4 addresses\n"
                       "show ipv6                     IPv6 addresses\n"
                       "show neighbors [PORT]         ARP and ND cache\n"
                       "show stats                    drop counters by reason\n";
    STRCMP_EQUAL(want, table.help_all().c_str());
    STRCMP_EQUAL((std::string("ok: ") + want).c_str(), run("help").c_str());
    UNSIGNED_LONGS_EQUAL(12, table.commands().size());
}

// ------------------------------------------------------------------ format_table

TEST_GROUP(FormatTable){};

TEST(FormatTable, AlignsColumnsTwoSpacesApart) {
    STRCMP_EQUAL("a    bb  c\n"
                 "ccc  d\n",
                 format_table({{"a", "bb", "c"}, {"ccc", "d"}}).c_str());
}

TEST(FormatTable, TrimsTrailingBlanksAndKeepsEmptyTables) {
    STRCMP_EQUAL("", format_table({}).c_str());
    STRCMP_EQUAL("x\nlonger  y\n", format_table({{"x", ""}, {"longer", "y"}}).c_str());
    STRCMP_EQUAL("\n", format_table({{}}).c_str());
}

TEST(FormatTable, FitsACounterTableIn80Columns) {
    const std::string t = format_table({{"reason", "count", "severity"},
                                        {"ipv4_bad_checksum", "12", "error"},
                                        {"arp_not_for_us", "123456789", "info"}});
    STRCMP_EQUAL("reason             count      severity\n"
                 "ipv4_bad_checksum  12         error\n"
                 "arp_not_for_us     123456789  info\n",
                 t.c_str());
}
