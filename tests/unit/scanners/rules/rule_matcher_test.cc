// rule_matcher_test.cc: per-message streaming matching (rules/rule_matcher.h)
// with the real Hyperscan: a match in one feed with its end offset; the
// same input cut at every byte offset into two feeds, and fed one byte at a
// time, gives the same matches; caseless, dotall, multiline and anchors;
// targets isolated; named headers; several parts, deduplicated per rule;
// the open-streams limit and the sticky error contract; stale handles;
// pooled streams reused across parts and messages; a scratch refitted to a
// larger set; one RuleSet shared by threads with their own scratch.
#include "rules/rule_matcher.h"

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include <CppUTest/TestHarness.h>

using namespace smtpgw::rules;

namespace {

std::shared_ptr<const RuleSet> compile(const std::string& text) {
    auto r = compile_rule_set(parse_rule_file(text), "t.rules");
    if (auto* errors = std::get_if<std::vector<std::string>>(&r))
        FAIL((*errors)[0].c_str());
    return std::get<std::shared_ptr<const RuleSet>>(r);
}

// "ID@part:offset,..." in match order.
std::string matches_of(const RuleMatcher& m) {
    std::string s;
    for (const auto& match : m.matches()) {
        if (!s.empty())
            s += ",";
        s += m.rule_set().rules()[match.rule].id + "@" + std::to_string(match.part) + ":" +
             std::to_string(match.end_offset);
    }
    return s;
}

// Sorted by rule so feeds that report in another order compare equal.
std::string sorted_matches_of(const RuleMatcher& m) {
    auto v = m.matches();
    std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.rule < b.rule; });
    std::string s;
    for (const auto& match : v)
        s += m.rule_set().rules()[match.rule].id + ":" + std::to_string(match.end_offset) + " ";
    return s;
}

std::string scan_body(const RuleSet& set, const std::string& body) {
    RuleScratch scratch;
    RuleMatcher m(set, scratch);
    auto h = m.open(1, TargetKind::raw_body);
    m.feed(h, body);
    m.close(h);
    CHECK_TRUE(m.ok());
    return matches_of(m);
}

const char* kBodyRules =
    "LIT /GTUBE-STANDARD-ANTI-UBE-TEST/ raw-body reject \"literal\"\n"
    "CASE /free\\s+money/i raw-body score=3 \"caseless\"\n"
    "DOT /begin.+end/s raw-body score=2 \"dotall across lines\"\n"
    "NODOT /alpha.beta/ raw-body tag \"no dotall: no newline\"\n"
    "START /\\AFrom:/ raw-body tag \"anchored at the stream start\"\n"
    "LINE /^bcc:/m raw-body tag \"multiline line start\"\n"
    "TAIL /bye\\s*\\z/ raw-body tag \"end anchored\"\n"
    "CLASS /[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{4}/ raw-body score=1 \"card number\"\n"
    "BIN /\\x00\\xffPK/ raw-body tag \"binary bytes\"\n";

const std::string kBody = std::string("From: x\r\nFREE   Money now\nbegin\n...\nend\n"
                                      "alpha\nbeta alphaXbeta\nbcc: y\n1234-5678-9012-3456\n") +
                          std::string("\x00\xffPK", 4) +
                          " GTUBE-STANDARD-ANTI-UBE-TEST ok bye \r\n";

} // namespace

TEST_GROUP(RuleMatcher){};

TEST(RuleMatcher, OneFeedFindsEachRuleOnceWithItsEndOffset) {
    auto set = compile(kBodyRules);
    RuleScratch scratch;
    RuleMatcher m(*set, scratch);
    auto h = m.open(7, TargetKind::raw_body);
    CHECK(h.slot != StreamHandle::kInvalid);
    LONGS_EQUAL(1, m.open_streams());
    LONGS_EQUAL(MatchStatus::ok, m.feed(h, kBody));
    LONGS_EQUAL(MatchStatus::ok, m.close(h));
    LONGS_EQUAL(0, m.open_streams());
    STRCMP_EQUAL("LIT:122 CASE:21 DOT:39 NODOT:61 START:5 LINE:66 TAIL:132 CLASS:88 BIN:93 ",
                 sorted_matches_of(m).c_str());
    CHECK_TRUE(m.matched(0));
    for (const auto& match : m.matches())
        LONGS_EQUAL(7, match.part);
    // The same text again in the stream does not report a rule twice.
    RuleMatcher twice(*set, scratch);
    auto h2 = twice.open(1, TargetKind::raw_body);
    twice.feed(h2, kBody);
    twice.feed(h2, kBody);
    twice.close(h2);
    LONGS_EQUAL(9, twice.matches().size());
}

