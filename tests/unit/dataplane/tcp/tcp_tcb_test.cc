// tcp_tcb_test.cc: the TCP control block (tcp_tcb.h): handshakes, data,
// closes, RFC 9293 3.10.7 input cases, RFC 5961 challenges, timers (RFC 6298),
// flow control, fast retransmit and wraparound, out-of-order reassembly,
// SACK (RFC 2018), loss recovery (RFC 3042 limited transmit, RFC 6675 SACK
// loss detection, RFC 5827 early retransmit, RFC 8985 lost retransmissions
// and tail loss probes), keepalive and idle timeouts, connections from SYN
// cookies, and buffer release, all on a fake clock.
#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tcp/tcp_syncookie.h"
#include "tcp_test_util.h"

using namespace tcptest;

namespace {

TcpSettings quick_settings() {
    TcpSettings s;
    s.delayed_ack_ns = 0; // every test that wants delayed ACKs says so
    return s;
}

struct Pair {
    explicit Pair(const TcpSettings& sa = quick_settings(),
                  const TcpSettings& sb = quick_settings())
        : a(sa, kAddrA, kAddrB, kPortA, kPortB), b(sb, kAddrB, kAddrA, kPortB, kPortA) {}
    Endpoint a; // the client (active opener)
    Endpoint b; // the server (passive opener)

    void open(TcpSeq iss_a = TcpSeq(1000), TcpSeq iss_b = TcpSeq(90000), std::uint64_t now = 0) {
        b.tcb.listen(iss_b);
        a.tcb.connect(iss_a, now);
        pump(a, b, now);
        check_both(TcpState::established);
    }
    void check_both(TcpState s) const {
        CHECK(a.tcb.state() == s);
        CHECK(b.tcb.state() == s);
    }
    // Each side has one segment ready (both SYNs, both FINs): they cross on
    // the wire, leaving both in `crossed`; the answers settle both in `settled`.
    void cross_then_settle(TcpState crossed, TcpState settled) {
        auto from_a = a.output(0), from_b = b.output(0);
        CHECK_EQUAL(1u, from_a.size());
        CHECK_EQUAL(1u, from_b.size());
        b.tcb.on_segment(decode(from_a[0]), 0);
        a.tcb.on_segment(decode(from_b[0]), 0);
        check_both(crossed);
        pump(a, b, 0);
        check_both(settled);
    }
    // A closes and the FIN is acknowledged: A in FIN-WAIT-2, B in CLOSE-WAIT.
    void close_a() {
        a.tcb.close();
        pump(a, b, 0);
    }
    // Then B closes too: A in TIME-WAIT, B CLOSED.
    void close_both() {
        close_a();
        b.tcb.close();
        pump(a, b, 0);
    }
};

std::string pattern(std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    std::uint32_t x = seed * 2654435761u + 1;
    for (auto& c : s) {
        x = x * 1103515245u + 12345u;
        c = static_cast<char>(x >> 24);
    }
    return s;
}

// Sends all of `data` from `from` to `to`, pumping as buffers fill.
void transfer(Endpoint& from, Endpoint& to, const std::string& data, std::uint64_t now) {
    std::size_t off = 0;
    for (int guard = 0; off < data.size() && guard < 100000; ++guard) {
        off += from.tcb.send(as_bytes(data).subspan(off));
        pump(from, to, now);
    }
    pump(from, to, now);
}

Segment seg(std::uint8_t f, TcpSeq seq, TcpSeq ack, std::uint16_t wnd = 65535,
            std::span<const std::uint8_t> payload = {}) {
    Segment s;
    s.header.src_port = kPortA;
    s.header.dst_port = kPortB;
    s.header.flags = f;
    s.header.seq = seq;
    s.header.ack = ack;
    s.header.window = wnd;
    s.payload = payload;
    return s;
}

std::vector<OutSegment> outputs(Tcb& t, std::uint64_t now) {
    std::vector<OutSegment> v;
    drain_segments(t, now, 1000, [&](const OutSegment& o) { v.push_back(o); });
    return v;
}

} // namespace

TEST_GROUP(TcbHandshake){};

TEST(TcbHandshake, PassiveOpenAnswersSynWithSynAckAndNegotiatedOptions) {
    TcpCounters c;
    TcpSettings s = quick_settings();
    Tcb t(s, c, kPortB, kPortA);
    t.listen(TcpSeq(5000));
    Segment syn = seg(flags::kSyn, TcpSeq(100), TcpSeq(0));
    syn.header.options.mss = 1400;
    syn.header.options.window_scale = 2;
    syn.header.options.timestamps = Timestamps{777, 0};
    t.on_segment(syn, 0);
    CHECK(t.state() == TcpState::syn_received);
    auto out = outputs(t, 0);
    CHECK_EQUAL(1u, out.size());
    const TcpHeader& h = out[0].header;
    CHECK_EQUAL(flags::kSyn | flags::kAck, h.flags);
    CHECK_EQUAL(5000u, h.seq.raw());
    CHECK_EQUAL(101u, h.ack.raw());
    CHECK_EQUAL(1460, *h.options.mss);
    CHECK_EQUAL(1, *h.options.window_scale); // 64 KiB needs a shift of 1
    CHECK_EQUAL(777u, h.options.timestamps->echo);
    CHECK_EQUAL(65535, h.window); // unscaled on a SYN
    t.on_segment(seg(flags::kAck, TcpSeq(101), TcpSeq(5001)), 1000);
    CHECK(t.state() == TcpState::established);
    CHECK((t.take_events() & app_event::kEstablished) != 0);
    CHECK_EQUAL(2, t.snd_wscale());
    CHECK_EQUAL(1, t.rcv_wscale());
    CHECK_EQUAL(1400 - 12, t.effective_mss()); // RFC 6691: timestamps take 12 bytes
}

TEST(TcbHandshake, NoOptionsInSynMeansNoneInSynAck) {
    TcpCounters c;
    Tcb t(quick_settings(), c, kPortB, kPortA);
    t.listen(TcpSeq(5000));
    t.on_segment(seg(flags::kSyn, TcpSeq(100), TcpSeq(0)), 0);
    auto out = outputs(t, 0);
    CHECK_EQUAL(1u, out.size());
    CHECK_FALSE(out[0].header.options.window_scale.has_value());
    CHECK_FALSE(out[0].header.options.timestamps.has_value());
    CHECK_EQUAL(536, t.effective_mss()); // RFC 9293 3.7.1 default
}

TEST(TcbHandshake, ActiveAndPassiveOpenThroughTheWire) {
    Pair p;
    p.open();
    CHECK_TRUE(p.a.saw(app_event::kEstablished));
    CHECK_TRUE(p.b.saw(app_event::kEstablished));
    CHECK_TRUE(p.a.tcb.timestamps_enabled());
    CHECK_TRUE(p.b.tcb.timestamps_enabled());
    CHECK(p.a.tcb.snd_nxt() == TcpSeq(1001));
    CHECK(p.b.tcb.rcv_nxt() == TcpSeq(1001));
}

TEST(TcbHandshake, SimultaneousOpen) {
    Pair p;
    p.a.tcb.connect(TcpSeq(1000), 0);
    p.b.tcb.connect(TcpSeq(90000), 0);
    p.cross_then_settle(TcpState::syn_received, TcpState::established);
    transfer(p.a, p.b, "HELO", 0);
    CHECK_EQUAL(std::string("HELO"), p.b.received);
}

TEST(TcbHandshake, WindowScaleFollowsTheBufferSize) {
    TcpSettings s = quick_settings();
    s.recv_buffer_bytes = 256 * 1024;
    Pair p(s, s);
    p.open();
    CHECK_EQUAL(3, p.a.tcb.rcv_wscale()); // 262144 >> 3 = 32768 fits 16 bits
    CHECK_EQUAL(3, p.b.tcb.snd_wscale());
    CHECK_EQUAL(256u * 1024u, p.b.tcb.snd_wnd());
}

TEST(TcbHandshake, DataQueuedBeforeEstablishedGoesOutAfter) {
    Pair p;
    p.b.tcb.listen(TcpSeq(7));
    p.a.tcb.connect(TcpSeq(9), 0);
    CHECK_EQUAL(5u, p.a.tcb.send(as_bytes("EHLO\n")));
    pump(p.a, p.b, 0);
    CHECK_EQUAL(std::string("EHLO\n"), p.b.received);
}

TEST_GROUP(TcbData){};

TEST(TcbData, BothWaysByteExactBeyondBufferSizes) {
    TcpSettings s = quick_settings();
    s.send_buffer_bytes = 8000;
    s.recv_buffer_bytes = 6000;
    Pair p(s, s);
    p.open();
    std::string ab = pattern(100000, 1), ba = pattern(70000, 2);
    transfer(p.a, p.b, ab, 0);
    transfer(p.b, p.a, ba, 0);
    CHECK(ab == p.b.received);
    CHECK(ba == p.a.received);
}

TEST(TcbData, WraparoundNear2To32) {
    Pair p;
    p.open(TcpSeq(0xffffff00u), TcpSeq(0xfffffff0u));
    std::string ab = pattern(300000, 3), ba = pattern(200000, 4);
    transfer(p.a, p.b, ab, 0);
    transfer(p.b, p.a, ba, 0);
    CHECK(ab == p.b.received);
    CHECK(ba == p.a.received);
    CHECK(p.a.tcb.snd_una() == TcpSeq(0xffffff01u) + 300000);
}

TEST(TcbData, ReceiveWindowIsFreeSpaceAndReopens) {
    TcpSettings s = quick_settings();
    s.recv_buffer_bytes = 2 * 1448; // two full segments (MSS 1460 - 12 for timestamps)
    Pair p(quick_settings(), s);
    p.open();
    p.b.auto_read = false;
    std::string data = pattern(5000, 5);
    CHECK_EQUAL(5000u, p.a.tcb.send(as_bytes(data)));
    pump(p.a, p.b, 0);
    CHECK_EQUAL(2u * 1448u, p.b.tcb.readable());
    CHECK_EQUAL(0u, p.a.tcb.snd_wnd()); // flow control: the window closed
    // Nothing in flight and a closed window: the persist timer runs.
    std::uint64_t probe_at = p.a.tcb.next_expiry();
    CHECK_TRUE(probe_at != kNever);
    p.a.tcb.on_timer(probe_at);
    auto probe = p.a.output(probe_at);
    CHECK_EQUAL(1u, probe.size());
    Segment ps = decode(probe[0]);
    CHECK(ps.header.seq == p.a.tcb.snd_una() - 1);
    CHECK_EQUAL(0u, ps.payload.size());
    CHECK_EQUAL(1u, p.a.counters.read(TcpEvent::zero_window_probe));
    // The peer answers the probe with its (still zero) window.
    p.b.tcb.on_segment(ps, probe_at);
    CHECK_EQUAL(1u, p.b.output(probe_at).size());
    // The application reads: a window update goes out and the rest flows.
    p.b.auto_read = true;
    pump(p.a, p.b, probe_at);
    CHECK(data == p.b.received);
}

