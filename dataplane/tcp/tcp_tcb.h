// tcp_tcb.h: the TCP control block as a sans-I/O core.
//
// Purpose: one connection's state machine. The caller (the per-lcore adapter)
// feeds decoded segments and the time, and drains what the core wants done:
//   on_segment(seg, now) / on_timer(now) / send() / close() / abort()
//   then next_segment(now, out) until it returns false (segments to transmit),
//   take_events() (established, readable, peer closed, reset, closed ...),
//   receive() (in-order data for the application), next_expiry() (when to
//   call on_timer next).
// No socket, clock, randomness, logging or global state: ISS and the
// timestamp offset are chosen by the caller (RFC 6528), abnormal events are
// counted in the caller's TcpCounters (tcp_events.def). One TCB serves one
// connection: once CLOSED its buffers are released; construct a new one.
// RFCs: 9293 (state machine; 3.10.7 "segment arrives" steps are marked in
// tcp_input.cc), 5961 (RST/SYN challenge ACKs, ACK acceptance), 6298 (RTO,
// Karn, backoff), 5681 + 6582 (slow start, congestion avoidance, fast
// retransmit, NewReno), 7323 (window scale, timestamps, PAWS), 1122 4.2.3.2
// (delayed ACK), 1122 4.2.3.3-4 (SWS avoidance), 9293 3.8.6.1 (persist),
// 9293 3.10.7.4 seventh + 5681 4.2 (out-of-order reassembly, immediate ACKs),
// 2018 (SACK), 1122 4.2.3.6 (keepalive), 4987 3.6 (connections created from
// a SYN cookie). Loss recovery: 3042 (limited transmit), 6675 (SACK-based
// loss detection with IsLost, a pipe estimate and NextSeg rules 1-3,
// simplified: the scoreboard is a few ranges), 5827 (early retransmit,
// delayed by a reordering window as its section 6 and 8985 6.2 suggest; with
// SACK it applies to any hole that outlives the window), 8985 (lost
// retransmissions found RACK-style from what was sent after them, tracked
// for a bounded number of retransmissions; tail loss probes, 7).
// Security: buffers are fixed at construction (TcpSettings); the receive
// window is their free space, so a peer cannot make us hold more, and
// out-of-order bytes are kept inside that space with at most max_ooo_ranges
// ranges. RST and SYN are accepted only at RCV.NXT, otherwise challenged
// (rate limited); ACKs for unsent data are refused; a tiny peer MSS is raised
// to min_peer_mss. SACK blocks are validated against [SND.UNA, SND.MAX] and
// never free data (advisory: cleared on RTO, RFC 2018 8); a lying peer can
// make us retransmit (at most what cwnd allows, never beyond SND.MAX) and
// halve cwnd once per recovery episode, never below 2 segments. All loss
// recovery state is fixed-size (sack_scoreboard_ranges, rtx_track_segments).
// A silent peer is dropped after idle_timeout_ns. TIME-WAIT and CLOSED TCBs
// hold no buffers.
// Not implemented: urgent data (ignored, RFC 6093), data carried on SYN
// segments (ignored, not acknowledged), D-SACK generation (RFC 2883; a
// received D-SACK only tells a tail loss probe was spurious), PRR (RFC 6937:
// recovery sends by RFC 6675's pipe), RACK's per-segment send times (original
// transmissions are taken to leave in sequence order).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>

#include "tcp/tcp_events.h"
#include "tcp/tcp_packet.h"
#include "tcp/tcp_reasm.h"
#include "tcp/tcp_ring.h"
#include "tcp/tcp_seq.h"