TEST(RuleMatcher, EveryCutAndByteAtATimeGiveTheSameMatches) {
    auto set = compile(kBodyRules);
    RuleScratch scratch;
    std::string whole;
    {
        RuleMatcher m(*set, scratch);
        auto h = m.open(1, TargetKind::raw_body);
        m.feed(h, kBody);
        m.close(h);
        whole = sorted_matches_of(m);
    }
    RuleMatcher m(*set, scratch);
    for (std::size_t cut = 0; cut <= kBody.size(); ++cut) {
        m.reset();
        auto h = m.open(1, TargetKind::raw_body);
        m.feed(h, std::string_view(kBody).substr(0, cut));
        m.feed(h, std::string_view(kBody).substr(cut));
        m.close(h);
        CHECK_TRUE(m.ok());
        STRCMP_EQUAL_TEXT(whole.c_str(), sorted_matches_of(m).c_str(),
                          ("cut at " + std::to_string(cut)).c_str());
    }
    m.reset();
    auto h = m.open(1, TargetKind::raw_body);
    for (char c : kBody)
        m.feed(h, std::string_view(&c, 1));
    m.feed(h, std::string_view()); // an empty feed is harmless
    m.close(h);
    STRCMP_EQUAL(whole.c_str(), sorted_matches_of(m).c_str());
}

TEST(RuleMatcher, FlagsChangeWhatMatches) {
    auto set = compile("C /abc/i raw-body tag \"caseless\"\n"
                       "S /x.y/s raw-body tag \"dotall\"\n"
                       "N /p.q/ raw-body tag \"no dotall\"\n"
                       "M /^line$/m raw-body tag \"multiline\"\n"
                       "A /^first/ raw-body tag \"stream start only\"\n"
                       "U /\\x{e9}t\\x{e9}/iu raw-body tag \"utf-8 caseless\"\n");
    STRCMP_EQUAL("C@1:3", scan_body(*set, "ABC").c_str());
    STRCMP_EQUAL("S@1:3", scan_body(*set, "x\ny").c_str());
    STRCMP_EQUAL("", scan_body(*set, "p\nq").c_str());
    STRCMP_EQUAL("N@1:3", scan_body(*set, "p q").c_str());
    STRCMP_EQUAL("M@1:8", scan_body(*set, "one\nline\ntwo").c_str());
    STRCMP_EQUAL("A@1:5", scan_body(*set, "first first").c_str());
    STRCMP_EQUAL("", scan_body(*set, " first").c_str());
    STRCMP_EQUAL("U@1:5", scan_body(*set, "\xc3\x89T\xc3\x89!").c_str()); // "ÉTÉ"
}

TEST(RuleMatcher, TargetsAreIsolated) {
    auto set = compile("B /secret/ raw-body reject \"body\"\n"
                       "H /secret/ raw-headers tag \"headers\"\n"
                       "T /secret/ text tag \"text\"\n"
                       "A /\\AMZ/ attachment reject \"exe\"\n"
                       "S /secret/ header:Subject tag \"subject\"\n");
    RuleScratch scratch;
    const TargetKind kinds[] = {TargetKind::raw_body, TargetKind::raw_headers, TargetKind::text};
    const char* ids[] = {"B@1:6", "H@1:6", "T@1:6"};
    for (int i = 0; i < 3; ++i) {
        RuleMatcher m(*set, scratch);
        auto h = m.open(1, kinds[i]);
        m.feed(h, "secret MZ");
        m.close(h);
        STRCMP_EQUAL(ids[i], matches_of(m).c_str());
    }
    RuleMatcher m(*set, scratch);
    auto a = m.open(2, TargetKind::attachment);
    m.feed(a, "secret MZ"); // MZ not at the start of the attachment
    m.close(a);
    STRCMP_EQUAL("", matches_of(m).c_str());
    a = m.open(3, TargetKind::attachment);
    m.feed(a, "MZ secret");
    m.close(a);
    STRCMP_EQUAL("A@3:2", matches_of(m).c_str());
}

