// mime_header_test.cc: header fields and MIME header values
// (mime/mime_header.h): field splitting and unfolding, Content-Type with
// parameters (quoted, unquoted, comments, duplicates), RFC 2231 values and
// continuations, Content-Transfer-Encoding tokens, Content-Disposition,
// RFC 2047 encoded-words (B and Q, adjacent words, malformed words).
#include "mime/mime_header.h"

#include <random>
#include <string>
#include <vector>

#include <CppUTest/TestHarness.h>

using namespace smtpgw::mime;

TEST_GROUP(MimeHeader){};

TEST(MimeHeader, FieldsAreSplitAndUnfolded) {
    const std::string block = "Subject: hello\r\n"
                              " world\r\n"
                              "\tagain\r\n"
                              "not a field\r\n"
                              "X-Empty:\r\n"
                              "Content-Type : text/plain\n"
                              "Bad Name: x\r\n"
                              "Last: value";
    HeaderFieldReader r(block);
    HeaderIssues issues;
    std::string_view name, raw;
    std::vector<std::pair<std::string, std::string>> fields;
    while (r.next(&name, &raw, &issues)) {
        std::string v;
        unfold(raw, &v);
        fields.emplace_back(std::string(name), v);
    }
    CHECK_EQUAL(4u, fields.size());
    STRCMP_EQUAL("Subject", fields[0].first.c_str());
    // RFC 5322 2.2.3: unfolding removes the line ends, not the blanks.
    STRCMP_EQUAL("hello world\tagain", fields[0].second.c_str());
    STRCMP_EQUAL("X-Empty", fields[1].first.c_str());
    STRCMP_EQUAL("", fields[1].second.c_str());
    STRCMP_EQUAL("Content-Type", fields[2].first.c_str()); // blank before ":"
    STRCMP_EQUAL("text/plain", fields[2].second.c_str());
    STRCMP_EQUAL("value", fields[3].second.c_str());
    CHECK_EQUAL(2u, issues.malformed_lines); // "not a field", "Bad Name"
}

TEST(MimeHeader, LeadingContinuationIsMalformed) {
    HeaderFieldReader r(" orphan\r\nA: b\r\n");
    HeaderIssues issues;
    std::string_view name, raw;
    CHECK_TRUE(r.next(&name, &raw, &issues));
    STRCMP_EQUAL("A", std::string(name).c_str());
    CHECK_FALSE(r.next(&name, &raw, &issues));
    CHECK_EQUAL(1u, issues.malformed_lines);
}

TEST(MimeHeader, ContentTypeTable) {
    struct Case {
        const char* in;
        bool valid;
        const char* type;
        const char* subtype;
        const char* param; // name=value checked, or nullptr
        const char* value;
        HeaderIssues issues;
    };
    const Case cases[] = {
        {"text/plain", true, "text", "plain", nullptr, nullptr, {}},
        {"Text/HTML; Charset=\"UTF-8\"", true, "text", "html", "charset", "UTF-8", {}},
        {"multipart/mixed; boundary=\"----=_Part_1\"",
         true,
         "multipart",
         "mixed",
         "boundary",
         "----=_Part_1",
         {}},
        {"multipart/mixed;\tboundary=abc ; x=y", true, "multipart", "mixed", "boundary", "abc", {}},
        {"text/plain (comment) ; charset=us-ascii (Plain text)",
         true,
         "text",
         "plain",
         "charset",
         "us-ascii",
         {}},
        {"(lead) text / plain", true, "text", "plain", nullptr, nullptr, {}},
        {"application/octet-stream; name=my file.exe",
         true,
         "application",
         "octet-stream",
         "name",
         "my file.exe",
         {}},
        {"text/plain; name=\"a\\\"b.txt\"", true, "text", "plain", "name", "a\"b.txt", {}},
        {"text/plain; name=\"unterminated",
         true,
         "text",
         "plain",
         "name",
         "unterminated",
         {.malformed_params = 1}},
        {"text/plain; novalue; a=b", true, "text", "plain", "a", "b", {.malformed_params = 1}},
        {"multipart/mixed; boundary=a; boundary=b",
         true,
         "multipart",
         "mixed",
         "boundary",
         "a",
         {.duplicate_params = 1}},
        {"text", false, "", "", nullptr, nullptr, {}},
        {"/plain", false, "", "", nullptr, nullptr, {}},
        {"text/; charset=x", false, "", "", "charset", "x", {}},
        {"", false, "", "", nullptr, nullptr, {}},
    };
    for (const auto& c : cases) {
        HeaderIssues issues;
        const MediaType mt = parse_content_type(c.in, &issues);
        CHECK_EQUAL_TEXT(c.valid, mt.valid, c.in);
        STRCMP_EQUAL_TEXT(c.type, mt.type.c_str(), c.in);
        STRCMP_EQUAL_TEXT(c.subtype, mt.subtype.c_str(), c.in);
        if (c.param) {
            const MimeParam* p = mt.find(c.param);
            CHECK_TRUE_TEXT(p != nullptr, c.in);
            if (p)
                STRCMP_EQUAL_TEXT(c.value, p->value.c_str(), c.in);
        }
        CHECK_TRUE_TEXT(issues == c.issues, c.in);
    }
}

