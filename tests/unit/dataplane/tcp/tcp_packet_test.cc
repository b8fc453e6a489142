// tcp_packet_test.cc: TCP header/option codec and checksums (tcp_packet.h).
#include <cstdint>
#include <vector>

#include "net/byte_order.h"
#include "tcp/tcp_packet.h"

#include <CppUTest/TestHarness.h>

using namespace smtpgw;
using namespace smtpgw::tcp;

namespace {

// A 20-byte header with the given data offset (words) followed by `opts`
// and `payload`.
std::vector<std::uint8_t> raw_segment(std::uint8_t offset_words, std::vector<std::uint8_t> opts,
                                      std::vector<std::uint8_t> payload = {}) {
    std::vector<std::uint8_t> b(20 + opts.size() + payload.size(), 0);
    for (std::size_t i = 0; i < opts.size(); ++i)
        b[20 + i] = opts[i];
    for (std::size_t i = 0; i < payload.size(); ++i)
        b[20 + opts.size() + i] = payload[i];
    net::store_be16(b.data(), 25);
    net::store_be16(b.data() + 2, 40000);
    net::store_be32(b.data() + 4, 1000);
    net::store_be32(b.data() + 8, 2000);
    b[12] = static_cast<std::uint8_t>(offset_words << 4);
    b[13] = flags::kAck | flags::kPsh;
    net::store_be16(b.data() + 14, 512);
    return b;
}

TcpParseError parse(const std::vector<std::uint8_t>& b, Segment& s) {
    return parse_segment(std::span<const std::uint8_t>(b.data(), b.size()), s);
}

} // namespace

TEST_GROUP(TcpPacket){};

TEST(TcpPacket, ParsesFixedHeaderAndPayload) {
    auto b = raw_segment(5, {}, {'h', 'i'});
    Segment s;
    CHECK(parse(b, s) == TcpParseError::ok);
    CHECK_EQUAL(25, s.header.src_port);
    CHECK_EQUAL(40000, s.header.dst_port);
    CHECK_EQUAL(1000u, s.header.seq.raw());
    CHECK_EQUAL(2000u, s.header.ack.raw());
    CHECK_TRUE(s.header.has(flags::kAck));
    CHECK_TRUE(s.header.has(flags::kPsh));
    CHECK_EQUAL(512, s.header.window);
    CHECK_EQUAL(2u, s.payload.size());
    CHECK_EQUAL(2u, s.seg_len());
}

namespace {
struct MalformedCase {
    const char* name;
    std::vector<std::uint8_t> bytes;
    TcpParseError expect;
};
} // namespace

