// tcp_sim_test.cc: two control blocks connected through a virtual-time link
// with seeded loss, duplication and reordering (jittered delay). Every
// segment goes through the real codec (build, checksum, parse). Each seed
// must deliver both byte streams (sent at the same time) exactly and close
// both ends cleanly, exercising out-of-order reassembly and SACK on the way.
// Vanishing-peer seeds check that the idle timeout or keepalive frees the
// surviving end. A 5 MB echo over the lab's lossy, reordering link
// measures loss recovery (limited transmit, SACK loss detection, early
// retransmit, lost retransmissions, tail loss probes) in virtual time and
// prints it. Debugging a failing seed: SIMSEED=n starts the random
// matrix at seed n, SIMDEBUG=1 prints every segment put on the link.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "tcp_test_util.h"

using namespace tcptest;

namespace {

struct LinkParams {
    double loss = 0;
    double dup = 0;
    std::uint64_t delay_ns = 0;
    std::uint64_t jitter_ns = 0; // uniform extra delay: reorders segments
    double late = 0;             // share of segments held back by late_ns more
    std::uint64_t late_ns = 0;   // (the lab's "5% delayed 1 ms" reordering)
};

struct InFlight {
    std::uint64_t at;
    std::uint64_t order;
    bool to_b;
    Packet packet;
    bool operator>(const InFlight& o) const { return at != o.at ? at > o.at : order > o.order; }
};

// Counters summed over many seeds: shows which mechanisms the seeds reached.
std::array<std::uint64_t, kTcpEventCount> g_totals{};
std::uint64_t total(TcpEvent e) {
    return g_totals[static_cast<std::size_t>(e)];
}

class Sim {
  public:
    Sim(unsigned seed, const LinkParams& link, const TcpSettings& s)
        : rng_(seed), link_(link), a_(s, kAddrA, kAddrB, kPortA, kPortB),
          b_(s, kAddrB, kAddrA, kPortB, kPortA) {}
    ~Sim() {
        for (std::size_t i = 0; i < kTcpEventCount; ++i) {
            auto ev = static_cast<TcpEvent>(i);
            g_totals[i] += a_.counters.read(ev) + b_.counters.read(ev);
        }
    }

    std::string ab, ba; // what A sends to B, and B to A
    // B vanishes (no more input, output or timers) this long after A is
    // established; kNever: it stays.
    std::uint64_t vanish_after_ns = kNever;
    // With a vanishing B: A must be CLOSED by then, counted from B's last segment.
    std::uint64_t free_within_ns = 0;
    bool a_closes = true;           // false: A's application keeps the connection open
    int max_steps = 200000;         // event steps before the run is declared stuck
    std::uint64_t finished_at = 0;  // virtual time when both ends were CLOSED
    std::uint64_t delivered_at = 0; // ... when both had received every byte

    const TcpCounters& b_counters() const { return b_.counters; }

    const TcpCounters& a_counters() const { return a_.counters; }

    // Runs to completion; returns false (with a message) on failure.
    bool run(std::string& why) {
        if (run_inner(why))
            return true;
        why.append(" | A ");
        why.append(state_name(a_.tcb.state()));
        why.append(" ");
        why.append(counters(a_));
        why.append(" | B ");
        why.append(state_name(b_.tcb.state()));
        why.append(" ");
        why.append(counters(b_));
        return false;
    }