TEST(TcbData, DelayedAckWaitsForASecondSegmentOrTheTimer) {
    TcpSettings s = quick_settings();
    s.delayed_ack_ns = 40 * kMs;
    Pair p(quick_settings(), s);
    p.open();
    p.a.tcb.send(as_bytes("one"));
    auto d1 = p.a.output(0);
    CHECK_EQUAL(1u, d1.size());
    p.b.tcb.on_segment(decode(d1[0]), 0);
    CHECK_EQUAL(0u, p.b.output(0).size());
    CHECK_EQUAL(40 * kMs, p.b.tcb.next_expiry());
    p.b.tcb.on_timer(40 * kMs);
    auto ack = p.b.output(40 * kMs);
    CHECK_EQUAL(1u, ack.size());
    CHECK(decode(ack[0]).header.ack == p.a.tcb.snd_nxt());
    // Two segments in a row: acknowledged at once (RFC 5681 4.2).
    p.a.tcb.send(as_bytes("two"));
    auto d2 = p.a.output(50 * kMs);
    p.a.tcb.send(as_bytes("three"));
    auto d3 = p.a.output(50 * kMs);
    p.b.tcb.on_segment(decode(d2[0]), 50 * kMs);
    CHECK_EQUAL(0u, p.b.output(50 * kMs).size());
    p.b.tcb.on_segment(decode(d3[0]), 50 * kMs);
    CHECK_EQUAL(1u, p.b.output(50 * kMs).size());
}

TEST(TcbData, FastRetransmitOnThreeDuplicateAcks) {
    Pair p;
    p.open();
    std::string data = pattern(6 * p.a.tcb.effective_mss(), 6);
    p.a.tcb.send(as_bytes(data));
    auto segs = p.a.output(0);
    CHECK_EQUAL(6u, segs.size());
    TcpSeq first = decode(segs[0]).header.seq;
    std::vector<Packet> dupacks;
    for (std::size_t i = 1; i < segs.size(); ++i) { // the first one is lost
        p.b.tcb.on_segment(decode(segs[i]), 0);
        for (auto& d : p.b.output(0))
            dupacks.push_back(d);
    }
    CHECK_EQUAL(5u, p.b.counters.read(TcpEvent::ooo_queued));
    CHECK_EQUAL(5u, dupacks.size());
    for (auto& d : dupacks)
        p.a.tcb.on_segment(decode(d), 0);
    CHECK_EQUAL(1u, p.a.counters.read(TcpEvent::fast_retransmit));
    auto re = p.a.output(0);
    CHECK_TRUE(re.size() >= 1);
    CHECK(decode(re[0]).header.seq == first);
    // Recovery completes without a timeout.
    for (auto& r : re)
        p.b.tcb.on_segment(decode(r), 0);
    pump(p.a, p.b, 0);
    CHECK(data == p.b.received);
    CHECK_EQUAL(0u, p.a.counters.read(TcpEvent::rto_expired));
}

TEST_GROUP(TcbClose){};

TEST(TcbClose, HalfCloseThenServerClose) {
    Pair p;
    p.open();
    p.a.tcb.close();
    CHECK(p.a.tcb.state() == TcpState::fin_wait_1);
    pump(p.a, p.b, 0);
    CHECK(p.a.tcb.state() == TcpState::fin_wait_2);
    CHECK(p.b.tcb.state() == TcpState::close_wait);
    CHECK_TRUE(p.b.saw(app_event::kPeerClosed));
    // The half-closed client still receives.
    transfer(p.b, p.a, "221 bye\r\n", 0);
    CHECK_EQUAL(std::string("221 bye\r\n"), p.a.received);
    CHECK_EQUAL(0u, p.b.tcb.send(as_bytes("")));
    p.b.tcb.close();
    CHECK(p.b.tcb.state() == TcpState::last_ack);
    pump(p.a, p.b, 0);
    CHECK(p.b.tcb.state() == TcpState::closed);
    CHECK_TRUE(p.b.saw(app_event::kClosed));
    CHECK(p.a.tcb.state() == TcpState::time_wait);
    CHECK_EQUAL(TcpSettings{}.time_wait_ns, p.a.tcb.next_expiry());
    p.a.tcb.on_timer(TcpSettings{}.time_wait_ns);
    CHECK(p.a.tcb.state() == TcpState::closed);
    CHECK((p.a.tcb.take_events() & app_event::kClosed) != 0);
}

TEST(TcbClose, CloseSendsQueuedDataBeforeFin) {
    Pair p;
    p.open();
    p.b.tcb.send(as_bytes("250 ok\r\n"));
    p.b.tcb.close();
    pump(p.a, p.b, 0);
    CHECK_EQUAL(std::string("250 ok\r\n"), p.a.received);
    CHECK(p.a.tcb.state() == TcpState::close_wait);
}

TEST(TcbClose, SimultaneousClose) {
    Pair p;
    p.open();
    p.a.tcb.close();
    p.b.tcb.close();
    p.cross_then_settle(TcpState::closing, TcpState::time_wait);
}

TEST(TcbClose, TimeWaitAcksARetransmittedFinAndRestarts) {
    Pair p;
    p.open();
    p.close_a();
    p.b.tcb.close();
    auto fin = p.b.output(0);
    CHECK_EQUAL(1u, fin.size());
    p.a.tcb.on_segment(decode(fin[0]), 0);
    p.a.output(0); // this final ACK is lost
    CHECK(p.a.tcb.state() == TcpState::time_wait);
    p.a.tcb.on_segment(decode(fin[0]), 5 * kSec);
    auto ack = p.a.output(5 * kSec);
    CHECK_EQUAL(1u, ack.size());
    CHECK_EQUAL(5 * kSec + TcpSettings{}.time_wait_ns, p.a.tcb.next_expiry());
    p.b.tcb.on_segment(decode(ack[0]), 5 * kSec);
    CHECK(p.b.tcb.state() == TcpState::closed);
}

TEST(TcbClose, FinWait2TimesOut) {
    Pair p;
    p.open();
    p.close_a();
    CHECK(p.a.tcb.state() == TcpState::fin_wait_2);
    p.a.tcb.on_timer(TcpSettings{}.fin_wait2_timeout_ns);
    CHECK(p.a.tcb.state() == TcpState::closed);
    CHECK_EQUAL(1u, p.a.counters.read(TcpEvent::fin_wait2_timeout));
}

TEST(TcbClose, AbortSendsRstAndThePeerSeesReset) {
    Pair p;
    p.open();
    p.a.tcb.abort();
    CHECK(p.a.tcb.state() == TcpState::closed);
    auto rst = p.a.output(0);
    CHECK_EQUAL(1u, rst.size());
    Segment r = decode(rst[0]);
    CHECK_EQUAL(flags::kRst, r.header.flags);
    p.b.tcb.on_segment(r, 0);
    CHECK(p.b.tcb.state() == TcpState::closed);
    CHECK((p.b.tcb.take_events() & app_event::kReset) != 0);
}

// RFC 9293 3.10.7.4 and RFC 5961 on an established connection, one row per
// case. Sequence and acknowledgment numbers are relative to B's RCV.NXT and
// SND.NXT; B's receive window is 64 KiB and its MAX.SND.WND 64 KiB.
namespace {
struct InputCase {
    const char* name;
    std::uint8_t flags;
    std::int64_t seq_off;
    std::int64_t ack_off;
    std::size_t payload;
    TcpState expect_state;
    std::size_t expect_out;      // segments B sends in answer
    std::uint32_t expect_events; // app_event bits
    TcpEvent counted;
    bool counts; // whether `counted` must have been bumped
};
constexpr std::uint8_t A = flags::kAck, R = flags::kRst, S = flags::kSyn, F = flags::kFin;
const InputCase kEstablishedCases[] = {
    {"RST exactly at RCV.NXT resets", R, 0, 0, 0, TcpState::closed, 0,
     app_event::kReset | app_event::kClosed, TcpEvent::rst_received, true},
    {"RST in window but not at RCV.NXT: challenge ACK", R, 100, 0, 0, TcpState::established, 1, 0,
     TcpEvent::rst_challenged, true},
    {"RST out of window: ignored silently", R, 1 << 20, 0, 0, TcpState::established, 0, 0,
     TcpEvent::rst_out_of_window, true},
    {"RST below RCV.NXT: ignored silently", R | A, -10, 0, 0, TcpState::established, 0, 0,
     TcpEvent::rst_out_of_window, true},
    {"SYN in window: challenge ACK", S, 10, 0, 0, TcpState::established, 1, 0,
     TcpEvent::syn_challenged, true},
    {"SYN out of window: challenge ACK", S, -5000, 0, 0, TcpState::established, 1, 0,
     TcpEvent::syn_challenged, true},
    {"ACK for unsent data: ACK back, dropped", A, 0, 1000, 5, TcpState::established, 1, 0,
     TcpEvent::ack_too_new, true},
    {"ACK older than SND.UNA - MAX.SND.WND: ACK back", A, 0, -(1 << 20), 5, TcpState::established,
     1, 0, TcpEvent::ack_too_old, true},
    {"old duplicate ACK within MAX.SND.WND: data accepted", A, 0, -10, 5, TcpState::established, 1,
     app_event::kReadable, TcpEvent::ack_too_old, false},
    {"data beyond the window: ACK back", A, 1 << 20, 0, 5, TcpState::established, 1, 0,
     TcpEvent::seg_not_acceptable, true},
    {"data before RCV.NXT entirely: ACK back", A, -100, 0, 10, TcpState::established, 1, 0,
     TcpEvent::seg_not_acceptable, true},
    {"data overlapping RCV.NXT: new part taken", A, -3, 0, 10, TcpState::established, 1,
     app_event::kReadable, TcpEvent::seg_not_acceptable, false},
    {"data after a gap: duplicate ACK", A, 50, 0, 10, TcpState::established, 1, 0,
     TcpEvent::ooo_queued, true},
    {"no ACK flag: dropped", 0, 0, 0, 5, TcpState::established, 0, 0, TcpEvent::bad_flags, true},
    {"SYN+RST: dropped", S | R, 0, 0, 0, TcpState::established, 0, 0, TcpEvent::bad_flags, true},
    {"FIN at RCV.NXT: CLOSE-WAIT", A | F, 0, 0, 0, TcpState::close_wait, 1, app_event::kPeerClosed,
     TcpEvent::seg_not_acceptable, false},
    {"data and FIN: delivered, CLOSE-WAIT", A | F, 0, 0, 7, TcpState::close_wait, 1,
     app_event::kReadable | app_event::kPeerClosed, TcpEvent::seg_not_acceptable, false},
};
} // namespace

