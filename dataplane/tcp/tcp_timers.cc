// tcp_timers.cc: retransmission, persist, delayed-ACK and state timers.
//
// Purpose: the control block's clocks are absolute deadlines compared with
// the caller's `now`; next_expiry() tells the caller when to call on_timer().
// RFCs: 6298 (RTO computation 2, management 5, Karn 3, backoff 5.5), 5681
// 3.1 (loss window after an RTO), 6582 (recover after an RTO), 9293 3.8.6.1
// (persist), 1122 4.2.3.2 (delayed ACK), 9293 3.6 (TIME-WAIT, 2 MSL),
// 1122 4.2.3.6 (keepalive), 2018 8 (the SACK scoreboard is cleared on RTO),
// 8985 6.2 (the reordering window: early retransmit and lost
// retransmissions wait for it) and 7 (tail loss probe: PTO, one per tail).
// Security: every timer is bounded by a TcpSettings value; a silent peer is
// given up on after max_retransmits / max_syn_retransmits, a stuck
// FIN-WAIT-2 after fin_wait2_timeout_ns, any synchronized connection after
// idle_timeout_ns without a segment from the peer, and after
// keepalive_probes unanswered probes when keepalive is on.
#include <algorithm>

#include "tcp/tcp_tcb.h"

namespace smtpgw::tcp {

std::uint64_t Tcb::next_expiry() const {
    return std::min(
        {rtx_at_, persist_at_, delack_at_, state_at_, idle_at_, keepalive_at_, reo_at_, tlp_at_});
}

void Tcb::on_timer(std::uint64_t now) {
    if (state_at_ <= now) {
        state_at_ = kNever;
        if (state_ == TcpState::fin_wait_2) {
            counters_.count(TcpEvent::fin_wait2_timeout);
            enter_closed();
            return;
        }
        if (state_ == TcpState::time_wait) {
            enter_closed();
            return;
        }
    }
    if (idle_at_ <= now) {
        // Nothing from the peer for idle_timeout_ns (set from ESTABLISHED on).
        idle_at_ = kNever;
        abort_timed_out(TcpEvent::idle_timeout);
        return;
    }
    if (keepalive_at_ <= now) {
        on_keepalive_timeout(now);
        if (state_ == TcpState::closed)
            return;
    }
    if (reo_at_ <= now) {
        // A reordering window ran out: look for holes and retransmissions
        // now deemed lost.
        reo_at_ = kNever;
        if (can_send_data() && snd_una_ != snd_max_)
            detect_losses(now);
    }
    if (tlp_at_ <= now)
        on_tlp_timeout(now);
    if (rtx_at_ <= now)
        on_rtx_timeout(now);
    if (persist_at_ <= now)
        on_persist_timeout(now);
    if (delack_at_ <= now) {
        delack_at_ = kNever;
        ack_now_ = true;
    }
}

void Tcb::arm_rtx(std::uint64_t now) {
    rtx_at_ = now + rto_;
}

void Tcb::back_off_rtx(std::uint64_t now) {
    // RFC 6298 5.5 and 5.6: double the RTO (bounded) and restart the timer.
    rto_ = std::min(rto_ * 2, s_.rto_max_ns);
    arm_rtx(now);
}

void Tcb::resend_syn() {
    snd_nxt_ = iss_;     // our SYN / SYN-ACK comes out of next_segment() again
    rtt_timing_ = false; // Karn
}

void Tcb::give_up() {
    counters_.count(TcpEvent::retransmit_giveup);
    events_ |= app_event::kTimedOut;
    enter_closed();
}

void Tcb::abort_timed_out(TcpEvent why) {
    // RFC 9293 3.10.5: a synchronized connection is aborted with
    // <SEQ=SND.NXT><CTL=RST>, in case the peer is still there.
    counters_.count(why);
    reset_with(snd_max_);
    snd_buf_.clear();
    events_ |= app_event::kTimedOut;
    enter_closed();
}

void Tcb::on_keepalive_timeout(std::uint64_t now) {
    // RFC 1122 4.2.3.6: probe an idle connection with <SEQ=SND.NXT-1>, no
    // data; any answer (an ACK) restarts the clock (note_peer_alive).
    keepalive_at_ = kNever;
    if (state_ != TcpState::established && state_ != TcpState::close_wait)
        return; // closing states are bounded by retransmissions and their timers
    if (snd_una_ != snd_max_ || persist_at_ != kNever) {
        // Data in flight or a window probe: those timers watch the peer.
        keepalive_at_ = now + s_.keepalive_idle_ns;
        return;
    }
    if (keepalive_sent_ >= s_.keepalive_probes) {
        abort_timed_out(TcpEvent::keepalive_timeout);
        return;
    }
    ++keepalive_sent_;
    counters_.count(TcpEvent::keepalive_probe);
    probe_now_ = true;
    keepalive_at_ = now + s_.keepalive_interval_ns;
}

void Tcb::rtt_sample(std::uint64_t r) {
    // RFC 6298 2.2 and 2.3 (alpha = 1/8, beta = 1/4, K = 4). The clock
    // granularity G is the caller's nanosecond clock: negligible, so the
    // lower bound is rto_min_ns alone (2.4).
    if (!have_rtt_) {
        srtt_ = r;
        rttvar_ = r / 2;
        have_rtt_ = true;
    } else {
        std::uint64_t delta = srtt_ > r ? srtt_ - r : r - srtt_;
        rttvar_ = (3 * rttvar_ + delta) / 4;
        srtt_ = (7 * srtt_ + r) / 8;
    }
    rto_ = std::clamp(srtt_ + 4 * rttvar_, s_.rto_min_ns, s_.rto_max_ns);
}

void Tcb::on_rtx_timeout(std::uint64_t now) {
    rtx_at_ = kNever;
    if (state_ == TcpState::syn_sent || state_ == TcpState::syn_received) {
        if (++retries_ > s_.max_syn_retransmits) {
            give_up();
            return;
        }
        counters_.count(TcpEvent::rto_expired);
        resend_syn();
        back_off_rtx(now);
        return;
    }
    if (snd_una_ == snd_max_)
        return; // nothing outstanding
    if (++retries_ > s_.max_retransmits) {
        // RFC 9293 3.8.3 R2: give up; tell the peer, which may still be there.
        reset_with(snd_max_);
        snd_buf_.clear();
        give_up();
        return;
    }
    counters_.count(TcpEvent::rto_expired);
    // RFC 5681 3.1 eq. 4 (first timeout of this loss only) and eq. 5.
    if (retries_ == 1)
        ssthresh_ = std::max<std::uint32_t>(flight_size() / 2, 2u * eff_mss_);
    cwnd_ = eff_mss_;
    // RFC 6582 4: no fast retransmit for the data sent before the timeout.
    in_recovery_ = false;
    recover_ = snd_max_;
    dupacks_ = 0;
    forget_recovery();
    // RFC 2018 8: the peer may have discarded SACKed data (reneging); the
    // scoreboard starts again from the ACKs that follow.
    sacked_.clear();
    // RFC 6298 5.4-5.6: resend from SND.UNA, back off, restart the timer.
    snd_nxt_ = snd_una_;
    rtt_timing_ = false;
    back_off_rtx(now);
}

void Tcb::forget_recovery() {
    // Loss recovery bookkeeping ends (full ACK, RTO): nothing carries over.
    sack_recovery_ = false;
    retransmit_one_ = false;
    rtx_high_ = snd_una_;
    lost_below_ = snd_una_;
    rtx_log_n_ = 0;
    hole_since_ = kNever;
    reo_at_ = kNever;
    tlp_at_ = kNever;
    tlp_now_ = false;
    tlp_out_ = false;
}

std::uint64_t Tcb::reorder_window() const {
    // RFC 8985 6.2: RTT/4 (SRTT here: no min_rtt is kept), at least the setting.
    return std::max(have_rtt_ ? srtt_ / 4 : 0, s_.reorder_window_min_ns);
}

void Tcb::arm_tlp(std::uint64_t now) {
    // RFC 8985 7.2: PTO = 2 * SRTT (+ WCDelAckT for a single segment), only
    // with SACK (the probe's ACK must show what is missing), not while
    // resending after an RTO, one probe per tail, and only before the RTO.
    // Unlike 7.2, SACK recovery probes too: when its last retransmissions
    // or new segments are lost, nothing sent later can reveal it and the
    // pipe stays full until the RTO (both ends of an echo can wait so).
    tlp_at_ = kNever;
    if (!s_.tlp || !sack_enabled_ || !have_rtt_ || tlp_out_ || (in_recovery_ && !sack_recovery_) ||
        retries_ != 0 || snd_una_ == snd_max_ || snd_nxt_ != snd_max_ || !can_send_data())
        return;
    std::uint64_t pto = std::max(2 * srtt_, s_.tlp_min_ns);
    if (flight_size() <= eff_mss_)
        pto += s_.tlp_delayed_ack_ns;
    if (now + pto < rtx_at_)
        tlp_at_ = now + pto;
}

void Tcb::on_tlp_timeout(std::uint64_t now) {
    (void)now;
    tlp_at_ = kNever;
    if ((in_recovery_ && !sack_recovery_) || tlp_out_ || snd_una_ == snd_max_ || !can_send_data())
        return;
    counters_.count(TcpEvent::tlp_probe);
    tlp_now_ = true;
}

void Tcb::update_persist(std::uint64_t now, bool blocked) {
    // RFC 9293 3.8.6.1: data waits on the peer's window with nothing in
    // flight, so no ACK will come by itself: probe.
    if (blocked && snd_una_ == snd_max_) {
        if (persist_at_ == kNever) {
            if (persist_interval_ == 0)
                persist_interval_ = std::max(rto_, s_.rto_min_ns);
            persist_at_ = now + persist_interval_;
        }
    } else {
        persist_at_ = kNever;
        persist_interval_ = 0;
    }
}

void Tcb::on_persist_timeout(std::uint64_t now) {
    persist_at_ = kNever;
    counters_.count(TcpEvent::zero_window_probe);
    probe_now_ = true;
    persist_interval_ = std::min(persist_interval_ * 2, s_.rto_max_ns);
    persist_at_ = now + persist_interval_;
}

} // namespace smtpgw::tcp