  private:
    bool run_inner(std::string& why) {
        b_.tcb.listen(TcpSeq(static_cast<std::uint32_t>(rng_())));
        a_.tcb.connect(TcpSeq(static_cast<std::uint32_t>(rng_())), 0);
        std::uint64_t now = 0;
        for (int step = 0; step < max_steps; ++step) {
            app(a_, ab, off_a_, closed_a_, false);
            if (vanish_at_ == kNever && vanish_after_ns != kNever &&
                a_.saw(app_event::kEstablished))
                vanish_at_ = now + vanish_after_ns;
            bool b_here = now < vanish_at_;
            if (b_here)
                app(b_, ba, off_b_, closed_b_, true);
            if (delivered_at == 0 && a_.received.size() == ba.size() &&
                b_.received.size() == ab.size())
                delivered_at = now;
            emit(a_, true, now);
            if (b_here)
                emit(b_, false, now);
            if (a_.tcb.state() == TcpState::closed &&
                (!b_here || b_.tcb.state() == TcpState::closed) && queue_.empty())
                break;
            std::uint64_t next = a_.tcb.next_expiry();
            if (b_here)
                next = std::min({next, b_.tcb.next_expiry(), vanish_at_});
            if (!queue_.empty())
                next = std::min(next, queue_.top().at);
            if (next == kNever) {
                why = "stuck: nothing scheduled before both ends closed";
                return false;
            }
            now = std::max(now, next);
            if (now > 3600 * kSec) {
                why = "took more than an hour of virtual time";
                return false;
            }
            b_here = now < vanish_at_;
            while (!queue_.empty() && queue_.top().at <= now) {
                InFlight f = queue_.top();
                queue_.pop();
                if (!f.to_b)
                    last_from_b_ = now;
                if (f.to_b && !b_here)
                    continue;
                Endpoint& dst = f.to_b ? b_ : a_;
                dst.tcb.on_segment(decode(f.packet), now);
            }
            if (a_.tcb.next_expiry() <= now)
                a_.tcb.on_timer(now);
            if (b_here && b_.tcb.next_expiry() <= now)
                b_.tcb.on_timer(now);
        }
        finished_at = now;
        a_.drain_app();
        if (vanish_at_ != kNever)
            return check_vanished(now, why);
        b_.drain_app();
        if (a_.tcb.state() != TcpState::closed || b_.tcb.state() != TcpState::closed) {
            why = std::string("not closed: A ") + std::string(state_name(a_.tcb.state())) + ", B " +
                  std::string(state_name(b_.tcb.state()));
            return false;
        }
        if (b_.received != ab) {
            why = "B received " + std::to_string(b_.received.size()) + " of " +
                  std::to_string(ab.size()) + " bytes, or different bytes";
            return false;
        }
        if (a_.received != ba) {
            why = "A received " + std::to_string(a_.received.size()) + " of " +
                  std::to_string(ba.size()) + " bytes, or different bytes";
            return false;
        }
        if (((a_.events | b_.events) & (app_event::kReset | app_event::kTimedOut)) != 0) {
            why = "a reset or timeout was reported";
            return false;
        }
        if (a_.tcb.buffer_bytes() != 0 || b_.tcb.buffer_bytes() != 0) {
            why = "a CLOSED end still holds buffers";
            return false;
        }
        return true;
    }

    bool check_vanished(std::uint64_t now, std::string& why) const {
        if (a_.tcb.state() != TcpState::closed) {
            why = std::string("survivor not closed: ") + std::string(state_name(a_.tcb.state()));
            return false;
        }
        if (!a_.saw(app_event::kTimedOut) && !a_.saw(app_event::kClosed)) {
            why = "survivor closed without telling the application";
            return false;
        }
        if (now > std::max(last_from_b_, vanish_at_) + free_within_ns) {
            why = "survivor freed after " + std::to_string(now / kMs) +
                  " ms, B's last segment at " + std::to_string(last_from_b_ / kMs) + " ms";
            return false;
        }
        if (a_.tcb.buffer_bytes() != 0) {
            why = "survivor still holds buffers";
            return false;
        }
        return true;
    }

    static std::string counters(const Endpoint& e) {
        std::string s("events ");
        s.append(std::to_string(e.events));
        for (std::size_t i = 0; i < kTcpEventCount; ++i) {
            auto ev = static_cast<TcpEvent>(i);
            if (e.counters.read(ev) == 0)
                continue;
            s.append(" ");
            s.append(tcp_event_info(ev).name);
            s.append("=");
            s.append(std::to_string(e.counters.read(ev)));
        }
        return s;
    }

