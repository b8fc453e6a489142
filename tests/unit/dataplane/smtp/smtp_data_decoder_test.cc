// smtp_data_decoder_test.cc: the DATA stream decoder (smtp/smtp_data_decoder.h):
// the end of data, dot-stuffing, the SMTP smuggling sequences in both
// bare-newline policies, line and size limits, bounded output, and input
// split at every byte boundary.
#include "smtp/smtp_data_decoder.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <CppUTest/TestHarness.h>

using namespace smtpgw::smtp;

namespace {

std::span<const std::uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

struct Decoded {
    std::string body;
    std::size_t consumed = 0;
    bool finished = false;
    DataDefect defect = DataDefect::none;
};

// Feeds `input` in pieces cut at `cuts` (ascending offsets), with `room`
// octets of output room per call, re-offering what was not consumed.
Decoded decode_split(const DataDecoderConfig& cfg, std::string_view input,
                     const std::vector<std::size_t>& cuts, std::size_t room = SIZE_MAX) {
    DataDecoder d(cfg);
    Decoded r;
    std::size_t pos = 0;
    std::vector<std::size_t> ends = cuts;
    ends.push_back(input.size());
    for (std::size_t end : ends) {
        while (pos < end && !d.finished()) {
            std::string out;
            auto res = d.decode(bytes(input.substr(pos, end - pos)), out, room);
            CHECK_TRUE(out.size() <= room);
            r.body += out;
            pos += res.consumed;
            if (res.consumed == 0)
                break;
        }
    }
    r.consumed = pos;
    r.finished = d.finished();
    r.defect = d.defect();
    CHECK_EQUAL(r.body.size(), d.message_bytes());
    return r;
}

Decoded decode_all(const DataDecoderConfig& cfg, std::string_view input) {
    return decode_split(cfg, input, {});
}

// True when every CR and LF in `s` is part of a CRLF pair.
bool canonical_crlf(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r') {
            if (i + 1 >= s.size() || s[i + 1] != '\n')
                return false;
            ++i;
        } else if (s[i] == '\n') {
            return false;
        }
    }
    return true;
}

DataDecoderConfig reject_cfg() {
    return DataDecoderConfig{};
}
DataDecoderConfig normalize_cfg() {
    DataDecoderConfig c;
    c.bare_newline = BareNewlinePolicy::normalize;
    return c;
}

} // namespace

TEST_GROUP(SmtpDataDecoder){};

TEST(SmtpDataDecoder, EndOfDataAndDotStuffingTable) {
    struct Case {
        const char* input;
        const char* body;
    };
    // RFC 5321 4.1.1.4 (end of data) and 4.5.2 (a leading "." is removed).
    const Case cases[] = {
        {".\r\n", ""},
        {"hello\r\n.\r\n", "hello\r\n"},
        {"a\r\nb\r\n.\r\n", "a\r\nb\r\n"},
        {"..\r\n.\r\n", ".\r\n"},
        {"..x\r\n.\r\n", ".x\r\n"},
        {"...\r\n.\r\n", "..\r\n"},
        {".x\r\n.\r\n", "x\r\n"},
        {"a.b\r\n.a\r\n.\r\n", "a.b\r\na\r\n"},
        {"\r\n\r\n.\r\n", "\r\n\r\n"},
        {"x\r\n. \r\n.\r\n", "x\r\n \r\n"},
        {"tab\tand\x01"
         "ctl\x7f\r\n.\r\n",
         "tab\tand\x01"
         "ctl\x7f\r\n"},
        {"8bit \xc3\xa4\xff\r\n.\r\n", "8bit \xc3\xa4\xff\r\n"},
    };
    for (const auto& c : cases) {
        for (const auto& cfg : {reject_cfg(), normalize_cfg()}) {
            const Decoded d = decode_all(cfg, c.input);
            CHECK_TRUE_TEXT(d.finished, c.input);
            CHECK_TRUE_TEXT(d.defect == DataDefect::none, c.input);
            STRCMP_EQUAL_TEXT(c.body, d.body.c_str(), c.input);
            CHECK_EQUAL_TEXT(std::string_view(c.input).size(), d.consumed, c.input);
        }
    }
}

TEST(SmtpDataDecoder, NulOctetsInTheBodyPassThrough) {
    const std::string in("a\0b\r\n.\r\n", 8);
    const Decoded d = decode_all(reject_cfg(), in);
    CHECK_TRUE(d.finished);
    CHECK_EQUAL(5u, d.body.size());
    CHECK_EQUAL('\0', d.body[1]);
}

