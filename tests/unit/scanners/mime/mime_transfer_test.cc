// mime_transfer_test.cc: the streaming transfer decoders (mime/mime_transfer.h):
// base64 with junk, missing or early padding; quoted-printable escapes, soft
// breaks, trailing blanks and invalid sequences; uuencode lines and bodies;
// every input fed whole, cut at every offset, and one octet at a time.
#include "mime/mime_transfer.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <CppUTest/TestHarness.h>

using namespace smtpgw::mime;

namespace {

std::span<const std::uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Feeds `in` to a fresh decoder of type D in pieces ending at `cuts`,
// checking each call stays within max_output().
template <typename D>
std::string decode_pieces(std::string_view in, const std::vector<std::size_t>& cuts,
                          D* out_decoder) {
    D d;
    std::string out;
    std::size_t pos = 0;
    std::vector<std::size_t> ends = cuts;
    ends.push_back(in.size());
    for (std::size_t end : ends) {
        const std::string_view piece = in.substr(pos, end - pos);
        std::vector<std::uint8_t> buf(D::max_output(piece.size()) + 1, 0xa5);
        const std::size_t n = d.decode(bytes(piece), buf.data());
        CHECK_TRUE(n <= D::max_output(piece.size()));
        out.append(reinterpret_cast<const char*>(buf.data()), n);
        pos = end;
    }
    std::uint8_t tail[D::kMaxFinishOutput + 1];
    const std::size_t n = d.finish(tail);
    CHECK_TRUE(n <= D::kMaxFinishOutput);
    out.append(reinterpret_cast<const char*>(tail), n);
    *out_decoder = d;
    return out;
}

// The output whole, then checks every two-piece split and one octet at a
// time give the same output and counts (compared with `same`).
template <typename D, typename Same>
std::string run_all_splits(std::string_view in, D* result, Same same) {
    const std::string whole = decode_pieces(in, {}, result);
    for (std::size_t cut = 0; cut <= in.size(); ++cut) {
        D d;
        const std::string split = decode_pieces(in, {cut}, &d);
        STRCMP_EQUAL_TEXT(whole.c_str(), split.c_str(), std::string(in).c_str());
        CHECK_EQUAL(whole.size(), split.size());
        CHECK_TRUE_TEXT(same(*result, d), std::string(in).c_str());
    }
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < in.size(); ++i)
        every.push_back(i);
    D d;
    const std::string bytewise = decode_pieces(in, every, &d);
    CHECK_TRUE_TEXT(whole == bytewise, std::string(in).c_str());
    CHECK_TRUE_TEXT(same(*result, d), std::string(in).c_str());
    return whole;
}

bool same_b64(const Base64Decoder& a, const Base64Decoder& b) {
    return a.bad_chars() == b.bad_chars() && a.after_padding() == b.after_padding() &&
           a.truncated() == b.truncated();
}
bool same_qp(const QpDecoder& a, const QpDecoder& b) {
    return a.bad_escapes() == b.bad_escapes();
}
bool same_uu(const UuDecoder& a, const UuDecoder& b) {
    return a.bad_lines() == b.bad_lines() && a.missing_end() == b.missing_end() &&
           a.saw_begin() == b.saw_begin();
}

// The uuencode of a 92-octet sample (Python binascii.b2a_uu, backtick=True).
const std::string kUuPayload("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"
                             "uu payload: this is the hidden file content, longer than one "
                             "line of uuencode!",
                             92);
const char* const kUuLines = "M35J0``,````$````__]U=2!P87EL;V%D.B!T:&ES(&ES('1H92!H:61D96X@\r\n"
                             "M9FEL92!C;VYT96YT+\"!L;VYG97(@=&AA;B!O;F4@;&EN92!O9B!U=65N8V]D\r\n"
                             "\"92$`\r\n"
                             "`\r\n";

} // namespace

TEST_GROUP(MimeTransfer){};

TEST(MimeTransfer, Base64Table) {
    struct Case {
        const char* name;
        const char* in;
        std::string out;
        std::uint64_t bad;
        std::uint64_t after_pad;
        std::uint32_t truncated;
    };
    const Case cases[] = {
        {"padded", "SGVsbG8=", "Hello", 0, 0, 0},
        {"no padding", "SGVsbG8", "Hello", 0, 0, 0},
        {"two pads", "SGVsbA==", "Hell", 0, 0, 0},
        {"lines", "SGVs\r\nbG8g\r\nd29y\r\nbGQ=\r\n", "Hello world", 0, 0, 0},
        {"blanks anywhere", "  S G V s\tbG8=  ", "Hello", 0, 0, 0},
        {"junk skipped and counted", "SGV*sbG8@!", "Hello", 3, 0, 0},
        {"extra pads", "SGVsbG8===\r\n", "Hello", 0, 0, 0},
        {"data after padding", "SGVsbA==SGk=", "HellHi", 0, 1, 0},
        {"dangling character", "SGVsbG8gS", "Hello ", 0, 0, 1},
        {"empty", "", "", 0, 0, 0},
        {"binary", "AAECAwQF/w==", std::string("\x00\x01\x02\x03\x04\x05\xff", 7), 0, 0, 0},
        {"url-safe alphabet is junk", "SGVs-_bG8", "Hello", 2, 0, 0},
        {"8-bit junk",
         "SGVs\xc3\xa4"
         "bG8",
         "Hello", 2, 0, 0},
    };
    for (const auto& c : cases) {
        Base64Decoder d;
        const std::string out = run_all_splits(c.in, &d, same_b64);
        CHECK_TRUE_TEXT(out == c.out, c.name);
        CHECK_EQUAL_TEXT(c.bad, d.bad_chars(), c.name);
        CHECK_EQUAL_TEXT(c.after_pad, d.after_padding(), c.name);
        CHECK_EQUAL_TEXT(c.truncated, d.truncated(), c.name);
    }
}