    // The application: send everything, then close (B waits for A's FIN).
    void app(Endpoint& e, const std::string& data, std::size_t& off, bool& closed,
             bool wait_for_peer) {
        e.drain_app();
        if (off < data.size())
            off += e.tcb.send(as_bytes(data).subspan(off));
        if (!closed && off == data.size() && e.saw(app_event::kEstablished) &&
            (&e != &a_ || a_closes) && (!wait_for_peer || e.saw(app_event::kPeerClosed))) {
            e.tcb.close();
            closed = true;
        }
    }

    void emit(Endpoint& e, bool to_b, std::uint64_t now) {
        std::uniform_real_distribution<double> u(0, 1);
        for (auto& p : e.output(now)) {
            if (std::getenv("SIMDEBUG")) {
                Segment sg = decode(p);
                std::fprintf(
                    stderr, "%llu %s seq=%u ack=%u len=%zu f=%x w=%u sack=%u st=%s una=%u nxt=%u\n",
                    (unsigned long long)(now / 1000000), to_b ? "A>B" : "B>A", sg.header.seq.raw(),
                    sg.header.ack.raw(), sg.payload.size(), sg.header.flags, sg.header.window,
                    sg.header.options.sack_count, std::string(state_name(e.tcb.state())).c_str(),
                    e.tcb.snd_una().raw(), e.tcb.snd_nxt().raw());
            }
            if (u(rng_) < link_.loss)
                continue;
            int copies = u(rng_) < link_.dup ? 2 : 1;
            for (int i = 0; i < copies; ++i) {
                std::uint64_t jitter =
                    link_.jitter_ns
                        ? std::uniform_int_distribution<std::uint64_t>(0, link_.jitter_ns)(rng_)
                        : 0;
                if (link_.late > 0 && u(rng_) < link_.late)
                    jitter += link_.late_ns;
                queue_.push(InFlight{now + link_.delay_ns + jitter, order_++, to_b, p});
            }
        }
    }

    std::mt19937 rng_;
    LinkParams link_;
    Endpoint a_, b_;
    std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> queue_;
    std::uint64_t order_ = 0;
    std::size_t off_a_ = 0, off_b_ = 0;
    bool closed_a_ = false, closed_b_ = false;
    std::uint64_t vanish_at_ = kNever;
    std::uint64_t last_from_b_ = 0;
};

std::string random_bytes(std::mt19937& rng, std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s)
        c = static_cast<char>(rng());
    return s;
}

} // namespace

TEST_GROUP(TcpSim){};

TEST(TcpSim, LosslessLinkTransfersBothWays) {
    TcpSettings s;
    Sim sim(1, LinkParams{0, 0, 5 * kMs, 0}, s);
    std::mt19937 rng(1);
    sim.ab = random_bytes(rng, 200000);
    sim.ba = random_bytes(rng, 50000);
    std::string why;
    CHECK_TEXT(sim.run(why), why.c_str());
}

namespace {

// One seed of the random matrix: link, settings and transfer sizes.
bool run_random_seed(unsigned seed, std::string& msg) {
    std::mt19937 rng(seed * 7919u);
    std::uniform_real_distribution<double> u(0, 1);
    LinkParams link;
    link.loss = u(rng) * 0.10;
    link.dup = u(rng) * 0.05;
    link.delay_ns = (1 + rng() % 20) * kMs;
    link.jitter_ns = (rng() % 4 == 0) ? 0 : (rng() % 30) * kMs;
    TcpSettings s;
    s.delayed_ack_ns = (seed % 2) ? 40 * kMs : 0;
    s.timestamps = seed % 3 != 0;
    s.send_buffer_bytes = 4096u << (seed % 4);
    s.recv_buffer_bytes = 4096u << ((seed / 4) % 4);
    // Most seeds negotiate SACK; some keep few out-of-order ranges so the
    // ranges-full drop is exercised, some none (pure go-back-N receiver).
    s.sack = seed % 5 != 0;
    s.max_ooo_ranges = static_cast<std::uint32_t>(seed % 7 == 0 ? seed % 3 : 8);
    // Heavy loss backs the RTO off to tens of seconds: keep half-closed
    // ends waiting longer than that (this test is about the byte streams).
    s.fin_wait2_timeout_ns = 600 * kSec;
    Sim sim(seed, link, s);
    sim.ab = random_bytes(rng, rng() % 60000);
    sim.ba = random_bytes(rng, rng() % 20000);
    std::string why;
    bool ok = sim.run(why);
    msg = "seed " + std::to_string(seed) + ": " + why;
    return ok;
}

} // namespace