TEST_GROUP(TcbInput){};

TEST(TcbInput, EstablishedCasesTable) {
    for (const auto& c : kEstablishedCases) {
        Pair p;
        p.open();
        p.b.drain_app();
        p.b.tcb.take_events();
        std::vector<std::uint8_t> payload(c.payload, 'x');
        Segment s = seg(c.flags, p.b.tcb.rcv_nxt() + static_cast<std::uint32_t>(c.seq_off),
                        p.b.tcb.snd_nxt() + static_cast<std::uint32_t>(c.ack_off), 65535, payload);
        std::uint64_t before = p.b.counters.read(c.counted);
        p.b.tcb.on_segment(s, kSec);
        auto out = outputs(p.b.tcb, kSec);
        CHECK_TEXT(c.expect_state == p.b.tcb.state(), c.name);
        CHECK_EQUAL_TEXT(c.expect_out, out.size(), c.name);
        if (!out.empty())
            CHECK_EQUAL_TEXT(flags::kAck, out[0].header.flags & (flags::kAck | flags::kRst),
                             c.name);
        CHECK_EQUAL_TEXT(c.expect_events, p.b.tcb.take_events(), c.name);
        CHECK_EQUAL_TEXT(c.counts ? before + 1 : before, p.b.counters.read(c.counted), c.name);
    }
}

TEST(TcbInput, ChallengeAcksAreRateLimited) {
    Pair p;
    p.open();
    std::size_t acks = 0;
    for (int i = 0; i < 25; ++i) {
        p.b.tcb.on_segment(seg(flags::kRst, p.b.tcb.rcv_nxt() + 10, TcpSeq(0)), kSec);
        acks += outputs(p.b.tcb, kSec).size();
    }
    CHECK_EQUAL(TcpSettings{}.challenge_ack_limit, acks);
    CHECK_EQUAL(15u, p.b.counters.read(TcpEvent::challenge_ack_limited));
    // A new interval allows more.
    p.b.tcb.on_segment(seg(flags::kRst, p.b.tcb.rcv_nxt() + 10, TcpSeq(0)), 3 * kSec);
    CHECK_EQUAL(1u, outputs(p.b.tcb, 3 * kSec).size());
}

TEST(TcbInput, PawsDropsOldTimestampsButToleratesOneTickOfReordering) {
    struct Case {
        std::uint32_t older_by; // ticks below TS.Recent
        bool rejected;
    };
    const Case cases[] = {{1000, true}, {2, true}, {1, false}, {0, false}};
    for (const auto& c : cases) {
        Pair p;
        p.open();
        p.a.tcb.send(as_bytes("hello"));
        auto d = p.a.output(10 * kMs);
        Segment first = decode(d[0]);
        p.b.tcb.on_segment(first, 10 * kMs); // TS.Recent = its TSval (at RCV.NXT)
        outputs(p.b.tcb, 10 * kMs);
        // The next bytes, stamped older than TS.Recent.
        Segment s = first;
        std::vector<std::uint8_t> world{'w', 'o', 'r', 'l', 'd'};
        s.payload = world;
        s.header.seq = first.header.seq + 5;
        s.header.options.timestamps->value = first.header.options.timestamps->value - c.older_by;
        p.b.tcb.on_segment(s, 10 * kMs);
        std::string what = "older by " + std::to_string(c.older_by);
        CHECK_EQUAL_TEXT(c.rejected ? 1u : 0u, p.b.counters.read(TcpEvent::paws_rejected),
                         what.c_str());
        CHECK_EQUAL_TEXT(c.rejected ? 5u : 10u, p.b.tcb.readable(), what.c_str());
        if (c.rejected) // answered with an ACK (RFC 7323 5.3 R1)
            CHECK_EQUAL_TEXT(1u, outputs(p.b.tcb, 10 * kMs).size(), what.c_str());
    }
}

namespace {
struct OtherStateCase {
    const char* name;
    TcpState start; // listen, syn_sent or closed
    std::uint8_t flags;
    bool ack_of_our_syn; // SEG.ACK = ISS + 1 (else ISS + 1000)
    TcpState expect_state;
    std::uint8_t expect_out_flags; // 0: nothing sent
};
const OtherStateCase kOtherCases[] = {
    {"LISTEN: RST ignored", TcpState::listen, R, false, TcpState::listen, 0},
    {"LISTEN: ACK answered with RST", TcpState::listen, A, false, TcpState::listen, R},
    {"LISTEN: plain segment dropped", TcpState::listen, 0, false, TcpState::listen, 0},
    {"LISTEN: SYN gives SYN-ACK", TcpState::listen, S, false, TcpState::syn_received, S | A},
    {"SYN-SENT: ACK not for our SYN gets RST", TcpState::syn_sent, A, false, TcpState::syn_sent, R},
    {"SYN-SENT: RST without ACK ignored", TcpState::syn_sent, R, false, TcpState::syn_sent, 0},
    {"SYN-SENT: RST with a bad ACK ignored", TcpState::syn_sent, R | A, false, TcpState::syn_sent,
     0},
    {"SYN-SENT: RST acking our SYN refuses", TcpState::syn_sent, R | A, true, TcpState::closed, 0},
    {"SYN-SENT: ACK alone dropped", TcpState::syn_sent, A, true, TcpState::syn_sent, 0},
    {"SYN-SENT: SYN-ACK establishes", TcpState::syn_sent, S | A, true, TcpState::established, A},
    {"SYN-SENT: SYN alone is a simultaneous open", TcpState::syn_sent, S, false,
     TcpState::syn_received, S | A},
    {"CLOSED: ACK answered with RST", TcpState::closed, A, false, TcpState::closed, R},
    {"CLOSED: SYN answered with RST+ACK", TcpState::closed, S, false, TcpState::closed, R | A},
    {"CLOSED: RST never answered", TcpState::closed, R, false, TcpState::closed, 0},
};
} // namespace

TEST(TcbInput, ListenSynSentAndClosedCasesTable) {
    for (const auto& c : kOtherCases) {
        TcpCounters counters;
        Tcb t(quick_settings(), counters, kPortB, kPortA);
        TcpSeq iss(3000);
        if (c.start == TcpState::listen)
            t.listen(iss);
        if (c.start == TcpState::syn_sent) {
            t.connect(iss, 0);
            outputs(t, 0); // the SYN
        }
        TcpSeq ack = c.ack_of_our_syn ? iss + 1 : iss + 1000;
        t.on_segment(seg(c.flags, TcpSeq(77), ack), 0);
        auto out = outputs(t, 0);
        CHECK_TEXT(c.expect_state == t.state(), c.name);
        if (c.expect_out_flags == 0) {
            CHECK_EQUAL_TEXT(0u, out.size(), c.name);
        } else {
            CHECK_EQUAL_TEXT(1u, out.size(), c.name);
            if (!out.empty())
                CHECK_EQUAL_TEXT(c.expect_out_flags, out[0].header.flags, c.name);
        }
    }
}

TEST(TcbInput, ResetForNoConnectionFollowsRfc9293) {
    TcpHeader r;
    Segment s = seg(flags::kSyn, TcpSeq(500), TcpSeq(0));
    s.payload = std::span<const std::uint8_t>();
    CHECK_TRUE(make_reset_for(s, r));
    CHECK_EQUAL(flags::kRst | flags::kAck, r.flags);
    CHECK_EQUAL(0u, r.seq.raw());
    CHECK_EQUAL(501u, r.ack.raw());
    CHECK_EQUAL(kPortA, r.dst_port);
    s = seg(flags::kAck, TcpSeq(500), TcpSeq(8000));
    CHECK_TRUE(make_reset_for(s, r));
    CHECK_EQUAL(flags::kRst, r.flags);
    CHECK_EQUAL(8000u, r.seq.raw());
    s = seg(flags::kRst, TcpSeq(500), TcpSeq(8000));
    CHECK_FALSE(make_reset_for(s, r));
}

TEST_GROUP(TcbTimers){};

TEST(TcbTimers, SynIsRetransmittedWithBackoffThenGivenUp) {
    TcpCounters c;
    TcpSettings s = quick_settings();
    Tcb t(s, c, kPortA, kPortB);
    t.connect(TcpSeq(1), 0);
    CHECK_EQUAL(1u, outputs(t, 0).size());
    std::uint64_t now = 0, expect_rto = s.rto_initial_ns;
    CHECK_EQUAL(expect_rto, t.next_expiry());
    for (std::uint32_t i = 0; i < s.max_syn_retransmits; ++i) {
        now = t.next_expiry();
        t.on_timer(now);
        auto out = outputs(t, now);
        CHECK_EQUAL(1u, out.size());
        CHECK_EQUAL(flags::kSyn, out[0].header.flags);
        CHECK_EQUAL(1u, out[0].header.seq.raw());
        expect_rto *= 2;
        CHECK_EQUAL(expect_rto, t.rto_ns());
        CHECK_EQUAL(now + expect_rto, t.next_expiry());
    }
    t.on_timer(t.next_expiry());
    CHECK(t.state() == TcpState::closed);
    std::uint32_t ev = t.take_events();
    CHECK((ev & app_event::kTimedOut) != 0);
    CHECK((ev & app_event::kClosed) != 0);
    CHECK_EQUAL(1u, c.read(TcpEvent::retransmit_giveup));
}

TEST(TcbTimers, RttSampleSetsRtoPerRfc6298) {
    TcpSettings s = quick_settings();
    s.rto_min_ns = 1 * kMs;
    Pair p(s, s);
    p.b.tcb.listen(TcpSeq(50));
    p.a.tcb.connect(TcpSeq(60), 0);
    auto syn = p.a.output(0);
    p.b.tcb.on_segment(decode(syn[0]), 50 * kMs);
    auto synack = p.b.output(50 * kMs);
    p.a.tcb.on_segment(decode(synack[0]), 100 * kMs);
    // First sample R = 100 ms: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR.
    CHECK_EQUAL(300 * kMs, p.a.tcb.rto_ns());
    // Second sample R' = 20 ms: RTTVAR = 3/4*50 + 1/4*80 = 57.5, SRTT = 7/8*100 + 1/8*20 = 90.
    p.a.output(100 * kMs);
    p.a.tcb.send(as_bytes("x"));
    auto d = p.a.output(100 * kMs);
    p.b.tcb.on_segment(decode(d[0]), 110 * kMs);
    auto ack = p.b.output(110 * kMs);
    p.a.tcb.on_segment(decode(ack[0]), 120 * kMs);
    CHECK_EQUAL(90 * kMs + 4 * (57500 * 1000), p.a.tcb.rto_ns());
}