namespace smtpgw::tcp {

inline constexpr std::uint64_t kNever = std::numeric_limits<std::uint64_t>::max();
inline constexpr std::uint64_t kMs = 1'000'000;      // nanoseconds per millisecond
inline constexpr std::uint64_t kSec = 1'000'000'000; // nanoseconds per second

// Every limit with its default and the reason for it.
struct TcpSettings {
    // Bounds the memory one connection holds for unacknowledged data.
    std::uint32_t send_buffer_bytes = 64 * 1024;
    // Bounds what a peer can make us buffer; the window we advertise.
    std::uint32_t recv_buffer_bytes = 64 * 1024;
    // Our MSS: a 1500-byte Ethernet MTU minus 40 bytes of IPv4 + TCP headers.
    std::uint16_t mss = 1460;
    // Assumed when the SYN has no MSS option (RFC 9293 3.7.1, IPv4 value).
    std::uint16_t default_peer_mss = kDefaultPeerMss;
    // A tiny advertised MSS turns one write into thousands of segments.
    std::uint16_t min_peer_mss = 88;
    // RFC 7323: windows above 64 KiB; offered when the buffer needs it.
    bool window_scaling = true;
    // RFC 7323: PAWS against old duplicates after sequence wraparound.
    bool timestamps = true;
    // RFC 7323 5.4: timestamp clock tick, between 1 ms and 1 s.
    std::uint64_t ts_tick_ns = 1 * kMs;
    // RFC 6298 2.1: RTO before the first RTT sample.
    std::uint64_t rto_initial_ns = 1 * kSec;
    // Lower RTO bound: 200 ms as Linux, below RFC 6298's 1 s, since a
    // spurious retransmission is cheaper than a 1 s stall on a LAN edge.
    std::uint64_t rto_min_ns = 200 * kMs;
    // RFC 6298 2.5: an upper bound of at least 60 s.
    std::uint64_t rto_max_ns = 60 * kSec;
    // Consecutive RTOs on data before giving up (about 2 minutes of backoff).
    std::uint32_t max_retransmits = 8;
    // SYN or SYN-ACK retransmissions before giving up: half-open state costs memory.
    std::uint32_t max_syn_retransmits = 4;
    // TIME-WAIT (2 MSL): answers a retransmitted FIN whose final ACK was lost.
    std::uint64_t time_wait_ns = 60 * kSec;
    // FIN-WAIT-2 with no acceptable segment from the peer: a vanished or
    // silent peer cannot pin the connection.
    std::uint64_t fin_wait2_timeout_ns = 60 * kSec;
    // RFC 1122 4.2.3.2 allows up to 500 ms; 40 ms as Linux; 0 acks every segment.
    std::uint64_t delayed_ack_ns = 40 * kMs;
    // RFC 6928: initial congestion window in segments.
    std::uint32_t initial_cwnd_segments = 10;
    // RFC 5961 7: challenge ACKs per interval, so an attacker cannot make us flood.
    std::uint32_t challenge_ack_limit = 10;
    std::uint64_t challenge_ack_interval_ns = 1 * kSec;
    // RFC 2018: offered in our SYN, and in a SYN-ACK when the peer's SYN offers it.
    bool sack = true;
    // Out-of-order ranges kept (at most kMaxOooRanges): bounds the bookkeeping
    // a peer can force by scattering segments; a segment needing more is dropped.
    std::uint32_t max_ooo_ranges = 8;
    // SACKed ranges remembered (at most kMaxSackScoreboard): bounded memory;
    // the scoreboard is advisory, so forgetting a range costs a retransmission.
    // 8 covers the holes of a 64 KiB window at a few percent loss.
    std::uint32_t sack_scoreboard_ranges = 8;
    // RFC 3042: the first and second duplicate ACKs each send one new segment
    // (cwnd unchanged), so a small flight still yields enough duplicate ACKs.
    bool limited_transmit = true;
    // RFC 5827: a hole that outlives the reordering window is resent with
    // fewer than three duplicate ACKs (any flight with SACK, RFC 8985 6.2;
    // flights under 4 segments with nothing new to send without SACK).
    bool early_retransmit = true;
    // Reordering window (RFC 8985 6.2: RTT/4) is at least this: Linux's RACK
    // timer waits at least a 1 ms tick, and a LAN's reordering reaches ~1 ms.
    std::uint64_t reorder_window_min_ns = 1 * kMs;
    // Retransmissions watched for being lost again (at most kMaxRtxTrack):
    // bounded memory; an untracked lost retransmission waits for the RTO.
    std::uint32_t rtx_track_segments = 8;
    // RFC 8985 7: a tail loss probe after PTO without an ACK, instead of an RTO.
    bool tlp = true;
    // PTO = max(2 * SRTT, tlp_min_ns): 10 ms as RFC 8985 7.2, so a probe is
    // not sent into the peer's ordinary ACK delay on a sub-millisecond RTT.
    std::uint64_t tlp_min_ns = 10 * kMs;
    // RFC 8985 7.2 WCDelAckT: added to PTO when one segment is out (its ACK
    // may be delayed); 40 ms as Linux's and our delayed ACK.
    std::uint64_t tlp_delayed_ack_ns = 40 * kMs;
    // No segment from the peer for this long aborts a synchronized connection:
    // a vanished peer cannot pin state (SMTP waits 5 min, RFC 5321 4.5.3.2). 0: off.
    std::uint64_t idle_timeout_ns = 600 * kSec;
    // RFC 1122 4.2.3.6: probe after this much idleness; 0 = off (RFC 1122: off by default).
    std::uint64_t keepalive_idle_ns = 0;
    // RFC 1122 4.2.3.6: between unanswered probes (75 s as BSD and Linux).
    std::uint64_t keepalive_interval_ns = 75 * kSec;
    // Unanswered probes before aborting (9 as Linux): bounds how long a dead peer holds state.
    std::uint32_t keepalive_probes = 9;
};

// Array sizes behind max_ooo_ranges, sack_scoreboard_ranges and
// rtx_track_segments (their maxima).
inline constexpr std::size_t kMaxOooRanges = 8;
inline constexpr std::size_t kMaxSackScoreboard = 8;
inline constexpr std::size_t kMaxRtxTrack = 8;
// RFC 6675 DupThresh: duplicate ACKs, or segments SACKed above a hole, that
// mark it lost.
inline constexpr std::uint32_t kDupThresh = 3;

// The window scale a SYN or SYN-ACK built from `s` offers (RFC 7323 2.3): the
// smallest shift that lets the whole receive buffer be advertised. A SYN
// cookie SYN-ACK must offer this value for accept_cookie() to be right.
constexpr std::uint8_t offered_window_scale(const TcpSettings& s) {
    std::uint8_t shift = 0;
    while (shift < kMaxWindowScale && (s.recv_buffer_bytes >> shift) > 0xffff)
        ++shift;
    return shift;
}

enum class TcpState : std::uint8_t {
    closed,
    listen,
    syn_sent,
    syn_received,
    established,
    fin_wait_1,
    fin_wait_2,
    close_wait,
    closing,
    last_ack,
    time_wait,
};

std::string_view state_name(TcpState s);

// Events for the application, returned as a bit set by take_events().
namespace app_event {
inline constexpr std::uint32_t kEstablished = 1u << 0; // handshake completed
inline constexpr std::uint32_t kReadable = 1u << 1;    // new in-order data: call receive()
inline constexpr std::uint32_t kPeerClosed = 1u << 2;  // FIN received: no more data will come
inline constexpr std::uint32_t kReset = 1u << 3;       // RST received: the connection is gone
inline constexpr std::uint32_t kTimedOut = 1u << 4;    // retransmissions, idle or keepalive gave up
inline constexpr std::uint32_t kSendSpace = 1u << 5;   // acknowledged data freed send buffer
inline constexpr std::uint32_t kClosed = 1u << 6;      // CLOSED: drain next_segment(), then free
} // namespace app_event

struct SynCookieAccepted; // tcp_syncookie.h

// A segment to transmit. The payload is a view into the send buffer, valid
// until the next call that changes this TCB.
struct OutSegment {
    TcpHeader header;
    RingView payload;
};

// For a segment that reaches no connection (RFC 9293 3.10.7.1): fills `out`
// with the RST to answer it (ports swapped) and returns true, or returns
// false when the segment is itself a RST (never answer a RST).
bool make_reset_for(const Segment& seg, TcpHeader& out);

class Tcb {
  public:
    // `counters` must outlive the TCB and be written by its lcore only.
    Tcb(const TcpSettings& settings, TcpCounters& counters, std::uint16_t local_port,
        std::uint16_t remote_port);

