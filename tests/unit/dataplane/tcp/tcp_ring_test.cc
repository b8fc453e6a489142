// tcp_ring_test.cc: the fixed-capacity byte ring behind TCP buffers.
#include <cstdint>
#include <string>
#include <vector>

#include "tcp/tcp_ring.h"

#include <CppUTest/TestHarness.h>

using smtpgw::tcp::ByteRing;

namespace {
std::span<const std::uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
std::string take(ByteRing& r, std::size_t n) {
    std::vector<std::uint8_t> out(n);
    std::size_t got = r.read(out);
    return std::string(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(got));
}
} // namespace

TEST_GROUP(ByteRing){};

TEST(ByteRing, WriteRefusesBeyondCapacity) {
    ByteRing r(8);
    CHECK_EQUAL(5u, r.write(bytes("hello")));
    CHECK_EQUAL(3u, r.write(bytes("world")));
    CHECK_EQUAL(0u, r.free());
    CHECK_EQUAL(0u, r.write(bytes("x")));
    CHECK_EQUAL(std::string("hellowor"), take(r, 100));
    CHECK_TRUE(r.empty());
}

TEST(ByteRing, PeekAcrossTheWrapGivesTwoPieces) {
    ByteRing r(8);
    r.write(bytes("abcdef"));
    r.consume(4);
    r.write(bytes("ghijkl")); // wraps: "ef" + "ghijkl"
    auto v = r.peek(1, 6);
    CHECK_EQUAL(6u, v.size());
    CHECK_TRUE(!v.second.empty());
    std::vector<std::uint8_t> out(6);
    v.copy_to(out);
    CHECK_EQUAL(std::string("fghijk"), std::string(out.begin(), out.end()));
}

TEST(ByteRing, PeekClipsToContents) {
    ByteRing r(8);
    r.write(bytes("abc"));
    CHECK_EQUAL(2u, r.peek(1, 10).size());
    CHECK_EQUAL(0u, r.peek(3, 1).size());
}

TEST(ByteRing, ManyWrapsKeepOrder) {
    ByteRing r(7);
    std::string expect, got;
    for (int i = 0; i < 200; ++i) {
        std::string piece(static_cast<std::size_t>(i % 5 + 1), static_cast<char>('a' + i % 26));
        std::size_t n = r.write(bytes(piece));
        expect += piece.substr(0, n);
        got += take(r, static_cast<std::size_t>(i % 4 + 1));
    }
    got += take(r, 100);
    CHECK_EQUAL(expect, got);
}

TEST(ByteRing, ZeroCapacityIsHarmless) {
    ByteRing r(0);
    CHECK_EQUAL(0u, r.write(bytes("a")));
    CHECK_EQUAL(0u, r.peek(0, 1).size());
    r.consume(3);
    CHECK_TRUE(r.empty());
}

TEST(ByteRing, WriteAtHoldsBytesBeyondTheEndUntilCommitted) {
    ByteRing r(8);
    r.write(bytes("ab"));
    CHECK_EQUAL(2u, r.write_at(2, bytes("ef"))); // a hole of two bytes
    CHECK_EQUAL(2u, r.size());
    CHECK_EQUAL(2u, r.write_at(0, bytes("cd")));
    r.commit(4);
    CHECK_EQUAL(std::string("abcdef"), take(r, 100));
}

TEST(ByteRing, WriteAtIsClippedToTheFreeSpace) {
    struct {
        const char* name;
        std::size_t offset;
        const char* data;
        std::size_t expect;
    } cases[] = {
        {"fits", 0, "xyz", 3},
        {"reaches the end exactly", 3, "xyz", 3},
        {"runs past the end", 4, "xyz", 2},
        {"starts at the end", 6, "x", 0},
        {"starts beyond the end", 100, "x", 0},
    };
    for (const auto& c : cases) {
        ByteRing r(8);
        r.write(bytes("ab")); // 6 bytes free
        CHECK_EQUAL_TEXT(c.expect, r.write_at(c.offset, bytes(c.data)), c.name);
        CHECK_EQUAL_TEXT(2u, r.size(), c.name);
    }
}

TEST(ByteRing, HeldBytesSurviveReadsThatEmptyTheRingAndWraps) {
    // Bytes written ahead stay where they are when the reader drains the
    // ring (the head must not jump back to the start).
    ByteRing r(8);
    r.write(bytes("abcdef"));
    CHECK_EQUAL(std::string("abcdef"), take(r, 6)); // empty, head at 6
    CHECK_EQUAL(3u, r.write_at(2, bytes("XYZ")));   // wraps around
    CHECK_EQUAL(std::string(), take(r, 10));
    r.write(bytes("uv"));
    r.commit(3);
    CHECK_EQUAL(std::string("uvXYZ"), take(r, 10));
}

TEST(ByteRing, ReleaseFreesTheStorageForGood) {
    ByteRing r(16);
    r.write(bytes("abc"));
    r.release();
    CHECK_EQUAL(0u, r.capacity());
    CHECK_EQUAL(0u, r.free());
    CHECK_TRUE(r.empty());
    CHECK_EQUAL(0u, r.write(bytes("x")));
    CHECK_EQUAL(0u, r.write_at(0, bytes("x")));
    CHECK_EQUAL(0u, r.peek(0, 1).size());
}

TEST(ByteRing, StorageIsAllocatedOnFirstWriteAndTrimmedWhenEmpty) {
    ByteRing r(64);
    CHECK_EQUAL(0u, r.allocated());
    CHECK_EQUAL(64u, r.free()); // the window is the capacity, allocated or not
    const std::uint8_t none[1] = {};
    CHECK_EQUAL(0u, r.write(std::span<const std::uint8_t>(none, 0)));
    CHECK_EQUAL(0u, r.allocated()); // an empty write allocates nothing
    const std::uint8_t abc[3] = {'a', 'b', 'c'};
    CHECK_EQUAL(3u, r.write(abc));
    CHECK_EQUAL(64u, r.allocated());
    r.trim(); // not empty: kept
    CHECK_EQUAL(64u, r.allocated());
    std::uint8_t out[3];
    CHECK_EQUAL(3u, r.read(out));
    r.trim();
    CHECK_EQUAL(0u, r.allocated());
    // Usable again afterwards, from a fresh start.
    CHECK_EQUAL(3u, r.write(abc));
    CHECK_EQUAL(3u, r.read(out));
    CHECK_EQUAL('c', out[2]);
}