TEST(TcbTimers, DataRtoResendsFromSndUnaAndKarnIgnoresTheRetransmission) {
    TcpSettings s = quick_settings();
    s.tlp = false; // the RTO alone (TcbLossRecovery covers the probe)
    Pair p(s, s);
    p.open();
    std::uint64_t rto0 = p.a.tcb.rto_ns();
    p.a.tcb.send(as_bytes("lost data"));
    auto first = p.a.output(0);
    CHECK_EQUAL(1u, first.size()); // lost
    std::uint64_t at = p.a.tcb.next_expiry();
    CHECK_EQUAL(rto0, at);
    p.a.tcb.on_timer(at);
    CHECK_EQUAL(1u, p.a.counters.read(TcpEvent::rto_expired));
    CHECK_EQUAL(2 * rto0, p.a.tcb.rto_ns());
    CHECK_EQUAL(p.a.tcb.effective_mss(), p.a.tcb.cwnd()); // RFC 5681 loss window
    auto again = p.a.output(at);
    CHECK_EQUAL(1u, again.size());
    Segment a1 = decode(first[0]), a2 = decode(again[0]);
    CHECK(a1.header.seq == a2.header.seq);
    CHECK_EQUAL(a1.payload.size(), a2.payload.size());
    p.b.tcb.on_segment(a2, at + 10 * kMs);
    auto ack = p.b.output(at + 10 * kMs);
    p.a.tcb.on_segment(decode(ack[0]), at + 20 * kMs);
    CHECK_EQUAL(2 * rto0, p.a.tcb.rto_ns()); // Karn: no sample from a retransmission
    // The retransmission timer stopped; only the idle timeout remains.
    CHECK_EQUAL(at + 20 * kMs + TcpSettings{}.idle_timeout_ns, p.a.tcb.next_expiry());
    CHECK_EQUAL(std::string("lost data"), (p.b.drain_app(), p.b.received));
}

TEST(TcbTimers, DataRetransmissionsGiveUpWithRst) {
    TcpSettings s = quick_settings();
    s.tlp = false; // every timer is an RTO
    Pair p(s, s);
    p.open();
    p.a.tcb.send(as_bytes("into the void"));
    p.a.output(0);
    std::uint64_t now = 0;
    for (std::uint32_t i = 0; i < TcpSettings{}.max_retransmits; ++i) {
        now = p.a.tcb.next_expiry();
        p.a.tcb.on_timer(now);
        CHECK_EQUAL(1u, p.a.output(now).size());
    }
    now = p.a.tcb.next_expiry();
    p.a.tcb.on_timer(now);
    CHECK(p.a.tcb.state() == TcpState::closed);
    auto rst = p.a.output(now);
    CHECK_EQUAL(1u, rst.size());
    CHECK_EQUAL(flags::kRst, decode(rst[0]).header.flags);
}

TEST(TcbTimers, RtoIsClampedToTheMaximum) {
    TcpSettings s = quick_settings();
    s.rto_max_ns = 3 * kSec;
    s.max_retransmits = 20;
    Pair p(s, s);
    p.open();
    p.a.tcb.send(as_bytes("x"));
    p.a.output(0);
    for (int i = 0; i < 6; ++i) {
        std::uint64_t now = p.a.tcb.next_expiry();
        p.a.tcb.on_timer(now);
        p.a.output(now);
    }
    CHECK_EQUAL(3 * kSec, p.a.tcb.rto_ns());
}

TEST(TcbClose, RstInTimeWaitIsIgnored) {
    Pair p;
    p.open();
    p.close_both();
    CHECK(p.a.tcb.state() == TcpState::time_wait);
    p.a.tcb.on_segment(seg(flags::kRst, p.a.tcb.rcv_nxt(), TcpSeq(0)), kSec);
    CHECK(p.a.tcb.state() == TcpState::time_wait); // RFC 1337
    CHECK_EQUAL(1u, p.a.counters.read(TcpEvent::rst_in_time_wait));
}

// Out-of-order reassembly (RFC 9293 3.10.7.4 seventh, RFC 5681 4.2). Pieces
// are [from, to) offsets of a text from A's SND.NXT (B's RCV.NXT after open),
// forged as if A sent them.
namespace {
using Piece = std::pair<std::uint32_t, std::uint32_t>;

// Delivers `pieces` of `text` to B in order; returns what B's application read.
std::string deliver(Pair& p, const std::string& text, const std::vector<Piece>& pieces,
                    std::uint64_t now = kSec) {
    TcpSeq base = p.a.tcb.snd_nxt();
    TcpSeq ack = p.b.tcb.snd_nxt();
    for (const auto& [from, to] : pieces) {
        auto payload = as_bytes(text).subspan(from, to - from);
        p.b.tcb.on_segment(seg(flags::kAck, base + from, ack, 65535, payload), now);
        p.b.drain_app();
    }
    return p.b.received;
}

struct ReasmCase {
    const char* name;
    std::vector<Piece> pieces;
};
const ReasmCase kReasmCases[] = {
    {"in order", {{0, 10}, {10, 20}}},
    {"reversed", {{10, 20}, {0, 10}}},
    {"middle last", {{0, 5}, {15, 20}, {5, 15}}},
    {"duplicate of a held range", {{10, 20}, {10, 20}, {0, 10}}},
    {"overlaps both held ranges", {{0, 3}, {5, 8}, {12, 15}, {2, 13}, {13, 20}}},
    {"superset arrives last", {{5, 6}, {8, 9}, {0, 20}}},
    {"one byte at a time, backwards",
     {{19, 20}, {18, 19}, {17, 18}, {16, 17}, {15, 16}, {14, 15}, {13, 14},
      {12, 13}, {11, 12}, {10, 11}, {9, 10},  {8, 9},   {7, 8},   {6, 7},
      {5, 6},   {4, 5},   {3, 4},   {2, 3},   {1, 2},   {0, 1}}},
    {"every other byte first", {{1, 2}, {3, 4}, {5, 6}, {7, 8}, {0, 1}, {2, 3}, {4, 5}, {6, 20}}},
    {"stale piece below RCV.NXT after the fill", {{10, 20}, {0, 10}, {3, 12}}},
};
} // namespace

TEST_GROUP(TcbReassembly){};

TEST(TcbReassembly, PiecesInAnyOrderAreDeliveredExactlyOnce) {
    const std::string text = "MAIL FROM:<a@b.c>\r\n"; // 19 bytes + 1
    const std::string t20 = text + "!";
    for (const auto& c : kReasmCases) {
        Pair p;
        p.open();
        CHECK_EQUAL_TEXT(t20, deliver(p, t20, c.pieces), c.name);
        CHECK_EQUAL_TEXT(0u, p.b.tcb.ooo_ranges(), c.name);
        CHECK_TEXT(p.b.tcb.rcv_nxt() == p.a.tcb.snd_nxt() + 20, c.name);
    }
}

TEST(TcbReassembly, SplitAtEveryByteAndSentBackwards) {
    const std::string text = pattern(300, 11);
    for (std::uint32_t cut = 1; cut < text.size(); ++cut) {
        Pair p;
        p.open();
        std::uint32_t n = static_cast<std::uint32_t>(text.size());
        std::string got = deliver(p, text, {{cut, n}, {0, cut}});
        CHECK_TRUE(text == got);
        CHECK_EQUAL(1u, p.b.counters.read(TcpEvent::ooo_queued));
    }
}

TEST(TcbReassembly, HoleFillMakesEverythingReadableAtOnceWithAnImmediateAck) {
    TcpSettings s = quick_settings();
    s.delayed_ack_ns = 40 * kMs; // the ACKs below are immediate despite it
    Pair p(quick_settings(), s);
    p.open();
    p.b.auto_read = false;
    std::string text = pattern(3000, 12);
    TcpSeq base = p.b.tcb.rcv_nxt();
    p.b.events = 0;
    deliver(p, text, {{1000, 3000}});
    CHECK_EQUAL(0u, p.b.tcb.readable());
    CHECK_FALSE(p.b.saw(app_event::kReadable));
    auto dup = outputs(p.b.tcb, kSec);
    CHECK_EQUAL(1u, dup.size());
    CHECK(dup[0].header.ack == base);
    deliver(p, text, {{0, 1000}});
    CHECK_EQUAL(3000u, p.b.tcb.readable());
    CHECK_TRUE(p.b.saw(app_event::kReadable));
    auto ack = outputs(p.b.tcb, kSec);
    CHECK_EQUAL(1u, ack.size());
    CHECK(ack[0].header.ack == base + 3000);
    CHECK_EQUAL(0, ack[0].header.options.sack_count);
}

TEST(TcbReassembly, RangesBeyondTheLimitAreDroppedAndCounted) {
    TcpSettings s = quick_settings();
    s.max_ooo_ranges = 2;
    Pair p(quick_settings(), s);
    p.open();
    std::string text = pattern(100, 13);
    deliver(p, text, {{10, 11}, {20, 21}, {30, 31}});
    CHECK_EQUAL(1u, p.b.counters.read(TcpEvent::ooo_ranges_full));
    CHECK_EQUAL(2u, p.b.tcb.ooo_ranges());
    deliver(p, text, {{11, 15}, {5, 10}}); // joining held ranges is always allowed
    CHECK_EQUAL(1u, p.b.counters.read(TcpEvent::ooo_ranges_full));
    CHECK_EQUAL(2u, p.b.tcb.ooo_ranges());
    deliver(p, text, {{0, 1}}); // in-order data needs no range
    CHECK_EQUAL(std::string(text, 0, 1), p.b.received);
    deliver(p, text, {{1, 100}});
    CHECK(text == p.b.received);
}

TEST(TcbReassembly, NoRangesMeansOutOfOrderSegmentsAreDropped) {
    TcpSettings s = quick_settings();
    s.max_ooo_ranges = 0;
    Pair p(quick_settings(), s);
    p.open();
    std::string text = pattern(20, 14);
    deliver(p, text, {{10, 20}, {0, 10}});
    CHECK_EQUAL(1u, p.b.counters.read(TcpEvent::ooo_ranges_full));
    CHECK(std::string(text, 0, 10) == p.b.received);
}

TEST(TcbReassembly, ALaterDifferentCopyDoesNotOverwriteHeldBytes) {
    Pair p;
    p.open();
    TcpSeq base = p.b.tcb.rcv_nxt(), ack = p.b.tcb.snd_nxt();
    std::string a(10, 'A'), b(20, 'B'), c(5, 'C');
    p.b.tcb.on_segment(seg(flags::kAck, base + 10, ack, 65535, as_bytes(a)), kSec);
    p.b.tcb.on_segment(seg(flags::kAck, base + 5, ack, 65535, as_bytes(b)), kSec);
    p.b.tcb.on_segment(seg(flags::kAck, base, ack, 65535, as_bytes(c)), kSec);
    p.b.drain_app();
    CHECK_EQUAL(std::string("CCCCCBBBBBAAAAAAAAAABBBBB"), p.b.received);
}

