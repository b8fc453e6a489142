// rule_verdict_test.cc: matched rules to accept / tag / reject
// (rules/rule_verdict.h): a table of match sets against one rule file with
// the exact action, score, reply and header; the threshold settings
// (default 10, tag instead of reject, 0 = off); duplicates and stray
// indexes ignored; long rule lists cut within RFC bounds; a verdict from a
// real matcher's matches.
#include "rules/rule_verdict.h"

#include <string>
#include <vector>

#include <CppUTest/TestHarness.h>

using namespace smtpgw::rules;

namespace {

const char* kRules = "SMTPGW-0001 /gtube/ raw-body reject \"GTUBE spam test string\"\n" // 0
                     "SMTPGW-0002 /tagme/ text tag \"Tagged phrase\"\n"                 // 1
                     "SMTPGW-0003 /three/ text score=3 \"three\"\n"                     // 2
                     "SMTPGW-0004 /four/ text score=4 \"four\"\n"                       // 3
                     "SMTPGW-0005 /seven/ text score=7 \"seven\"\n"                     // 4
                     "SMTPGW-0006 /exe/ attachment reject \"Windows \\\"exe\\\"\"\n"    // 5
                     "SMTPGW-0007 /ten/ text score=10 \"ten\"\n";                       // 6

std::vector<Rule> rules() {
    auto p = parse_rule_file(kRules);
    CHECK_TRUE(p.ok());
    return p.rules;
}

std::string ids(const Verdict& v) {
    std::string s;
    for (auto i : v.rules) {
        if (!s.empty())
            s += ',';
        s += std::to_string(i);
    }
    return s;
}

struct Case {
    std::vector<std::uint32_t> matched;
    VerdictAction action;
    long score;
    const char* rules;
    const char* reply;
    const char* header;
};

} // namespace

TEST_GROUP(RuleVerdict){};

TEST(RuleVerdict, MatchSetsGiveTheirVerdicts) {
    const auto r = rules();
    const Case cases[] = {
        {{}, VerdictAction::accept, 0, "", "", ""},
        {{2}, VerdictAction::accept, 3, "2", "", ""},
        {{2, 3}, VerdictAction::accept, 7, "2,3", "", ""},
        {{0},
         VerdictAction::reject,
         0,
         "0",
         "550 5.7.1 Message rejected by rule SMTPGW-0001 (GTUBE spam test string)",
         ""},
        {{1},
         VerdictAction::tag,
         0,
         "1",
         "",
         "X-Smtpgw-Verdict: tagged; rules=SMTPGW-0002; score=0"},
        {{4, 1},
         VerdictAction::tag,
         7,
         "1,4",
         "",
         "X-Smtpgw-Verdict: tagged; rules=SMTPGW-0002,SMTPGW-0005; score=7"},
        // Reject wins over tag and over scores; the first reject rule in
        // file order is named, whatever order they matched in.
        {{1, 5, 4, 0},
         VerdictAction::reject,
         7,
         "0,1,4,5",
         "550 5.7.1 Message rejected by rule SMTPGW-0001 (GTUBE spam test string)",
         ""},
        {{5, 1},
         VerdictAction::reject,
         0,
         "1,5",
         "550 5.7.1 Message rejected by rule SMTPGW-0006 (Windows \"exe\")",
         ""},
        // The threshold (10) is reached: at it, and above it.
        {{2, 4},
         VerdictAction::reject,
         10,
         "2,4",
         "550 5.7.1 Message rejected: score 10 reaches threshold 10 (rules SMTPGW-0003,"
         "SMTPGW-0005)",
         ""},
        {{6},
         VerdictAction::reject,
         10,
         "6",
         "550 5.7.1 Message rejected: score 10 reaches threshold 10 (rules SMTPGW-0007)",
         ""},
        {{1, 2, 3, 4},
         VerdictAction::reject,
         14,
         "1,2,3,4",
         "550 5.7.1 Message rejected: score 14 reaches threshold 10 (rules SMTPGW-0003,"
         "SMTPGW-0004,SMTPGW-0005)",
         ""},
        // Duplicates and indexes outside the set are ignored.
        {{2, 2, 2, 99, 3}, VerdictAction::accept, 7, "2,3", "", ""},
    };
    for (const auto& c : cases) {
        auto v = decide(r, c.matched);
        std::string what = "rules " + std::string(c.rules);
        LONGS_EQUAL_TEXT(static_cast<int>(c.action), static_cast<int>(v.action), what.c_str());
        LONGS_EQUAL_TEXT(c.score, v.score, what.c_str());
        STRCMP_EQUAL_TEXT(c.rules, ids(v).c_str(), what.c_str());
        STRCMP_EQUAL_TEXT(c.reply, v.reply.c_str(), what.c_str());
        STRCMP_EQUAL_TEXT(c.header, v.tag_header.c_str(), what.c_str());
        CHECK_EQUAL_TEXT(v.action == VerdictAction::reject &&
                             v.reply.find("by rule") != std::string::npos,
                         v.deciding_rule.has_value(), what.c_str());
    }
}

