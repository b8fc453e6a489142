// control_protocol_test.cc: unit tests of controlplane/control_protocol.{h,cc}:
// request/response encoding, the incremental FrameDecoder fed whole streams,
// streams cut at every byte offset and byte by byte, and malformed headers
// (each must fail the stream with its reason).
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "control_protocol.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw::control;
using namespace std::string_literals;

namespace {

// Printable form of a payload: control bytes as \xNN.
std::string printable(const std::string& s) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string describe(const Frame& f) {
    return (f.progress ? "progress[" : f.ok ? "ok[" : "err[") + printable(f.payload) + "]";
}

std::string describe(const std::vector<Frame>& frames) {
    std::string s;
    for (const auto& f : frames)
        s += describe(f) + " ";
    return s;
}

// Takes every complete frame out of `d`.
void drain(FrameDecoder& d, std::vector<Frame>& into) {
    while (auto f = d.next())
        into.push_back(std::move(*f));
}

struct Message {
    bool ok;
    std::string payload;
    bool progress = false; // responses: a progress note before the answer
};

// Payloads that stress the framing: empty, newlines (the header delimiter),
// NUL bytes, digits right after the header, the completion prefix, and a
// body longer than any header.
const std::vector<Message>& messages() {
    static const std::vector<Message> m = {
        {true, "show stats"},
        {true, ""},
        {false, "unknown command 'frob' (try: help)"},
        {true, "line 1\nline 2\n"},
        {true, "\n"},
        {false, "12\n34"},
        {true, "nul\0inside"s},
        {true, std::string(kCompletePrefix) + "sh st"},
        {true, std::string(300, 'x')},
        {false, ""},
        {true, "parsed 500000 lines", true},
        {true, "", true},
        {true, "ok 3\nabc", true}, // a note that looks like a header
    };
    return m;
}

std::string request_stream() {
    std::string s;
    for (const auto& m : messages())
        s += encode_request(m.payload);
    return s;
}

std::string response_stream() {
    std::string s;
    for (const auto& m : messages())
        s += m.progress ? encode_progress(m.payload) : encode_response(m.ok, m.payload);
    return s;
}

std::string expected_requests() {
    std::string s;
    for (const auto& m : messages())
        s += describe(Frame{true, m.payload}) + " ";
    return s;
}

std::string expected_responses() {
    std::string s;
    for (const auto& m : messages())
        s += describe(Frame{m.ok, m.payload, m.progress}) + " ";
    return s;
}

// The error a decoder ends with after `bytes`, or "(no error)".
std::string error_after(bool responses, const std::string& bytes) {
    FrameDecoder d(responses);
    d.feed(bytes);
    std::vector<Frame> frames;
    drain(d, frames);
    if (!d.failed())
        return "(no error)";
    return d.error();
}

} // namespace

TEST_GROUP(ControlProtocol){};

TEST(ControlProtocol, RequestsAreLengthThenNewlineThenCommand) {
    STRCMP_EQUAL("10\nshow stats", encode_request("show stats").c_str());
    STRCMP_EQUAL("0\n", encode_request("").c_str());
    STRCMP_EQUAL("3\na\nb", encode_request("a\nb").c_str());
    const std::string big(123456, 'y');
    CHECK_TRUE(encode_request(big) == "123456\n" + big);
}

TEST(ControlProtocol, ResponsesAreOkOrErrThenLengthThenText) {
    STRCMP_EQUAL("ok 3\nabc", encode_response(true, "abc").c_str());
    STRCMP_EQUAL("err 7\nnot now", encode_response(false, "not now").c_str());
    STRCMP_EQUAL("ok 0\n", encode_response(true, "").c_str());
    STRCMP_EQUAL("err 0\n", encode_response(false, "").c_str());
}

TEST(ControlProtocol, EachRequestRoundTrips) {
    for (const auto& m : messages()) {
        FrameDecoder d(false);
        d.feed(encode_request(m.payload));
        auto f = d.next();
        CHECK_TRUE_TEXT(f.has_value(), printable(m.payload).c_str());
        CHECK_TRUE(f->ok);
        CHECK_TRUE_TEXT(f->payload == m.payload, printable(m.payload).c_str());
        CHECK_FALSE(d.next().has_value());
        CHECK_FALSE(d.failed());
    }
}

TEST(ControlProtocol, EachResponseRoundTripsWithItsStatus) {
    for (const auto& m : messages()) {
        FrameDecoder d(true);
        d.feed(encode_response(m.ok, m.payload));
        auto f = d.next();
        CHECK_TRUE_TEXT(f.has_value(), printable(m.payload).c_str());
        CHECK_EQUAL(m.ok, f->ok);
        CHECK_TRUE_TEXT(f->payload == m.payload, printable(m.payload).c_str());
        CHECK_FALSE(d.next().has_value());
        CHECK_FALSE(d.failed());
    }
}