TEST(TcbReassembly, OutOfOrderDataIsTrimmedToTheWindow) {
    TcpSettings s = quick_settings();
    s.recv_buffer_bytes = 100;
    Pair p(quick_settings(), s);
    p.open();
    std::string text = pattern(120, 15);
    deliver(p, text, {{90, 110}}); // 10 bytes beyond the window
    CHECK_EQUAL(1u, p.b.counters.read(TcpEvent::seg_trimmed));
    deliver(p, text, {{0, 90}});
    CHECK(std::string(text, 0, 100) == p.b.received);
}

TEST(TcbReassembly, OutOfOrderFinIsProcessedWhenTheHoleFills) {
    Pair p;
    p.open();
    TcpSeq base = p.b.tcb.rcv_nxt(), ack = p.b.tcb.snd_nxt();
    std::string text = "QUIT\r\n";
    p.b.tcb.on_segment(
        seg(flags::kAck | flags::kFin, base + 4, ack, 65535, as_bytes(text).subspan(4)), kSec);
    p.b.drain_app();
    CHECK(p.b.tcb.state() == TcpState::established);
    CHECK_FALSE(p.b.saw(app_event::kPeerClosed));
    p.b.tcb.on_segment(seg(flags::kAck, base, ack, 65535, as_bytes(text).first(4)), kSec);
    p.b.drain_app();
    CHECK(p.b.tcb.state() == TcpState::close_wait);
    CHECK_TRUE(p.b.saw(app_event::kPeerClosed));
    CHECK_EQUAL(text, p.b.received);
    CHECK(p.b.tcb.rcv_nxt() == base + 7);
}

TEST(TcbReassembly, InconsistentFinsAreIgnored) {
    struct {
        const char* name;
        std::uint32_t held_from, held_to; // data held out of order (with a FIN when fin_held)
        bool fin_held;
        std::uint32_t from, to; // then this segment, with a FIN when fin_new
        bool fin_new;
        std::size_t expect_received;
    } cases[] = {
        {"FIN below data already held", 10, 20, false, 0, 5, true, 5},
        {"data beyond a held FIN is cut at it", 10, 20, true, 0, 25, false, 20},
        {"a second FIN at another place", 10, 20, true, 0, 15, true, 20},
    };
    for (const auto& c : cases) {
        Pair p;
        p.open();
        TcpSeq base = p.b.tcb.rcv_nxt(), ack = p.b.tcb.snd_nxt();
        std::string text = pattern(30, 16);
        auto f = [](bool fin) {
            return static_cast<std::uint8_t>(flags::kAck | (fin ? flags::kFin : 0));
        };
        p.b.tcb.on_segment(seg(f(c.fin_held), base + c.held_from, ack, 65535,
                               as_bytes(text).subspan(c.held_from, c.held_to - c.held_from)),
                           kSec);
        p.b.tcb.on_segment(seg(f(c.fin_new), base + c.from, ack, 65535,
                               as_bytes(text).subspan(c.from, c.to - c.from)),
                           kSec);
        p.b.drain_app();
        CHECK_EQUAL_TEXT(1u, p.b.counters.read(TcpEvent::data_after_fin), c.name);
        CHECK_EQUAL_TEXT(c.expect_received, p.b.received.size(), c.name);
        CHECK_TEXT(std::string(text, 0, c.expect_received) == p.b.received, c.name);
        // Only a FIN consistent with the data reaches the application.
        CHECK_EQUAL_TEXT(c.fin_held, p.b.saw(app_event::kPeerClosed), c.name);
    }
}

TEST_GROUP(TcbSack){};

TEST(TcbSack, NegotiatedOnlyWhenBothSynsCarryIt) {
    struct {
        bool a, b, expect;
    } cases[] = {
        {true, true, true}, {true, false, false}, {false, true, false}, {false, false, false}};
    for (const auto& c : cases) {
        TcpSettings sa = quick_settings(), sb = quick_settings();
        sa.sack = c.a;
        sb.sack = c.b;
        Pair p(sa, sb);
        p.open();
        CHECK_EQUAL(c.expect, p.a.tcb.sack_enabled());
        CHECK_EQUAL(c.expect, p.b.tcb.sack_enabled());
    }
}

TEST(TcbSack, AcksCarryHeldRangesMostRecentFirstThreeBesideTimestamps) {
    struct {
        const char* name;
        bool timestamps;
        std::size_t expect_blocks;
    } cases[] = {{"with timestamps", true, 3}, {"without timestamps", false, 4}};
    for (const auto& c : cases) {
        TcpSettings s = quick_settings();
        s.timestamps = c.timestamps;
        Pair p(s, s);
        p.open();
        TcpSeq base = p.b.tcb.rcv_nxt();
        std::string text = pattern(100, 17);
        OutSegment last;
        for (std::uint32_t off : {10u, 30u, 50u, 70u, 90u}) {
            deliver(p, text, {{off, off + 5}});
            auto out = outputs(p.b.tcb, kSec);
            CHECK_EQUAL_TEXT(1u, out.size(), c.name);
            last = out.back();
        }
        const TcpOptions& o = last.header.options;
        CHECK_EQUAL_TEXT(c.expect_blocks, o.sack_count, c.name);
        for (std::size_t i = 0; i < o.sack_count; ++i) {
            std::uint32_t off = 90 - 20 * static_cast<std::uint32_t>(i);
            CHECK_TEXT(o.sack[i].left == base + off, c.name);
            CHECK_TEXT(o.sack[i].right == base + off + 5, c.name);
        }
        // And the codec fits them in the header.
        Packet pk = encode(last, kAddrB, kAddrA);
        CHECK_EQUAL_TEXT(c.expect_blocks, decode(pk).header.options.sack_count, c.name);
    }
}

TEST(TcbSack, DataSegmentsShrinkToMakeRoomForSackBlocks) {
    Pair p;
    p.open();
    deliver(p, pattern(100, 18), {{50, 60}});
    outputs(p.b.tcb, kSec);
    std::string reply = pattern(5000, 19);
    p.b.tcb.send(as_bytes(reply));
    for (const auto& o : outputs(p.b.tcb, kSec)) {
        Packet pk = encode(o, kAddrB, kAddrA);
        CHECK_TRUE(o.header.options.sack_count > 0);
        CHECK_TRUE(pk.bytes.size() <= std::size_t{TcpSettings{}.mss} + kTcpMinHeaderLen);
    }
}

namespace {
struct SackBlockCase {
    const char* name;
    std::int64_t left, right; // relative to SND.UNA (or SND.MAX when from_max)
    bool from_max;
    bool invalid;  // counted as sack_invalid
    bool recorded; // enters the scoreboard
};
const SackBlockCase kSackBlockCases[] = {
    {"valid block", 1000, 2000, false, false, true},
    {"empty block", 1000, 1000, false, true, false},
    {"reversed block", 2000, 1000, false, true, false},
    {"starts at SND.UNA", 0, 1000, false, true, false},
    {"straddles SND.UNA", -10, 1000, false, true, false},
    {"ends beyond SND.MAX", -100, 1, true, true, false},
    {"far beyond SND.MAX", 1 << 30, (1 << 30) + 100, false, true, false},
    {"below SND.UNA (D-SACK): ignored silently", -500, -100, false, false, false},
};
} // namespace

TEST(TcbSack, PeerBlocksAreValidatedBeforeUse) {
    for (const auto& c : kSackBlockCases) {
        Pair p;
        p.open();
        p.a.tcb.send(as_bytes(pattern(5000, 20)));
        outputs(p.a.tcb, 0); // all lost
        TcpSeq una = p.a.tcb.snd_una(), max = p.a.tcb.snd_nxt();
        TcpSeq ref = c.from_max ? max : una;
        Segment a = seg(flags::kAck, p.a.tcb.rcv_nxt(), una, 65535);
        a.header.src_port = kPortB;
        a.header.dst_port = kPortA;
        a.header.options.sack[0] = SackBlock{ref + static_cast<std::uint32_t>(c.left),
                                             ref + static_cast<std::uint32_t>(c.right)};
        a.header.options.sack_count = 1;
        p.a.tcb.on_segment(a, kMs);
        CHECK_EQUAL_TEXT(c.invalid ? 1u : 0u, p.a.counters.read(TcpEvent::sack_invalid), c.name);
        CHECK_EQUAL_TEXT(c.recorded ? 1u : 0u, p.a.tcb.sacked_ranges(), c.name);
    }
}

TEST(TcbSack, FastRecoveryResendsOnlyTheHolesThePeerLacks) {
    Pair p;
    p.open();
    std::uint32_t mss = p.a.tcb.effective_mss();
    std::string data = pattern(8 * mss, 21);
    p.a.tcb.send(as_bytes(data));
    auto segs = p.a.output(0);
    CHECK_EQUAL(8u, segs.size());
    std::set<std::uint32_t> lost{decode(segs[1]).header.seq.raw(),
                                 decode(segs[4]).header.seq.raw()};
    std::vector<Packet> acks;
    for (std::size_t i = 0; i < segs.size(); ++i) {
        if (i == 1 || i == 4)
            continue;
        p.b.tcb.on_segment(decode(segs[i]), 0);
        for (auto& a : p.b.output(0))
            acks.push_back(a);
    }
    std::set<std::uint32_t> resent;
    std::vector<Packet> resent_packets;
    for (auto& a : acks) {
        p.a.tcb.on_segment(decode(a), 0);
        for (auto& r : p.a.output(0)) {
            resent.insert(decode(r).header.seq.raw());
            resent_packets.push_back(r);
        }
    }
    CHECK(lost == resent); // exactly the two holes, nothing the peer SACKed
    CHECK_EQUAL(1u, p.a.counters.read(TcpEvent::fast_retransmit));
    CHECK_EQUAL(1u, p.a.counters.read(TcpEvent::sack_hole_retransmit));
    for (auto& r : resent_packets)
        p.b.tcb.on_segment(decode(r), 0);
    pump(p.a, p.b, 0);
    CHECK(data == p.b.received);
    CHECK_EQUAL(0u, p.a.counters.read(TcpEvent::rto_expired));
}