TEST(RuleMatcher, NamedHeadersGetOnlyTheirRules) {
    auto set = compile("S /urgent/i header:Subject score=3 \"subject\"\n"
                       "F /@evil\\.example>?$/ header:From reject \"sender\"\n"
                       "R /urgent/i raw-headers score=1 \"anywhere in the headers\"\n");
    RuleScratch scratch;
    RuleMatcher m(*set, scratch);
    LONGS_EQUAL(MatchStatus::ok, m.scan_header(1, "From", "Boss <boss@good.example>"));
    LONGS_EQUAL(MatchStatus::ok, m.scan_header(1, "To", "urgent@evil.example"));
    LONGS_EQUAL(MatchStatus::ok, m.scan_header(1, "X-Subject", "URGENT"));
    STRCMP_EQUAL("", matches_of(m).c_str());
    m.scan_header(1, "SUBJECT", "Re: Urgent");
    m.scan_header(2, "from", "x@evil.example");
    STRCMP_EQUAL("S@1:10,F@2:14", matches_of(m).c_str());
    // A header value may also be streamed.
    RuleMatcher s(*set, scratch);
    auto h = s.open(1, TargetKind::header, "subject");
    s.feed(h, "Re: urg");
    s.feed(h, "ENT!");
    s.close(h);
    STRCMP_EQUAL("S@1:10", matches_of(s).c_str());
    // A header without rules costs nothing and opens no stream.
    auto none = s.open(1, TargetKind::header, "Received");
    LONGS_EQUAL(StreamHandle::kNoRules, none.slot);
    LONGS_EQUAL(0, s.open_streams());
    LONGS_EQUAL(MatchStatus::ok, s.feed(none, "urgent"));
    LONGS_EQUAL(MatchStatus::ok, s.close(none));
}

TEST(RuleMatcher, SeveralPartsInterleavedEachRuleOnceFirstPartKept) {
    auto set = compile("W /word/ text score=1 \"w\"\n"
                       "X /xyz/ text score=1 \"x\"\n"
                       "Z /zip/ attachment score=1 \"z\"\n");
    RuleScratch scratch;
    RuleMatcher m(*set, scratch);
    auto p1 = m.open(1, TargetKind::text);
    auto p2 = m.open(2, TargetKind::text);
    auto p3 = m.open(3, TargetKind::attachment);
    LONGS_EQUAL(3, m.open_streams());
    m.feed(p1, "wo");
    m.feed(p2, "wor");
    m.feed(p3, "zi");
    m.feed(p1, "rd");    // part 1 completes "word" first
    m.feed(p2, "d xyz"); // part 2: "word" again (not reported), then "xyz"
    m.feed(p3, "p");
    m.close(p1);
    m.close(p2);
    m.close(p3);
    STRCMP_EQUAL("W@1:4,X@2:8,Z@3:3", matches_of(m).c_str());
}

TEST(RuleMatcher, OpenStreamsAreBoundedAndErrorsAreSticky) {
    auto set = compile("W /word/ text score=1 \"w\"\n");
    RuleScratch scratch;
    RuleMatcher m(*set, scratch, 2);
    LONGS_EQUAL(2, m.max_open_streams());
    auto a = m.open(1, TargetKind::text);
    auto b = m.open(2, TargetKind::text);
    // A target without rules opens nothing, so it is not limited.
    CHECK(m.open(3, TargetKind::raw_body).slot == StreamHandle::kNoRules);
    m.close(a);
    auto c = m.open(4, TargetKind::text); // a freed slot is reusable
    CHECK(c.slot != StreamHandle::kInvalid);
    auto d = m.open(5, TargetKind::text);
    CHECK(d.slot == StreamHandle::kInvalid);
    LONGS_EQUAL(MatchStatus::too_many_streams, m.status());
    CHECK_FALSE(m.ok());
    STRCMP_EQUAL("too many streams open", std::string(status_name(m.status())).c_str());
    // Sticky: later calls return the error and ignore bytes.
    LONGS_EQUAL(MatchStatus::too_many_streams, m.feed(b, "word"));
    LONGS_EQUAL(MatchStatus::too_many_streams, m.close(b));
    LONGS_EQUAL(MatchStatus::too_many_streams, m.close(c));
    LONGS_EQUAL(0, m.matches().size());
    LONGS_EQUAL(0, m.open_streams());
    // reset() makes it usable for the next message.
    m.reset();
    CHECK_TRUE(m.ok());
    auto e = m.open(6, TargetKind::text);
    m.feed(e, "word");
    m.close(e);
    STRCMP_EQUAL("W@6:4", matches_of(m).c_str());
    // Limits are clamped to 1..kMaxOpenStreamsLimit.
    LONGS_EQUAL(1, RuleMatcher(*set, scratch, 0).max_open_streams());
    LONGS_EQUAL(kMaxOpenStreamsLimit, RuleMatcher(*set, scratch, 1u << 30).max_open_streams());
}