TEST(SmtpDataDecoder, StopsRightAfterTheEndOfData) {
    const std::string in = "body\r\n.\r\nQUIT\r\n";
    const Decoded d = decode_all(reject_cfg(), in);
    CHECK_TRUE(d.finished);
    CHECK_EQUAL(in.size() - 6, d.consumed); // "QUIT\r\n" is the next command
    DataDecoder dec(reject_cfg());
    std::string out;
    dec.decode(bytes(in), out, SIZE_MAX);
    CHECK_EQUAL(0u, dec.decode(bytes("more"), out, SIZE_MAX).consumed);
}

TEST(SmtpDataDecoder, EverySplitGivesTheSameResult) {
    const std::string in = "From: a\r\n\r\n..stuffed\r\n.\r\nx.\r\n.y\r\n\r\n.\r\nNEXT";
    for (const auto& cfg : {reject_cfg(), normalize_cfg()}) {
        const Decoded whole = decode_all(cfg, in);
        CHECK_TRUE(whole.finished);
        STRCMP_EQUAL("From: a\r\n\r\n.stuffed\r\n", whole.body.c_str());
        for (std::size_t cut = 0; cut <= in.size(); ++cut) {
            const Decoded d = decode_split(cfg, in, {cut});
            STRCMP_EQUAL(whole.body.c_str(), d.body.c_str());
            CHECK_EQUAL(whole.consumed, d.consumed);
            CHECK_TRUE(d.finished);
        }
        std::vector<std::size_t> every;
        for (std::size_t i = 1; i < in.size(); ++i)
            every.push_back(i);
        const Decoded bytewise = decode_split(cfg, in, every);
        STRCMP_EQUAL(whole.body.c_str(), bytewise.body.c_str());
        CHECK_EQUAL(whole.consumed, bytewise.consumed);
    }
}

// SMTP smuggling: each sequence, put where a lenient server would see an
// end of data, must neither end DATA nor let the smuggled commands into the
// message. Only the final CRLF "." CRLF ends it.
TEST(SmtpDataDecoder, SmugglingSequencesNeverEndDataEarly) {
    const char* sequences[] = {
        "\n.\n",       "\r.\r",       "\n.\r\n",     "\r\n.\n",     "\r\n.\r",
        "\r.\r\n",     "\n.\r",       "\r.\n",       "\r\n.\r\r\n", "\r\r\n.\r\n",
        "\n\r\n.\r\n", "\r\n.\n\r\n", "\r\n.\r\n\n", "\n.\r\r\n",
    };
    const std::string smuggled =
        "MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n"
        "Subject: smuggled\r\n\r\nfake\r\n";
    for (const char* seq : sequences) {
        std::string in = "Subject: hi\r\n\r\nhello";
        in += seq;
        in += smuggled;
        in += ".\r\n"; // the real end (the smuggled text ends in CRLF)
        // Some sequences hold a real CRLF "." CRLF ("\r\r\n.\r\n" is a
        // bare CR, then a genuine end): the data ends exactly there and what
        // follows is read as commands, through every check. Otherwise only
        // the final end counts. (The DATA line's CRLF counts as the first CRLF.)
        const std::size_t real_end = ("\r\n" + in).find("\r\n.\r\n") + 5 - 2;
        for (const auto& cfg : {reject_cfg(), normalize_cfg()}) {
            const Decoded d = decode_all(cfg, in);
            CHECK_TRUE_TEXT(d.finished, seq);
            CHECK_EQUAL_TEXT(real_end, d.consumed, seq); // never one octet early
            CHECK_TRUE_TEXT(canonical_crlf(d.body), seq);
            CHECK_TRUE_TEXT(d.body.find("MAIL FROM") == std::string::npos, seq);
            if (real_end == in.size())
                CHECK_TRUE_TEXT(
                    d.defect == DataDefect::bare_newline || d.defect == DataDefect::smuggling, seq);
            // Split anywhere, the same.
            for (std::size_t cut = 0; cut <= in.size(); ++cut) {
                const Decoded s = decode_split(cfg, in, {cut});
                CHECK_EQUAL_TEXT(real_end, s.consumed, seq);
                CHECK_TRUE_TEXT(s.defect == d.defect, seq);
                STRCMP_EQUAL_TEXT(d.body.c_str(), s.body.c_str(), seq);
            }
        }
    }
}