TEST(MimeTransfer, Base64RoundTripsRandomData) {
    std::mt19937 rng(7);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int round = 0; round < 50; ++round) {
        std::string data(static_cast<std::size_t>(rng() % 3000), '\0');
        for (char& c : data)
            c = static_cast<char>(rng());
        // Encode with 76-character lines (RFC 2045 6.8).
        std::string enc;
        std::size_t col = 0;
        for (std::size_t i = 0; i < data.size(); i += 3) {
            std::uint32_t v = static_cast<std::uint8_t>(data[i]) << 16;
            if (i + 1 < data.size())
                v |= static_cast<std::uint8_t>(data[i + 1]) << 8;
            if (i + 2 < data.size())
                v |= static_cast<std::uint8_t>(data[i + 2]);
            enc += alphabet[(v >> 18) & 63];
            enc += alphabet[(v >> 12) & 63];
            enc += i + 1 < data.size() ? alphabet[(v >> 6) & 63] : '=';
            enc += i + 2 < data.size() ? alphabet[v & 63] : '=';
            if ((col += 4) == 76) {
                enc += "\r\n";
                col = 0;
            }
        }
        Base64Decoder d;
        const std::size_t cut = enc.empty() ? 0 : rng() % enc.size();
        CHECK_TRUE(decode_pieces(enc, {cut}, &d) == data);
        CHECK_EQUAL(0u, d.bad_chars());
    }
}

TEST(MimeTransfer, QuotedPrintableTable) {
    struct Case {
        const char* name;
        const char* in;
        std::string out;
        std::uint64_t bad;
    };
    const Case cases[] = {
        {"escape", "a=3Db", "a=b", 0},
        {"lower case hex", "a=3db=c3=a9", "a=b\xc3\xa9", 0},
        {"escapes only", "=41=42=43", "ABC", 0},
        {"soft break CRLF", "soft=\r\nbreak", "softbreak", 0},
        {"soft break bare LF", "soft=\nbreak", "softbreak", 0},
        {"soft break after padding", "soft= \t\r\nbreak", "softbreak", 0},
        {"soft break bare CR", "soft=\rbreak", "softbreak", 0},
        {"hard line break kept", "a\r\nb\nc", "a\r\nb\nc", 0},
        {"trailing blanks deleted", "trail \t \r\nx  \ny", "trail\r\nx\ny", 0},
        {"trailing blanks at the end", "trail \t", "trail", 0},
        {"inner blanks kept", "a \t b", "a \t b", 0},
        {"blank before escape kept", "a =20\r\n", "a  \r\n", 0},
        {"equals at the end is a soft break", "end=", "end", 0},
        {"equals blanks at the end", "end=  ", "end", 0},
        {"invalid letters", "a=ZZb", "a=ZZb", 1},
        {"one hex digit then text", "a=4g", "a=4g", 1},
        {"one hex digit at the end", "a=4", "a=4", 1},
        {"equals space text", "a = b", "a = b", 1},
        {"two invalid", "=\x01=X", "=\x01=X", 2},
        {"equals equals", "==41", "=A", 1},
        {"8-bit passes", "caf\xe9", "caf\xe9", 0},
    };
    for (const auto& c : cases) {
        QpDecoder d;
        const std::string out = run_all_splits(c.in, &d, same_qp);
        STRCMP_EQUAL_TEXT(c.out.c_str(), out.c_str(), c.name);
        CHECK_EQUAL_TEXT(c.bad, d.bad_escapes(), c.name);
    }
}

TEST(MimeTransfer, QuotedPrintableLongBlankRunsAreContent) {
    // A blank run past kMaxPendingSpace is flushed as content; the rest of
    // the run before a line end is still deleted. Same for any split.
    const std::string in = std::string(300, ' ') + "\r\n" + std::string(10, '\t') + "x";
    QpDecoder d;
    const std::string out = run_all_splits(in, &d, same_qp);
    CHECK_TRUE(out == std::string(QpDecoder::kMaxPendingSpace, ' ') + "\r\n" +
                          std::string(10, '\t') + "x");
}