TEST(RuleMatcher, StaleAndForeignHandlesAreRefused) {
    auto set = compile("W /word/ text score=1 \"w\"\n");
    RuleScratch scratch;
    RuleMatcher m(*set, scratch);
    auto a = m.open(1, TargetKind::text);
    m.close(a);
    auto b = m.open(2, TargetKind::text); // same slot, next generation
    LONGS_EQUAL(a.slot, b.slot);
    LONGS_EQUAL(MatchStatus::bad_handle, m.feed(a, "word"));
    LONGS_EQUAL(0, m.matches().size());
    RuleMatcher fresh(*set, scratch);
    LONGS_EQUAL(MatchStatus::bad_handle, fresh.close(StreamHandle{}));
    RuleMatcher other(*set, scratch);
    LONGS_EQUAL(MatchStatus::bad_handle, other.feed(StreamHandle{1000, 1}, "word"));
}

TEST(RuleMatcher, StreamsArePooledAcrossPartsAndMessages) {
    auto set = compile("W /word$/ text score=1 \"end-anchored w\"\n"
                       "A /zip/ attachment score=1 \"z\"\n");
    RuleScratch scratch;
    RuleMatcher m(*set, scratch, 1);
    for (PartId part = 1; part <= 5; ++part) {
        // Alternating databases in a single slot: each open must rewind
        // (same database) or replace (other database) the pooled stream.
        auto t = m.open(part, part % 2 ? TargetKind::text : TargetKind::attachment);
        m.feed(t, part == 4 ? "zip" : "the word");
        m.close(t);
    }
    STRCMP_EQUAL("W@1:8,A@4:3", matches_of(m).c_str());
    // A stream left open is dropped by reset() without reporting its end.
    m.reset();
    auto t = m.open(9, TargetKind::text);
    m.feed(t, "word");
    m.reset();
    LONGS_EQUAL(0, m.matches().size());
    t = m.open(9, TargetKind::text);
    m.feed(t, "no match: word then more");
    m.close(t);
    LONGS_EQUAL(0, m.matches().size());
}

TEST(RuleMatcher, AScratchIsRefittedToALargerSet) {
    auto small = compile("A /a/ text tag \"a\"\n");
    std::string many;
    for (int i = 0; i < 200; ++i) {
        const std::string n = std::to_string(i);
        many += 'R';
        many += n;
        many += " /w";
        many += n;
        many += "[a-z]{3,40}x\\d+/is ";
        many += i % 2 ? "text" : "attachment";
        many += " score=1 \"r\"\n";
    }
    auto big = compile(many);
    RuleScratch scratch;
    CHECK_TRUE(scratch.fit(*small));
    CHECK_TRUE(scratch.fits(*small));
    CHECK_FALSE(scratch.fits(*big));
    RuleMatcher m(*big, scratch); // fits it
    CHECK_TRUE(m.ok());
    CHECK_TRUE(scratch.fits(*big));
    auto h = m.open(1, TargetKind::text);
    m.feed(h, "W199abcdefx42");
    m.close(h);
    STRCMP_EQUAL("R199@1:12", matches_of(m).c_str());
    // Moved scratch keeps working.
    RuleScratch moved = std::move(scratch);
    CHECK(scratch.get() == nullptr);
    RuleMatcher again(*small, moved);
    auto g = again.open(1, TargetKind::text);
    again.feed(g, "a");
    again.close(g);
    STRCMP_EQUAL("A@1:1", matches_of(again).c_str());
}

TEST(RuleMatcher, OneSetSharedByThreadsEachWithItsScratch) {
    auto set = compile(kBodyRules);
    std::string expected;
    {
        RuleScratch scratch;
        RuleMatcher m(*set, scratch);
        auto h = m.open(1, TargetKind::raw_body);
        m.feed(h, kBody);
        m.close(h);
        expected = sorted_matches_of(m);
    }
    std::vector<std::string> results(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            RuleScratch scratch; // per thread
            for (int i = 0; i < 200; ++i) {
                RuleMatcher m(*set, scratch);
                auto h = m.open(1, TargetKind::raw_body);
                for (std::size_t off = 0; off < kBody.size(); off += 7)
                    m.feed(h, std::string_view(kBody).substr(off, 7));
                m.close(h);
                std::string got = sorted_matches_of(m);
                if (i == 0 || got != results[t])
                    results[t] = got;
            }
        });
    }
    for (auto& th : threads)
        th.join();
    for (const auto& r : results)
        STRCMP_EQUAL(expected.c_str(), r.c_str());
}
