// latency_histogram.h: a single-writer latency histogram for per-lcore
// state, exported as a Prometheus histogram (seconds).
//
// Purpose: the SMTP engine's latencies (connect to banner, end of data to
// verdict, LAN server reply) as the metrics endpoint wants them: fixed
// buckets from 0.1 ms to 60 s, each a Counter, plus the sum. The owning
// lcore observes with plain adds; the control plane reads without locks.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "net/counters.h"

namespace smtpgw::net {

class LatencyHistogram {
  public:
    // Upper bounds in microseconds; one more bucket above the last (+Inf).
    static constexpr std::array<std::uint64_t, 16> kBoundsUs{
        100,    250,     500,     1'000,   2'500,     5'000,     10'000,     25'000,
        50'000, 100'000, 250'000, 500'000, 1'000'000, 5'000'000, 15'000'000, 60'000'000};

    void observe_us(std::uint64_t us) {
        std::size_t i = 0;
        while (i < kBoundsUs.size() && us > kBoundsUs[i])
            ++i;
        buckets_[i].add();
        sum_us_.add(us);
    }
    std::uint64_t bucket(std::size_t i) const { return buckets_[i].read(); } // not cumulative
    std::uint64_t sum_us() const { return sum_us_.read(); }
    static constexpr std::size_t kBuckets = kBoundsUs.size() + 1;

  private:
    std::array<Counter, kBoundsUs.size() + 1> buckets_{};
    Counter sum_us_;
};

} // namespace smtpgw::net