TEST(ControlProtocol, SeveralFramesInOneFeedComeOutInOrder) {
    FrameDecoder req(false);
    req.feed(request_stream());
    std::vector<Frame> frames;
    drain(req, frames);
    STRCMP_EQUAL(expected_requests().c_str(), describe(frames).c_str());
    CHECK_FALSE(req.failed());

    FrameDecoder rsp(true);
    rsp.feed(response_stream());
    frames.clear();
    drain(rsp, frames);
    STRCMP_EQUAL(expected_responses().c_str(), describe(frames).c_str());
    CHECK_FALSE(rsp.failed());
}

TEST(ControlProtocol, StreamSplitAtEveryOffsetGivesTheSameFrames) {
    struct Case {
        bool responses;
        std::string stream;
        std::string expected;
    } cases[] = {{false, request_stream(), expected_requests()},
                 {true, response_stream(), expected_responses()}};
    for (const auto& c : cases) {
        for (std::size_t cut = 0; cut <= c.stream.size(); ++cut) {
            FrameDecoder d(c.responses);
            std::vector<Frame> frames;
            d.feed(std::string_view(c.stream).substr(0, cut));
            drain(d, frames);
            d.feed(std::string_view(c.stream).substr(cut));
            drain(d, frames);
            const std::string what = "cut at " + std::to_string(cut);
            STRCMP_EQUAL_TEXT(c.expected.c_str(), describe(frames).c_str(), what.c_str());
            CHECK_FALSE_TEXT(d.failed(), (what + ": " + d.error()).c_str());
        }
    }
}

TEST(ControlProtocol, StreamSplitAtEveryPairOfOffsetsGivesTheSameFrames) {
    const std::string stream = encode_response(true, "a\nb") + encode_response(false, "") +
                               encode_response(true, "0123456789");
    const std::string expected = "ok[a\\x0ab] err[] ok[0123456789] ";
    for (std::size_t a = 0; a <= stream.size(); ++a) {
        for (std::size_t b = a; b <= stream.size(); ++b) {
            FrameDecoder d(true);
            std::vector<Frame> frames;
            d.feed(stream.substr(0, a));
            drain(d, frames);
            d.feed(stream.substr(a, b - a));
            drain(d, frames);
            d.feed(stream.substr(b));
            drain(d, frames);
            STRCMP_EQUAL_TEXT(expected.c_str(), describe(frames).c_str(),
                              ("cuts at " + std::to_string(a) + "," + std::to_string(b)).c_str());
        }
    }
}

TEST(ControlProtocol, ByteByByteFeedYieldsEachFrameExactlyWhenItsLastByteArrives) {
    // Frame i must come out on the byte that completes it, not before.
    std::vector<std::size_t> ends;
    std::string stream;
    for (const auto& m : messages()) {
        stream += encode_request(m.payload);
        ends.push_back(stream.size());
    }
    FrameDecoder d(false);
    std::vector<Frame> frames;
    std::size_t due = 0;
    for (std::size_t i = 0; i < stream.size(); ++i) {
        d.feed(stream.substr(i, 1));
        drain(d, frames);
        while (due < ends.size() && ends[due] <= i + 1)
            ++due;
        UNSIGNED_LONGS_EQUAL_TEXT(due, frames.size(), ("after byte " + std::to_string(i)).c_str());
    }
    STRCMP_EQUAL(expected_requests().c_str(), describe(frames).c_str());
    CHECK_FALSE(d.failed());
}

TEST(ControlProtocol, NextWithoutACompleteFrameWaits) {
    FrameDecoder d(true);
    CHECK_FALSE(d.next().has_value());
    d.feed("ok 5\nabc");
    CHECK_FALSE(d.next().has_value());
    CHECK_FALSE(d.next().has_value());
    d.feed("de");
    auto f = d.next();
    CHECK_TRUE(f.has_value());
    STRCMP_EQUAL("abcde", f->payload.c_str());
    CHECK_FALSE(d.failed());
}

TEST(ControlProtocol, BodyBytesBeyondTheLengthStartTheNextFrame) {
    FrameDecoder d(false);
    d.feed("3\nabc4\nwxyz0\n");
    std::vector<Frame> frames;
    drain(d, frames);
    STRCMP_EQUAL("ok[abc] ok[wxyz] ok[] ", describe(frames).c_str());
}

