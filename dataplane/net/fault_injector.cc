// fault_injector.cc: seeded fault decisions (see fault_injector.h).
#include "net/fault_injector.h"

namespace smtpgw::net {

std::string fault_settings_error(const FaultSettings& s) {
    if (s.loss_ppm > kMaxFaultPpm || s.duplicate_ppm > kMaxFaultPpm || s.reorder_ppm > kMaxFaultPpm)
        return "rates are at most " + std::to_string(kMaxFaultPpm / 10000) + "%";
    if (s.delay_us > kMaxFaultDelayUs || s.reorder_delay_us > kMaxFaultDelayUs)
        return "delays are at most " + std::to_string(kMaxFaultDelayUs) + " us";
    return {};
}

void FaultInjector::configure(const FaultSettings& s) {
    s_ = s;
    state_ = s.seed;
}

std::uint64_t FaultInjector::next() {
    // splitmix64 (Steele, Lea, Flood 2014): one add and three multiplies.
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

bool FaultInjector::roll(std::uint32_t ppm) { return ppm != 0 && next() % 1'000'000 < ppm; }

FaultDecision FaultInjector::decide() {
    FaultDecision d;
    if (!s_.active())
        return d;
    // One draw per fault kind, always in the same order: the decision for
    // frame n depends on the seed and n only.
    d.drop = roll(s_.loss_ppm);
    d.duplicate = roll(s_.duplicate_ppm);
    bool reorder = roll(s_.reorder_ppm);
    d.delay_ns = std::uint64_t{s_.delay_us} * 1000 +
                 (reorder ? std::uint64_t{s_.reorder_delay_us} * 1000 : 0);
    return d;
}

std::string to_string(const FaultSettings& s) {
    auto pct = [](std::uint32_t ppm) {
        return std::to_string(ppm / 10000) + "." + std::to_string((ppm / 100) % 100 / 10) +
               std::to_string(ppm / 100 % 10) + "%";
    };
    if (!s.active())
        return "off";
    return "loss " + pct(s.loss_ppm) + ", duplicate " + pct(s.duplicate_ppm) + ", reorder " +
           pct(s.reorder_ppm) + " (+" + std::to_string(s.reorder_delay_us) + " us), delay " +
           std::to_string(s.delay_us) + " us, seed " + std::to_string(s.seed);
}

} // namespace smtpgw::net
