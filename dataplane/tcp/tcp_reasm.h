// tcp_reasm.h: a small fixed set of sequence-number ranges.
//
// Purpose: the bookkeeping behind out-of-order reassembly and SACK. The
// receiver keeps the ranges of bytes it holds beyond RCV.NXT (RFC 9293
// 3.10.7.4 seventh; the bytes themselves sit in the receive ring at their
// offset) and reports them as SACK blocks (RFC 2018 4: the most recently
// changed range first, which is the order kept here). The sender keeps the
// ranges the peer has SACKed (its scoreboard, RFC 6675 in spirit) so that
// retransmissions skip them.
// RFCs: 2018 (SACK blocks and their order), 9293 3.4 (sequence arithmetic).
// Security: at most N ranges, fixed at compile time, no allocation; the
// caller passes a lower limit from TcpSettings, so a peer that scatters tiny
// segments (or SACK blocks) can force only a bounded amount of bookkeeping.
// Ranges are half-open [left, right), disjoint and never adjacent (adjacent
// ones are merged). All ranges must lie within 2^31 of each other (TCP
// windows are at most 2^30).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "tcp/tcp_seq.h"

namespace smtpgw::tcp {

struct SeqRange {
    TcpSeq left;  // first sequence number in the range
    TcpSeq right; // sequence number just after it
};

template <std::size_t N>
class SeqRanges {
    static_assert(N > 0 && N < 256);

  public:
    static constexpr std::size_t kCapacity = N;

    std::size_t size() const { return n_; }
    bool empty() const { return n_ == 0; }
    // Most recently added or extended first.
    const SeqRange& operator[](std::size_t i) const { return r_[i]; }
    void clear() { n_ = 0; }

    // True when [left, right) overlaps or touches a range.
    bool touches(TcpSeq left, TcpSeq right) const {
        for (std::size_t i = 0; i < n_; ++i)
            if (r_[i].right >= left && r_[i].left <= right)
                return true;
        return false;
    }

    // How many ranges there would be after add(left, right).
    std::size_t size_after_add(TcpSeq left, TcpSeq right) const {
        std::size_t kept = 0;
        for (std::size_t i = 0; i < n_; ++i)
            if (!(r_[i].right >= left && r_[i].left <= right))
                ++kept;
        return kept + 1;
    }

    // Adds [left, right) (left < right), merged with every range it overlaps
    // or touches; the result becomes the most recent. Returns false and
    // changes nothing when that would leave more than min(limit, N) ranges.
    bool add(TcpSeq left, TcpSeq right, std::size_t limit = N) {
        if (!(left < right) || size_after_add(left, right) > (limit < N ? limit : N))
            return false;
        SeqRange m{left, right};
        std::size_t k = 0;
        std::array<SeqRange, N> keep;
        // One pass suffices: existing ranges are disjoint and not adjacent,
        // so growing `m` by one range cannot make it reach another one seen
        // earlier.
        for (std::size_t i = 0; i < n_; ++i) {
            const SeqRange& r = r_[i];
            if (r.right >= m.left && r.left <= m.right) {
                m.left = seq_min(m.left, r.left);
                m.right = seq_max(m.right, r.right);
            } else {
                keep[k++] = r;
            }
        }
        r_[0] = m;
        for (std::size_t i = 0; i < k; ++i)
            r_[i + 1] = keep[i];
        n_ = static_cast<std::uint8_t>(k + 1);
        return true;
    }

    // The end of the range holding `s`, or `s` when none does.
    TcpSeq skip(TcpSeq s) const {
        for (std::size_t i = 0; i < n_; ++i)
            if (r_[i].left <= s && s < r_[i].right)
                return r_[i].right;
        return s;
    }

    // The lowest left edge above `s`, or `limit` when there is none below it.
    TcpSeq next_left(TcpSeq s, TcpSeq limit) const {
        TcpSeq best = limit;
        for (std::size_t i = 0; i < n_; ++i)
            if (r_[i].left > s && r_[i].left < best)
                best = r_[i].left;
        return best;
    }

    // The highest right edge, or `none` when empty.
    TcpSeq highest(TcpSeq none) const {
        TcpSeq best = none;
        for (std::size_t i = 0; i < n_; ++i)
            if (i == 0 || r_[i].right > best)
                best = r_[i].right;
        return best;
    }

    // The highest left edge, or `none` when empty.
    TcpSeq highest_left(TcpSeq none) const {
        TcpSeq best = none;
        for (std::size_t i = 0; i < n_; ++i)
            if (i == 0 || r_[i].left > best)
                best = r_[i].left;
        return best;
    }

    // Bytes of [left, right) that the ranges hold.
    std::uint32_t covered(TcpSeq left, TcpSeq right) const {
        std::uint32_t sum = 0;
        for (std::size_t i = 0; i < n_; ++i) {
            TcpSeq l = seq_max(left, r_[i].left);
            TcpSeq r = seq_min(right, r_[i].right);
            if (l < r)
                sum += seq_distance(l, r);
        }
        return sum;
    }

    // Removes the range that starts exactly at `s`; returns its right edge
    // through `right`. False when no range starts at `s`.
    bool take_from(TcpSeq s, TcpSeq& right) {
        for (std::size_t i = 0; i < n_; ++i) {
            if (r_[i].left == s) {
                right = r_[i].right;
                erase(i);
                return true;
            }
        }
        return false;
    }

    // Forgets everything below `s`: ranges end there or are cut to start there.
    void trim_below(TcpSeq s) {
        for (std::size_t i = 0; i < n_;) {
            if (r_[i].right <= s) {
                erase(i);
                continue;
            }
            if (r_[i].left < s)
                r_[i].left = s;
            ++i;
        }
    }

    // Removes the range with the highest left edge; returns it through `out`.
    bool remove_highest(SeqRange& out) {
        if (n_ == 0)
            return false;
        std::size_t hi = 0;
        for (std::size_t i = 1; i < n_; ++i)
            if (r_[i].left > r_[hi].left)
                hi = i;
        out = r_[hi];
        erase(hi);
        return true;
    }

  private:
    void erase(std::size_t i) {
        for (std::size_t j = i + 1; j < n_; ++j)
            r_[j - 1] = r_[j];
        --n_;
    }

    std::array<SeqRange, N> r_{};
    std::uint8_t n_ = 0;
};

} // namespace smtpgw::tcp
