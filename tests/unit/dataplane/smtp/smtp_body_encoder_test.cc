// smtp_body_encoder_test.cc: the body encoder (smtp/smtp_body_encoder.h):
// dot-stuffing and the end of data, input cut at every position (one and
// two cuts), bare CR/LF refused without ever being written, the BDAT modes,
// and a randomized equivalence test against a plain reference stuffing.
#include "smtp/smtp_body_encoder.h"

#include <random>
#include <string>
#include <string_view>

#include <CppUTest/TestHarness.h>

using namespace smtpgw::smtp;

namespace {

std::span<const std::uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Every CR is followed by LF and every LF preceded by CR.
bool canonical(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n'))
            return false;
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
            return false;
    }
    return true;
}

// The reference: whole-message stuffing, RFC 5321 4.5.2, plus the end.
std::string reference_stuffed(std::string_view body) {
    std::string out;
    bool line_start = true;
    for (char c : body) {
        if (line_start && c == '.')
            out += '.';
        out += c;
        line_start = c == '\n';
    }
    if (!line_start)
        out += "\r\n";
    out += ".\r\n";
    return out;
}

// What the receiving server does: strips the end and one leading dot per line.
std::string unstuff(std::string_view wire) {
    CHECK_TRUE(wire.size() >= 3 && wire.substr(wire.size() - 3) == ".\r\n");
    wire.remove_suffix(3);
    std::string out;
    bool line_start = true;
    for (std::size_t i = 0; i < wire.size(); ++i) {
        if (line_start && wire[i] == '.') {
            CHECK_TRUE(i + 1 < wire.size() && wire[i + 1] == '.'); // every '.' line was stuffed
            ++i;
        }
        out += wire[i];
        line_start = wire[i] == '\n';
    }
    return out;
}

std::string encode_pieces(BodyEncoding e, std::string_view body, std::size_t cut1, std::size_t cut2,
                          EncodeStatus& st) {
    BodyEncoder enc(e);
    std::string out;
    st = enc.encode(bytes(body.substr(0, cut1)), out);
    EncodeStatus s2 = enc.encode(bytes(body.substr(cut1, cut2 - cut1)), out);
    EncodeStatus s3 = enc.encode(bytes(body.substr(cut2)), out);
    EncodeStatus s4 = enc.finish(out);
    st = st != EncodeStatus::ok   ? st
         : s2 != EncodeStatus::ok ? s2
         : s3 != EncodeStatus::ok ? s3
                                  : s4;
    return out;
}

struct Case {
    const char* name;
    std::string_view body;
    std::string_view wire; // dot_stuffed result, end included
};
const Case kCases[] = {
    {"empty", "", ".\r\n"},
    {"one line", "a\r\n", "a\r\n.\r\n"},
    {"no final CRLF", "a", "a\r\n.\r\n"},
    {"lone dot line", ".\r\n", "..\r\n.\r\n"},
    {"dot lines", ".a\r\n..b\r\nc.\r\n.\r\n. \r\nend",
     "..a\r\n...b\r\nc.\r\n..\r\n.. \r\nend\r\n.\r\n"},
    {"smuggled end", "x\r\n.\r\ny\r\n", "x\r\n..\r\ny\r\n.\r\n"},
    {"empty lines", "\r\n\r\n.", "\r\n\r\n..\r\n.\r\n"},
    {"final dot no CRLF", "a\r\n.", "a\r\n..\r\n.\r\n"},
    {"eight bit and NUL", std::string_view("\xff\0.\r\n", 5),
     std::string_view("\xff\0.\r\n.\r\n", 8)},
};

} // namespace

TEST_GROUP(BodyEncoder){};

TEST(BodyEncoder, DotStuffingIsTheSameForEveryTwoCuts) {
    for (const auto& c : kCases) {
        for (std::size_t i = 0; i <= c.body.size(); ++i)
            for (std::size_t j = i; j <= c.body.size(); ++j) {
                EncodeStatus st;
                std::string out = encode_pieces(BodyEncoding::dot_stuffed, c.body, i, j, st);
                CHECK_TRUE_TEXT(st == EncodeStatus::ok, c.name);
                CHECK_EQUAL_TEXT(std::string(c.wire), out, c.name);
                CHECK_EQUAL_TEXT(reference_stuffed(c.body), out, c.name);
            }
    }
}

TEST(BodyEncoder, ALineStartingWithADotIsStuffedWhereverTheInputIsCut) {
    // The '.' arrives alone, right after the CRLF, or after a lone CR.
    const std::string body = "line\r\n.hidden\r\n";
    for (std::size_t cut = 0; cut <= body.size(); ++cut) {
        BodyEncoder enc;
        std::string out;
        for (std::size_t k = 0; k < body.size(); k += cut ? cut : body.size())
            CHECK_TRUE(enc.encode(bytes(std::string_view(body).substr(k, cut ? cut : body.size())),
                                  out) == EncodeStatus::ok);
        CHECK_TRUE(enc.finish(out) == EncodeStatus::ok);
        CHECK_EQUAL(std::string("line\r\n..hidden\r\n.\r\n"), out);
    }
}

