// tcp_input.cc: "segment arrives" processing of the control block.
//
// Purpose: RFC 9293 3.10.7 implemented step by step; each step is marked
// "3.10.7.x <step>" where it happens. RFC 5961 changes the RST, SYN and ACK
// checks (challenge ACKs); RFC 7323 adds PAWS and TS.Recent; RFC 5681/6582
// drive the congestion window from ACKs; RFC 5681 4.2 asks for immediate
// ACKs around out-of-order data; RFC 2018 SACK blocks feed the scoreboard.
// Security: every segment is checked against the receive window before any
// state changes; RSTs and SYNs cannot tear a connection down unless exactly
// at RCV.NXT; ACKs for unsent data are refused. Out-of-order data is kept
// only inside the advertised window and in at most max_ooo_ranges ranges;
// overlapping copies never overwrite bytes already held (the first copy
// wins). SACK blocks outside (SND.UNA, SND.MAX] are counted and ignored.
// Drops are counted by reason.
#include <algorithm>

#include "tcp/tcp_tcb.h"

namespace smtpgw::tcp {

void Tcb::on_segment(const Segment& seg, std::uint64_t now) {
    const TcpHeader& h = seg.header;
    if (h.has(flags::kSyn) && (h.has(flags::kRst) || h.has(flags::kFin))) {
        counters_.count(TcpEvent::bad_flags);
        return;
    }
    switch (state_) {
    case TcpState::closed:
        input_closed(seg);
        return;
    case TcpState::listen:
        input_listen(seg);
        return;
    case TcpState::syn_sent:
        input_syn_sent(seg, now);
        return;
    default:
        input_synchronized(seg, now);
        return;
    }
}

void Tcb::input_closed(const Segment& seg) {
    // 3.10.7.1 CLOSED: discard, answer anything but a RST with a RST.
    TcpHeader rst;
    if (make_reset_for(seg, rst)) {
        rst_seq_ = rst.seq;
        rst_ack_ = rst.ack;
        rst_flags_ = rst.flags;
        rst_pending_ = true;
        counters_.count(TcpEvent::rst_sent);
    }
}

void Tcb::input_listen(const Segment& seg) {
    const TcpHeader& h = seg.header;
    // 3.10.7.2 first: an incoming RST is ignored.
    if (h.has(flags::kRst))
        return;
    // 3.10.7.2 second: any ACK is bad in LISTEN: <SEQ=SEG.ACK><CTL=RST>.
    if (h.has(flags::kAck)) {
        refuse_ack(h.ack);
        return;
    }
    // 3.10.7.2 fourth: anything else without SYN is dropped.
    if (!h.has(flags::kSyn))
        return;
    // 3.10.7.2 third: SYN. Security/compartment checks do not apply here.
    // Data on the SYN is not queued (see tcp_tcb.h).
    accept_syn(h);
    enter_syn_received(); // SND.NXT = ISS since listen()
}

// The peer's SYN (3.10.7.2 third, 3.10.7.3 fourth): IRS, RCV.NXT, the
// negotiated options and the initial send window.
void Tcb::accept_syn(const TcpHeader& h) {
    irs_ = h.seq;
    rcv_nxt_ = h.seq + 1;
    // Options: each is used when our settings offer it and the peer's SYN carries it.
    const TcpOptions& o = h.options;
    std::uint16_t peer_mss = o.mss ? std::max(*o.mss, s_.min_peer_mss) : s_.default_peer_mss;
    ws_enabled_ = s_.window_scaling && o.window_scale.has_value();
    if (ws_enabled_) {
        // RFC 7323 2.3: a shift above 14 is used as 14.
        snd_wscale_ = std::min(*o.window_scale, kMaxWindowScale);
        rcv_wscale_ = my_wscale_;
    } else {
        snd_wscale_ = rcv_wscale_ = 0;
    }
    sack_enabled_ = s_.sack && o.sack_permitted;
    ts_enabled_ = s_.timestamps && o.timestamps.has_value();
    if (ts_enabled_)
        ts_recent_ = o.timestamps->value;
    // RFC 6691: the MSS excludes options; timestamps take 12 bytes of each segment.
    std::uint16_t mss = std::min(peer_mss, s_.mss);
    eff_mss_ = static_cast<std::uint16_t>(ts_enabled_ && mss > 12 + 64 ? mss - 12 : mss);
    // RFC 5681 3.1 / RFC 6928: initial window; ssthresh starts arbitrarily high.
    cwnd_ = s_.initial_cwnd_segments * std::uint32_t{eff_mss_};
    if (cwnd_ < eff_mss_)
        cwnd_ = eff_mss_;
    ssthresh_ = 0x7fffffffu;
    recover_ = iss_;
    snd_wnd_ = h.window; // RFC 7323 2.2: never scaled on a SYN
    max_snd_wnd_ = snd_wnd_;
    snd_wl1_ = h.seq;
}

void Tcb::enter_syn_received() {
    // The SYN-ACK <SEQ=ISS><ACK=RCV.NXT> comes out of next_segment().
    snd_wl2_ = iss_;
    state_ = TcpState::syn_received;
}

void Tcb::input_syn_sent(const Segment& seg, std::uint64_t now) {
    const TcpHeader& h = seg.header;
    bool ack_acceptable = false;
    // 3.10.7.3 first: the ACK must cover our SYN and nothing unsent.
    if (h.has(flags::kAck)) {
        if (h.ack <= iss_ || h.ack > snd_max_) {
            counters_.count(TcpEvent::syn_sent_bad_ack);
            if (!h.has(flags::kRst))
                refuse_ack(h.ack);
            return;
        }
        ack_acceptable = true;
    }
    // 3.10.7.3 second: a RST counts only with an acceptable ACK (RFC 5961 3.2).
    if (h.has(flags::kRst)) {
        if (ack_acceptable)
            on_peer_reset();
        else
            counters_.count(TcpEvent::rst_out_of_window);
        return;
    }
    // 3.10.7.3 third: security/compartment checks do not apply here.
    // 3.10.7.3 fifth: neither SYN nor RST: drop.
    if (!h.has(flags::kSyn))
        return;
    // 3.10.7.3 fourth: SYN.
    accept_syn(h);
    if (ack_acceptable) {
        snd_wl2_ = h.ack;
        advance_una(h.ack, now); // RFC 6298 5.2: all outstanding data (the SYN) acknowledged
        enter_established(now);
        ack_now_ = true; // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
        return;
    }
    // Simultaneous open: <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>, SYN-RECEIVED.
    resend_syn();
    enter_syn_received();
}

void Tcb::input_synchronized(const Segment& seg, std::uint64_t now) {
    const TcpHeader& h = seg.header;
    // A retransmitted SYN in SYN-RECEIVED means our SYN-ACK was lost: resend it.
    if (state_ == TcpState::syn_received && h.has(flags::kSyn) && !h.has(flags::kAck) &&
        h.seq == irs_) {
        resend_syn();
        return;
    }
    // RFC 5961 4.2 (replaces 3.10.7.4 fourth): a SYN in a synchronized state,
    // whatever its sequence number, gets a challenge ACK and is dropped.
    if (h.has(flags::kSyn)) {
        counters_.count(TcpEvent::syn_challenged);
        challenge_ack(now);
        return;
    }
    // RFC 7323 5.3 R1 (PAWS), before the sequence number check. One tick of
    // slack (as Linux's TCP_PAWS_WINDOW): a segment delayed by less than a
    // timestamp tick behind a newer one is reordering, not an old duplicate,
    // and dropping it would turn reordering into loss.
    constexpr std::int32_t kPawsSlackTicks = 1;
    if (ts_enabled_ && h.options.timestamps && !h.has(flags::kRst) &&
        static_cast<std::int32_t>(h.options.timestamps->value - ts_recent_) < -kPawsSlackTicks) {
        counters_.count(TcpEvent::paws_rejected);
        schedule_ack(now, true);
        return;
    }
    // 3.10.7.4 first: sequence number check (the four acceptability cases).
    std::uint32_t len = seg.seg_len();
    std::uint32_t wnd = rcv_wnd();
    TcpSeq wnd_end = rcv_nxt_ + wnd;
    bool acceptable;
    if (len == 0)
        acceptable = wnd == 0 ? h.seq == rcv_nxt_ : seq_in_window(h.seq, rcv_nxt_, wnd_end);
    else
        acceptable = wnd != 0 && (seq_in_window(h.seq, rcv_nxt_, wnd_end) ||
                                  seq_in_window(h.seq + (len - 1), rcv_nxt_, wnd_end));
    if (!acceptable) {
        if (h.has(flags::kRst)) { // RFC 5961 3.2: an out-of-window RST is dropped silently
            counters_.count(TcpEvent::rst_out_of_window);
            return;
        }
        counters_.count(wnd == 0 && len > 0 ? TcpEvent::zero_window_drop
                                            : TcpEvent::seg_not_acceptable);
        // 3.10.7.4 eighth, TIME-WAIT: a retransmitted FIN restarts the 2 MSL timeout.
        if (state_ == TcpState::time_wait && h.has(flags::kFin))
            state_at_ = now + s_.time_wait_ns;
        // RFC 1122 4.2.3.6: a keepalive probe (SEG.SEQ = RCV.NXT - 1, at
        // most one byte) is unacceptable by design, yet proves the peer is
        // alive; its ACK must be one we could accept, which a blind spoofer
        // has to guess.
        if (state_ != TcpState::time_wait && h.has(flags::kAck) && h.seq == rcv_nxt_ - 1 &&
            seg.payload.size() <= 1 && h.ack <= snd_max_ && h.ack >= snd_una_ - max_snd_wnd_)
            note_peer_alive(now);
        schedule_ack(now, true);
        return;
    }
    // An acceptable segment proves the peer is alive: FIN-WAIT-2, the idle
    // timeout and keepalive (RFC 1122 4.2.3.6) restart.
    if (state_ == TcpState::fin_wait_2)
        state_at_ = now + s_.fin_wait2_timeout_ns;
    if (state_ != TcpState::time_wait)
        note_peer_alive(now);
    // RFC 7323 4.3: TS.Recent follows the segment that covers Last.ACK.sent.
    if (ts_enabled_ && h.options.timestamps && h.seq <= last_ack_sent_)
        ts_recent_ = h.options.timestamps->value;
    // 3.10.7.4 second: RST (RFC 5961 3.2: only exactly at RCV.NXT).
    if (h.has(flags::kRst)) {
        if (state_ == TcpState::time_wait) {
            // RFC 1337 TW hazard 1: a RST must not cut TIME-WAIT short.
            counters_.count(TcpEvent::rst_in_time_wait);
            return;
        }
        if (h.seq == rcv_nxt_) {
            on_peer_reset();
        } else {
            counters_.count(TcpEvent::rst_challenged);
            challenge_ack(now);
        }
        return;
    }
    // 3.10.7.4 third: security/compartment checks do not apply here.
    // 3.10.7.4 fourth: SYN, handled above (RFC 5961 4.2).
    // 3.10.7.4 fifth: ACK.
    if (!h.has(flags::kAck)) {
        counters_.count(TcpEvent::bad_flags);
        return;
    }
    if (!process_ack(seg, now))
        return;
    // 3.10.7.4 sixth: URG is ignored (RFC 6093: no application here uses it).
    // 3.10.7.4 seventh and eighth.
    process_text_and_fin(seg, now);
}

bool Tcb::process_ack(const Segment& seg, std::uint64_t now) {
    const TcpHeader& h = seg.header;
    std::uint32_t seg_wnd = std::uint32_t{h.window} << snd_wscale_;
    if (state_ == TcpState::syn_received) {
        // 3.10.7.4 fifth, SYN-RECEIVED: SND.UNA < SEG.ACK =< SND.NXT enters
        // ESTABLISHED with SND.WND, SND.WL1, SND.WL2 from this segment;
        // otherwise <SEQ=SEG.ACK><CTL=RST>.
        if (!(snd_una_ < h.ack && h.ack <= snd_max_)) {
            refuse_ack(h.ack);
            return false;
        }
        advance_una(h.ack, now);
        take_send_window(h, seg_wnd);
        enter_established(now);
    }
    // RFC 5961 5.2: acceptable only for SND.UNA - MAX.SND.WND =< SEG.ACK =< SND.NXT.
    if (h.ack > snd_max_) {
        counters_.count(TcpEvent::ack_too_new);
        schedule_ack(now, true);
        return false;
    }
    if (h.ack < snd_una_ - max_snd_wnd_) {
        counters_.count(TcpEvent::ack_too_old);
        schedule_ack(now, true);
        return false;
    }
    bool new_ack = h.ack > snd_una_;
    std::uint32_t acked = 0;
    if (new_ack) {
        // New data acknowledged: free it from the send buffer.
        acked = seq_distance(snd_una_, h.ack);
        TcpSeq data_acked_to = seq_min(h.ack, data_end());
        if (data_acked_to > snd_buf_seq_) {
            std::uint32_t bytes = seq_distance(snd_buf_seq_, data_acked_to);
            snd_buf_.consume(bytes);
            snd_buf_.trim(); // all acknowledged: an idle connection holds no buffer
            snd_buf_seq_ += bytes;
            events_ |= app_event::kSendSpace;
        }
        advance_una(h.ack, now);
    }
    // The scoreboard first: RFC 6675 counts an ACK that SACKs new data as a
    // duplicate ACK, and loss detection below reads the scoreboard.
    bool newly_sacked = sack_enabled_ && process_sack(h.options);
    if (new_ack) {
        if (in_recovery_) {
            if (h.ack >= recover_) {
                // RFC 6582 3.2 step 3 / RFC 6675 5, full ACK: recovery ends;
                // deflate to min(ssthresh, max(FlightSize, SMSS) + SMSS):
                // never below two segments however often reordering fooled us.
                cwnd_ = std::min(ssthresh_,
                                 std::max<std::uint32_t>(flight_size(), eff_mss_) + eff_mss_);
                in_recovery_ = false;
                forget_recovery();
            } else if (!sack_recovery_) {
                // RFC 6582 3.2 step 3, partial ACK: resend the next hole.
                retransmit_one_ = true;
                cwnd_ = cwnd_ > acked ? cwnd_ - acked : 0;
                if (acked >= eff_mss_)
                    cwnd_ += eff_mss_;
                cwnd_ = std::max<std::uint32_t>(cwnd_, eff_mss_);
            }
            // RFC 6675: a partial ACK in SACK recovery leaves cwnd alone; the
            // pipe estimate decides what goes next.
        } else if (cwnd_ < ssthresh_) {
            cwnd_ += std::min<std::uint32_t>(acked, eff_mss_); // RFC 5681 3.1 slow start
        } else {
            cwnd_ += std::max<std::uint32_t>(1, eff_mss_ * std::uint32_t{eff_mss_} / cwnd_);
        }
        dupacks_ = 0;
        hole_since_ = kNever;
    } else if (duplicate_ack(seg, seg_wnd, newly_sacked)) {
        on_duplicate_ack(now);
    }
    if (can_send_data() && snd_una_ != snd_max_)
        detect_losses(now);
    else
        reo_at_ = kNever;
    after_ack(new_ack, now);
    // 3.10.7.4 fifth: window update when SND.UNA =< SEG.ACK and the segment is newer.
    if (snd_una_ <= h.ack)
        update_send_window(h, seg_wnd);
    // 3.10.7.4 fifth, state-specific parts.
    if (fin_acked()) {
        switch (state_) {
        case TcpState::fin_wait_1:
            state_ = TcpState::fin_wait_2;
            rtx_at_ = kNever;
            state_at_ = now + s_.fin_wait2_timeout_ns;
            break;
        case TcpState::closing:
            enter_time_wait(now);
            break;
        case TcpState::last_ack:
            enter_closed();
            return false;
        default:
            break;
        }
    }
    return true;
}

bool Tcb::process_sack(const TcpOptions& o) {
    // RFC 2018 5 with the scoreboard as advice only: the cumulative ACK is
    // authoritative, so everything below SND.UNA is forgotten.
    sacked_.trim_below(snd_una_);
    std::uint32_t before = sacked_.covered(snd_una_, snd_max_);
    std::size_t count = std::min<std::size_t>(o.sack_count, o.sack.size());
    for (std::size_t i = 0; i < count; ++i) {
        const SackBlock& b = o.sack[i];
        // RFC 2883 3: a first block below SND.UNA, or inside the second
        // block, reports a duplicate (D-SACK): it only tells a probe was spurious.
        if (i == 0 && b.left < b.right &&
            (b.right <= snd_una_ ||
             (count > 1 && o.sack[1].left <= b.left && b.right <= o.sack[1].right)))
            note_dsack(b);
        if (b.right <= snd_una_ && b.left < b.right)
            continue; // RFC 2883 D-SACK or a stale block: nothing new
        // A block must lie within (SND.UNA, SND.MAX]; one starting at SND.UNA
        // contradicts the cumulative ACK. Never trust a block blindly.
        if (!(snd_una_ < b.left && b.left < b.right && b.right <= snd_max_)) {
            counters_.count(TcpEvent::sack_invalid);
            continue;
        }
        if (sacked_.add(b.left, b.right, s_.sack_scoreboard_ranges))
            continue;
        // Full: keep the ranges nearest SND.UNA, which decide what is resent next.
        SeqRange hi;
        if (!sacked_.remove_highest(hi))
            continue;
        if (hi.left < b.left)
            sacked_.add(hi.left, hi.right, s_.sack_scoreboard_ranges);
        else
            sacked_.add(b.left, b.right, s_.sack_scoreboard_ranges);
    }
    return sacked_.covered(snd_una_, snd_max_) > before;
}

void Tcb::note_dsack(const SackBlock& b) {
    // RFC 8985 7.4.2: a D-SACK for the probe's bytes shows the original
    // arrived, so the probe repaired no loss.
    if (tlp_out_ && tlp_was_rtx_ && b.left < tlp_end_ && tlp_seq_ < b.right)
        tlp_dsack_ = true;
}

bool Tcb::duplicate_ack(const Segment& seg, std::uint32_t seg_wnd, bool newly_sacked) const {
    const TcpHeader& h = seg.header;
    if (h.ack != snd_una_ || snd_max_ == snd_una_)
        return false;
    // RFC 6675 2: with SACK, an ACK that SACKs new data (it may carry data:
    // both ends of an echo send at once); without, RFC 5681 2's definition.
    if (sack_enabled_)
        return newly_sacked;
    return seg.payload.empty() && !h.has(flags::kFin) && seg_wnd == snd_wnd_;
}

void Tcb::on_duplicate_ack(std::uint64_t now) {
    ++dupacks_;
    if (!in_recovery_) {
        // RFC 5681 3.2 step 2 / RFC 6675 5: the DupThresh-th duplicate ACK.
        // Before it, RFC 3042 limited transmit lets cwnd_room() send one new
        // segment per duplicate ACK.
        if (dupacks_ >= kDupThresh && may_enter_recovery())
            enter_recovery(TcpEvent::fast_retransmit, now);
    } else if (!sack_recovery_ && dupacks_ > kDupThresh) {
        cwnd_ += eff_mss_; // RFC 5681 3.2 step 5: inflate (NewReno without SACK)
    }
}

bool Tcb::may_enter_recovery() const {
    // RFC 6582 3.2 step 2 / RFC 6675 5: one cwnd reduction per episode;
    // nothing sent before the last recovery point (or RTO) starts another.
    // With SACK, ACK == recover is allowed: loss is then seen in data sent
    // after that point, and duplicates of older data SACK nothing new.
    return sack_enabled_ ? snd_una_ >= recover_ : snd_una_ > recover_;
}

void Tcb::enter_recovery(TcpEvent why, std::uint64_t now) {
    counters_.count(why);
    in_recovery_ = true;
    recover_ = snd_max_;
    rtx_high_ = snd_una_;
    rtt_timing_ = false;
    // RFC 5681 3.1 eq. 4: halve, never below two segments, once per episode.
    ssthresh_ = std::max<std::uint32_t>(flight_size() / 2, 2u * eff_mss_);
    sack_recovery_ = sack_enabled_;
    if (sack_recovery_) {
        cwnd_ = ssthresh_; // RFC 6675 5 step 4.2; pipe governs sending
    } else {
        // RFC 5681 3.2 step 3 (RFC 5827 3.2: the duplicate ACKs received).
        cwnd_ = ssthresh_ + std::min(dupacks_, kDupThresh) * std::uint32_t{eff_mss_};
    }
    // RFC 6675 5 step 4.3: the segment at SND.UNA is presumed lost and goes first.
    retransmit_one_ = true;
    lost_below_ = seq_max(lost_below_, snd_una_ + 1);
    rtx_log_n_ = 0;
    hole_since_ = kNever;
    tlp_out_ = false; // a probe outstanding is now part of this episode
    arm_tlp(now);     // SACK recovery keeps a probe (see arm_tlp); NewReno does not
}

void Tcb::detect_losses(std::uint64_t now) {
    reo_at_ = kNever;
    std::uint64_t wnd = reorder_window();
    bool er_candidate = false;
    if (sack_enabled_ && !sacked_.empty()) {
        // RFC 6675 5: IsLost(SND.UNA + 1) enters recovery without waiting
        // for the third duplicate ACK.
        if (!in_recovery_ && may_enter_recovery() && loss_line() > snd_una_)
            enter_recovery(TcpEvent::sack_recovery, now);
        // RFC 5827 + 8985 6.2: a hole below SACKed data that IsLost does not
        // cover (yet) is lost once it outlives the reordering window, as the
        // data sent after it has arrived.
        if (s_.early_retransmit && (in_recovery_ || may_enter_recovery())) {
            TcpSeq from = seq_max(loss_line(), in_recovery_ ? rtx_high_ : snd_una_);
            er_candidate = sacked_.skip(from) < sacked_.highest_left(snd_una_);
        }
    } else if (!sack_enabled_ && s_.early_retransmit && !in_recovery_ && dupacks_ > 0 &&
               may_enter_recovery()) {
        // RFC 5827 3.1 (segment-based, without SACK): fewer than 4 segments
        // out and nothing new to send: ER_thresh = outstanding - 1 duplicates.
        std::uint32_t segs = (flight_size() + eff_mss_ - 1) / eff_mss_;
        er_candidate = segs < 4 && dupacks_ + 1 >= segs && !can_send_new_segment(false);
    }
    if (er_candidate) {
        if (hole_since_ == kNever)
            hole_since_ = now;
        if (now - hole_since_ >= wnd) {
            hole_since_ = kNever;
            if (sack_enabled_)
                lost_below_ = seq_max(lost_below_, sacked_.highest_left(snd_una_));
            if (!in_recovery_)
                enter_recovery(TcpEvent::early_retransmit, now); // counts it
            else
                counters_.count(TcpEvent::early_retransmit);
        } else {
            reo_at_ = hole_since_ + wnd;
        }
    } else {
        hole_since_ = kNever;
    }
    if (!sack_recovery_ || rtx_log_n_ == 0)
        return;
    // RFC 8985 6.2 for retransmissions: one is lost when something sent
    // after it was delivered (a SACKed byte above its mark, or a later
    // retransmission) and it is still missing an RTT plus the reordering
    // window after it went out.
    TcpSeq sacked_high = sacked_.highest(snd_una_);
    std::uint32_t now_us = static_cast<std::uint32_t>(now / 1000);
    std::uint32_t wait_us = static_cast<std::uint32_t>(std::min<std::uint64_t>(
        (srtt_ + wnd) / 1000 + 1, std::numeric_limits<std::int32_t>::max()));
    bool newer_delivered = false;
    for (std::size_t i = rtx_log_n_; i-- > 0;) {
        RtxRecord& r = rtx_log_[i];
        TcpSeq lo = seq_max(r.seq, snd_una_);
        TcpSeq hi = r.seq + std::uint32_t{r.len};
        if (!(lo < hi) || sacked_.covered(lo, hi) == seq_distance(lo, hi)) {
            for (std::size_t j = i + 1; j < rtx_log_n_; ++j)
                rtx_log_[j - 1] = rtx_log_[j];
            --rtx_log_n_;
            newer_delivered = true;
            continue;
        }
        if (newer_delivered || sacked_high > r.mark)
            r.later_delivered = true;
        if (!r.later_delivered || r.lost)
            continue;
        auto late = static_cast<std::int32_t>(now_us - (r.sent_us + wait_us));
        if (late >= 0) {
            r.lost = true;
            counters_.count(TcpEvent::lost_retransmit);
        } else {
            std::uint64_t at =
                now + static_cast<std::uint64_t>(-static_cast<std::int64_t>(late)) * 1000;
            reo_at_ = std::min(reo_at_, at);
        }
    }
}

void Tcb::track_retransmission(TcpSeq seq, std::uint32_t len, std::uint64_t now) {
    // Bounded: when full, the oldest record is forgotten (its loss, if any,
    // is left to the RTO).
    std::size_t cap = s_.rtx_track_segments;
    if (cap == 0)
        return;
    if (rtx_log_n_ >= cap) {
        for (std::size_t j = 1; j < rtx_log_n_; ++j)
            rtx_log_[j - 1] = rtx_log_[j];
        --rtx_log_n_;
    }
    rtx_log_[rtx_log_n_++] =
        RtxRecord{seq,   snd_max_, static_cast<std::uint16_t>(std::min<std::uint32_t>(len, 0xffff)),
                  false, false,    static_cast<std::uint32_t>(now / 1000)};
}

void Tcb::after_ack(bool new_ack, std::uint64_t now) {
    if (tlp_out_ && snd_una_ >= tlp_end_) {
        // RFC 8985 7.4: the probe's episode ends. A resent probe that was
        // not D-SACKed repaired a real loss: reduce cwnd once, as recovery would.
        tlp_out_ = false;
        if (tlp_was_rtx_ && !tlp_dsack_ && !in_recovery_) {
            counters_.count(TcpEvent::tlp_repaired_loss);
            ssthresh_ = std::max<std::uint32_t>(cwnd_ / 2, 2u * eff_mss_);
            cwnd_ = ssthresh_;
        }
    }
    // RFC 8985 7.2: (re)start the probe timer on an ACK for new data.
    if (new_ack)
        arm_tlp(now);
}

void Tcb::note_peer_alive(std::uint64_t now) {
    idle_at_ = s_.idle_timeout_ns != 0 ? now + s_.idle_timeout_ns : kNever;
    keepalive_at_ = s_.keepalive_idle_ns != 0 ? now + s_.keepalive_idle_ns : kNever;
    keepalive_sent_ = 0;
}

void Tcb::advance_una(TcpSeq ack, std::uint64_t now) {
    // SND.UNA advances: new data (or our SYN) acknowledged.
    snd_una_ = ack;
    if (snd_nxt_ < snd_una_)
        snd_nxt_ = snd_una_;
    // RFC 6298 with Karn: only a segment sent once gives a sample.
    if (rtt_timing_ && ack > rtt_seq_) {
        rtt_sample(now - rtt_start_);
        rtt_timing_ = false;
    }
    retries_ = 0;
    // RFC 6298 5.2 and 5.3.
    if (snd_una_ == snd_max_)
        rtx_at_ = kNever;
    else
        arm_rtx(now);
}

void Tcb::take_send_window(const TcpHeader& h, std::uint32_t seg_wnd) {
    snd_wnd_ = seg_wnd;
    max_snd_wnd_ = std::max(max_snd_wnd_, snd_wnd_);
    snd_wl1_ = h.seq;
    snd_wl2_ = h.ack;
}

void Tcb::update_send_window(const TcpHeader& h, std::uint32_t seg_wnd) {
    if (snd_wl1_ < h.seq || (snd_wl1_ == h.seq && snd_wl2_ <= h.ack))
        take_send_window(h, seg_wnd);
}

void Tcb::on_peer_reset() {
    counters_.count(TcpEvent::rst_received);
    events_ |= app_event::kReset;
    snd_buf_.clear();
    enter_closed();
}

void Tcb::refuse_ack(TcpSeq ack) {
    reset_with(ack); // <SEQ=SEG.ACK><CTL=RST>
    counters_.count(TcpEvent::rst_sent);
}

void Tcb::process_text_and_fin(const Segment& seg, std::uint64_t now) {
    const TcpHeader& h = seg.header;
    std::span<const std::uint8_t> data = seg.payload;
    bool fin = h.has(flags::kFin);
    if (data.empty() && !fin)
        return;
    // 3.10.7.4 seventh: only ESTABLISHED and FIN-WAIT-1/2 take text; after
    // the peer's FIN nothing more can come.
    if (!takes_text()) {
        counters_.count(TcpEvent::data_after_fin);
        schedule_ack(now, true);
        return;
    }
    TcpSeq seq = h.seq;
    // Trim what we already have (3.10.7.4 first, "trimmed off").
    if (seq < rcv_nxt_) {
        std::uint32_t skip = seq_distance(seq, rcv_nxt_);
        if (skip > data.size()) {
            data = {};
            fin = false; // a stale FIN: counted in rcv_nxt_ already
        } else {
            data = data.subspan(skip);
        }
        seq = rcv_nxt_;
    }
    // ... and what lies beyond the window (the window is the ring's free space).
    std::uint32_t offset = seq_distance(rcv_nxt_, seq);
    std::uint32_t wnd = rcv_wnd();
    std::uint32_t room = offset < wnd ? wnd - offset : 0;
    if (data.size() > room) {
        counters_.count(TcpEvent::seg_trimmed);
        data = data.first(room);
        fin = false; // the FIN lies beyond the window
    }
    TcpSeq end = seq + static_cast<std::uint32_t>(data.size());
    // The FIN fixes the end of the stream. Held out of order, it bounds later
    // data; a second, different FIN, or one below data already held, is
    // inconsistent and ignored (the held bytes stay, the peer resends).
    if (rcv_fin_pending_ && end > rcv_fin_seq_) {
        counters_.count(TcpEvent::data_after_fin);
        std::uint32_t keep = rcv_fin_seq_ > seq ? seq_distance(seq, rcv_fin_seq_) : 0;
        data = data.first(std::min<std::size_t>(keep, data.size()));
        end = seq + static_cast<std::uint32_t>(data.size());
    }
    if (fin && (rcv_fin_pending_ ? end != rcv_fin_seq_ : ooo_.highest(end) > end)) {
        counters_.count(TcpEvent::data_after_fin);
        fin = false;
    }
    bool out_of_order = seq > rcv_nxt_;
    bool had_gap = !ooo_.empty();
    if (!data.empty() && !queue_text(seq, data)) {
        // Keeping it would need too many ranges: drop, and the duplicate ACK
        // (with SACK blocks) tells the sender what we hold.
        counters_.count(TcpEvent::ooo_ranges_full);
        schedule_ack(now, true);
        return;
    }
    if (fin && !rcv_fin_pending_) {
        rcv_fin_pending_ = true;
        rcv_fin_seq_ = end;
    }
    if (out_of_order)
        counters_.count(TcpEvent::ooo_queued);
    if (rcv_fin_pending_ && rcv_nxt_ == rcv_fin_seq_) {
        rcv_fin_pending_ = false;
        process_fin(now);
        return;
    }
    // RFC 5681 4.2: an out-of-order segment, or one that fills all or part
    // of a gap, is acknowledged at once.
    schedule_ack(now, out_of_order || had_gap);
}

bool Tcb::queue_text(TcpSeq seq, std::span<const std::uint8_t> data) {
    // Contract: RCV.NXT <= seq and the data fits the window (rcv_buf_'s free
    // space, where bytes beyond RCV.NXT are stored at their offset).
    TcpSeq end = seq + static_cast<std::uint32_t>(data.size());
    bool in_order = seq == rcv_nxt_;
    bool joins = ooo_.touches(seq, end);
    if (!in_order && ooo_.size_after_add(seq, end) > s_.max_ooo_ranges)
        return false;
    // Copy only the bytes no range holds yet: the first copy wins, so a
    // different later copy cannot change bytes already received.
    for (TcpSeq cur = ooo_.skip(seq); cur < end; cur = ooo_.skip(cur)) {
        TcpSeq stop = ooo_.next_left(cur, end);
        rcv_buf_.write_at(seq_distance(rcv_nxt_, cur),
                          data.subspan(seq_distance(seq, cur), seq_distance(cur, stop)));
        cur = stop;
        if (!(cur < end))
            break;
    }
    TcpSeq readable_to = end;
    if (!in_order || joins) {
        ooo_.add(seq, end, kMaxOooRanges); // cannot fail: checked above, or it merges
        if (!ooo_.take_from(rcv_nxt_, readable_to))
            return true; // still a hole before it
    }
    // In order, or the hole before held ranges filled: readable at once.
    rcv_buf_.commit(seq_distance(rcv_nxt_, readable_to));
    rcv_nxt_ = readable_to;
    events_ |= app_event::kReadable;
    return true;
}

void Tcb::process_fin(std::uint64_t now) {
    // 3.10.7.4 eighth: FIN.
    rcv_nxt_ += 1;
    events_ |= app_event::kPeerClosed;
    switch (state_) {
    case TcpState::established:
        state_ = TcpState::close_wait;
        break;
    case TcpState::fin_wait_1:
        if (fin_acked())
            enter_time_wait(now);
        else
            state_ = TcpState::closing; // simultaneous close
        break;
    case TcpState::fin_wait_2:
        enter_time_wait(now);
        break;
    default:
        break;
    }
    schedule_ack(now, true);
}

void Tcb::schedule_ack(std::uint64_t now, bool immediate) {
    // RFC 1122 4.2.3.2 / RFC 5681 4.2: delay at most delayed_ack_ns, and ack
    // at least every second segment.
    if (immediate || s_.delayed_ack_ns == 0) {
        ack_now_ = true;
        return;
    }
    if (++unacked_segments_ >= 2) {
        ack_now_ = true;
        return;
    }
    if (delack_at_ == kNever)
        delack_at_ = now + s_.delayed_ack_ns;
}

void Tcb::challenge_ack(std::uint64_t now) {
    // RFC 5961 7: at most challenge_ack_limit per interval, per connection.
    if (now - challenge_window_start_ >= s_.challenge_ack_interval_ns) {
        challenge_window_start_ = now;
        challenge_count_ = 0;
    }
    if (challenge_count_ >= s_.challenge_ack_limit) {
        counters_.count(TcpEvent::challenge_ack_limited);
        return;
    }
    ++challenge_count_;
    ack_now_ = true;
}

} // namespace smtpgw::tcp