TEST(SmtpDataDecoder, LoneDotWithBareNewlineAtTheStartIsSmuggling) {
    const char* inputs[] = {".\nQUIT\r\n.\r\n", ".\rQUIT\r\n.\r\n", ".\r\rQUIT\r\n.\r\n"};
    for (const char* in : inputs) {
        for (const auto& cfg : {reject_cfg(), normalize_cfg()}) {
            const Decoded d = decode_all(cfg, in);
            CHECK_TRUE_TEXT(d.defect == DataDefect::smuggling, in);
            CHECK_TRUE_TEXT(d.finished, in);
            CHECK_EQUAL_TEXT(std::string_view(in).size(), d.consumed, in);
            STRCMP_EQUAL_TEXT("", d.body.c_str(), in);
        }
    }
}

TEST(SmtpDataDecoder, BareNewlinesAreRejectedOrNormalised) {
    struct Case {
        const char* input;
        const char* normalized; // body under normalize
        const char* rejected;   // body emitted before the defect under reject
    };
    const Case cases[] = {
        {"a\nb\r\n.\r\n", "a\r\nb\r\n", "a"},
        {"a\rb\r\n.\r\n", "a\r\nb\r\n", "a"},
        {"a\r\r\n.\r\n", "a\r\n\r\n", "a"},
        {"\n\r\n.\r\n", "\r\n\r\n", ""},
        {"a\n..b\n\r\n.\r\n", "a\r\n.b\r\n\r\n", "a"},
        {"x\r\n\n..\nend\r\n.\r\n", "x\r\n\r\n.\r\nend\r\n", "x\r\n"},
    };
    for (const auto& c : cases) {
        const Decoded n = decode_all(normalize_cfg(), c.input);
        CHECK_TRUE_TEXT(n.defect == DataDefect::none, c.input);
        CHECK_TRUE_TEXT(n.finished, c.input);
        STRCMP_EQUAL_TEXT(c.normalized, n.body.c_str(), c.input);
        const Decoded r = decode_all(reject_cfg(), c.input);
        CHECK_TRUE_TEXT(r.defect == DataDefect::bare_newline, c.input);
        CHECK_TRUE_TEXT(r.finished, c.input);
        STRCMP_EQUAL_TEXT(c.rejected, r.body.c_str(), c.input);
    }
}

TEST(SmtpDataDecoder, RandomInputNeverYieldsABareNewlineOrAnEarlyEnd) {
    // Random octets from a small alphabet rich in CR, LF and ".", then a
    // real end. Whatever the policy, the output is canonical CRLF and the end
    // of data is never before the first real CRLF "." CRLF.
    std::mt19937 rng(12345);
    const char alphabet[] = {'\r', '\n', '.', 'a', '\r', '\n', '.', ' '};
    for (int round = 0; round < 3000; ++round) {
        std::string in;
        const int n = static_cast<int>(rng() % 40);
        for (int i = 0; i < n; ++i)
            in.push_back(alphabet[rng() % sizeof(alphabet)]);
        in += "\r\n.\r\n";
        const std::size_t real_end = ("\r\n" + in).find("\r\n.\r\n") + 5 - 2;
        for (const auto& cfg : {reject_cfg(), normalize_cfg()}) {
            const Decoded d = decode_all(cfg, in);
            CHECK_TRUE(d.finished);
            CHECK_TRUE(canonical_crlf(d.body));
            // The data ends exactly after the first real CRLF "." CRLF (the
            // DATA line's CRLF counts: hence "\r\n" +), never before it.
            CHECK_EQUAL(real_end, d.consumed);
            const Decoded split =
                decode_split(cfg, in, {in.size() / 3, in.size() / 2}, DataDecoder::kMinOutRoom);
            CHECK_EQUAL(d.consumed, split.consumed);
            CHECK_TRUE(d.defect == split.defect);
            STRCMP_EQUAL(d.body.c_str(), split.body.c_str());
        }
    }
}

TEST(SmtpDataDecoder, TextLinesOverTheLimitAreADefect) {
    DataDecoderConfig cfg;
    cfg.max_line_bytes = 1000; // RFC 5321 4.5.3.1.6, CRLF included
    const std::string ok_line(998, 'x');
    Decoded d = decode_all(cfg, ok_line + "\r\n.\r\n");
    CHECK_TRUE(d.defect == DataDefect::none);
    d = decode_all(cfg, std::string(999, 'x') + "\r\n.\r\n");
    CHECK_TRUE(d.defect == DataDefect::line_too_long);
    CHECK_TRUE(d.finished);
    // The stuffing dot is on the wire: it counts.
    d = decode_all(cfg, "." + std::string(997, 'x') + "\r\n.\r\n");
    CHECK_TRUE(d.defect == DataDefect::none);
    d = decode_all(cfg, "." + std::string(998, 'x') + "\r\n.\r\n");
    CHECK_TRUE(d.defect == DataDefect::line_too_long);
    // A megabyte without a newline, split at odd places: one defect, the
    // real end still found, output bounded by what came before the defect.
    std::string huge = "ok\r\n" + std::string(1 << 20, 'y') + "\r\n.\r\n";
    d = decode_split(cfg, huge, {7, 1000, 1001, 500000});
    CHECK_TRUE(d.defect == DataDefect::line_too_long);
    CHECK_TRUE(d.finished);
    CHECK_EQUAL(huge.size(), d.consumed);
    CHECK_TRUE(d.body.size() <= 4 + 998);
}