    // Passive open: LISTEN for this 4-tuple. `iss` per RFC 6528 and the
    // timestamp offset (RFC 7323 5.4) are the caller's. Contract: state is CLOSED.
    void listen(TcpSeq iss, std::uint32_t ts_offset = 0);
    // Active open: SYN-SENT; the SYN comes out of next_segment().
    void connect(TcpSeq iss, std::uint64_t now, std::uint32_t ts_offset = 0);
    // Creation from a SYN cookie (RFC 4987 3.6): `ack` is the handshake's
    // final ACK that syncookie_check() accepted as `c`. Contract: state is
    // CLOSED; c.iss + 1 == ack.header.ack (syncookie_check guarantees it);
    // the cookie SYN-ACK offered window scale offered_window_scale(settings)
    // when window_scaling is on and c.peer_wscale is set, and SACK-permitted
    // when `sack` is on and c.sack_permitted. `ts_offset` is the one the
    // SYN-ACK's TSval used. The TCB behaves as if it had been in SYN-RECEIVED
    // and this ACK arrived: ESTABLISHED, kEstablished, data and FIN on the
    // ACK processed. An unacceptable ACK is answered with a RST (CLOSED).
    void accept_cookie(const SynCookieAccepted& c, const Segment& ack, std::uint64_t now,
                       std::uint32_t ts_offset = 0);

