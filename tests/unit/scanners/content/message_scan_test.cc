// message_scan_test.cc: one message's content scan (content/message_scan.h)
// with the real MIME decoder, the real Hyperscan and the real libclamav:
// a table of messages and their verdicts (each rule target, QP and base64
// bodies, encoded subjects, MIME limits, the raw body starting after the
// header), the same verdict and antivirus parts for every two-piece split,
// parts kept byte-exact for the antivirus, its budgets, and the EICAR file
// found by the project's signatures in a decoded attachment.
#include "content/message_scan.h"

#include <string>
#include <vector>

#include <CppUTest/TestHarness.h>

using namespace smtpgw;
using namespace smtpgw::content;

namespace {

const char* kRules = "T-GTUBE /GTUBE-TEST/ raw-body reject \"spam test string\"\n"
                     "T-MZ /\\AMZ/ attachment reject \"Windows executable\"\n"
                     "T-PHISH /verify your account/i text score=4 \"phishing phrase\"\n"
                     "T-URGENT /urgent/i header:Subject score=3 \"urgent subject\"\n"
                     "T-EXT /name=\"?[^\";\\r\\n]*\\.exe/i raw-headers reject \"exe name\"\n"
                     "T-TAG /bitcoin wallet/i text tag \"bitcoin\"\n"
                     "T-HIGH /pay now or else/i text score=12 \"threat\"\n";

std::shared_ptr<const rules::RuleSet> rule_set() {
    static std::shared_ptr<const rules::RuleSet> set = [] {
        auto r = rules::compile_rule_set(rules::parse_rule_file(kRules), "t.rules");
        if (auto* errors = std::get_if<std::vector<std::string>>(&r))
            FAIL((*errors)[0].c_str());
        return std::get<std::shared_ptr<const rules::RuleSet>>(r);
    }();
    return set;
}

const std::string kEicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

std::string base64(const std::string& in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        unsigned v =
            (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
        out += t[v >> 18 & 63], out += t[v >> 12 & 63], out += t[v >> 6 & 63], out += t[v & 63];
        if (out.size() % 77 == 76)
            out += "\r\n";
    }
    if (i + 1 == in.size()) {
        unsigned v = (unsigned char)in[i] << 16;
        out += t[v >> 18 & 63], out += t[v >> 12 & 63], out += "==";
    } else if (i + 2 == in.size()) {
        unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
        out += t[v >> 18 & 63], out += t[v >> 12 & 63], out += t[v >> 6 & 63], out += '=';
    }
    return out + "\r\n";
}

std::string with_attachment(const std::string& name, const std::string& content) {
    return "From: a@example.org\r\nSubject: files\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
           "--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
           "--b1\r\nContent-Type: application/octet-stream; name=\"" +
           name + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64(content) +
           "--b1--\r\n";
}

struct Scanned {
    ScanOutcome outcome;
    MessageVerdict verdict;
};

Scanned scan(const std::string& message, const ScanSettings& settings = {},
             std::size_t split = std::string::npos) {
    rules::RuleScratch scratch;
    MessageScan s(rule_set(), scratch, settings);
    if (split == std::string::npos) {
        s.feed(message);
    } else {
        s.feed(std::string_view(message).substr(0, split));
        s.feed(std::string_view(message).substr(split));
    }
    Scanned out;
    out.outcome = s.finish();
    out.verdict = decide(out.outcome, settings, rule_set().get());
    return out;
}

std::string ids(const MessageVerdict& v) {
    std::string s;
    for (const auto& id : v.rule_ids)
        s += (s.empty() ? "" : ",") + id;
    return s;
}

std::shared_ptr<const av::AvEngine> engine() {
    static std::shared_ptr<const av::AvEngine> e = [] {
        auto r = av::AvEngine::load(SMTPGW_AV_SIGNATURES);
        if (auto* why = std::get_if<std::string>(&r))
            FAIL(why->c_str());
        return std::get<std::shared_ptr<const av::AvEngine>>(r);
    }();
    return e;
}

} // namespace

TEST_GROUP(MessageScan){};