TEST(TcpSim, TenThousandSeedsWithLossDuplicationAndReordering) {
    g_totals = {};
    unsigned first =
        std::getenv("SIMSEED") ? static_cast<unsigned>(std::atoi(std::getenv("SIMSEED"))) : 1;
    for (unsigned seed = first; seed <= 10000; ++seed) {
        std::string msg;
        bool ok = run_random_seed(seed, msg);
        CHECK_TEXT(ok, msg.c_str());
        if (!ok)
            break;
    }
    // The seeds reach the mechanisms under test.
    CHECK_TRUE(total(TcpEvent::ooo_queued) > 0);
    CHECK_TRUE(total(TcpEvent::ooo_ranges_full) > 0);
    CHECK_TRUE(total(TcpEvent::sack_hole_retransmit) > 0);
    CHECK_TRUE(total(TcpEvent::fast_retransmit) > 0);
    CHECK_TRUE(total(TcpEvent::limited_transmit) > 0);
    CHECK_TRUE(total(TcpEvent::sack_recovery) > 0);
    CHECK_TRUE(total(TcpEvent::early_retransmit) > 0);
    CHECK_TRUE(total(TcpEvent::lost_retransmit) > 0);
    CHECK_TRUE(total(TcpEvent::tlp_probe) > 0);
    CHECK_EQUAL(0u, total(TcpEvent::sack_invalid));
}

TEST(TcpSim, ReorderingWithoutLossIsRepairedByReassemblyAlone) {
    // Jitter far above the spacing of segments: heavy reordering, no loss.
    // Reassembly and SACK must deliver everything without one timeout.
    for (unsigned seed = 1; seed <= 50; ++seed) {
        TcpSettings s;
        s.recv_buffer_bytes = 256 * 1024;
        s.send_buffer_bytes = 256 * 1024;
        s.rto_min_ns = 1 * kSec; // well above delay + jitter
        Sim sim(seed, LinkParams{0, 0, 10 * kMs, 8 * kMs}, s);
        std::mt19937 rng(seed);
        sim.ab = random_bytes(rng, 150000);
        sim.ba = random_bytes(rng, 80000);
        std::string why;
        bool ok = sim.run(why);
        std::string msg = "seed " + std::to_string(seed) + ": " + why;
        CHECK_TEXT(ok, msg.c_str());
    }
}

namespace {
struct VanishCase {
    const char* name;
    std::uint64_t keepalive_idle_ns; // 0: idle timeout only
    std::uint64_t idle_timeout_ns;
    std::uint64_t free_within_ns; // after B's last segment
    TcpEvent idle_event;          // what frees an idle survivor (nothing in flight)
};
// Keepalive: 2 s between probes, 3 probes.
const VanishCase kVanishCases[] = {
    {"idle timeout alone frees the survivor", 0, 30 * kSec, 30 * kSec + 1, TcpEvent::idle_timeout},
    {"keepalive probes give up before the idle timeout", 5 * kSec, 300 * kSec, 300 * kSec,
     TcpEvent::keepalive_timeout},
    {"idle timeout shorter than keepalive", 60 * kSec, 20 * kSec, 20 * kSec + 1,
     TcpEvent::idle_timeout},
};
} // namespace