TEST(TcpPacket, RejectsMalformedHeaders) {
    const MalformedCase cases[] = {
        {"shorter than 20 bytes", std::vector<std::uint8_t>(19, 0), TcpParseError::truncated},
        {"data offset 4 words", raw_segment(4, {}), TcpParseError::bad_data_offset},
        {"data offset 0", raw_segment(0, {}), TcpParseError::bad_data_offset},
        {"data offset beyond the segment", raw_segment(6, {}), TcpParseError::data_offset_overrun},
        {"data offset 15 with 8 option bytes", raw_segment(15, {1, 1, 1, 1, 1, 1, 1, 1}),
         TcpParseError::data_offset_overrun},
        {"option length 0", raw_segment(6, {99, 0, 0, 0}), TcpParseError::option_bad_length},
        {"option length 1", raw_segment(6, {99, 1, 0, 0}), TcpParseError::option_bad_length},
        {"option overruns the header", raw_segment(6, {99, 6, 0, 0}, {1, 2, 3, 4}),
         TcpParseError::option_overrun},
        {"kind without length byte", raw_segment(6, {1, 1, 1, 2}), TcpParseError::option_overrun},
        {"MSS length 3", raw_segment(6, {2, 3, 5, 1}), TcpParseError::option_bad_length},
        {"window scale length 4", raw_segment(6, {3, 4, 7, 0}), TcpParseError::option_bad_length},
        {"SACK-permitted length 3", raw_segment(6, {4, 3, 0, 1}), TcpParseError::option_bad_length},
        {"timestamps length 8", raw_segment(7, {8, 8, 0, 0, 0, 0, 0, 0}),
         TcpParseError::option_bad_length},
        {"SACK with no block", raw_segment(6, {1, 1, 5, 2}), TcpParseError::option_bad_length},
        {"SACK length not 2+8n", raw_segment(8, {5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
         TcpParseError::option_bad_length},
    };
    for (const auto& c : cases) {
        Segment s;
        CHECK_TEXT(parse(c.bytes, s) == c.expect, c.name);
    }
}

TEST(TcpPacket, ParseErrorsMapToEvents) {
    CHECK(parse_error_event(TcpParseError::truncated) == TcpEvent::malformed_truncated);
    CHECK(parse_error_event(TcpParseError::bad_data_offset) == TcpEvent::malformed_data_offset);
    CHECK(parse_error_event(TcpParseError::data_offset_overrun) == TcpEvent::malformed_data_offset);
    CHECK(parse_error_event(TcpParseError::option_overrun) == TcpEvent::malformed_option);
    CHECK(parse_error_event(TcpParseError::option_bad_length) == TcpEvent::malformed_option);
}

TEST(TcpPacket, EolEndsOptionsAndNopsAreSkipped) {
    // NOP NOP MSS=1400 EOL, then bytes that would be a bad option.
    auto b = raw_segment(7, {1, 1, 2, 4, 0x05, 0x78, 0, 99, 0, 0, 0, 0});
    Segment s;
    CHECK(parse(b, s) == TcpParseError::ok);
    CHECK_EQUAL(1400, *s.header.options.mss);
}

TEST(TcpPacket, UnknownOptionIsSkippedByLength) {
    auto b = raw_segment(8, {30, 6, 1, 2, 3, 4, 3, 3, 9, 1, 1, 0});
    Segment s;
    CHECK(parse(b, s) == TcpParseError::ok);
    CHECK_EQUAL(9, *s.header.options.window_scale);
}

TEST(TcpPacket, BuildThenParseRoundTripsEveryOption) {
    TcpHeader h;
    h.src_port = 25;
    h.dst_port = 51000;
    h.seq = TcpSeq(0xfffffff0u);
    h.ack = TcpSeq(7);
    h.flags = flags::kSyn | flags::kAck;
    h.window = 65535;
    h.options.mss = 1460;
    h.options.window_scale = 7;
    h.options.sack_permitted = true;
    h.options.timestamps = Timestamps{0x01020304, 0xa0b0c0d0};
    std::uint8_t buf[60];
    std::size_t n = build_header(h, buf);
    CHECK_EQUAL(20u + options_length(h.options), n);
    CHECK_EQUAL(0u, n % 4);
    Segment s;
    CHECK(parse_segment(std::span<const std::uint8_t>(buf, n), s) == TcpParseError::ok);
    CHECK_EQUAL(h.src_port, s.header.src_port);
    CHECK_EQUAL(h.dst_port, s.header.dst_port);
    CHECK(h.seq == s.header.seq);
    CHECK(h.ack == s.header.ack);
    CHECK_EQUAL(h.flags, s.header.flags);
    CHECK_EQUAL(1460, *s.header.options.mss);
    CHECK_EQUAL(7, *s.header.options.window_scale);
    CHECK_TRUE(s.header.options.sack_permitted);
    CHECK(*s.header.options.timestamps == *h.options.timestamps);
    CHECK_EQUAL(0u, s.payload.size());
}

TEST(TcpPacket, SackBlocksRoundTripAndAreTrimmedToFit) {
    TcpHeader h;
    h.flags = flags::kAck;
    h.options.timestamps = Timestamps{1, 2};
    h.options.sack_count = 4;
    for (std::uint32_t i = 0; i < 4; ++i)
        h.options.sack[i] = SackBlock{TcpSeq(i * 100), TcpSeq(i * 100 + 50)};
    // With timestamps (12 bytes), only 3 blocks fit in 40 bytes.
    CHECK_EQUAL(12u + 4u + 24u, options_length(h.options));
    std::uint8_t buf[60];
    std::size_t n = build_header(h, buf);
    CHECK_EQUAL(60u, n);
    Segment s;
    CHECK(parse_segment(std::span<const std::uint8_t>(buf, n), s) == TcpParseError::ok);
    CHECK_EQUAL(3, s.header.options.sack_count);
    CHECK(s.header.options.sack[2] == h.options.sack[2]);
    h.options.timestamps.reset();
    CHECK_EQUAL(4u + 32u, options_length(h.options));
}

TEST(TcpPacket, BuildRefusesASmallBuffer) {
    TcpHeader h;
    h.options.mss = 1460;
    std::uint8_t buf[23];
    CHECK_EQUAL(0u, build_header(h, buf));
}

TEST(TcpPacket, EveryTruncationOfAValidSegmentIsRejectedOrShorter) {
    TcpHeader h;
    h.flags = flags::kSyn;
    h.options.mss = 1460;
    h.options.window_scale = 2;
    h.options.timestamps = Timestamps{5, 0};
    std::uint8_t buf[60];
    std::size_t n = build_header(h, buf);
    for (std::size_t cut = 0; cut < n; ++cut) {
        Segment s;
        CHECK_TEXT(parse_segment(std::span<const std::uint8_t>(buf, cut), s) != TcpParseError::ok,
                   "a cut header must not parse");
    }
    // And every truncation of the options area alone parses or fails cleanly.
    for (std::size_t cut = 0; cut <= n - 20; ++cut) {
        TcpOptions o;
        (void)parse_options(std::span<const std::uint8_t>(buf + 20, cut), o);
    }
}

TEST(TcpPacket, ChecksumV4FillAndVerify) {
    auto b = raw_segment(5, {}, {'d', 'a', 't', 'a', '!'}); // odd length
    net::Ipv4Addr src{0x0a000001}, dst{0x0a000002};
    tcp_fill_checksum_v4(b, src, dst);
    CHECK_TRUE(tcp_checksum_ok_v4(b, src, dst));
    CHECK_FALSE(tcp_checksum_ok_v4(b, src, net::Ipv4Addr{0x0a000003}));
    b[21] ^= 0x01;
    CHECK_FALSE(tcp_checksum_ok_v4(b, src, dst));
}

TEST(TcpPacket, ChecksumV4KnownValue) {
    // SYN 10.0.0.1:1234 -> 10.0.0.2:25, seq 1, window 8192, no options:
    // computed independently with the RFC 1071 algorithm.
    std::vector<std::uint8_t> b(20, 0);
    net::store_be16(b.data(), 1234);
    net::store_be16(b.data() + 2, 25);
    net::store_be32(b.data() + 4, 1);
    b[12] = 5 << 4;
    b[13] = flags::kSyn;
    net::store_be16(b.data() + 14, 8192);
    tcp_fill_checksum_v4(b, net::Ipv4Addr{0x0a000001}, net::Ipv4Addr{0x0a000002});
    // Sum: 0a00+0001+0a00+0002+0006+0014 (pseudo) + 04d2+0019+0000+0001+0000+0000
    //      +5002+2000 = 0x890b (folded) -> checksum ~0x890b = 0x76f4.
    CHECK_EQUAL(0x76f4, net::load_be16(b.data() + 16));
}

TEST(TcpPacket, ChecksumV6FillAndVerify) {
    auto b = raw_segment(5, {}, {1, 2, 3});
    net::Ipv6Addr src{}, dst{};
    src.bytes[0] = 0x20;
    src.bytes[15] = 1;
    dst.bytes[0] = 0x20;
    dst.bytes[15] = 2;
    tcp_fill_checksum_v6(b, src, dst);
    CHECK_TRUE(tcp_checksum_ok_v6(b, src, dst));
    b.back() ^= 0x80;
    CHECK_FALSE(tcp_checksum_ok_v6(b, src, dst));
}

TEST(TcpPacket, ChecksumRejectsShortSegments) {
    std::vector<std::uint8_t> b(10, 0);
    CHECK_FALSE(tcp_checksum_ok_v4(b, net::Ipv4Addr{1}, net::Ipv4Addr{2}));
}

TEST(TcpPacket, EventTableHasNamesAndSentences) {
    for (std::size_t i = 0; i < kTcpEventCount; ++i) {
        const auto& info = tcp_event_info(static_cast<TcpEvent>(i));
        CHECK_FALSE(info.name.empty());
        CHECK_FALSE(info.sentence.empty());
    }
}