TEST(MessageScan, VerdictsTable) {
    struct Case {
        const char* name;
        std::string message;
        Disposition action;
        std::uint16_t code;
        const char* reason;
        const char* rules;
    };
    const std::string hdr = "From: a@example.org\r\nSubject: hello\r\n";
    const Case cases[] = {
        {"clean text", hdr + "\r\nnothing to see\r\n", Disposition::accept, 250, "", ""},
        {"raw-body rule", hdr + "\r\nxx GTUBE-TEST xx\r\n", Disposition::reject, 550,
         "rule=T-GTUBE", "T-GTUBE"},
        {"raw-body rules do not read the header",
         "From: a@example.org\r\nSubject: GTUBE-TEST\r\n\r\nbody\r\n", Disposition::accept, 250, "",
         ""},
        {"raw-body after a bare-LF header", "Subject: x\n\nGTUBE-TEST\n", Disposition::reject, 550,
         "rule=T-GTUBE", "T-GTUBE"},
        {"text rule in a quoted-printable body with a soft break",
         hdr + "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
               "please verify your acc=\r\nount\r\n",
         Disposition::accept, 250, "", "T-PHISH"},
        {"scores add up past the threshold",
         "Subject: URGENT\r\n\r\nverify your account and pay now or else\r\n", Disposition::reject,
         550, "score=19", "T-PHISH,T-URGENT,T-HIGH"},
        {"an RFC 2047 subject is decoded for header rules",
         "Subject: =?utf-8?B?VXJnZW50IQ==?=\r\n\r\nverify your account\r\n", Disposition::accept,
         250, "", "T-PHISH,T-URGENT"},
        {"tag rule", hdr + "\r\nsend to my bitcoin wallet\r\n", Disposition::tag, 250, "tagged",
         "T-TAG"},
        {"attachment rule on decoded base64", with_attachment("a.bin", "MZ\x90\x00rest"),
         Disposition::reject, 550, "rule=T-MZ", "T-MZ"},
        {"MZ in text is not an attachment", hdr + "\r\nMZ is a file header\r\n",
         Disposition::accept, 250, "", ""},
        {"raw-headers rule on a part header", with_attachment("setup.exe", "hello"),
         Disposition::reject, 550, "rule=T-EXT", "T-EXT"},
    };
    for (const auto& c : cases) {
        Scanned s = scan(c.message);
        STRCMP_EQUAL_TEXT(disposition_name(c.action).data(),
                          disposition_name(s.verdict.action).data(), c.name);
        LONGS_EQUAL_TEXT(c.code, s.verdict.code, c.name);
        STRCMP_EQUAL_TEXT(c.reason, s.verdict.reason.c_str(), c.name);
        STRCMP_EQUAL_TEXT(c.rules, ids(s.verdict).c_str(), c.name);
        CHECK_TRUE_TEXT(s.outcome.rules_status == rules::MatchStatus::ok, c.name);
    }
}

TEST(MessageScan, RejectReplyNamesTheRule) {
    Scanned s = scan("Subject: x\r\n\r\nGTUBE-TEST\r\n");
    STRCMP_EQUAL("5.7.1", s.verdict.enhanced.c_str());
    STRCMP_EQUAL("Message rejected by rule T-GTUBE (spam test string)", s.verdict.text.c_str());
}

TEST(MessageScan, TagHeaderNamesTheRules) {
    Scanned s = scan("Subject: x\r\n\r\nbitcoin wallet\r\n");
    STRCMP_EQUAL("X-Smtpgw-Verdict: tagged; rules=T-TAG; score=0", s.verdict.header.c_str());
}

TEST(MessageScan, EveryTwoPieceSplitGivesTheSameVerdictAndParts) {
    const std::string messages[] = {
        with_attachment("a.bin", "MZ\x90\x00 binary"),
        "Subject: URGENT\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        "verify your acc=\r\nount; pay now =\r\nor else GTUBE-=\r\nTEST\r\n",
        with_attachment("doc.txt", std::string(3000, 'q') + "end"),
    };
    for (const auto& m : messages) {
        Scanned whole = scan(m);
        for (std::size_t cut = 0; cut <= m.size(); ++cut) {
            Scanned part = scan(m, {}, cut);
            std::string where = "cut at " + std::to_string(cut);
            STRCMP_EQUAL_TEXT(whole.verdict.reason.c_str(), part.verdict.reason.c_str(),
                              where.c_str());
            STRCMP_EQUAL_TEXT(ids(whole.verdict).c_str(), ids(part.verdict).c_str(), where.c_str());
            LONGS_EQUAL_TEXT(whole.outcome.av_parts.size(), part.outcome.av_parts.size(),
                             where.c_str());
            for (std::size_t i = 0; i < whole.outcome.av_parts.size(); ++i)
                CHECK_TRUE_TEXT(whole.outcome.av_parts[i].bytes == part.outcome.av_parts[i].bytes,
                                where.c_str());
        }
    }
}

TEST(MessageScan, DecodedPartsAreKeptByteExactForTheAntivirus) {
    std::string binary;
    for (int i = 0; i < 5000; ++i)
        binary += static_cast<char>(i * 7 % 256);
    Scanned s = scan(with_attachment("data.bin", binary));
    LONGS_EQUAL(2, s.outcome.av_parts.size()); // the text part and the attachment
    STRCMP_EQUAL("part-1", s.outcome.av_parts[0].name.c_str());
    STRCMP_EQUAL("data.bin", s.outcome.av_parts[1].name.c_str());
    CHECK_TRUE(std::string(s.outcome.av_parts[1].bytes.begin(),
                           s.outcome.av_parts[1].bytes.end()) == binary);
    CHECK_FALSE(s.outcome.av_over_budget);
}

TEST(MessageScan, AntivirusOffKeepsNothing) {
    ScanSettings off;
    off.antivirus = false;
    Scanned s = scan(with_attachment("a.bin", "data"), off);
    LONGS_EQUAL(0, s.outcome.av_parts.size());
}