TEST(MimeHeader, ConflictingDuplicateParameterIsFlagged) {
    HeaderIssues issues;
    MediaType mt = parse_content_type("multipart/mixed; boundary=a; boundary=b", &issues);
    CHECK_TRUE(mt.find("boundary")->conflicting);
    mt = parse_content_type("multipart/mixed; boundary=a; boundary=\"a\"", &issues);
    CHECK_FALSE(mt.find("boundary")->conflicting);
    CHECK_EQUAL(2u, issues.duplicate_params);
}

TEST(MimeHeader, Rfc2231Table) {
    struct Case {
        const char* in;
        std::string value;
        const char* charset;
        std::uint32_t bad;
    };
    const Case cases[] = {
        {"attachment; filename*=UTF-8''%E2%82%AC%20rates.txt", "\xe2\x82\xac rates.txt", "utf-8",
         0},
        {"attachment; filename*=iso-8859-1'en'r%E9sum%e9.doc", "r\xe9sum\xe9.doc", "iso-8859-1", 0},
        {"attachment; filename*0=\"long \"; filename*1=\"name.txt\"", "long name.txt", "", 0},
        {"attachment; filename*0*=UTF-8''long%20; filename*1=name.txt", "long name.txt", "utf-8",
         0},
        // Out of order sections are sorted (RFC 2231 3).
        {"attachment; filename*1=\"b.exe\"; filename*0=\"a\"", "ab.exe", "", 0},
        // A missing section ends the value.
        {"attachment; filename*0=\"a\"; filename*2=\"c\"", "a", "", 1},
        // filename* wins over filename (the newer syntax clients prefer).
        {"attachment; filename=\"plain.txt\"; filename*=UTF-8''ext.exe", "ext.exe", "utf-8", 0},
        // No charset'language' part.
        {"attachment; filename*=a%41", "aA", "", 1},
        // A bad %XX stays literal.
        {"attachment; filename*=UTF-8''100%", "100%", "utf-8", 1},
        // The same section twice: the first wins.
        {"attachment; filename*0=\"a\"; filename*0=\"b\"", "a", "", 1},
    };
    for (const auto& c : cases) {
        HeaderIssues issues;
        const Disposition d = parse_content_disposition(c.in, &issues);
        STRCMP_EQUAL_TEXT("attachment", d.type.c_str(), c.in);
        const MimeParam* p = d.find("filename");
        CHECK_TRUE_TEXT(p != nullptr, c.in);
        if (!p)
            continue;
        CHECK_TRUE_TEXT(p->value == c.value, c.in);
        STRCMP_EQUAL_TEXT(c.charset, p->charset.c_str(), c.in);
        CHECK_EQUAL_TEXT(c.bad, issues.bad_rfc2231, c.in);
    }
}

TEST(MimeHeader, HugeSectionNumbersAreMalformedNotOverflowed) {
    // Found by fuzz_mime_decoder: an RFC 2231 section of many digits made
    // the section number overflow an int (UBSan).
    const char* values[] = {"text/plain; name*800000000000=x", "text/plain; name*12345*=x",
                            "text/plain; name*99999999999999999999*=utf-8''x"};
    for (const char* v : values) {
        HeaderIssues issues;
        MediaType mt = parse_content_type(v, &issues);
        STRCMP_EQUAL_TEXT("text/plain", (mt.type + "/" + mt.subtype).c_str(), v);
        CHECK_TRUE_TEXT(issues.malformed_params >= 1, v);
    }
}

TEST(MimeHeader, AParameterWithOnlyOutOfRangeSectionsIsDropped) {
    // Found by fuzz_mime_decoder: every section of a name past the section
    // limit left no value, and the assembly read through a null pointer.
    HeaderIssues issues;
    MediaType mt = parse_content_type("application/x; name*82=a; name*99*=b; other=1", &issues);
    CHECK_TRUE(mt.find("name") == nullptr);
    CHECK_TRUE(mt.find("other") != nullptr);
    CHECK_TRUE(issues.bad_rfc2231 >= 2);
}

TEST(MimeHeader, TooManyParametersAreDropped) {
    std::string v = "text/plain";
    for (std::size_t i = 0; i < kMaxParams + 10; ++i)
        v += "; p" + std::to_string(i) + "=x";
    HeaderIssues issues;
    const MediaType mt = parse_content_type(v, &issues);
    CHECK_EQUAL(kMaxParams, mt.params.size());
    CHECK_EQUAL(10u, issues.malformed_params);
}

