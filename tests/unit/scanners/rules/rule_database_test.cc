// rule_database_test.cc: Hyperscan compilation of rule files and the
// database cache (rules/rule_database.h), with the real Hyperscan: one
// database per target and per header name; Hyperscan's compile errors
// mapped back to FILE:LINE of the rule; a bad file refused whole; the cache
// written, loaded with the same matches, and ignored (then rewritten) when
// corrupt, truncated, of other rules or unwritable; the key's inputs; the
// SHA-256 behind the key against FIPS 180-4 vectors; the shipped
// default.rules compiles and rejects GTUBE.
#include "rules/rule_database.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "rules/rule_matcher.h"

#include <CppUTest/TestHarness.h>

using namespace smtpgw::rules;
namespace fs = std::filesystem;

namespace {

std::string source_dir() {
    return fs::path(__FILE__)
        .parent_path()
        .parent_path()
        .parent_path()
        .parent_path()
        .parent_path()
        .string();
}

std::shared_ptr<const RuleSet> must_compile(const std::string& text, const std::string& cache = {},
                                            CacheReport* report = nullptr) {
    auto r = compile_rule_set(parse_rule_file(text), "t.rules", cache, report);
    if (auto* errors = std::get_if<std::vector<std::string>>(&r)) {
        std::string all;
        for (const auto& e : *errors)
            all += e + "\n";
        FAIL(all.c_str());
    }
    return std::get<std::shared_ptr<const RuleSet>>(r);
}

std::string errors_of(const std::string& text) {
    auto r = compile_rule_set(parse_rule_file(text), "t.rules");
    auto* errors = std::get_if<std::vector<std::string>>(&r);
    if (!errors)
        return "compiled";
    std::string all;
    for (const auto& e : *errors)
        all += all.empty() ? e : " | " + e;
    return all;
}

// The rule ids a message of raw body `body` matches.
std::string body_matches(const RuleSet& set, const std::string& body) {
    RuleScratch scratch;
    RuleMatcher m(set, scratch);
    auto h = m.open(1, TargetKind::raw_body);
    m.feed(h, body);
    m.close(h);
    CHECK_TRUE(m.ok());
    std::string ids;
    for (const auto& match : m.matches())
        ids += (ids.empty() ? "" : ",") + set.rules()[match.rule].id + '@' +
               std::to_string(match.end_offset);
    return ids;
}

std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
}

std::string hex(const std::array<std::uint8_t, 32>& d) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    for (auto b : d) {
        s += digits[b >> 4];
        s += digits[b & 15];
    }
    return s;
}