TEST(TcbSack, RtoClearsTheScoreboardSoARenegingPeerStillGetsItsData) {
    Pair p;
    p.open();
    std::uint32_t mss = p.a.tcb.effective_mss();
    std::string data = pattern(4 * mss, 22);
    p.a.tcb.send(as_bytes(data));
    auto segs = p.a.output(0); // all lost
    // The peer claims segments 2 and 3 (RFC 2018 8: it may discard them later).
    Segment a = seg(flags::kAck, p.a.tcb.rcv_nxt(), p.a.tcb.snd_una(), 65535);
    a.header.src_port = kPortB;
    a.header.dst_port = kPortA;
    a.header.options.sack[0] = SackBlock{p.a.tcb.snd_una() + 2 * mss, p.a.tcb.snd_una() + 4 * mss};
    a.header.options.sack_count = 1;
    p.a.tcb.on_segment(a, kMs);
    CHECK_EQUAL(1u, p.a.tcb.sacked_ranges());
    // Early retransmit fires first (the hole outlives the reordering
    // window); its retransmissions are lost too, until the RTO.
    std::uint64_t at = 0;
    for (int i = 0; i < 10 && p.a.counters.read(TcpEvent::rto_expired) == 0; ++i) {
        at = p.a.tcb.next_expiry();
        p.a.tcb.on_timer(at);
        if (p.a.counters.read(TcpEvent::rto_expired) == 0)
            outputs(p.a.tcb, at); // lost
    }
    CHECK_EQUAL(1u, p.a.counters.read(TcpEvent::early_retransmit));
    CHECK_EQUAL(1u, p.a.counters.read(TcpEvent::rto_expired));
    CHECK_EQUAL(0u, p.a.tcb.sacked_ranges());
    pump(p.a, p.b, at); // B never had segments 2 and 3: they are resent
    CHECK(data == p.b.received);
}

TEST_GROUP(TcbKeepalive){};

namespace {
struct IdleCase {
    const char* name;
    std::uint64_t keepalive_idle_ns; // 0: off
    std::uint64_t idle_timeout_ns;   // 0: off
    std::uint64_t expect_abort_at;
    TcpEvent expect_event;
    std::uint32_t expect_probes;
};
const IdleCase kIdleCases[] = {
    {"idle timeout alone", 0, 600 * kSec, 600 * kSec, TcpEvent::idle_timeout, 0},
    {"keepalive alone: 9 probes 75 s apart", 60 * kSec, 0, 60 * kSec + 9 * 75 * kSec,
     TcpEvent::keepalive_timeout, 9},
    {"idle timeout cuts keepalive short", 60 * kSec, 200 * kSec, 200 * kSec, TcpEvent::idle_timeout,
     2},
};
} // namespace

TEST(TcbKeepalive, ASilentPeerIsAbortedWithRstAndTimedOut) {
    for (const auto& c : kIdleCases) {
        TcpSettings s = quick_settings();
        s.keepalive_idle_ns = c.keepalive_idle_ns;
        s.idle_timeout_ns = c.idle_timeout_ns;
        Pair p(s, quick_settings());
        p.open();
        std::uint32_t probes = 0;
        std::uint64_t now = 0;
        OutSegment last;
        for (int guard = 0; guard < 100 && p.a.tcb.state() != TcpState::closed; ++guard) {
            now = p.a.tcb.next_expiry();
            p.a.tcb.on_timer(now);
            for (const auto& o : outputs(p.a.tcb, now)) { // the peer hears nothing
                if (o.header.seq == p.a.tcb.snd_una() - 1 && o.payload.size() == 0)
                    ++probes;
                last = o;
            }
        }
        CHECK_TEXT(p.a.tcb.state() == TcpState::closed, c.name);
        CHECK_EQUAL_TEXT(c.expect_abort_at, now, c.name);
        CHECK_EQUAL_TEXT(1u, p.a.counters.read(c.expect_event), c.name);
        CHECK_EQUAL_TEXT(c.expect_probes, probes, c.name);
        CHECK_EQUAL_TEXT(flags::kRst, last.header.flags, c.name);
        std::uint32_t ev = p.a.tcb.take_events();
        CHECK_TEXT((ev & app_event::kTimedOut) != 0, c.name);
        CHECK_EQUAL_TEXT(0u, p.a.tcb.buffer_bytes(), c.name);
    }
}

TEST(TcbKeepalive, AnsweredProbesKeepAnIdleConnectionOpen) {
    TcpSettings s = quick_settings();
    s.keepalive_idle_ns = 60 * kSec;
    Pair p(s, quick_settings());
    p.open();
    std::uint64_t now = 0;
    while (now < 1800 * kSec) { // three idle timeouts of the default 600 s
        now = std::min(p.a.tcb.next_expiry(), p.b.tcb.next_expiry());
        p.a.tcb.on_timer(now);
        p.b.tcb.on_timer(now);
        pump(p.a, p.b, now);
    }
    p.check_both(TcpState::established);
    CHECK_TRUE(p.a.counters.read(TcpEvent::keepalive_probe) >= 29);
    CHECK_EQUAL(0u, p.a.counters.read(TcpEvent::keepalive_timeout));
}

TEST(TcbKeepalive, NextExpiryIncludesTheIdleTimeout) {
    Pair p;
    p.open(TcpSeq(1000), TcpSeq(90000), 5 * kSec);
    CHECK_EQUAL(5 * kSec + TcpSettings{}.idle_timeout_ns, p.a.tcb.next_expiry());
    transfer(p.b, p.a, "220 ready\r\n", 7 * kSec);
    CHECK_EQUAL(7 * kSec + TcpSettings{}.idle_timeout_ns, p.a.tcb.next_expiry());
}

// Connections created from a SYN cookie's final ACK (RFC 4987 3.6).
namespace {
struct CookieCase {
    const char* name;
    bool timestamps; // both sides' setting (window scale and SACK need it in a cookie)
    std::uint32_t server_buffer;
    const char* data_on_ack; // queued by the client before the SYN-ACK arrives
    bool fin_on_ack;
};
const CookieCase kCookieCases[] = {
    {"all options, bare ACK", true, 64 * 1024, "", false},
    {"data on the ACK", true, 64 * 1024, "EHLO client.example\r\n", false},
    {"data and FIN on the ACK", true, 64 * 1024, "QUIT\r\n", true},
    {"no timestamps: no window scale, no SACK", false, 64 * 1024, "", false},
    {"large buffer: shift 3", true, 256 * 1024, "", false},
};

SipKey cookie_key() {
    SipKey k;
    for (std::uint8_t i = 0; i < 16; ++i)
        k.bytes[i] = static_cast<std::uint8_t>(0xa5 ^ i);
    return k;
}

FourTuple server_tuple() {
    FourTuple t;
    t.local = net::v4_mapped(kAddrB);
    t.remote = net::v4_mapped(kAddrA);
    t.local_port = kPortB;
    t.remote_port = kPortA;
    return t;
}

// The listener's side: answers A's SYN with a cookie SYN-ACK built from B's
// settings, as the adapter does under a SYN flood.
Packet cookie_syn_ack(const Segment& syn, const TcpSettings& sb, std::uint64_t now) {
    const TcpOptions& so = syn.header.options;
    SynCookieRequest req;
    req.tuple = server_tuple();
    req.peer_isn = syn.header.seq;
    req.peer_mss = so.mss.value_or(kDefaultPeerMss);
    req.timestamps = sb.timestamps && so.timestamps.has_value();
    if (sb.window_scaling)
        req.peer_wscale = so.window_scale;
    req.sack_permitted = sb.sack && so.sack_permitted;
    SynCookie ck =
        syncookie_make(cookie_key(), {}, req, now, static_cast<std::uint32_t>(now / sb.ts_tick_ns));
    OutSegment o;
    TcpHeader& h = o.header;
    h.src_port = kPortB;
    h.dst_port = kPortA;
    h.seq = ck.iss;
    h.ack = syn.header.seq + 1;
    h.flags = flags::kSyn | flags::kAck;
    h.window = static_cast<std::uint16_t>(std::min<std::uint32_t>(sb.recv_buffer_bytes, 0xffff));
    h.options.mss = sb.mss;
    if (req.timestamps) {
        h.options.timestamps = Timestamps{*ck.tsval, so.timestamps->value};
        if (req.peer_wscale)
            h.options.window_scale = offered_window_scale(sb); // as accept_cookie expects
        h.options.sack_permitted = req.sack_permitted;
    }
    return encode(o, kAddrB, kAddrA);
}
} // namespace

TEST_GROUP(TcbCookie){};

TEST(TcbCookie, ConnectionFromACookieBehavesAsAHandshake) {
    for (const auto& c : kCookieCases) {
        TcpSettings sa = quick_settings(), sb = quick_settings();
        sa.timestamps = sb.timestamps = c.timestamps;
        sb.recv_buffer_bytes = sb.send_buffer_bytes = c.server_buffer;
        Pair p(sa, sb);
        std::uint64_t now = 70 * kSec;
        p.a.tcb.connect(TcpSeq(0xfffffff0u), now);
        std::string early = c.data_on_ack;
        p.a.tcb.send(as_bytes(early));
        auto syn = p.a.output(now);
        CHECK_EQUAL_TEXT(1u, syn.size(), c.name);
        p.a.tcb.on_segment(decode(cookie_syn_ack(decode(syn[0]), sb, now)), now + kMs);
        if (c.fin_on_ack)
            p.a.tcb.close(); // ESTABLISHED now: the FIN rides on the first segment
        auto acks = p.a.output(now + kMs);
        CHECK_EQUAL_TEXT(1u, acks.size(), c.name);
        Segment ack = decode(acks[0]);
        std::optional<std::uint32_t> tsecr;
        if (ack.header.options.timestamps)
            tsecr = ack.header.options.timestamps->echo;
        SynCookieAccepted acc;
        CHECK_TEXT(syncookie_check(cookie_key(), {}, server_tuple(), ack.header.seq, ack.header.ack,
                                   tsecr, now + 2 * kMs, acc) == SynCookieError::ok,
                   c.name);
        p.b.tcb.accept_cookie(acc, ack, now + 2 * kMs);
        p.b.drain_app();
        CHECK_TEXT(p.b.saw(app_event::kEstablished), c.name);
        CHECK_TEXT(p.b.tcb.state() == (c.fin_on_ack ? TcpState::close_wait : TcpState::established),
                   c.name);
        CHECK_EQUAL_TEXT(early, p.b.received, c.name);
        // Both ends agree on what was negotiated.
        CHECK_EQUAL_TEXT(p.a.tcb.snd_wscale(), p.b.tcb.rcv_wscale(), c.name);
        CHECK_EQUAL_TEXT(p.a.tcb.rcv_wscale(), p.b.tcb.snd_wscale(), c.name);
        CHECK_EQUAL_TEXT(c.timestamps, p.b.tcb.timestamps_enabled(), c.name);
        CHECK_EQUAL_TEXT(c.timestamps, p.b.tcb.sack_enabled(), c.name);
        CHECK_EQUAL_TEXT(p.a.tcb.sack_enabled(), p.b.tcb.sack_enabled(), c.name);
        // And data flows both ways through the scaled windows.
        std::string ba = pattern(300000, 23);
        transfer(p.b, p.a, ba, now + 3 * kMs);
        CHECK_TEXT(ba == p.a.received, c.name);
        if (!c.fin_on_ack) {
            std::string ab = pattern(300000, 24);
            transfer(p.a, p.b, ab, now + 3 * kMs);
            CHECK_TEXT(early + ab == p.b.received, c.name);
        }
    }
}