TEST(MessageScan, PartsPastTheAntivirusBudgetAreNeverClean) {
    struct Case {
        const char* name;
        std::uint64_t part, message;
        std::uint32_t parts;
    };
    const Case cases[] = {
        {"part too large", 100, 1 << 20, 256},
        {"message too large", 1 << 20, 100, 256},
        {"too many parts", 1 << 20, 1 << 20, 1},
    };
    for (const auto& c : cases) {
        ScanSettings st;
        st.av_max_part_bytes = c.part;
        st.av_max_message_bytes = c.message;
        st.av_max_parts = c.parts;
        Scanned s = scan(with_attachment("a.bin", std::string(500, 'z')), st);
        CHECK_TRUE_TEXT(s.outcome.av_over_budget, c.name);
        std::vector<av::AvResult> clean(s.outcome.av_parts.size());
        for (auto& r : clean)
            r.verdict = av::AvVerdict::clean;
        MessageVerdict v = add_antivirus(s.verdict, clean, s.outcome.av_over_budget, st);
        LONGS_EQUAL_TEXT(451, v.code, c.name);
        STRCMP_EQUAL_TEXT("4.3.0", v.enhanced.c_str(), c.name);
    }
}

TEST(MessageScan, MimeLimitTakesItsConfiguredVerdict) {
    std::string deep = "Subject: deep\r\n";
    for (int i = 0; i < 6; ++i)
        deep += "Content-Type: multipart/mixed; boundary=\"d" + std::to_string(i) +
                "\"\r\n\r\n--d" + std::to_string(i) + "\r\n";
    deep += "Content-Type: text/plain\r\n\r\nhidden\r\n";
    struct Case {
        Disposition setting;
        std::uint16_t code;
        const char* enhanced;
    };
    const Case cases[] = {{Disposition::reject, 554, "5.6.0"},
                          {Disposition::tempfail, 451, "4.3.0"},
                          {Disposition::accept, 250, ""}};
    for (const auto& c : cases) {
        ScanSettings st;
        st.mime.max_depth = 3;
        st.on_mime_limit = c.setting;
        Scanned s = scan(deep, st);
        CHECK_TRUE(s.outcome.mime.exceeded(mime::MimeLimit::depth));
        LONGS_EQUAL(c.code, s.verdict.code);
        STRCMP_EQUAL(c.enhanced, s.verdict.enhanced.c_str());
    }
}

TEST(MessageScan, EicarAttachmentIsFoundByTheRealEngine) {
    const std::string messages[] = {
        with_attachment("eicar.com", kEicar),
        // Nested one level deeper, in a forwarded message.
        "Subject: fwd\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
        "Content-Type: message/rfc822\r\n\r\n" +
            with_attachment("eicar.com", kEicar) + "--o--\r\n",
    };
    for (const auto& m : messages) {
        Scanned s = scan(m);
        CHECK_TRUE(s.verdict.action == Disposition::accept);
        std::vector<av::AvResult> results;
        for (const auto& p : s.outcome.av_parts)
            results.push_back(engine()->scan(p.bytes, p.name));
        MessageVerdict v = add_antivirus(s.verdict, results, false, {});
        LONGS_EQUAL(554, v.code);
        STRCMP_EQUAL("5.7.1", v.enhanced.c_str());
        STRCMP_CONTAINS("Smtpgw.Test.EICAR", v.reason.c_str());
        STRCMP_CONTAINS("virus found", v.text.c_str());
    }
}

TEST(MessageScan, AntivirusErrorsTakeTheirVerdictButNeverUndoARejection) {
    Scanned s = scan("Subject: x\r\n\r\nhello\r\n");
    av::AvResult err;
    err.verdict = av::AvVerdict::error;
    err.name = "timeout";
    MessageVerdict v = add_antivirus(s.verdict, std::span(&err, 1), false, {});
    LONGS_EQUAL(451, v.code);
    STRCMP_CONTAINS("antivirus error: timeout", v.text.c_str());

    Scanned bad = scan("Subject: x\r\n\r\nGTUBE-TEST\r\n");
    v = add_antivirus(bad.verdict, std::span(&err, 1), false, {});
    LONGS_EQUAL(550, v.code);
}

TEST(MessageScan, DispositionNamesRoundTrip) {
    for (auto d :
         {Disposition::accept, Disposition::tag, Disposition::reject, Disposition::tempfail})
        CHECK_TRUE(parse_disposition(disposition_name(d)) == d);
    CHECK_FALSE(parse_disposition("drop").has_value());
}

TEST(MessageScan, NoRulesStillDecodesForTheAntivirus) {
    rules::RuleScratch scratch;
    MessageScan s(nullptr, scratch, {});
    s.feed(with_attachment("a.bin", "payload"));
    ScanOutcome o = s.finish();
    MessageVerdict v = decide(o, {}, nullptr);
    CHECK_TRUE(v.action == Disposition::accept);
    LONGS_EQUAL(2, o.av_parts.size());
}