TEST(SmtpDataDecoder, MessageSizeLimitStopsOutputAtTheLimit) {
    DataDecoderConfig cfg;
    cfg.max_message_bytes = 10;
    Decoded d = decode_all(cfg, "12345678\r\n.\r\n"); // exactly 10
    CHECK_TRUE(d.defect == DataDefect::none);
    CHECK_EQUAL(10u, d.body.size());
    d = decode_all(cfg, "123456789\r\n.\r\n");
    CHECK_TRUE(d.defect == DataDefect::too_big);
    CHECK_TRUE(d.finished);
    CHECK_TRUE(d.body.size() <= 10);
    // Stuffing dots do not count (RFC 1870): 8 + CRLF after unstuffing.
    d = decode_all(cfg, "..1234567\r\n.\r\n");
    CHECK_TRUE(d.defect == DataDefect::none);
    // Streaming a lot past the limit never grows the output.
    const std::string big = std::string(100000, 'z') + "\r\n.\r\n";
    d = decode_split(cfg, big, {3, 9, 10, 11, 50000});
    CHECK_TRUE(d.defect == DataDefect::too_big);
    CHECK_TRUE(d.body.size() <= 10);
    CHECK_EQUAL(big.size(), d.consumed);
}

TEST(SmtpDataDecoder, OutputRoomBoundsEachCall) {
    const std::string in = "line one\r\n..two\r\nthree\r\n.\r\n";
    const Decoded whole = decode_all(reject_cfg(), in);
    for (std::size_t room = DataDecoder::kMinOutRoom; room < 12; ++room) {
        const Decoded d = decode_split(reject_cfg(), in, {}, room);
        STRCMP_EQUAL(whole.body.c_str(), d.body.c_str());
        CHECK_TRUE(d.finished);
    }
    // Normalised bare newlines expand: still within the room.
    const std::string lfs = "\n\n\n\n\n\n\r\n.\r\n";
    const Decoded n = decode_split(normalize_cfg(), lfs, {}, DataDecoder::kMinOutRoom);
    STRCMP_EQUAL("\r\n\r\n\r\n\r\n\r\n\r\n\r\n", n.body.c_str());
    // Bare CRs normalised with the minimum room: every call consumes.
    const std::string crs = "a\r\r\rb\r\r.x\r\r\n.\r\n";
    DataDecoder step(normalize_cfg());
    std::string all;
    for (std::size_t pos = 0; pos < crs.size() && !step.finished();) {
        std::string o;
        const auto r = step.decode(bytes(crs).subspan(pos), o, DataDecoder::kMinOutRoom);
        CHECK_TRUE(r.consumed > 0);
        CHECK_TRUE(o.size() <= DataDecoder::kMinOutRoom);
        pos += r.consumed;
        all += o;
    }
    CHECK_TRUE(step.finished());
    STRCMP_EQUAL("a\r\n\r\n\r\nb\r\n\r\nx\r\n\r\n", all.c_str());
    // Below the minimum nothing is consumed.
    DataDecoder dec(reject_cfg());
    std::string out;
    CHECK_EQUAL(0u, dec.decode(bytes(in), out, DataDecoder::kMinOutRoom - 1).consumed);
    CHECK_TRUE(out.empty());
}

TEST(SmtpDataDecoder, ResetStartsANewMessage) {
    DataDecoder d(reject_cfg());
    std::string out;
    d.decode(bytes("a\nb"), out, SIZE_MAX);
    CHECK_TRUE(d.defect() == DataDefect::bare_newline);
    d.reset(reject_cfg());
    CHECK_TRUE(d.defect() == DataDefect::none);
    CHECK_FALSE(d.finished());
    out.clear();
    auto r = d.decode(bytes("ok\r\n.\r\n"), out, SIZE_MAX);
    CHECK_TRUE(r.finished);
    STRCMP_EQUAL("ok\r\n", out.c_str());
    CHECK_EQUAL(4u, d.message_bytes());
}
