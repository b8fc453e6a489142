// tcp_sim_test.cc: two control blocks connected through a virtual-time link
// with seeded loss, duplication and reordering (jittered delay). Every
// segment goes through the real codec (build, checksum, parse). Each seed
// must deliver both byte streams exactly and close both ends cleanly.
#include <algorithm>
#include <cstdint>
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
};

struct InFlight {
    std::uint64_t at;
    std::uint64_t order;
    bool to_b;
    Packet packet;
    bool operator>(const InFlight& o) const { return at != o.at ? at > o.at : order > o.order; }
};

class Sim {
  public:
    Sim(unsigned seed, const LinkParams& link, const TcpSettings& s)
        : rng_(seed), link_(link), a_(s, kAddrA, kAddrB, kPortA, kPortB),
          b_(s, kAddrB, kAddrA, kPortB, kPortA) {}

    std::string ab, ba; // what A sends to B, and B to A

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
        for (int step = 0; step < 200000; ++step) {
            app(a_, ab, off_a_, closed_a_, false);
            app(b_, ba, off_b_, closed_b_, true);
            emit(a_, true, now);
            emit(b_, false, now);
            if (a_.tcb.state() == TcpState::closed && b_.tcb.state() == TcpState::closed &&
                queue_.empty())
                break;
            std::uint64_t next = std::min(a_.tcb.next_expiry(), b_.tcb.next_expiry());
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
            while (!queue_.empty() && queue_.top().at <= now) {
                InFlight f = queue_.top();
                queue_.pop();
                Endpoint& dst = f.to_b ? b_ : a_;
                dst.tcb.on_segment(decode(f.packet), now);
            }
            if (a_.tcb.next_expiry() <= now)
                a_.tcb.on_timer(now);
            if (b_.tcb.next_expiry() <= now)
                b_.tcb.on_timer(now);
        }
        a_.drain_app();
        b_.drain_app();
        if (a_.tcb.state() != TcpState::closed || b_.tcb.state() != TcpState::closed) {
            why = std::string("not closed: A ") + std::string(state_name(a_.tcb.state())) +
                  ", B " + std::string(state_name(b_.tcb.state()));
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
            (!wait_for_peer || e.saw(app_event::kPeerClosed))) {
            e.tcb.close();
            closed = true;
        }
    }

    void emit(Endpoint& e, bool to_b, std::uint64_t now) {
        std::uniform_real_distribution<double> u(0, 1);
        for (auto& p : e.output(now)) {
            if (u(rng_) < link_.loss)
                continue;
            int copies = u(rng_) < link_.dup ? 2 : 1;
            for (int i = 0; i < copies; ++i) {
                std::uint64_t jitter =
                    link_.jitter_ns ? std::uniform_int_distribution<std::uint64_t>(
                                          0, link_.jitter_ns)(rng_)
                                    : 0;
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

TEST(TcpSim, ThousandSeedsWithLossDuplicationAndReordering) {
    for (unsigned seed = 1; seed <= 1000; ++seed) {
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
        // Heavy loss backs the RTO off to tens of seconds: keep half-closed
        // ends waiting longer than that (this test is about the byte streams).
        s.fin_wait2_timeout_ns = 600 * kSec;
        Sim sim(seed, link, s);
        sim.ab = random_bytes(rng, rng() % 60000);
        sim.ba = random_bytes(rng, rng() % 20000);
        std::string why;
        bool ok = sim.run(why);
        std::string msg = "seed " + std::to_string(seed) + ": " + why;
        CHECK_TEXT(ok, msg.c_str());
        if (!ok)
            break;
    }
}