TEST(TcpSim, VanishingPeerIsFreedByIdleTimeoutOrKeepalive) {
    for (const auto& c : kVanishCases) {
        for (unsigned seed = 1; seed <= 20; ++seed) {
            TcpSettings s;
            s.idle_timeout_ns = c.idle_timeout_ns;
            s.keepalive_idle_ns = c.keepalive_idle_ns;
            s.keepalive_interval_ns = 2 * kSec;
            s.keepalive_probes = 3;
            Sim sim(seed, LinkParams{0.02, 0.01, 5 * kMs, 5 * kMs}, s);
            std::mt19937 rng(seed);
            // Odd seeds: A is still sending when B vanishes; even: idle.
            sim.ab = random_bytes(rng, seed % 2 ? 40000 : 100);
            sim.ba = random_bytes(rng, 100);
            sim.vanish_after_ns = (rng() % 2000) * kMs;
            sim.free_within_ns = c.free_within_ns;
            sim.a_closes = false;
            std::string why;
            bool ok = sim.run(why);
            if (ok && seed % 2 == 0 && sim.a_counters().read(c.idle_event) != 1) {
                ok = false;
                why = "not freed by " + std::string(tcp_event_info(c.idle_event).name);
            }
            std::string msg = std::string(c.name) + ", seed " + std::to_string(seed) + ": " + why;
            CHECK_TEXT(ok, msg.c_str());
        }
    }
}

namespace {
struct EchoResult {
    bool ok = false;
    std::uint64_t delivered_ns = 0; // both byte streams complete at both ends
    std::uint64_t closed_ns = 0;    // both CLOSED (includes A's 60 s TIME-WAIT)
    std::array<std::uint64_t, kTcpEventCount> a_events{};
    std::string why;
};

// The lab's lossy echo (tests/lab): 0.1 ms one way, 5% loss per direction,
// 5% of segments held back 1 ms more, `bytes` each way at once, both ends
// with default settings (SACK and timestamps, as the Linux peer).
EchoResult lossy_echo(unsigned seed, std::size_t bytes, const TcpSettings& s) {
    LinkParams link;
    link.loss = 0.05;
    link.delay_ns = 100'000;
    link.late = 0.05;
    link.late_ns = 1 * kMs;
    Sim sim(seed, link, s);
    sim.max_steps = 5'000'000;
    std::mt19937 rng(seed);
    sim.ab = random_bytes(rng, bytes);
    sim.ba = random_bytes(rng, bytes);
    EchoResult r;
    r.ok = sim.run(r.why);
    r.delivered_ns = sim.delivered_at;
    r.closed_ns = sim.finished_at;
    for (std::size_t i = 0; i < kTcpEventCount; ++i)
        r.a_events[i] = sim.a_counters().read(static_cast<TcpEvent>(i));
    return r;
}
} // namespace

TEST(TcpSim, LossyReorderingEchoOfFiveMegabytesEachWayIsDeliveredWithinFiveSeconds) {
    // The lab measured 45 s for this against Linux, nearly all of it spent
    // waiting for RTOs (the simulator showed 46-51 s before limited
    // transmit, SACK loss detection, early retransmit and TLP). Each seed
    // must now deliver both streams within 5 s of virtual time.
    TcpSettings s;
    for (unsigned seed = 1; seed <= 3; ++seed) {
        EchoResult r = lossy_echo(seed, 5'000'000, s);
        std::string msg = "seed " + std::to_string(seed) + ": " + r.why;
        CHECK_TEXT(r.ok, msg.c_str());
        std::string events;
        for (std::size_t i = 0; i < kTcpEventCount; ++i)
            if (r.a_events[i] != 0) {
                events.append(" ");
                events.append(tcp_event_info(static_cast<TcpEvent>(i)).name);
                events.append("=");
                events.append(std::to_string(r.a_events[i]));
            }
        std::fprintf(stderr,
                     "\nlossy echo 5 MB each way, seed %u: delivered %.3f s, closed %.3f s "
                     "(virtual); A:%s\n",
                     seed, static_cast<double>(r.delivered_ns) / kSec,
                     static_cast<double>(r.closed_ns) / kSec, events.c_str());
        CHECK_TEXT(r.delivered_ns < 5 * kSec, msg.c_str());
    }
}