TEST(ControlProtocol, MalformedRequestHeadersFailTheStream) {
    struct Case {
        const char* name;
        std::string bytes;
        const char* error;
    } cases[] = {
        {"letters", "abc\nabc", "control frame length is not a number"},
        {"empty header", "\n", "control frame length is not a number"},
        {"negative", "-1\n", "control frame length is not a number"},
        {"plus sign", "+1\nx", "control frame length is not a number"},
        {"leading blank", " 1\nx", "control frame length is not a number"},
        {"trailing blank", "1 \nx", "control frame length is not a number"},
        {"hex", "0x10\n", "control frame length is not a number"},
        {"response header on requests", "ok 3\nabc", "control frame length is not a number"},
        {"overflowing number", "99999999999999999999\n", "control frame length is not a number"},
        {"one byte over the limit", "16777217\n", "control frame larger than the limit"},
        {"far over the limit", "4294967296\n", "control frame larger than the limit"},
        {"25 bytes without newline", std::string(25, '1'), "control frame header too long"},
        {"25-byte header", std::string(25, '0') + "\n", "control frame header too long"},
        {"garbage after a good frame", "3\nabcxyz\n", "control frame length is not a number"},
    };
    for (const auto& c : cases)
        STRCMP_EQUAL_TEXT(c.error, error_after(false, c.bytes).c_str(), c.name);
}

TEST(ControlProtocol, MalformedResponseHeadersFailTheStream) {
    struct Case {
        const char* name;
        std::string bytes;
        const char* error;
    } cases[] = {
        {"bare length", "3\nabc", "control response without ok/err/progress"},
        {"other word", "yes 3\nabc", "control response without ok/err/progress"},
        {"no blank", "ok3\nabc", "control response without ok/err/progress"},
        {"upper case", "OK 3\nabc", "control response without ok/err/progress"},
        {"empty header", "\n", "control response without ok/err/progress"},
        {"ok without length", "ok \n", "control frame length is not a number"},
        {"err with letters", "err x\n", "control frame length is not a number"},
        {"two blanks", "ok  3\nabc", "control frame length is not a number"},
        {"over the limit", "ok 16777217\n", "control frame larger than the limit"},
        {"header too long", "err " + std::string(21, '0'), "control frame header too long"},
    };
    for (const auto& c : cases)
        STRCMP_EQUAL_TEXT(c.error, error_after(true, c.bytes).c_str(), c.name);
}

TEST(ControlProtocol, HeaderLimitIsTwentyFourBytes) {
    FrameDecoder d(false);
    d.feed(std::string(24, '0'));
    CHECK_FALSE(d.next().has_value());
    CHECK_FALSE(d.failed()); // 24 bytes may still be a header
    d.feed("0");
    CHECK_FALSE(d.next().has_value());
    CHECK_TRUE(d.failed());
    // A 24-byte header (leading zeros) with its newline is accepted.
    FrameDecoder ok(false);
    ok.feed(std::string(23, '0') + "3\nabc");
    auto f = ok.next();
    CHECK_TRUE(f.has_value());
    STRCMP_EQUAL("abc", f->payload.c_str());
}

TEST(ControlProtocol, FrameOfExactlyTheLimitIsAccepted) {
    const std::string body(kMaxFrameBytes, 'z');
    FrameDecoder d(true);
    d.feed(encode_response(true, body));
    auto f = d.next();
    CHECK_TRUE(f.has_value());
    UNSIGNED_LONGS_EQUAL(kMaxFrameBytes, f->payload.size());
    CHECK_FALSE(d.failed());
}

TEST(ControlProtocol, AnnouncedOversizedFrameFailsBeforeItsBodyArrives) {
    FrameDecoder d(false);
    d.feed("16777217\n");
    CHECK_FALSE(d.next().has_value());
    CHECK_TRUE(d.failed());
    STRCMP_EQUAL("control frame larger than the limit", d.error().c_str());
}

TEST(ControlProtocol, FailedDecoderStaysFailedAndIgnoresInput) {
    FrameDecoder d(false);
    d.feed("x\n");
    CHECK_FALSE(d.next().has_value());
    CHECK_TRUE(d.failed());
    d.feed("3\nabc");
    CHECK_FALSE(d.next().has_value());
    CHECK_TRUE(d.failed());
    STRCMP_EQUAL("control frame length is not a number", d.error().c_str());
}

TEST(ControlProtocol, FramesBeforeAnErrorAreStillDelivered) {
    FrameDecoder d(true);
    d.feed("ok 2\nhierr 1\n!bogus\n");
    std::vector<Frame> frames;
    drain(d, frames);
    STRCMP_EQUAL("ok[hi] err[!] ", describe(frames).c_str());
    CHECK_TRUE(d.failed());
    STRCMP_EQUAL("control response without ok/err/progress", d.error().c_str());
}