    // Processes one segment whose checksum the caller verified. Never fails:
    // unacceptable segments are counted and dropped (possibly answered).
    void on_segment(const Segment& seg, std::uint64_t now);
    // Runs the timers due at `now` (harmless when none is).
    void on_timer(std::uint64_t now);
    // When on_timer must be called next, or kNever.
    std::uint64_t next_expiry() const;
    // The next segment to transmit, if any. Call until it returns false after
    // every other call.
    bool next_segment(std::uint64_t now, OutSegment& out);
    // Clears and returns the pending app_event bits.
    std::uint32_t take_events();

    // Queues bytes to send; returns how many fit (0 after close() or when the
    // state cannot send). Allowed from SYN-SENT on (RFC 9293 3.10.2).
    std::size_t send(std::span<const std::uint8_t> data);
    // Copies and consumes received in-order bytes; may open the window.
    std::size_t receive(std::span<std::uint8_t> out);
    std::size_t readable() const { return rcv_buf_.size(); }
    std::size_t send_space() const { return snd_buf_.free(); }
    // Graceful close (RFC 9293 3.10.4): FIN after the queued data.
    void close();
    // Abort (RFC 9293 3.10.5): RST to the peer when synchronized, then CLOSED.
    void abort();

    // Introspection for the console and tests.
    TcpState state() const { return state_; }
    TcpSeq snd_una() const { return snd_una_; }
    TcpSeq snd_nxt() const { return snd_nxt_; }
    TcpSeq rcv_nxt() const { return rcv_nxt_; }
    std::uint32_t snd_wnd() const { return snd_wnd_; }
    std::uint32_t cwnd() const { return cwnd_; }
    std::uint64_t rto_ns() const { return rto_; }
    std::uint16_t effective_mss() const { return eff_mss_; }
    std::uint8_t snd_wscale() const { return snd_wscale_; }
    std::uint8_t rcv_wscale() const { return rcv_wscale_; }
    bool timestamps_enabled() const { return ts_enabled_; }
    bool sack_enabled() const { return sack_enabled_; }
    // Out-of-order ranges held beyond RCV.NXT, and ranges the peer SACKed.
    std::size_t ooo_ranges() const { return ooo_.size(); }
    std::size_t sacked_ranges() const { return sacked_.size(); }
    bool in_recovery() const { return in_recovery_; }
    std::uint32_t ssthresh() const { return ssthresh_; }
    // RFC 6675 pipe: bytes estimated in flight (meaningful with SACK).
    std::uint32_t pipe() const;
    // Buffer storage held: allocated on first use, freed whenever a buffer
    // drains (an idle connection holds none), and for good in TIME-WAIT and
    // CLOSED.
    std::size_t buffer_bytes() const { return snd_buf_.allocated() + rcv_buf_.allocated(); }
    // Bytes of per-connection state besides the buffers (for benchmarks).
    static constexpr std::size_t state_bytes() { return sizeof(Tcb); }

