// delay_line.h: frames held back by fault injection until their release time.
//
// Purpose: the lab's stand-in for netem delay and reordering: a bounded list
// of (mbuf, release time). Frames due at the same time leave in arrival
// order, so a constant delay keeps order and only `reorder` entries (held
// longer) are overtaken. Owned by one lcore.
// Security: fixed capacity; a full line hands the frame back to the caller
// to pass on undelayed, so fault injection can never leak or hoard mbufs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

struct rte_mbuf;

namespace smtpgw::io {

class DelayLine {
  public:
    static constexpr std::size_t kCapacity = 1024;

    // False when full (the caller keeps the frame).
    bool hold(rte_mbuf* m, std::uint64_t release_ns) {
        if (n_ == kCapacity)
            return false;
        items_[n_++] = {m, release_ns};
        return true;
    }

    // Moves up to `max` frames due at `now` to `out`, oldest first; returns how many.
    std::size_t release(std::uint64_t now, rte_mbuf** out, std::size_t max) {
        std::size_t kept = 0, got = 0;
        for (std::size_t i = 0; i < n_; ++i) {
            if (items_[i].release_ns <= now && got < max)
                out[got++] = items_[i].m;
            else
                items_[kept++] = items_[i];
        }
        n_ = kept;
        return got;
    }

    // Everything still held, for shutdown.
    std::size_t take_all(rte_mbuf** out, std::size_t max) {
        std::size_t got = release(~std::uint64_t{0}, out, max);
        return got;
    }

    bool empty() const { return n_ == 0; }
    std::size_t size() const { return n_; }

  private:
    struct Item {
        rte_mbuf* m;
        std::uint64_t release_ns;
    };
    std::array<Item, kCapacity> items_{};
    std::size_t n_ = 0;
};

} // namespace smtpgw::io