std::array<std::uint8_t, 32> sha(const std::string& s) {
    return sha256({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}

// Replaces the trailing checksum with the right one for the changed body,
// so the checks behind the checksum are reached.
std::string resum(std::string data) {
    auto body = data.substr(0, data.size() - 32);
    auto sum = sha(body);
    return body + std::string(reinterpret_cast<const char*>(sum.data()), sum.size());
}

const char* kRules = "# sample\n"
                     "B1 /needle/ raw-body reject \"needle\"\n"
                     "B2 /hay.stack/is raw-body score=4 \"haystack\"\n"
                     "H1 /urgent/i header:Subject score=3 \"urgent subject\"\n"
                     "H2 /evil\\.example/ header:from tag \"bad sender\"\n"
                     "H3 /free/i header:SUBJECT score=2 \"free\"\n"
                     "T1 /\\AMZ/ attachment reject \"exe\"\n"
                     "E1 /end\\z/ raw-body tag \"end anchored\"\n";

struct CacheDir {
    fs::path dir;
    CacheDir() {
        dir = fs::temp_directory_path() / "smtpgw_rule_database_test";
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    ~CacheDir() { fs::remove_all(dir); }
    std::string path(const char* name) const { return (dir / name).string(); }
};

} // namespace

TEST_GROUP(RuleDatabase){};

TEST(RuleDatabase, Sha256MatchesFips180Vectors) {
    STRCMP_EQUAL("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                 hex(sha("")).c_str());
    STRCMP_EQUAL("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                 hex(sha("abc")).c_str());
    STRCMP_EQUAL("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
                 hex(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).c_str());
    STRCMP_EQUAL(
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
        hex(sha("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjk"
                "lmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"))
            .c_str());
    STRCMP_EQUAL("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
                 hex(sha(std::string(1000000, 'a'))).c_str());
}

TEST(RuleDatabase, OneDatabasePerTargetAndPerHeaderName) {
    auto set = must_compile(kRules);
    LONGS_EQUAL(7, set->rules().size());
    // raw-body, attachment, then header:from and header:subject (sorted).
    LONGS_EQUAL(4, set->databases().size());
    CHECK(set->databases()[0].target == TargetKind::attachment);
    CHECK(set->databases()[1].target == TargetKind::raw_body);
    LONGS_EQUAL(3, set->databases()[1].rules);
    STRCMP_EQUAL("from", set->databases()[2].header_name.c_str());
    STRCMP_EQUAL("subject", set->databases()[3].header_name.c_str());
    LONGS_EQUAL(2, set->databases()[3].rules);
    for (const auto& d : set->databases()) {
        CHECK(d.db != nullptr);
        CHECK(d.stream_bytes > 0);
        CHECK(d.database_bytes > 0);
    }
    CHECK_TRUE(set->find_database(TargetKind::raw_body).has_value());
    CHECK_FALSE(set->find_database(TargetKind::text).has_value());
    CHECK_FALSE(set->find_database(TargetKind::raw_headers).has_value());
    LONGS_EQUAL(3, *set->find_database(TargetKind::header, "SuBjEcT"));
    LONGS_EQUAL(2, *set->find_database(TargetKind::header, "From"));
    CHECK_FALSE(set->find_database(TargetKind::header, "To").has_value());
    CHECK_FALSE(set->find_database(TargetKind::header, "subjec").has_value());
    LONGS_EQUAL(2, *set->find_rule("H1"));
    CHECK_FALSE(set->find_rule("nope").has_value());
    CHECK(set->prototype_scratch() != nullptr);
    LONGS_EQUAL(64, set->key_hex().size());
    CHECK(must_compile(kRules)->serial() != set->serial());
}

TEST(RuleDatabase, AnEmptyFileIsAnEmptySet) {
    auto set = must_compile("# nothing yet\n");
    LONGS_EQUAL(0, set->rules().size());
    LONGS_EQUAL(0, set->databases().size());
    STRCMP_EQUAL("", body_matches(*set, "anything").c_str());
}

TEST(RuleDatabase, CompileErrorsNameTheRuleLineAndHyperscansMessage) {
    // The bad rule is the second raw-body rule: expression index 1 of its
    // database, rule index 2 of the file, line 5.
    STRCMP_EQUAL("t.rules:5: rule BAD pattern /a{2,1}/: Invalid repeat at index 1.",
                 errors_of("# c\nA /fine/ raw-body tag \"a\"\nH /x/ header:To tag \"h\"\n\n"
                           "BAD /a{2,1}/ raw-body tag \"b\"\nC /also fine/ raw-body tag \"c\"\n")
                     .c_str());
    STRCMP_EQUAL("t.rules:1: rule E pattern /a*/i: Pattern matches empty buffer; use "
                 "HS_FLAG_ALLOWEMPTY to enable support.",
                 errors_of("E /a*/i text tag \"e\"\n").c_str());
    STRCMP_EQUAL("t.rules:2: rule R pattern /(a)\\1/: Back-references are unsupported.",
                 errors_of("A /a/ text tag \"a\"\nR /(a)\\1/ text tag \"r\"\n").c_str());
    // One error per database: bad rules of two targets are both reported.
    STRCMP_EQUAL("t.rules:1: rule X pattern /(/: Missing close parenthesis for group started "
                 "at index 0. | t.rules:2: rule Y pattern /[/: Unterminated character class "
                 "starting at index 0.",
                 errors_of("X /(/ text tag \"x\"\nY /[/ attachment tag \"y\"\n").c_str());
}

TEST(RuleDatabase, AFileWithAnyBadLineIsRefusedWhole) {
    STRCMP_EQUAL("t.rules:2: unknown action 'drop' (reject, tag, score=N)",
                 errors_of("A /a/ text tag \"a\"\nB /b/ text drop \"b\"\n").c_str());
}

TEST(RuleDatabase, CacheRoundTripGivesTheSameMatches) {
    CacheDir dir;
    auto cache = dir.path("rules.cache");
    const std::string body = "xx needle .. HAY\nSTACK .. the end";
    CacheReport rep;
    auto compiled = must_compile(kRules, cache, &rep);
    CHECK(rep.outcome == CacheOutcome::compiled_saved);
    STRCMP_EQUAL("", rep.note.c_str());
    CHECK_TRUE(fs::exists(cache));
    CHECK_FALSE(fs::exists(cache + ".tmp"));
    std::string expected = body_matches(*compiled, body);
    STRCMP_EQUAL("B1@9,B2@22,E1@33", expected.c_str());

    auto loaded = must_compile(kRules, cache, &rep);
    CHECK(rep.outcome == CacheOutcome::loaded);
    STRCMP_EQUAL("", rep.note.c_str());
    STRCMP_EQUAL(compiled->key_hex().c_str(), loaded->key_hex().c_str());
    LONGS_EQUAL(compiled->databases().size(), loaded->databases().size());
    STRCMP_EQUAL(expected.c_str(), body_matches(*loaded, body).c_str());
    // Headers and attachments from the cache too.
    RuleScratch scratch;
    RuleMatcher m(*loaded, scratch);
    m.scan_header(1, "Subject", "URGENT: free stuff");
    auto a = m.open(2, TargetKind::attachment);
    m.feed(a, "MZ\x90");
    m.close(a);
    LONGS_EQUAL(3, m.matches().size());

    // Descriptions and actions are read from the file, not the cache.
    std::string edited = kRules;
    edited.replace(edited.find("\"needle\""), 8, "\"sharp\"");
    auto relabelled = must_compile(edited, cache, &rep);
    CHECK(rep.outcome == CacheOutcome::loaded);
    STRCMP_EQUAL("sharp", relabelled->rules()[0].description.c_str());
}

TEST(RuleDatabase, CorruptTruncatedOrForeignCacheIsIgnoredAndRewritten) {
    CacheDir dir;
    auto cache = dir.path("rules.cache");
    CacheReport rep;
    must_compile(kRules, cache, &rep);
    const std::string good = read(cache);
    CHECK(good.size() > 100);

    struct Case {
        std::string data;
        const char* note;
    };
    std::string flipped = good;
    flipped[good.size() / 2] ^= 0x01;
    std::string bad_magic = good;
    bad_magic[0] = 'X';
    std::string other_version = good;
    other_version[8] = 2; // the format version, little-endian, after the magic
    const Case cases[] = {
        {flipped, "bad checksum"},
        {good.substr(0, good.size() - 1), "bad checksum"},
        {good.substr(0, 20), "truncated"},
        {"", "truncated"},
        {std::string(4096, '\xa5'), "bad checksum"},
        {bad_magic, "bad checksum"},
        {resum(bad_magic), "bad magic"},
        {resum(other_version), "other format version"},
        {resum(good.substr(0, good.size() - 32 - 1) + std::string(32, '\0')), "truncated"},
        {resum(good.substr(0, good.size() - 32) + "x" + std::string(32, '\0')), "trailing bytes"},
    };
    for (const auto& c : cases) {
        write(cache, c.data);
        auto set = must_compile(kRules, cache, &rep);
        CHECK_TEXT(rep.outcome == CacheOutcome::compiled_saved, c.note);
        CHECK_TEXT(rep.note.find(c.note) != std::string::npos, (rep.note + " / " + c.note).c_str());
        STRCMP_EQUAL("B1@6", body_matches(*set, "needle").c_str());
        // Rewritten: the next load uses it.
        must_compile(kRules, cache, &rep);
        CHECK_TEXT(rep.outcome == CacheOutcome::loaded, c.note);
    }

    // Another rule file's cache: key mismatch, recompiled, the new rules apply.
    auto other = must_compile("O1 /other/ raw-body reject \"o\"\n", cache, &rep);
    CHECK(rep.outcome == CacheOutcome::compiled_saved);
    STRCMP_EQUAL(
        ("cache " + cache + " ignored: key mismatch (rules, Hyperscan version or CPU changed)")
            .c_str(),
        rep.note.c_str());
    STRCMP_EQUAL("O1@5", body_matches(*other, "other needle").c_str());
    must_compile("O1 /other/ raw-body reject \"o\"\n", cache, &rep);
    CHECK(rep.outcome == CacheOutcome::loaded);
}

TEST(RuleDatabase, AnUnwritableCacheStillGivesTheRules) {
    CacheDir dir;
    auto cache = dir.path("missing-dir/rules.cache");
    CacheReport rep;
    auto set = must_compile(kRules, cache, &rep);
    CHECK(rep.outcome == CacheOutcome::compiled_unsaved);
    CHECK_TEXT(rep.note.find("cannot create") != std::string::npos, rep.note.c_str());
    STRCMP_EQUAL("B1@6", body_matches(*set, "needle").c_str());
    must_compile(kRules, {}, &rep);
    CHECK(rep.outcome == CacheOutcome::not_used);
    // A directory where the cache should be: not read, not replaced.
    auto taken = dir.path("taken");
    fs::create_directories(taken);
    must_compile(kRules, taken, &rep);
    CHECK(rep.outcome == CacheOutcome::compiled_unsaved);
    CHECK_TEXT(rep.note.find("ignored: not a regular file") != std::string::npos, rep.note.c_str());
    CHECK_TEXT(rep.note.find("cannot rename") != std::string::npos, rep.note.c_str());
    CHECK_TRUE(fs::is_directory(taken));
    CHECK_FALSE(fs::exists(taken + ".tmp"));
}

TEST(RuleDatabase, TheKeyCoversCompileInputsOnly) {
    auto key = [](const std::string& text) { return must_compile(text)->key_hex(); };
    const std::string base = key("A /abc/ text tag \"x\"\n");
    STRCMP_EQUAL(base.c_str(), key("A /abc/ text tag \"y\"\n").c_str());
    STRCMP_EQUAL(base.c_str(), key("# comment\nA /abc/ text score=3 \"x\"\n").c_str());
    STRCMP_EQUAL(base.c_str(), key("Z /abc/ text tag \"x\"\n").c_str());
    CHECK(base != key("A /abd/ text tag \"x\"\n"));
    CHECK(base != key("A /abc/i text tag \"x\"\n"));
    CHECK(base != key("A /abc/ attachment tag \"x\"\n"));
    CHECK(key("A /abc/ header:a tag \"x\"\n") != key("A /abc/ header:b tag \"x\"\n"));
    CHECK(base != key("A /abc/ text tag \"x\"\nB /abc/ text tag \"x\"\n"));
}

TEST(RuleDatabase, ShippedDefaultRulesCompileAndRejectGtube) {
    CacheReport rep;
    auto r = load_rule_set(source_dir() + "/scanners/rules/default.rules", {}, &rep);
    if (auto* errors = std::get_if<std::vector<std::string>>(&r))
        FAIL((*errors)[0].c_str());
    auto set = std::get<std::shared_ptr<const RuleSet>>(r);
    std::string gtube = "Subject: test\r\n\r\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-"
                        "TEST-EMAIL*C.34X\r\n";
    STRCMP_EQUAL("SMTPGW-0001@85", body_matches(*set, gtube).c_str());
    STRCMP_EQUAL("", body_matches(*set, "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE").c_str());

    auto missing = load_rule_set("/nonexistent/x.rules");
    auto* errors = std::get_if<std::vector<std::string>>(&missing);
    CHECK(errors != nullptr);
    STRCMP_EQUAL("/nonexistent/x.rules: cannot open: No such file or directory",
                 (*errors)[0].c_str());
}