  private:
    // tcp_tcb.cc
    void open(TcpState state, TcpSeq iss, std::uint32_t ts_offset);
    void reset_with(TcpSeq seq);
    void enter_established(std::uint64_t now);
    void enter_time_wait(std::uint64_t now);
    void enter_closed();
    void release_buffers();

    // tcp_input.cc
    void input_closed(const Segment& seg);
    void input_listen(const Segment& seg);
    void input_syn_sent(const Segment& seg, std::uint64_t now);
    void input_synchronized(const Segment& seg, std::uint64_t now);
    bool process_ack(const Segment& seg, std::uint64_t now);
    void process_text_and_fin(const Segment& seg, std::uint64_t now);
    bool queue_text(TcpSeq seq, std::span<const std::uint8_t> data);
    void process_fin(std::uint64_t now);
    bool process_sack(const TcpOptions& o);
    void note_dsack(const SackBlock& b);
    bool duplicate_ack(const Segment& seg, std::uint32_t seg_wnd, bool newly_sacked) const;
    void on_duplicate_ack(std::uint64_t now);
    bool may_enter_recovery() const;
    void enter_recovery(TcpEvent why, std::uint64_t now);
    void detect_losses(std::uint64_t now);
    void track_retransmission(TcpSeq seq, std::uint32_t len, std::uint64_t now);
    void after_ack(bool new_ack, std::uint64_t now);
    void note_peer_alive(std::uint64_t now);
    void accept_syn(const TcpHeader& h);
    void enter_syn_received();
    void advance_una(TcpSeq ack, std::uint64_t now);
    void take_send_window(const TcpHeader& h, std::uint32_t seg_wnd);
    void update_send_window(const TcpHeader& h, std::uint32_t seg_wnd);
    void on_peer_reset();
    void refuse_ack(TcpSeq ack);
    void challenge_ack(std::uint64_t now);
    void schedule_ack(std::uint64_t now, bool immediate);

    // tcp_output.cc
    void fill_common(OutSegment& out, TcpSeq seq, std::uint8_t flag_bits, std::uint64_t now);
    void fill_syn(OutSegment& out, bool with_ack, std::uint64_t now);
    std::uint32_t fill_data(OutSegment& out, TcpSeq seq, std::uint32_t max_len, std::uint64_t now);
    void after_send(const OutSegment& out, std::uint32_t seq_len, std::uint64_t now);
    bool try_send_data(OutSegment& out, std::uint32_t cc_room, std::uint64_t now);
    std::uint32_t cwnd_room() const;
    bool send_ack(OutSegment& out, TcpSeq seq, std::uint64_t now);
    bool retransmit_at(OutSegment& out, TcpSeq seq, std::uint64_t now);
    bool recovery_send(OutSegment& out, std::uint64_t now);
    bool send_probe(OutSegment& out, std::uint64_t now);
    bool can_send_new_segment(bool ignore_cwnd) const;
    TcpSeq loss_line() const;
    std::uint16_t window_to_advertise(bool syn) const;
    std::uint32_t ts_now(std::uint64_t now) const;