TEST(BodyEncoder, BareCrAndLfAreRefusedAndNeverWritten) {
    struct Bad {
        std::string_view body;
        EncodeStatus why;
        std::string_view written; // what came before the offending byte
    };
    const Bad cases[] = {
        {"a\rb\r\n", EncodeStatus::bare_cr, "a"},
        {"a\nb\r\n", EncodeStatus::bare_lf, "a"},
        {"a\r", EncodeStatus::bare_cr, "a"},
        {"\n", EncodeStatus::bare_lf, ""},
        {"ok\r\n\r\r\n", EncodeStatus::bare_cr, "ok\r\n"},
        {".\n.\r\n", EncodeStatus::bare_lf, ".."},
        {"x\r\n\n", EncodeStatus::bare_lf, "x\r\n"},
    };
    for (const auto& c : cases) {
        for (std::size_t i = 0; i <= c.body.size(); ++i)
            for (std::size_t j = i; j <= c.body.size(); ++j) {
                EncodeStatus st;
                std::string out = encode_pieces(BodyEncoding::dot_stuffed, c.body, i, j, st);
                CHECK_TRUE(st == c.why);
                CHECK_EQUAL(std::string(c.written), out);
                CHECK_TRUE(canonical(out));
                CHECK_TRUE(out.find("\r\n.\r\n") == std::string::npos); // no end of data
            }
    }
}

TEST(BodyEncoder, ARefusalIsFinal) {
    BodyEncoder enc;
    std::string out;
    CHECK_TRUE(enc.encode(bytes("a\nb"), out) == EncodeStatus::bare_lf);
    CHECK_TRUE(enc.encode(bytes("more\r\n"), out) == EncodeStatus::bare_lf);
    CHECK_TRUE(enc.finish(out) == EncodeStatus::bare_lf);
    CHECK_EQUAL(std::string("a"), out); // no end of data after a refusal
    CHECK_EQUAL(1u, enc.bytes_in());
}

TEST(BodyEncoder, ChunkedTextIsNotStuffedButEndsWithCrlf) {
    for (const auto& c : kCases) {
        for (std::size_t i = 0; i <= c.body.size(); ++i) {
            EncodeStatus st;
            std::string out = encode_pieces(BodyEncoding::chunked, c.body, i, i, st);
            CHECK_TRUE_TEXT(st == EncodeStatus::ok, c.name);
            std::string want(c.body);
            if (!want.empty() && want.back() != '\n')
                want += "\r\n";
            CHECK_EQUAL_TEXT(want, out, c.name);
        }
    }
    EncodeStatus st;
    encode_pieces(BodyEncoding::chunked, "a\nb", 1, 2, st);
    CHECK_TRUE(st == EncodeStatus::bare_lf); // canonical is still required
}

TEST(BodyEncoder, BinaryPassesEveryByte) {
    const std::string body("\r\n.\n\r\0x\r", 8);
    EncodeStatus st;
    std::string out = encode_pieces(BodyEncoding::binary, body, 2, 5, st);
    CHECK_TRUE(st == EncodeStatus::ok);
    CHECK_EQUAL(body, out);
}

TEST(BodyEncoder, BdatCommandsCarryTheSizeAndLast) {
    std::string out;
    append_bdat_command(out, 0, true);
    append_bdat_command(out, 65536, false);
    append_bdat_command(out, UINT64_MAX, true);
    CHECK_EQUAL(std::string("BDAT 0 LAST\r\nBDAT 65536\r\nBDAT 18446744073709551615 LAST\r\n"),
                out);
}

TEST(BodyEncoder, RandomBodiesCutAnywhereStuffAndUnstuffToTheOriginal) {
    std::mt19937 rng(20261124);
    const char alphabet[] = {'.', '.', 'a', ' ', '\xe9', '\0'};
    for (int iter = 0; iter < 2000; ++iter) {
        std::string body;
        const int lines = static_cast<int>(rng() % 8);
        for (int l = 0; l < lines; ++l) {
            const int len = static_cast<int>(rng() % 5);
            for (int k = 0; k < len; ++k)
                body += alphabet[rng() % sizeof alphabet];
            if (l + 1 < lines || rng() % 2)
                body += "\r\n";
        }
        BodyEncoder enc;
        std::string out;
        std::size_t pos = 0;
        while (pos < body.size()) {
            const std::size_t n = std::min<std::size_t>(body.size() - pos, rng() % 4);
            CHECK_TRUE(enc.encode(bytes(std::string_view(body).substr(pos, n)), out) ==
                       EncodeStatus::ok);
            pos += n;
        }
        CHECK_TRUE(enc.finish(out) == EncodeStatus::ok);
        CHECK_EQUAL(reference_stuffed(body), out);
        CHECK_TRUE(canonical(out));
        std::string want = body;
        if (!want.empty() && want.back() != '\n')
            want += "\r\n";
        CHECK_EQUAL(want, unstuff(out));
        CHECK_EQUAL(body.size(), enc.bytes_in());
    }
}
