// tcp_seq_test.cc: serial-number arithmetic of TcpSeq (RFC 9293 3.4, RFC 1982).
#include <cstdint>

#include "tcp/tcp_seq.h"

#include <CppUTest/TestHarness.h>

using smtpgw::tcp::seq_distance;
using smtpgw::tcp::seq_in_window;
using smtpgw::tcp::seq_max;
using smtpgw::tcp::seq_min;
using smtpgw::tcp::TcpSeq;

TEST_GROUP(TcpSeq){};

namespace {
struct OrderCase {
    const char* name;
    std::uint32_t a;
    std::uint32_t b;
    bool a_before_b;
};
constexpr OrderCase kOrder[] = {
    {"small numbers", 1, 2, true},
    {"equal is not before", 7, 7, false},
    {"just below the wrap is before zero", 0xffffffffu, 0, true},
    {"far below the wrap is before a small number", 0xfffff000u, 0x100, true},
    {"zero is after the largest", 0, 0xffffffffu, false},
    {"2^31 - 1 ahead is after", 0x7fffffffu, 0, false},
    {"just under half the space ahead", 0x80000000u - 1, 0, false},
    {"more than half the space ahead wraps to before", 0x80000001u, 0, true},
};
} // namespace

TEST(TcpSeq, ComparesAcrossTheWraparound) {
    for (const auto& c : kOrder) {
        TcpSeq a(c.a), b(c.b);
        CHECK_EQUAL_TEXT(c.a_before_b, a < b, c.name);
        CHECK_EQUAL_TEXT(c.a_before_b, b > a, c.name);
        CHECK_EQUAL_TEXT(!c.a_before_b, a >= b, c.name);
        CHECK_EQUAL_TEXT(c.a_before_b || c.a == c.b, a <= b, c.name);
    }
}

TEST(TcpSeq, AdditionAndSubtractionWrapModulo2To32) {
    TcpSeq s(0xfffffff0u);
    CHECK_EQUAL(0x10u, (s + 0x20).raw());
    CHECK_EQUAL(0xfffffff0u, ((s + 0x20) - 0x20).raw());
    TcpSeq t(5);
    t -= 10;
    CHECK_EQUAL(0xfffffffbu, t.raw());
    t += 10;
    CHECK_EQUAL(5u, t.raw());
}

TEST(TcpSeq, SignedDifferenceAcrossTheWrap) {
    CHECK_EQUAL(0x20, TcpSeq(0x10) - TcpSeq(0xfffffff0u));
    CHECK_EQUAL(-0x20, TcpSeq(0xfffffff0u) - TcpSeq(0x10));
    CHECK_EQUAL(0x20u, seq_distance(TcpSeq(0xfffffff0u), TcpSeq(0x10)));
}

TEST(TcpSeq, MinMaxFollowSerialOrder) {
    CHECK_EQUAL(0x10u, seq_max(TcpSeq(0xfffffff0u), TcpSeq(0x10)).raw());
    CHECK_EQUAL(0xfffffff0u, seq_min(TcpSeq(0xfffffff0u), TcpSeq(0x10)).raw());
}

TEST(TcpSeq, HalfOpenWindowStraddlingTheWrap) {
    TcpSeq lo(0xffffff00u), hi = lo + 0x200;
    CHECK_TRUE(seq_in_window(lo, lo, hi));
    CHECK_TRUE(seq_in_window(TcpSeq(0), lo, hi));
    CHECK_TRUE(seq_in_window(TcpSeq(0xff), lo, hi));
    CHECK_FALSE(seq_in_window(hi, lo, hi));
    CHECK_FALSE(seq_in_window(lo - 1, lo, hi));
}

TEST(TcpSeq, ConstexprUsable) {
    static_assert(TcpSeq(0xffffffffu) < TcpSeq(0));
    static_assert((TcpSeq(0xffffffffu) + 1).raw() == 0);
}
