// counters.h: single-writer statistics counters for per-lcore state.
//
// Purpose: the owning lcore increments with a plain add (relaxed load+store,
// no locked instruction); the control plane reads at any time without locks
// and sees a recent value. Never share one Counter between two writers.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "net/drop_reason.h"

namespace smtpgw::net {

class Counter {
  public:
    void add(std::uint64_t n = 1) {
        value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    std::uint64_t read() const { return value_.load(std::memory_order_relaxed); }

  private:
    std::atomic<std::uint64_t> value_{0};
};

// One counter per value of a reason enum (0..N-1), as generated from a .def table.
template <typename Enum, std::size_t N>
struct CounterTable {
    std::array<Counter, N> by_reason{};

    void count(Enum r) { by_reason[static_cast<std::size_t>(r)].add(); }
    std::uint64_t read(Enum r) const { return by_reason[static_cast<std::size_t>(r)].read(); }
};

using DropCounters = CounterTable<DropReason, kDropReasonCount>;

// Events that are not drops but an administrator wants to see in numbers.
struct NeighborCounters {
    Counter learned;        // new entry created
    Counter updated;        // existing entry refreshed or changed MAC
    Counter evicted;        // oldest entry replaced because the cache was full
    Counter arp_replies_sent;
    Counter nd_adverts_sent;
    Counter echo_replies_sent;
};

} // namespace smtpgw::net
