// tcp_seq.h: TCP sequence numbers as their own type.
//
// Purpose: a 32-bit sequence number that cannot be mixed up with a length or
// an offset, whose comparisons follow serial-number arithmetic so that every
// comparison is correct across the 2^32 wraparound.
// RFCs: 9293 3.4 (sequence numbers, "=<" means less than or equal modulo
// 2^32), 1982 (serial number arithmetic).
// Security: all arithmetic is modulo 2^32 on unsigned values (no undefined
// behaviour on overflow). Two numbers exactly 2^31 apart are unordered in
// RFC 1982; here both a < b and b < a are true for them, so callers must
// keep windows below 2^31 (TCP windows are at most 2^30, RFC 7323 2.3).
#pragma once

#include <cstdint>

namespace smtpgw::tcp {

class TcpSeq {
  public:
    constexpr TcpSeq() = default;
    constexpr explicit TcpSeq(std::uint32_t v) : v_(v) {}

    constexpr std::uint32_t raw() const { return v_; }

    // Offsets move forward or backward modulo 2^32.
    constexpr TcpSeq operator+(std::uint32_t n) const { return TcpSeq(v_ + n); }
    constexpr TcpSeq operator-(std::uint32_t n) const { return TcpSeq(v_ - n); }
    constexpr TcpSeq& operator+=(std::uint32_t n) {
        v_ += n;
        return *this;
    }
    constexpr TcpSeq& operator-=(std::uint32_t n) {
        v_ -= n;
        return *this;
    }

    // Signed distance a - b in serial arithmetic: positive when a is after b.
    friend constexpr std::int32_t operator-(TcpSeq a, TcpSeq b) {
        return static_cast<std::int32_t>(a.v_ - b.v_); // C++20: modular conversion
    }

    friend constexpr bool operator==(TcpSeq a, TcpSeq b) = default;
    friend constexpr bool operator<(TcpSeq a, TcpSeq b) { return (a - b) < 0; }
    friend constexpr bool operator>(TcpSeq a, TcpSeq b) { return (a - b) > 0; }
    friend constexpr bool operator<=(TcpSeq a, TcpSeq b) { return (a - b) <= 0; }
    friend constexpr bool operator>=(TcpSeq a, TcpSeq b) { return (a - b) >= 0; }

  private:
    std::uint32_t v_ = 0;
};

// Bytes from `from` forward to `to` (modulo 2^32); meaningful when to >= from.
constexpr std::uint32_t seq_distance(TcpSeq from, TcpSeq to) { return to.raw() - from.raw(); }

constexpr TcpSeq seq_max(TcpSeq a, TcpSeq b) { return a < b ? b : a; }
constexpr TcpSeq seq_min(TcpSeq a, TcpSeq b) { return a < b ? a : b; }

// lo <= s < hi, the half-open window test of RFC 9293 3.4.
constexpr bool seq_in_window(TcpSeq s, TcpSeq lo, TcpSeq hi) { return lo <= s && s < hi; }

} // namespace smtpgw::tcp