TEST(MimeTransfer, UuencodeLines) {
    std::string_view name;
    CHECK_TRUE(parse_uu_begin("begin 644 evil.exe", &name));
    CHECK_TRUE(name == "evil.exe");
    CHECK_TRUE(parse_uu_begin("begin 0755   my file.txt  \r", &name));
    CHECK_TRUE(name == "my file.txt");
    CHECK_FALSE(parse_uu_begin("begin 644", &name));
    CHECK_FALSE(parse_uu_begin("begin 648 x", &name));
    CHECK_FALSE(parse_uu_begin("begin-base64 644 x", &name));
    CHECK_FALSE(parse_uu_begin("beginning 644 x", &name));
    CHECK_FALSE(parse_uu_begin("begin 12345 x", &name));
    CHECK_TRUE(is_uu_end("end"));
    CHECK_TRUE(is_uu_end("end \r"));
    CHECK_FALSE(is_uu_end("endless"));

    std::uint8_t out[kMaxUuLineOutput];
    CHECK_EQUAL(3, decode_uu_line("#86)C", out));
    CHECK_TRUE(std::string_view(reinterpret_cast<char*>(out), 3) == "abc");
    CHECK_EQUAL(3, decode_uu_line("#86)C\r", out));
    CHECK_EQUAL(0, decode_uu_line("`", out));
    CHECK_EQUAL(0, decode_uu_line("", out));
    // "!" is one octet: 2 characters carry it, trailing spaces may be gone.
    CHECK_EQUAL(1, decode_uu_line("!80", out));
    CHECK_EQUAL('a', out[0]);
    CHECK_EQUAL(-1, decode_uu_line("#8", out));            // too short for 3 octets
    CHECK_EQUAL(-1, decode_uu_line("#86)c", out));         // lower case is outside " ".."`"
    CHECK_EQUAL(-1, decode_uu_line("Hello, world!", out)); // ordinary text
}

TEST(MimeTransfer, UuencodeBody) {
    struct Case {
        const char* name;
        std::string in;
        std::string out;
        std::uint32_t bad_lines;
        bool missing_end;
        bool saw_begin;
    };
    const std::string body = std::string(kUuLines);
    const Case cases[] = {
        {"whole file", "begin 644 f.bin\r\n" + body + "end\r\n", kUuPayload, 0, false, true},
        {"text around", "hello\r\nbegin 644 f.bin\r\n" + body + "end\r\ntrailer\r\n", kUuPayload, 0,
         false, true},
        {"bare LF", "begin 644 f\n#86)C\n`\nend\n", "abc", 0, false, true},
        {"no end", "begin 644 f\r\n#86)C\r\n", "abc", 0, true, true},
        {"no end line after zero", "begin 644 f\r\n#86)C\r\n`\r\nfoo\r\n", "abc", 1, false, true},
        {"end without a line end", "begin 644 f\r\n#86)C\r\n`\r\nend", "abc", 0, false, true},
        {"bad line ends data", "begin 644 f\r\n#86)C\r\nnot uuencode\r\n#86)C\r\n", "abc", 1, false,
         true},
        {"no begin", "#86)C\r\n`\r\nend\r\n", "", 0, false, false},
    };
    for (const auto& c : cases) {
        UuDecoder d;
        const std::string out = run_all_splits(c.in, &d, same_uu);
        CHECK_TRUE_TEXT(out == c.out, c.name);
        CHECK_EQUAL_TEXT(c.bad_lines, d.bad_lines(), c.name);
        CHECK_EQUAL_TEXT(c.missing_end, d.missing_end(), c.name);
        CHECK_EQUAL_TEXT(c.saw_begin, d.saw_begin(), c.name);
    }
}

TEST(MimeTransfer, RandomInputStaysWithinBounds) {
    std::mt19937 rng(99);
    const char pool[] = "AZaz09+/= \t\r\n=3D=\r\n`!#begin 644 end\x80\xff";
    for (int round = 0; round < 300; ++round) {
        std::string in(static_cast<std::size_t>(rng() % 400), '\0');
        for (char& c : in)
            c = rng() % 4 == 0 ? static_cast<char>(rng()) : pool[rng() % (sizeof(pool) - 1)];
        Base64Decoder b;
        QpDecoder q;
        UuDecoder u;
        const std::size_t cut = in.empty() ? 0 : rng() % in.size();
        CHECK_TRUE(decode_pieces(in, {cut}, &b) == decode_pieces(in, {}, &b));
        CHECK_TRUE(decode_pieces(in, {cut}, &q) == decode_pieces(in, {}, &q));
        CHECK_TRUE(decode_pieces(in, {cut}, &u) == decode_pieces(in, {}, &u));
        CHECK_TRUE(decode_pieces(in, {}, &b).size() <= in.size());
        CHECK_TRUE(decode_pieces(in, {}, &q).size() <= in.size());
    }
}

TEST(MimeTransfer, EncodingNames) {
    STRCMP_EQUAL("base64", transfer_encoding_name(TransferEncoding::base64));
    STRCMP_EQUAL("quoted-printable", transfer_encoding_name(TransferEncoding::quoted_printable));
    STRCMP_EQUAL("x-uuencode", transfer_encoding_name(TransferEncoding::uuencode));
    CHECK_TRUE(is_identity(TransferEncoding::binary));
    CHECK_FALSE(is_identity(TransferEncoding::unknown));
}