TEST(TcbCookie, AnAckForAnotherIsnIsRefusedWithRst) {
    TcpCounters counters;
    Tcb t(quick_settings(), counters, kPortB, kPortA);
    SynCookieAccepted acc;
    acc.iss = TcpSeq(5000);
    acc.irs = TcpSeq(100);
    t.accept_cookie(acc, seg(flags::kAck, TcpSeq(101), TcpSeq(7000)), kSec);
    CHECK(t.state() == TcpState::closed);
    auto out = outputs(t, kSec);
    CHECK_EQUAL(1u, out.size());
    CHECK_EQUAL(flags::kRst, out[0].header.flags);
    CHECK_EQUAL(7000u, out[0].header.seq.raw());
    CHECK_EQUAL(0u, t.take_events() & app_event::kEstablished);
}

TEST_GROUP(TcbMemory){};

TEST(TcbMemory, BuffersAreHeldOnlyWhileTheyHoldData) {
    Pair p;
    p.open();
    CHECK_EQUAL(0u, p.a.tcb.buffer_bytes()); // established and idle: nothing allocated
    p.b.auto_read = false;
    p.a.tcb.send(as_bytes("EHLO a\r\n"));
    CHECK_EQUAL(64u * 1024u, p.a.tcb.buffer_bytes()); // the send ring, until acknowledged
    pump(p.a, p.b, 0);
    CHECK_EQUAL(0u, p.a.tcb.buffer_bytes());           // acknowledged: freed
    CHECK_EQUAL(64u * 1024u, p.b.tcb.buffer_bytes()); // unread on the receiving side
    p.b.auto_read = true;
    p.b.drain_app();
    CHECK_EQUAL(0u, p.b.tcb.buffer_bytes()); // read: freed
    CHECK_EQUAL(std::string("EHLO a\r\n"), p.b.received);
    // Out-of-order bytes keep the receive ring until the hole is filled,
    // even while there is nothing in order to read.
    p.a.tcb.send(as_bytes("0123456789"));
    auto segs = p.a.output(kMs);
    CHECK_EQUAL(1u, segs.size());
    Segment whole = decode(segs[0]);
    std::vector<std::uint8_t> bytes(whole.payload.begin(), whole.payload.end());
    Segment tail = whole, head = whole;
    tail.header.seq = whole.header.seq + 5;
    tail.payload = std::span<const std::uint8_t>(bytes).subspan(5);
    head.payload = std::span<const std::uint8_t>(bytes).first(5);
    p.b.tcb.on_segment(tail, kMs);
    p.b.drain_app();
    CHECK_EQUAL(1u, p.b.tcb.ooo_ranges());
    CHECK_EQUAL(64u * 1024u, p.b.tcb.buffer_bytes());
    p.b.tcb.on_segment(head, kMs);
    p.b.drain_app();
    CHECK_EQUAL(std::string("EHLO a\r\n0123456789"), p.b.received);
    CHECK_EQUAL(0u, p.b.tcb.buffer_bytes());
}

TEST(TcbMemory, TimeWaitAndClosedHoldNoBuffers) {
    Pair p;
    p.open();
    transfer(p.a, p.b, "DATA\r\n", 0);
    p.close_both();
    CHECK(p.a.tcb.state() == TcpState::time_wait);
    CHECK_EQUAL(0u, p.a.tcb.buffer_bytes());
    CHECK(p.b.tcb.state() == TcpState::closed);
    CHECK_EQUAL(0u, p.b.tcb.buffer_bytes());
    // TIME-WAIT still answers a retransmitted FIN without buffers.
    p.a.tcb.on_segment(seg(flags::kAck | flags::kFin, p.a.tcb.rcv_nxt() - 1, p.a.tcb.snd_nxt()),
                       kSec);
    CHECK_EQUAL(1u, outputs(p.a.tcb, kSec).size());
}

TEST(TcbMemory, UnreadDataSurvivesUntilTheApplicationReadsIt) {
    Pair p;
    p.open();
    p.a.auto_read = false;
    p.close_a();
    p.b.tcb.send(as_bytes("221 bye\r\n"));
    p.b.tcb.close();
    pump(p.a, p.b, 0);
    CHECK(p.a.tcb.state() == TcpState::time_wait);
    CHECK_EQUAL(64u * 1024u, p.a.tcb.buffer_bytes()); // the receive ring, still holding data
    p.a.auto_read = true;
    p.a.drain_app();
    CHECK_EQUAL(std::string("221 bye\r\n"), p.a.received);
    CHECK_EQUAL(0u, p.a.tcb.buffer_bytes());
}

TEST(TcbMemory, StateBesidesBuffersStaysSmall) {
    // A bounded TIME-WAIT table costs this much per entry.
    CHECK_EQUAL(sizeof(Tcb), Tcb::state_bytes());
    // 816 with the loss recovery state (8 SACK ranges, 8 tracked
    // retransmissions): still well under a kilobyte.
    CHECK_TRUE(Tcb::state_bytes() <= 832);
}

TEST_GROUP(TcbLossRecovery){};

namespace {

// An ACK from B to A at SND.UNA + `ack_off` SACKing [l, r) pairs, in
// segments of `mss` counted from A's SND.UNA at the time of the call.
Segment ack_with_sack(const Pair& p, std::uint32_t mss,
                      std::initializer_list<std::pair<std::uint32_t, std::uint32_t>> blocks,
                      std::uint32_t ack_segs = 0) {
    TcpSeq una = p.a.tcb.snd_una();
    Segment a = seg(flags::kAck, p.a.tcb.rcv_nxt(), una + ack_segs * mss,
                    static_cast<std::uint16_t>(p.a.tcb.snd_wnd() >> p.a.tcb.snd_wscale()));
    a.header.src_port = kPortB;
    a.header.dst_port = kPortA;
    std::size_t i = 0;
    for (auto [l, r] : blocks)
        a.header.options.sack[i++] = SackBlock{una + l * mss, una + r * mss};
    a.header.options.sack_count = static_cast<std::uint8_t>(i);
    return a;
}

// Opens a pair (delayed ACKs off) and has A send `segs` full segments, all
// lost; returns their sequence numbers.
std::vector<TcpSeq> send_lost(Pair& p, std::size_t segs, std::size_t queued_segs = 0) {
    p.open();
    std::uint32_t mss = p.a.tcb.effective_mss();
    p.a.tcb.send(as_bytes(pattern(std::max(segs, queued_segs) * mss, 40)));
    std::vector<TcpSeq> seqs;
    for (const auto& o : outputs(p.a.tcb, 0))
        seqs.push_back(o.header.seq);
    CHECK_EQUAL(segs, seqs.size());
    return seqs;
}

struct LimitedTransmitCase {
    const char* name;
    bool limited_transmit;
    std::size_t new_after_first, new_after_second; // new segments sent
};
const LimitedTransmitCase kLimitedTransmitCases[] = {
    {"on: one new segment on each of the first two duplicate ACKs", true, 1, 1},
    {"off: nothing beyond cwnd", false, 0, 0},
};

} // namespace

TEST(TcbLossRecovery, LimitedTransmitSendsOneNewSegmentPerEarlyDuplicateAck) {
    for (const auto& c : kLimitedTransmitCases) {
        TcpSettings s = quick_settings();
        s.limited_transmit = c.limited_transmit;
        Pair p(s, s);
        // 10 segments fill the initial cwnd; 4 more wait.
        send_lost(p, 10, 14);
        std::uint32_t mss = p.a.tcb.effective_mss(), cwnd = p.a.tcb.cwnd();
        TcpSeq max_before = p.a.tcb.snd_nxt();
        p.a.tcb.on_segment(ack_with_sack(p, mss, {{1, 2}}), kMs);
        auto first = outputs(p.a.tcb, kMs);
        p.a.tcb.on_segment(ack_with_sack(p, mss, {{1, 3}}), kMs);
        auto second = outputs(p.a.tcb, kMs);
        CHECK_EQUAL_TEXT(c.new_after_first, first.size(), c.name);
        CHECK_EQUAL_TEXT(c.new_after_second, second.size(), c.name);
        if (!first.empty())
            CHECK_TEXT(first[0].header.seq == max_before, c.name); // new data, not a resend
        CHECK_EQUAL_TEXT(cwnd, p.a.tcb.cwnd(), c.name);
        CHECK_FALSE_TEXT(p.a.tcb.in_recovery(), c.name);
        CHECK_EQUAL_TEXT(c.new_after_first + c.new_after_second,
                         p.a.counters.read(TcpEvent::limited_transmit), c.name);
    }
}

namespace {
struct SackDetectCase {
    const char* name;
    std::size_t segs;                                            // sent, all lost at first
    std::vector<std::pair<std::uint32_t, std::uint32_t>> sacked; // one ACK's blocks
    TcpEvent entered_by; // count_ when the ACK alone must not start recovery
    std::size_t resent;  // retransmissions right after the ACK
};
const SackDetectCase kSackDetectCases[] = {
    {"three segments SACKed above SND.UNA: recovery on one ACK (IsLost)",
     5,
     {{1, 4}},
     TcpEvent::sack_recovery,
     1},
    {"three separate ranges above SND.UNA: DupThresh ranges also mark it lost",
     7,
     {{1, 2}, {3, 4}, {5, 6}},
     TcpEvent::sack_recovery,
     1},
    {"two segments SACKed: not yet (could be reordering)", 4, {{1, 3}}, TcpEvent::count_, 0},
};
} // namespace

TEST(TcbLossRecovery, SackScoreboardDetectsLossWithoutThreeDuplicateAcks) {
    for (const auto& c : kSackDetectCases) {
        Pair p;
        auto seqs = send_lost(p, c.segs);
        std::uint32_t mss = p.a.tcb.effective_mss();
        std::uint32_t flight = seq_distance(p.a.tcb.snd_una(), p.a.tcb.snd_nxt());
        Segment a = seg(0, TcpSeq(0), TcpSeq(0));
        if (c.sacked.size() == 1)
            a = ack_with_sack(p, mss, {c.sacked[0]});
        else
            a = ack_with_sack(p, mss, {c.sacked[0], c.sacked[1], c.sacked[2]});
        p.a.tcb.on_segment(a, kMs);
        auto out = outputs(p.a.tcb, kMs);
        CHECK_EQUAL_TEXT(c.resent, out.size(), c.name);
        if (c.entered_by == TcpEvent::count_) {
            CHECK_FALSE_TEXT(p.a.tcb.in_recovery(), c.name);
            continue;
        }
        CHECK_EQUAL_TEXT(1u, p.a.counters.read(c.entered_by), c.name);
        CHECK_TEXT(out[0].header.seq == seqs[0], c.name); // the hole at SND.UNA first
        // RFC 6675 5: ssthresh = cwnd = FlightSize / 2, once per episode.
        CHECK_EQUAL_TEXT(std::max(flight / 2, 2 * mss), p.a.tcb.ssthresh(), c.name);
        CHECK_EQUAL_TEXT(p.a.tcb.ssthresh(), p.a.tcb.cwnd(), c.name);
        std::uint32_t ssthresh = p.a.tcb.ssthresh();
        p.a.tcb.on_segment(ack_with_sack(p, mss, {{1, static_cast<std::uint32_t>(c.segs)}}), kMs);
        outputs(p.a.tcb, kMs);
        CHECK_EQUAL_TEXT(ssthresh, p.a.tcb.ssthresh(), c.name);
    }
}