    // tcp_timers.cc
    void on_rtx_timeout(std::uint64_t now);
    void on_persist_timeout(std::uint64_t now);
    void rtt_sample(std::uint64_t rtt_ns);
    void arm_rtx(std::uint64_t now);
    void back_off_rtx(std::uint64_t now);
    void resend_syn();
    void give_up();
    void update_persist(std::uint64_t now, bool blocked);
    void on_keepalive_timeout(std::uint64_t now);
    void abort_timed_out(TcpEvent why);
    std::uint64_t reorder_window() const;
    void arm_tlp(std::uint64_t now);
    void on_tlp_timeout(std::uint64_t now);
    void forget_recovery();

    // States that accept text from the peer (RFC 9293 3.10.7.4 seventh).
    bool takes_text() const {
        return state_ == TcpState::established || state_ == TcpState::fin_wait_1 ||
               state_ == TcpState::fin_wait_2;
    }
    // States in which data, FIN, retransmissions and probes go out.
    bool can_send_data() const {
        return state_ == TcpState::established || state_ == TcpState::fin_wait_1 ||
               state_ == TcpState::close_wait || state_ == TcpState::closing ||
               state_ == TcpState::last_ack;
    }

    // Sequence bookkeeping helpers.
    TcpSeq data_end() const { return snd_buf_seq_ + static_cast<std::uint32_t>(snd_buf_.size()); }
    bool fin_acked() const { return fin_queued_ && snd_una_ == data_end() + 1; }
    std::uint32_t flight_size() const { return seq_distance(snd_una_, snd_max_); }
    std::uint32_t rcv_wnd() const { return static_cast<std::uint32_t>(rcv_buf_.free()); }

    TcpSettings s_;
    TcpCounters& counters_;
    std::uint16_t local_port_;
    std::uint16_t remote_port_;
    TcpState state_ = TcpState::closed;
    std::uint32_t events_ = 0;

    ByteRing snd_buf_;
    ByteRing rcv_buf_;

    // RFC 9293 3.3.1 send sequence variables (SND.MAX: highest sent).
    TcpSeq iss_, snd_una_, snd_nxt_, snd_max_, snd_wl1_, snd_wl2_;
    std::uint32_t snd_wnd_ = 0;
    std::uint32_t max_snd_wnd_ = 0;
    TcpSeq snd_buf_seq_;      // sequence number of the first byte in snd_buf_
    bool fin_queued_ = false; // close() called: FIN follows the data
    // Receive sequence variables.
    TcpSeq irs_, rcv_nxt_;
    TcpSeq rcv_adv_; // right edge of the window last advertised
    // Reassembly: bytes held beyond RCV.NXT (stored in rcv_buf_'s free space
    // at their offset), and a FIN that arrived before them.
    SeqRanges<kMaxOooRanges> ooo_;
    bool rcv_fin_pending_ = false;
    TcpSeq rcv_fin_seq_; // sequence number of that FIN

    // Negotiated options. We offer window scale and timestamps per TcpSettings
    // in our SYN, and in a SYN-ACK only what the peer's SYN offered.
    std::uint16_t eff_mss_;       // payload bytes per segment
    bool ws_enabled_ = false;     // both SYNs carried window scale
    std::uint8_t snd_wscale_ = 0; // shift applied to windows the peer sends
    std::uint8_t rcv_wscale_ = 0; // shift applied to windows we send
    std::uint8_t my_wscale_ = 0;  // the shift we offer
    bool ts_enabled_ = false;
    bool sack_enabled_ = false; // both SYNs carried SACK-permitted
    std::uint32_t ts_offset_ = 0;
    std::uint32_t ts_recent_ = 0;
    TcpSeq last_ack_sent_;

