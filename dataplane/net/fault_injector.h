// fault_injector.h: seeded loss, duplication, reordering and delay for the
// lab's ports (the lab kernel has no netem).
//
// Purpose: make TCP recovery testable and reproducible on the virtual board:
// every frame a port receives or sends asks decide() what to do with it.
// The sequence of decisions is a pure function of the seed and the number of
// frames, so a failing run is replayed by its seed. No clock, no DPDK.
// Security: only boards with `fastpath.fault_injection = on` (the virtual
// board) accept fault settings; an appliance cannot be told to lose mail.
#pragma once

#include <cstdint>
#include <string>

namespace smtpgw::net {

struct FaultSettings {
    std::uint32_t loss_ppm = 0;      // frames dropped, per million
    std::uint32_t duplicate_ppm = 0; // frames sent twice, per million
    std::uint32_t reorder_ppm = 0;   // frames held back reorder_delay_us so later ones overtake
    std::uint32_t reorder_delay_us = 1000;
    std::uint32_t delay_us = 0;      // every frame held this long (a longer wire)
    std::uint64_t seed = 1;

    bool active() const {
        return loss_ppm != 0 || duplicate_ppm != 0 || reorder_ppm != 0 || delay_us != 0;
    }
    bool operator==(const FaultSettings&) const = default;
};

// Upper bounds that keep the lab usable (and the delay lines small).
inline constexpr std::uint32_t kMaxFaultPpm = 500'000;
inline constexpr std::uint32_t kMaxFaultDelayUs = 100'000;

struct FaultDecision {
    bool drop = false;
    bool duplicate = false;
    std::uint64_t delay_ns = 0;
};

class FaultInjector {
  public:
    // Contract: fault_settings_error(s) is empty (the control side checks
    // before it posts the settings to the lcore).
    void configure(const FaultSettings& s);
    const FaultSettings& settings() const { return s_; }
    bool active() const { return s_.active(); }
    FaultDecision decide();

  private:
    std::uint64_t next(); // splitmix64
    bool roll(std::uint32_t ppm);

    FaultSettings s_;
    std::uint64_t state_ = 1;
};

// Empty when `s` is acceptable, else the reason (rates or delays too high).
std::string fault_settings_error(const FaultSettings& s);

std::string to_string(const FaultSettings& s);

} // namespace smtpgw::net
