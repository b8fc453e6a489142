// tcp_reasm_test.cc: the fixed set of sequence ranges behind out-of-order
// reassembly and the SACK scoreboard (tcp_reasm.h).
#include <cstdint>
#include <string>
#include <vector>

#include "tcp/tcp_reasm.h"

#include <CppUTest/TestHarness.h>

using smtpgw::tcp::SeqRange;
using smtpgw::tcp::SeqRanges;
using smtpgw::tcp::TcpSeq;

namespace {

struct R {
    std::uint32_t left, right;
};

// The ranges as text, in the order kept (most recent first), relative to `base`.
template <std::size_t N>
std::string dump(const SeqRanges<N>& s, std::uint32_t base = 0) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        out.append("[");
        out.append(std::to_string(s[i].left.raw() - base));
        out.append(",");
        out.append(std::to_string(s[i].right.raw() - base));
        out.append(")");
    }
    return out;
}

} // namespace

TEST_GROUP(SeqRanges){};

TEST(SeqRanges, AddMergesOverlappingAndAdjacentRangesMostRecentFirst) {
    struct {
        const char* name;
        std::vector<R> adds;
        const char* expect;
    } cases[] = {
        {"one range", {{10, 20}}, "[10,20)"},
        {"disjoint: most recent first", {{10, 20}, {30, 40}}, "[30,40)[10,20)"},
        {"adjacent on the right merges", {{10, 20}, {20, 30}}, "[10,30)"},
        {"adjacent on the left merges", {{10, 20}, {5, 10}}, "[5,20)"},
        {"overlap merges", {{10, 20}, {15, 25}}, "[10,25)"},
        {"duplicate moves to the front", {{10, 20}, {30, 40}, {10, 20}}, "[10,20)[30,40)"},
        {"inside an existing range", {{10, 40}, {50, 60}, {15, 16}}, "[10,40)[50,60)"},
        {"bridge of two ranges", {{10, 20}, {30, 40}, {20, 30}}, "[10,40)"},
        {"cover of three ranges", {{10, 12}, {20, 22}, {30, 32}, {5, 35}}, "[5,35)"},
        {"empty range refused", {{10, 10}}, ""},
    };
    for (const auto& c : cases) {
        SeqRanges<8> s;
        for (const auto& a : c.adds)
            s.add(TcpSeq(a.left), TcpSeq(a.right));
        CHECK_EQUAL_TEXT(std::string(c.expect), dump(s), c.name);
    }
}

TEST(SeqRanges, AddBeyondTheLimitChangesNothing) {
    SeqRanges<4> s;
    CHECK_TRUE(s.add(TcpSeq(10), TcpSeq(11), 2));
    CHECK_TRUE(s.add(TcpSeq(20), TcpSeq(21), 2));
    CHECK_FALSE(s.add(TcpSeq(30), TcpSeq(31), 2));
    CHECK_EQUAL(std::string("[20,21)[10,11)"), dump(s));
    CHECK_TRUE(s.add(TcpSeq(11), TcpSeq(20), 2)); // a bridge never needs more
    CHECK_EQUAL(std::string("[10,21)"), dump(s));
    // The array bounds a larger limit.
    for (std::uint32_t i = 0; i < 10; ++i)
        s.add(TcpSeq(100 + 10 * i), TcpSeq(101 + 10 * i), 100);
    CHECK_EQUAL(4u, s.size());
}

TEST(SeqRanges, SkipNextLeftAndHighest) {
    SeqRanges<8> s;
    s.add(TcpSeq(30), TcpSeq(40));
    s.add(TcpSeq(10), TcpSeq(20));
    CHECK_EQUAL(20u, s.skip(TcpSeq(10)).raw());
    CHECK_EQUAL(20u, s.skip(TcpSeq(19)).raw());
    CHECK_EQUAL(20u, s.skip(TcpSeq(20)).raw()); // not inside: unchanged
    CHECK_EQUAL(5u, s.skip(TcpSeq(5)).raw());
    CHECK_EQUAL(10u, s.next_left(TcpSeq(0), TcpSeq(100)).raw());
    CHECK_EQUAL(30u, s.next_left(TcpSeq(10), TcpSeq(100)).raw());
    CHECK_EQUAL(25u, s.next_left(TcpSeq(20), TcpSeq(25)).raw()); // limit below
    CHECK_EQUAL(40u, s.highest(TcpSeq(0)).raw());
    CHECK_TRUE(s.touches(TcpSeq(20), TcpSeq(25)));
    CHECK_FALSE(s.touches(TcpSeq(21), TcpSeq(29)));
}

TEST(SeqRanges, TakeFromTrimBelowAndRemoveHighest) {
    SeqRanges<8> s;
    s.add(TcpSeq(10), TcpSeq(20));
    s.add(TcpSeq(30), TcpSeq(40));
    s.add(TcpSeq(50), TcpSeq(60));
    TcpSeq right;
    CHECK_FALSE(s.take_from(TcpSeq(11), right));
    CHECK_TRUE(s.take_from(TcpSeq(10), right));
    CHECK_EQUAL(20u, right.raw());
    s.trim_below(TcpSeq(35));
    CHECK_EQUAL(std::string("[50,60)[35,40)"), dump(s));
    SeqRange hi;
    CHECK_TRUE(s.remove_highest(hi));
    CHECK_EQUAL(50u, hi.left.raw());
    s.trim_below(TcpSeq(40));
    CHECK_TRUE(s.empty());
    CHECK_FALSE(s.remove_highest(hi));
}

TEST(SeqRanges, WorksAcrossSequenceWraparound) {
    const std::uint32_t base = 0xfffffff0u;
    SeqRanges<8> s;
    s.add(TcpSeq(base + 10), TcpSeq(base + 20)); // [2^32 - 6, 4)
    s.add(TcpSeq(base + 30), TcpSeq(base + 40));
    s.add(TcpSeq(base + 20), TcpSeq(base + 30));
    CHECK_EQUAL(std::string("[10,40)"), dump(s, base));
    CHECK_EQUAL(base + 40, s.highest(TcpSeq(0)).raw());
    CHECK_EQUAL(base + 40, s.skip(TcpSeq(base + 17)).raw());
}