TEST(RuleVerdict, ThresholdSettings) {
    const auto r = rules();
    const std::vector<std::uint32_t> seven_and_four = {3, 4};
    VerdictSettings tag_over;
    tag_over.over_threshold = VerdictAction::tag;
    auto v = decide(r, seven_and_four, tag_over);
    CHECK(v.action == VerdictAction::tag);
    STRCMP_EQUAL("X-Smtpgw-Verdict: tagged; rules=SMTPGW-0004,SMTPGW-0005; score=11",
                 v.tag_header.c_str());
    STRCMP_EQUAL("", v.reply.c_str());
    // accept as the threshold action means tag: reaching it is never silent.
    tag_over.over_threshold = VerdictAction::accept;
    CHECK(decide(r, seven_and_four, tag_over).action == VerdictAction::tag);

    VerdictSettings low;
    low.score_threshold = 3;
    CHECK(decide(r, std::vector<std::uint32_t>{2}, low).action == VerdictAction::reject);
    low.score_threshold = 4;
    CHECK(decide(r, std::vector<std::uint32_t>{2}, low).action == VerdictAction::accept);

    VerdictSettings off;
    off.score_threshold = 0;
    v = decide(r, std::vector<std::uint32_t>{2, 3, 4, 6}, off);
    CHECK(v.action == VerdictAction::accept);
    LONGS_EQUAL(24, v.score);
    v = decide(r, std::vector<std::uint32_t>{1, 6}, off);
    CHECK(v.action == VerdictAction::tag);
    STRCMP_EQUAL("X-Smtpgw-Verdict: tagged; rules=SMTPGW-0002,SMTPGW-0007; score=10",
                 v.tag_header.c_str());
    STRCMP_EQUAL("accept", std::string(action_name(VerdictAction::accept)).c_str());
    STRCMP_EQUAL("reject", std::string(action_name(VerdictAction::reject)).c_str());
}

TEST(RuleVerdict, LongRuleListsAreCutWithinProtocolBounds) {
    std::string text;
    std::vector<std::uint32_t> all;
    for (int i = 0; i < 300; ++i) {
        std::string id = "RULE-" + std::string(50, 'x') + "-" + std::to_string(i);
        text += id + " /p" + std::to_string(i) + "/ text score=1 \"d\"\n";
        all.push_back(static_cast<std::uint32_t>(i));
    }
    auto p = parse_rule_file(text);
    CHECK_TRUE(p.ok());
    auto v = decide(p.rules, all);
    CHECK(v.action == VerdictAction::reject);
    LONGS_EQUAL(300, v.score);
    LONGS_EQUAL(300, v.rules.size());
    CHECK_TEXT(v.reply.size() + 2 <= 512, v.reply.c_str());
    CHECK(v.reply.ends_with(",...)"));
    VerdictSettings tag_over;
    tag_over.over_threshold = VerdictAction::tag;
    v = decide(p.rules, all, tag_over);
    CHECK_TEXT(v.tag_header.size() <= 998, v.tag_header.c_str());
    CHECK(v.tag_header.find(",...; score=300") != std::string::npos);
    // A reject reply with the longest id and description fits too.
    auto longest = parse_rule_file(std::string(kMaxIdBytes, 'I') + " /x/ text reject \"" +
                                   std::string(kMaxDescriptionBytes, 'd') + "\"\n");
    v = decide(longest.rules, std::vector<std::uint32_t>{0});
    CHECK(v.reply.size() + 2 <= 512);
}

TEST(RuleVerdict, FromARealMatcher) {
    auto r = compile_rule_set(parse_rule_file(kRules), "t.rules");
    auto set = std::get<std::shared_ptr<const RuleSet>>(r);
    RuleScratch scratch;
    RuleMatcher m(*set, scratch);
    auto t = m.open(1, TargetKind::text);
    m.feed(t, "seven ... tagme ... three");
    m.close(t);
    CHECK_TRUE(m.ok());
    auto v = decide(*set, m.matches());
    CHECK(v.action == VerdictAction::reject);
    LONGS_EQUAL(10, v.score);
    STRCMP_EQUAL("1,2,4", ids(v).c_str());
    STRCMP_EQUAL("550 5.7.1 Message rejected: score 10 reaches threshold 10 (rules SMTPGW-0003,"
                 "SMTPGW-0005)",
                 v.reply.c_str());
}