    // Pending output.
    bool ack_now_ = false;
    bool retransmit_one_ = false; // fast retransmit / NewReno partial ACK
    bool tlp_now_ = false;        // a tail loss probe is due
    bool probe_now_ = false;      // persist or keepalive probe
    bool rst_pending_ = false;
    std::uint8_t rst_flags_ = 0; // the pending RST: <SEQ><ACK><CTL>
    TcpSeq rst_seq_, rst_ack_;
    std::uint32_t unacked_segments_ = 0; // received, not yet acknowledged

    // RFC 6298 state.
    std::uint64_t srtt_ = 0, rttvar_ = 0;
    std::uint64_t rto_;
    bool have_rtt_ = false;
    bool rtt_timing_ = false;
    TcpSeq rtt_seq_;
    std::uint64_t rtt_start_ = 0;
    std::uint32_t retries_ = 0;

    // RFC 5681 / 6582 state.
    std::uint32_t cwnd_ = 0, ssthresh_ = 0;
    std::uint32_t dupacks_ = 0;
    bool in_recovery_ = false;
    TcpSeq recover_;
    // RFC 2018 / 6675 scoreboard: ranges the peer SACKed, and the end of the
    // highest retransmission in this recovery (HighRxt: holes below it are
    // not resent unless found lost again).
    SeqRanges<kMaxSackScoreboard> sacked_;
    TcpSeq rtx_high_;
    bool sack_recovery_ = false; // this recovery sends by RFC 6675's pipe
    // Holes below this are lost whatever IsLost says (early retransmit, RACK).
    TcpSeq lost_below_;
    // RFC 8985-style bookkeeping of the retransmissions of this recovery, in
    // the order sent: each is lost once data sent after it is delivered and
    // it is still missing a reordering window (and an RTT) later.
    struct RtxRecord {
        TcpSeq seq;            // first byte resent
        TcpSeq mark;           // SND.MAX when resent: bytes above went later
        std::uint16_t len;     // bytes resent (at most one MSS)
        bool later_delivered;  // something sent after it arrived
        bool lost;             // found lost: resend before other holes
        std::uint32_t sent_us; // send time in microseconds (wraps; compared mod 2^32)
    };
    std::array<RtxRecord, kMaxRtxTrack> rtx_log_{};
    std::uint8_t rtx_log_n_ = 0;
    // Early retransmit (RFC 5827): when the hole not yet deemed lost was
    // first seen; it is lost a reordering window later (kNever: none).
    std::uint64_t hole_since_ = kNever;
    // Tail loss probe (RFC 8985 7): one per tail, until SND.UNA passes tlp_end_.
    bool tlp_out_ = false;
    bool tlp_was_rtx_ = false; // the probe resent data (its loss needs a cwnd cut)
    bool tlp_dsack_ = false;   // the peer D-SACKed the probe: it was spurious
    TcpSeq tlp_seq_, tlp_end_;

    // Timers (absolute, kNever when stopped).
    std::uint64_t rtx_at_ = kNever;
    std::uint64_t persist_at_ = kNever;
    std::uint64_t persist_interval_ = 0;
    std::uint64_t delack_at_ = kNever;
    std::uint64_t state_at_ = kNever; // TIME-WAIT or FIN-WAIT-2 end
    std::uint64_t idle_at_ = kNever;  // idle_timeout_ns after the peer's last segment
    std::uint64_t keepalive_at_ = kNever;
    std::uint32_t keepalive_sent_ = 0; // unanswered keepalive probes
    std::uint64_t reo_at_ = kNever;    // reordering window over: detect_losses()
    std::uint64_t tlp_at_ = kNever;    // probe timeout (PTO)

    // RFC 5961 7 rate limit.
    std::uint64_t challenge_window_start_ = 0;
    std::uint32_t challenge_count_ = 0;
};

} // namespace smtpgw::tcp
