// fault_injector_test.cc: seeded fault decisions (net/fault_injector.h).
#include "net/fault_injector.h"

#include <CppUTest/TestHarness.h>

using namespace smtpgw::net;

namespace {
struct Tally {
    unsigned drops = 0, dups = 0, delayed = 0;
};
Tally run_frames(const FaultSettings& s, unsigned frames) {
    FaultInjector f;
    f.configure(s);
    Tally t;
    for (unsigned i = 0; i < frames; ++i) {
        FaultDecision d = f.decide();
        t.drops += d.drop;
        t.dups += d.duplicate;
        t.delayed += d.delay_ns != 0;
    }
    return t;
}
} // namespace

TEST_GROUP(FaultInjector){};

TEST(FaultInjector, InactiveSettingsNeverFault) {
    Tally t = run_frames(FaultSettings{}, 100000);
    LONGS_EQUAL(0, t.drops + t.dups + t.delayed);
}

TEST(FaultInjector, RatesComeOutAsConfigured) {
    struct Case {
        std::uint32_t loss, dup, reorder;
    };
    const Case cases[] = {{50'000, 0, 0}, {0, 10'000, 0}, {0, 0, 50'000}, {50'000, 10'000, 50'000}};
    for (const auto& c : cases) {
        FaultSettings s;
        s.loss_ppm = c.loss;
        s.duplicate_ppm = c.dup;
        s.reorder_ppm = c.reorder;
        s.seed = 12345;
        const unsigned n = 1'000'000;
        Tally t = run_frames(s, n);
        // Deterministic for the seed; the bounds document the expected rate.
        CHECK_TRUE(t.drops >= c.loss * 0.9 && t.drops <= c.loss * 1.1);
        CHECK_TRUE(t.dups >= c.dup * 0.9 && t.dups <= c.dup * 1.1);
        CHECK_TRUE(t.delayed >= c.reorder * 0.9 && t.delayed <= c.reorder * 1.1);
    }
}

TEST(FaultInjector, TheSameSeedReplaysTheSameDecisions) {
    FaultSettings s;
    s.loss_ppm = 100'000;
    s.duplicate_ppm = 100'000;
    s.reorder_ppm = 100'000;
    s.seed = 7;
    FaultInjector a, b, c;
    a.configure(s);
    b.configure(s);
    s.seed = 8;
    c.configure(s);
    bool differs = false;
    for (int i = 0; i < 10000; ++i) {
        FaultDecision x = a.decide(), y = b.decide(), z = c.decide();
        CHECK_TRUE(x.drop == y.drop && x.duplicate == y.duplicate && x.delay_ns == y.delay_ns);
        differs = differs || x.drop != z.drop || x.duplicate != z.duplicate;
    }
    CHECK_TRUE(differs);
    // Reconfiguring restarts the sequence.
    s.seed = 7;
    a.configure(s);
    FaultInjector fresh;
    fresh.configure(s);
    for (int i = 0; i < 100; ++i)
        CHECK_TRUE(a.decide().drop == fresh.decide().drop);
}

TEST(FaultInjector, DelayAddsReorderHoldToTheConstantDelay) {
    FaultSettings s;
    s.delay_us = 300;
    s.reorder_ppm = 1'000'000 / 2;
    s.reorder_delay_us = 1000;
    FaultInjector f;
    f.configure(s);
    bool saw_plain = false, saw_reordered = false;
    for (int i = 0; i < 1000; ++i) {
        auto d = f.decide().delay_ns;
        CHECK_TRUE(d == 300'000 || d == 1'300'000);
        saw_plain = saw_plain || d == 300'000;
        saw_reordered = saw_reordered || d == 1'300'000;
    }
    CHECK_TRUE(saw_plain && saw_reordered);
}

TEST(FaultInjector, OutOfRangeSettingsAreRefusedWithAReason) {
    struct Case {
        FaultSettings s;
        bool ok;
    };
    FaultSettings too_lossy, too_slow, fine;
    too_lossy.loss_ppm = kMaxFaultPpm + 1;
    too_slow.delay_us = kMaxFaultDelayUs + 1;
    fine.loss_ppm = kMaxFaultPpm;
    fine.delay_us = kMaxFaultDelayUs;
    const Case cases[] = {{too_lossy, false}, {too_slow, false}, {fine, true}, {{}, true}};
    for (const auto& c : cases)
        CHECK_EQUAL(c.ok, fault_settings_error(c.s).empty());
}

TEST(FaultInjector, SettingsPrintAsAnOperatorTypedThem) {
    FaultSettings s;
    STRCMP_EQUAL("off", to_string(s).c_str());
    s.loss_ppm = 50'000;
    s.duplicate_ppm = 1'500;
    s.seed = 42;
    STRCMP_EQUAL("loss 5.00%, duplicate 0.15%, reorder 0.00% (+1000 us), delay 0 us, seed 42",
                 to_string(s).c_str());
}