TEST(MimeHeader, TransferEncodingTable) {
    struct Case {
        const char* in;
        TransferEncoding e;
    };
    const Case cases[] = {
        {"", TransferEncoding::seven_bit},
        {"7bit", TransferEncoding::seven_bit},
        {"8BIT", TransferEncoding::eight_bit},
        {"Binary", TransferEncoding::binary},
        {" base64 ", TransferEncoding::base64},
        {"BASE64 (encoded)", TransferEncoding::base64},
        {"Quoted-Printable", TransferEncoding::quoted_printable},
        {"x-uuencode", TransferEncoding::uuencode},
        {"x-uue", TransferEncoding::uuencode},
        {"base-64", TransferEncoding::unknown},
        {"x-gzip64", TransferEncoding::unknown},
    };
    for (const auto& c : cases)
        CHECK_TRUE_TEXT(parse_transfer_encoding(c.in) == c.e, c.in);
}

TEST(MimeHeader, DispositionTable) {
    HeaderIssues issues;
    Disposition d = parse_content_disposition("INLINE", &issues);
    STRCMP_EQUAL("inline", d.type.c_str());
    d = parse_content_disposition("attachment; filename=\"report.pdf\"; size=100", &issues);
    STRCMP_EQUAL("attachment", d.type.c_str());
    STRCMP_EQUAL("report.pdf", d.find("filename")->value.c_str());
    STRCMP_EQUAL("100", d.find("size")->value.c_str());
    d = parse_content_disposition("; filename=x", &issues);
    STRCMP_EQUAL("", d.type.c_str());
    STRCMP_EQUAL("x", d.find("filename")->value.c_str());
    CHECK_TRUE(issues == HeaderIssues{});
}

TEST(MimeHeader, EncodedWordsTable) {
    struct Case {
        const char* in;
        std::string bytes;
        const char* charset;
        bool encoded;
        HeaderIssues issues;
    };
    const Case cases[] = {
        {"plain text", "plain text", "", false, {}},
        {"=?UTF-8?B?w6lsw6h2ZS5wZGY=?=", "\xc3\xa9l\xc3\xa8ve.pdf", "utf-8", true, {}},
        {"=?ISO-8859-1?Q?r=E9sum=E9.doc?=", "r\xe9sum\xe9.doc", "iso-8859-1", true, {}},
        {"=?utf-8?q?a_b?=", "a b", "utf-8", true, {}},
        // RFC 2047 6.2: blanks between adjacent words go; others stay.
        {"=?utf-8?q?a?= =?utf-8?q?b?=", "ab", "utf-8", true, {}},
        {"=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab", "utf-8", true, {}},
        {"x =?utf-8?q?a?= y", "x a y", "utf-8", true, {}},
        {"=?utf-8?q?a?= and =?utf-8?q?b?=", "a and b", "utf-8", true, {}},
        // RFC 2231 5: a language after "*".
        {"=?US-ASCII*EN?Q?Keith?=", "Keith", "us-ascii", true, {}},
        {"=?utf-8?b?YQ==?==?iso-8859-1?q?=E9?=", "a\xe9", "utf-8", true, {.mixed_charsets = 1}},
        // Malformed words stay as written.
        {"=?utf-8?x?abc?=", "=?utf-8?x?abc?=", "", false, {}},
        {"=?utf-8?q?a b?=", "=?utf-8?q?a b?=", "", false, {}},
        {"=?utf-8?q?open", "=?utf-8?q?open", "", false, {}},
        {"=?"
         "?q?a?=",
         "=?"
         "?q?a?=",
         "",
         false,
         {}},
        // Bad text inside a good word is decoded tolerantly and counted.
        {"=?utf-8?q?a=ZZ?=", "a=ZZ", "utf-8", true, {.bad_encoded_words = 1}},
        {"=?utf-8?b?Y*Q==?=", "a", "utf-8", true, {.bad_encoded_words = 1}},
        {"=?utf-8?b?"
         "?=",
         "",
         "utf-8",
         true,
         {}},
    };
    for (const auto& c : cases) {
        HeaderIssues issues;
        const DecodedText d = decode_encoded_words(c.in, &issues);
        CHECK_TRUE_TEXT(d.bytes == c.bytes, c.in);
        STRCMP_EQUAL_TEXT(c.charset, d.charset.c_str(), c.in);
        CHECK_EQUAL_TEXT(c.encoded, d.had_encoded_words, c.in);
        CHECK_TRUE_TEXT(issues == c.issues, c.in);
    }
}

TEST(MimeHeader, RandomValuesNeverBreakTheParsers) {
    std::mt19937 rng(2024);
    const char pool[] = "=?;\"'*%()\\\r\n \tabcXYZ019/_-";
    for (int round = 0; round < 3000; ++round) {
        std::string v(static_cast<std::size_t>(rng() % 120), '\0');
        for (char& c : v)
            c = rng() % 8 == 0 ? static_cast<char>(rng()) : pool[rng() % (sizeof(pool) - 1)];
        HeaderIssues issues;
        const MediaType mt = parse_content_type(v, &issues);
        CHECK_TRUE(mt.params.size() <= kMaxParams);
        parse_content_disposition(v, &issues);
        parse_transfer_encoding(v);
        const DecodedText d = decode_encoded_words(v, &issues);
        CHECK_TRUE(d.bytes.size() <= v.size());
        HeaderFieldReader r(v);
        std::string_view name, raw;
        while (r.next(&name, &raw, &issues))
            CHECK_TRUE(!name.empty());
    }
}