namespace {
struct EarlyRetransmitCase {
    const char* name;
    bool sack;
    bool late_original_arrives; // the "lost" segment was only reordered
};
const EarlyRetransmitCase kEarlyRetransmitCases[] = {
    {"SACK: a hole outliving the reordering window is resent", true, false},
    {"SACK: a segment arriving within the window is not resent", true, true},
    {"no SACK: two duplicate ACKs for a 3-segment flight (RFC 5827)", false, false},
    {"no SACK: reordered within the window, nothing resent", false, true},
};
} // namespace

TEST(TcbLossRecovery, EarlyRetransmitWaitsForTheReorderingWindow) {
    for (const auto& c : kEarlyRetransmitCases) {
        TcpSettings s = quick_settings();
        s.sack = c.sack;
        Pair p(s, s);
        auto seqs = send_lost(p, 3);
        std::uint32_t mss = p.a.tcb.effective_mss(), cwnd = p.a.tcb.cwnd();
        // A window update first: the SYN-ACK's unscaled 65535 differs from any
        // scaled window, and an ACK that changes the window is no duplicate.
        p.a.tcb.on_segment(ack_with_sack(p, mss, {}), kMs);
        // Segments 1 and 2 arrive (two duplicate ACKs); segment 0 does not (yet).
        for (int i = 1; i <= 2; ++i) {
            Segment a = c.sack ? ack_with_sack(p, mss, {{1, static_cast<std::uint32_t>(i + 1)}})
                               : ack_with_sack(p, mss, {});
            p.a.tcb.on_segment(a, kMs);
            CHECK_EQUAL_TEXT(0u, outputs(p.a.tcb, kMs).size(), c.name);
        }
        std::uint64_t window = TcpSettings{}.reorder_window_min_ns;
        CHECK_EQUAL_TEXT(kMs + window, p.a.tcb.next_expiry(), c.name);
        if (c.late_original_arrives) {
            p.a.tcb.on_segment(ack_with_sack(p, mss, {}, 3), kMs + window / 2);
            p.a.tcb.on_timer(kMs + window);
            CHECK_EQUAL_TEXT(0u, outputs(p.a.tcb, kMs + window).size(), c.name);
            CHECK_EQUAL_TEXT(0u, p.a.counters.read(TcpEvent::early_retransmit), c.name);
            CHECK_TEXT(p.a.tcb.cwnd() >= cwnd, c.name);
            continue;
        }
        p.a.tcb.on_timer(kMs + window - 1);
        CHECK_EQUAL_TEXT(0u, outputs(p.a.tcb, kMs + window - 1).size(), c.name);
        p.a.tcb.on_timer(kMs + window);
        auto out = outputs(p.a.tcb, kMs + window);
        CHECK_EQUAL_TEXT(1u, p.a.counters.read(TcpEvent::early_retransmit), c.name);
        CHECK_TRUE_TEXT(out.size() >= 1, c.name);
        CHECK_TEXT(out[0].header.seq == seqs[0], c.name);
        CHECK_TRUE_TEXT(p.a.tcb.in_recovery(), c.name);
    }
}

TEST(TcbLossRecovery, LostRetransmissionIsResentWithoutAnRto) {
    Pair p;
    p.open();
    std::uint32_t mss = p.a.tcb.effective_mss();
    std::string data = pattern(40 * mss, 41);
    p.a.tcb.send(as_bytes(data));
    TcpSeq hole = p.a.tcb.snd_una() + mss; // segment 1
    int copies_of_hole = 0;
    TcpSeq highest_sent = p.a.tcb.snd_una();
    bool beyond_max = false;
    // Segment 1 is lost, and so is its first retransmission.
    auto drop = [&](const Packet& pk, bool from_a) {
        if (!from_a)
            return false;
        Segment sg = decode(pk);
        if (sg.header.seq < highest_sent &&
            sg.header.seq + static_cast<std::uint32_t>(sg.payload.size()) > highest_sent)
            beyond_max = true; // a resend must never run past what was sent
        if (sg.header.seq + static_cast<std::uint32_t>(sg.payload.size()) > highest_sent)
            highest_sent = sg.header.seq + static_cast<std::uint32_t>(sg.payload.size());
        return sg.header.seq == hole && !sg.payload.empty() && copies_of_hole++ < 2;
    };
    std::uint64_t now = 0;
    for (int i = 0; i < 100; ++i) {
        pump_lossy(p.a, p.b, now, drop);
        p.b.drain_app();
        if (p.b.received.size() == data.size())
            break;
        now = std::max(now + 1, std::min(p.a.tcb.next_expiry(), p.b.tcb.next_expiry()));
        p.a.tcb.on_timer(now);
        p.b.tcb.on_timer(now);
    }
    CHECK(data == p.b.received);
    CHECK_EQUAL(3, copies_of_hole);
    CHECK_EQUAL(1u, p.a.counters.read(TcpEvent::lost_retransmit));
    CHECK_EQUAL(0u, p.a.counters.read(TcpEvent::rto_expired));
    CHECK_FALSE(beyond_max);
    CHECK_TRUE(now < 10 * kMs); // not even a probe timeout: the reordering window
}

namespace {
struct TlpCase {
    const char* name;
    bool tlp;
    std::size_t segs;          // sent; segment 0 arrives, the rest are lost
    std::uint64_t first_timer; // after the ACK of segment 0 at 1 ms
    bool probe_lost;           // then the next timer must be the RTO
};
const TlpCase kTlpCases[] = {
    {"two segments lost at the tail: probe after PTO (10 ms floor)", true, 3, 10 * kMs, false},
    {"one segment lost: PTO adds the peer's delayed ACK", true, 2, 50 * kMs, false},
    {"at most one probe per tail: a lost probe leaves it to the RTO", true, 3, 10 * kMs, true},
    {"tlp off: the RTO comes first", false, 3, 200 * kMs, false},
};
} // namespace

TEST(TcbLossRecovery, TailLossProbeComesBeforeTheRto) {
    for (const auto& c : kTlpCases) {
        TcpSettings s = quick_settings();
        s.tlp = c.tlp;
        Pair p(s, s);
        p.open();
        std::uint32_t mss = p.a.tcb.effective_mss();
        std::string data = pattern(c.segs * mss, 42);
        p.a.tcb.send(as_bytes(data));
        auto segs = p.a.output(0);
        CHECK_EQUAL_TEXT(c.segs, segs.size(), c.name);
        p.b.tcb.on_segment(decode(segs[0]), kMs);
        for (auto& a : p.b.output(kMs))
            p.a.tcb.on_segment(decode(a), kMs);
        std::uint64_t at = p.a.tcb.next_expiry();
        CHECK_EQUAL_TEXT(kMs + c.first_timer, at, c.name);
        p.a.tcb.on_timer(at);
        auto probe = p.a.output(at);
        CHECK_EQUAL_TEXT(1u, probe.size(), c.name);
        CHECK_EQUAL_TEXT(c.tlp ? 1u : 0u, p.a.counters.read(TcpEvent::tlp_probe), c.name);
        CHECK_EQUAL_TEXT(c.tlp ? 0u : 1u, p.a.counters.read(TcpEvent::rto_expired), c.name);
        if (!c.tlp)
            continue;
        // The probe is the last segment sent (nothing new to send).
        CHECK_TEXT(decode(probe[0]).header.seq == decode(segs.back()).header.seq, c.name);
        if (c.probe_lost) {
            std::uint64_t next = p.a.tcb.next_expiry();
            CHECK_EQUAL_TEXT(at + 200 * kMs, next, c.name); // RTO restarted by the probe
            p.a.tcb.on_timer(next);
            CHECK_EQUAL_TEXT(1u, p.a.counters.read(TcpEvent::tlp_probe), c.name);
            CHECK_EQUAL_TEXT(1u, p.a.counters.read(TcpEvent::rto_expired), c.name);
            continue;
        }
        // The probe's SACK reveals the hole; the rest is repaired without an RTO.
        p.b.tcb.on_segment(decode(probe[0]), at);
        std::uint64_t now = at;
        for (int i = 0; i < 20 && p.b.received.size() < data.size(); ++i) {
            pump(p.a, p.b, now);
            now = std::min(p.a.tcb.next_expiry(), p.b.tcb.next_expiry());
            p.a.tcb.on_timer(now);
            p.b.tcb.on_timer(now);
        }
        pump(p.a, p.b, now);
        CHECK_TEXT(data == p.b.received, c.name);
        CHECK_EQUAL_TEXT(0u, p.a.counters.read(TcpEvent::rto_expired), c.name);
    }
}

TEST(TcbLossRecovery, RepeatedReorderingNeverTakesCwndBelowTwoSegments) {
    // Every round, segment 0 of a fresh flight is "late": three segments
    // above it are SACKed first, so each round is a (spurious) recovery.
    Pair p;
    p.open();
    std::uint32_t mss = p.a.tcb.effective_mss();
    std::uint64_t now = 0;
    for (int round = 0; round < 30; ++round) {
        p.a.tcb.send(as_bytes(pattern(6 * mss, 43)));
        outputs(p.a.tcb, now);
        std::uint32_t flight = seq_distance(p.a.tcb.snd_una(), p.a.tcb.snd_nxt());
        std::uint32_t n = flight / mss;
        if (n >= 4)
            p.a.tcb.on_segment(ack_with_sack(p, mss, {{1, n}}), now);
        outputs(p.a.tcb, now);
        p.a.tcb.on_segment(ack_with_sack(p, mss, {}, 0), now); // nothing new
        Segment full = ack_with_sack(p, mss, {});
        full.header.ack = p.a.tcb.snd_nxt();
        p.a.tcb.on_segment(full, now);
        CHECK_TRUE(p.a.tcb.cwnd() >= 2 * mss);
        CHECK_TRUE(p.a.tcb.ssthresh() >= 2 * mss);
        now += kMs;
    }
    CHECK_TRUE(p.a.counters.read(TcpEvent::sack_recovery) > 0);
}
