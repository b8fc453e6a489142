// tcp_output.cc: what the control block transmits, one segment per call.
//
// Purpose: next_segment() decides the next segment in priority order: a
// pending RST, SYN or SYN-ACK, a tail loss probe, in SACK loss recovery
// RFC 6675's NextSeg under the pipe estimate (lost retransmissions, lost
// holes, new data, other holes), otherwise a fast retransmission of
// SND.UNA; then a window or keepalive probe, new or resent data (and FIN)
// within min(SND.WND, cwnd plus limited transmit), and a pure ACK. Headers
// are described as TcpHeader; payload is a view into the send buffer.
// RFCs: 9293 3.8.6 (window management), 1122 4.2.3.4 (sender SWS
// avoidance; Nagle is not applied: SMTP is request/response), 7323 (TSval,
// TSecr, scaled windows), 6298 5.1 (start the timer with the first send),
// 2018 4 (SACK blocks, most recent first), 3042 (limited transmit), 6675 4-5
// (IsLost, SetPipe, NextSeg rules 1-3 over the range scoreboard), 8985 6.2
// and 7.3 (resending lost retransmissions; the probe's contents).
// Security: never sends beyond the peer's window except a FIN, a
// zero-window probe or a probe that resends the last segment; retransmits
// only below SND.MAX; every ACK advertises only free receive-buffer space.
// SACKed ranges only ever skip bytes; the cumulative ACK decides what is
// resent first, so a lying peer can delay, not prevent, its data.
#include <algorithm>

#include "tcp/tcp_tcb.h"

namespace smtpgw::tcp {

std::uint32_t Tcb::ts_now(std::uint64_t now) const {
    return static_cast<std::uint32_t>(now / s_.ts_tick_ns) + ts_offset_;
}

std::uint16_t Tcb::window_to_advertise(bool syn) const {
    // RFC 7323 2.2: the window on a SYN is never scaled.
    std::uint32_t w = syn ? rcv_wnd() : rcv_wnd() >> rcv_wscale_;
    return static_cast<std::uint16_t>(std::min<std::uint32_t>(w, 0xffff));
}

void Tcb::fill_common(OutSegment& out, TcpSeq seq, std::uint8_t flag_bits, std::uint64_t now) {
    out = OutSegment{};
    TcpHeader& h = out.header;
    h.src_port = local_port_;
    h.dst_port = remote_port_;
    h.seq = seq;
    h.flags = flag_bits;
    if ((flag_bits & flags::kAck) != 0)
        h.ack = rcv_nxt_;
    h.window = window_to_advertise((flag_bits & flags::kSyn) != 0);
    if (ts_enabled_)
        h.options.timestamps = Timestamps{ts_now(now), ts_recent_};
    if (sack_enabled_ && (flag_bits & flags::kAck) != 0 && !ooo_.empty()) {
        // RFC 2018 4: the ranges we hold, most recently changed first; three
        // fit beside timestamps in 40 option bytes, four without.
        std::size_t fit = ts_enabled_ ? 3 : kMaxSackBlocks;
        std::size_t n = std::min(ooo_.size(), fit);
        for (std::size_t i = 0; i < n; ++i)
            h.options.sack[i] = SackBlock{ooo_[i].left, ooo_[i].right};
        h.options.sack_count = static_cast<std::uint8_t>(n);
    }
}

void Tcb::fill_syn(OutSegment& out, bool with_ack, std::uint64_t now) {
    fill_common(out, iss_, flags::kSyn | (with_ack ? flags::kAck : 0), now);
    TcpOptions& o = out.header.options;
    o.mss = s_.mss;
    if (with_ack) {
        // SYN-ACK: only what the peer's SYN offered (RFC 7323 1.3, 2.2).
        if (ws_enabled_)
            o.window_scale = my_wscale_;
        o.sack_permitted = sack_enabled_;
    } else {
        if (s_.window_scaling)
            o.window_scale = my_wscale_;
        o.sack_permitted = s_.sack;
        if (s_.timestamps)
            o.timestamps = Timestamps{ts_now(now), 0};
    }
}

std::uint32_t Tcb::fill_data(OutSegment& out, TcpSeq seq, std::uint32_t max_len,
                             std::uint64_t now) {
    fill_common(out, seq, flags::kAck, now);
    // eff_mss_ allows for timestamps only: SACK blocks (4 + 8 per block
    // option bytes) come out of the payload so the segment still fits.
    std::uint32_t sack_bytes =
        out.header.options.sack_count ? 4u + 8u * out.header.options.sack_count : 0u;
    std::uint32_t room = eff_mss_ > sack_bytes + 8 ? eff_mss_ - sack_bytes : 8;
    max_len = std::min(max_len, room);
    std::uint32_t offset = seq_distance(snd_buf_seq_, seq);
    std::uint32_t size = static_cast<std::uint32_t>(snd_buf_.size());
    std::uint32_t len = offset < size ? std::min(max_len, size - offset) : 0;
    out.payload = snd_buf_.peek(offset, len);
    bool reaches_end = seq + len == data_end();
    if (len > 0 && reaches_end)
        out.header.flags |= flags::kPsh;
    if (fin_queued_ && reaches_end) {
        out.header.flags |= flags::kFin;
        return len + 1;
    }
    return len;
}

void Tcb::after_send(const OutSegment& out, std::uint32_t seq_len, std::uint64_t now) {
    const TcpHeader& h = out.header;
    if (seq_len > 0) {
        TcpSeq end = h.seq + seq_len;
        if (end > snd_nxt_)
            snd_nxt_ = end;
        if (end > snd_max_) {
            // RFC 6298 with Karn: time one segment sent for the first time.
            if (!rtt_timing_ && h.seq >= snd_max_) {
                rtt_timing_ = true;
                rtt_seq_ = h.seq;
                rtt_start_ = now;
            }
            snd_max_ = end;
            arm_tlp(now); // RFC 8985 7.2: (re)start PTO after new data
        }
        if (rtx_at_ == kNever)
            arm_rtx(now); // RFC 6298 5.1
    }
    if (h.has(flags::kAck)) {
        ack_now_ = false;
        unacked_segments_ = 0;
        delack_at_ = kNever;
        last_ack_sent_ = rcv_nxt_;
        std::uint32_t shift = h.has(flags::kSyn) ? 0 : rcv_wscale_;
        rcv_adv_ = rcv_nxt_ + (std::uint32_t{h.window} << shift);
    }
}

bool Tcb::try_send_data(OutSegment& out, std::uint32_t cc_room, std::uint64_t now) {
    TcpSeq end = data_end();
    std::uint32_t sacked_gap = 0xffffffffu;
    if (snd_nxt_ < snd_max_ && !sacked_.empty()) {
        // Resending after an RTO: skip what the peer SACKed since (the
        // scoreboard was cleared at the timeout, RFC 2018 8), and stop at the
        // next SACKed range.
        snd_nxt_ = sacked_.skip(snd_nxt_);
        TcpSeq next = sacked_.next_left(snd_nxt_, snd_max_);
        if (next < snd_max_)
            sacked_gap = seq_distance(snd_nxt_, next);
    }
    std::uint32_t unsent = snd_nxt_ < end ? seq_distance(snd_nxt_, end) : 0;
    // The peer's window, and what congestion control allows (`cc_room`).
    TcpSeq wnd_end = snd_una_ + snd_wnd_;
    std::uint32_t usable = wnd_end > snd_nxt_ ? seq_distance(snd_nxt_, wnd_end) : 0;
    usable = std::min(usable, cc_room);
    std::uint32_t len = std::min({unsent, usable, std::uint32_t{eff_mss_}, sacked_gap});
    bool go;
    if (unsent > 0) {
        // RFC 1122 4.2.3.4: send a full segment, all that is left, or at
        // least half the largest window the peer offered.
        go = len > 0 &&
             (len >= eff_mss_ || len >= unsent || len >= max_snd_wnd_ / 2 || len == sacked_gap);
    } else {
        // A FIN alone goes out even into a closed window; the peer acks or drops it.
        go = fin_queued_ && snd_nxt_ <= end;
    }
    // Data held back by the window starts the persist timer; anything else stops it.
    update_persist(now, unsent > 0 && !go);
    if (!go)
        return false;
    std::uint32_t seq_len = fill_data(out, snd_nxt_, len, now);
    after_send(out, seq_len, now);
    return true;
}

std::uint32_t Tcb::cwnd_room() const {
    // Outside SACK recovery: SND.UNA + cwnd bounds SND.NXT. RFC 3042: the
    // first and second duplicate ACKs each allow one more segment of new
    // data (FlightSize <= cwnd + 2 * SMSS), cwnd itself unchanged.
    TcpSeq end = snd_una_ + cwnd_;
    if (s_.limited_transmit && !in_recovery_ && dupacks_ > 0 && snd_nxt_ == snd_max_)
        end += std::min(dupacks_, kDupThresh - 1) * std::uint32_t{eff_mss_};
    return end > snd_nxt_ ? seq_distance(snd_nxt_, end) : 0;
}

bool Tcb::can_send_new_segment(bool ignore_cwnd) const {
    // New data (or a FIN not yet sent) and room for it in the peer's window
    // and, unless ignored, in cwnd (RFC 5827 "no new data can be sent").
    bool unsent = snd_nxt_ < data_end() || (fin_queued_ && snd_max_ <= data_end());
    if (!unsent || snd_nxt_ != snd_max_)
        return false;
    if (snd_nxt_ < data_end() && !(snd_nxt_ < snd_una_ + snd_wnd_))
        return false;
    return ignore_cwnd || cwnd_room() > 0;
}

TcpSeq Tcb::loss_line() const {
    // RFC 6675 4 IsLost: an unSACKed byte is lost once more than
    // (DupThresh - 1) * SMSS bytes, or DupThresh ranges, are SACKed above it.
    // Holes lie between ranges, so walking the ranges from the highest
    // down, the left edge where either count is reached bounds the lost
    // holes. Early retransmit and RACK-style marking may raise the line.
    std::array<SeqRange, kMaxSackScoreboard> r{};
    std::size_t n = sacked_.size();
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t j = i;
        for (; j > 0 && r[j - 1].left < sacked_[i].left; --j)
            r[j] = r[j - 1];
        r[j] = sacked_[i];
    }
    TcpSeq line = snd_una_;
    std::uint32_t bytes = 0;
    for (std::size_t i = 0; i < n; ++i) {
        bytes += seq_distance(r[i].left, r[i].right);
        if (bytes > (kDupThresh - 1) * std::uint32_t{eff_mss_} || i + 1 >= kDupThresh) {
            line = seq_max(r[i].left, snd_una_);
            break;
        }
    }
    if (in_recovery_ && lost_below_ > line)
        line = lost_below_;
    return line;
}

std::uint32_t Tcb::pipe() const {
    // RFC 6675 4 SetPipe over ranges: every unSACKed byte counts once if it
    // is not lost, once more if it was retransmitted; a retransmission found
    // lost counts no more.
    auto unsacked = [this](TcpSeq a, TcpSeq b) -> std::uint32_t {
        return a < b ? seq_distance(a, b) - sacked_.covered(a, b) : 0;
    };
    TcpSeq line = loss_line();
    TcpSeq high_rxt = seq_max(rtx_high_, snd_una_);
    std::uint64_t p = unsacked(snd_una_, snd_max_);
    p -= unsacked(snd_una_, line);
    p += unsacked(snd_una_, high_rxt);
    for (std::size_t i = 0; i < rtx_log_n_; ++i) {
        const RtxRecord& r = rtx_log_[i];
        if (r.lost) {
            std::uint32_t gone = unsacked(seq_max(r.seq, snd_una_), r.seq + std::uint32_t{r.len});
            p = p > gone ? p - gone : 0;
        }
    }
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(p, 0xffffffffu));
}

bool Tcb::retransmit_at(OutSegment& out, TcpSeq seq, std::uint64_t now) {
    // Resends from `seq` up to one MSS, stopping at the next SACKed range
    // and never beyond SND.MAX.
    if (!(snd_una_ <= seq && seq < snd_max_))
        return false;
    std::uint32_t len =
        std::min<std::uint32_t>(eff_mss_, seq_distance(seq, sacked_.next_left(seq, snd_max_)));
    std::uint32_t seq_len = fill_data(out, seq, len, now);
    if (seq_len == 0)
        return false;    // nothing there (the FIN alone is resent by try_send_data)
    rtt_timing_ = false; // Karn
    after_send(out, seq_len, now);
    if (seq + seq_len > rtx_high_)
        rtx_high_ = seq + seq_len;
    if (sack_recovery_) {
        track_retransmission(seq, seq_len, now);
        arm_tlp(now); // recovery's own tail: see arm_tlp
    }
    return true;
}

bool Tcb::recovery_send(OutSegment& out, std::uint64_t now) {
    // RFC 6675 5 step 4.3: the first lost segment goes at once.
    if (retransmit_one_) {
        retransmit_one_ = false;
        if (retransmit_at(out, sacked_.skip(seq_max(snd_una_, rtx_high_)), now))
            return true;
    }
    // RFC 6675 5 (C): while cwnd - pipe >= 1 SMSS, NextSeg.
    std::uint32_t in_flight = pipe();
    if (in_flight + eff_mss_ > cwnd_)
        return false;
    // RFC 8985 6.2: a retransmission found lost is resent before anything
    // else (the oldest first; the record moves to the end: sent last).
    for (std::size_t i = 0; i < rtx_log_n_; ++i) {
        if (!rtx_log_[i].lost)
            continue;
        RtxRecord r = rtx_log_[i];
        for (std::size_t j = i + 1; j < rtx_log_n_; ++j)
            rtx_log_[j - 1] = rtx_log_[j];
        --rtx_log_n_;
        TcpSeq seq = sacked_.skip(seq_max(r.seq, snd_una_));
        if (seq < r.seq + std::uint32_t{r.len} && retransmit_at(out, seq, now))
            return true;
    }
    // NextSeg rule 1: the first unSACKed byte above HighRxt that IsLost.
    TcpSeq seq = sacked_.skip(seq_max(snd_una_, rtx_high_));
    if (seq < loss_line() && retransmit_at(out, seq, now)) {
        counters_.count(TcpEvent::sack_hole_retransmit);
        return true;
    }
    // Rule 2: new data, as far as the window and cwnd - pipe allow.
    if (try_send_data(out, cwnd_ - in_flight, now))
        return true;
    // Rule 3: nothing new to send: a hole below the highest SACKed byte,
    // not yet known lost.
    if (seq < sacked_.highest_left(snd_una_) && retransmit_at(out, seq, now)) {
        counters_.count(TcpEvent::sack_hole_retransmit);
        return true;
    }
    return false;
}

bool Tcb::send_probe(OutSegment& out, std::uint64_t now) {
    // RFC 8985 7.3: new data if the peer's window takes it (cwnd aside),
    // otherwise the highest-sequence segment sent.
    TcpSeq seq;
    std::uint32_t seq_len;
    if (can_send_new_segment(true)) {
        seq = snd_nxt_;
        std::uint32_t unsent = snd_nxt_ < data_end() ? seq_distance(snd_nxt_, data_end()) : 0;
        TcpSeq wnd_end = snd_una_ + snd_wnd_;
        std::uint32_t room = wnd_end > snd_nxt_ ? seq_distance(snd_nxt_, wnd_end) : 0;
        seq_len = fill_data(out, seq, std::min({unsent, room, std::uint32_t{eff_mss_}}), now);
        tlp_was_rtx_ = false;
    } else {
        // The highest segment the peer has not SACKed (RFC 8985 says the
        // highest sent; resending SACKed bytes would teach nothing).
        TcpSeq data_to = seq_min(snd_max_, data_end());
        TcpSeq floor = snd_una_;
        for (std::size_t i = 0; i < sacked_.size(); ++i) {
            if (sacked_[i].left < data_to && data_to <= sacked_[i].right)
                data_to = sacked_[i].left; // ranges never touch: one pass lowers it once
        }
        for (std::size_t i = 0; i < sacked_.size(); ++i)
            if (sacked_[i].right < data_to)
                floor = seq_max(floor, sacked_[i].right);
        std::uint32_t len =
            data_to > floor ? std::min<std::uint32_t>(eff_mss_, seq_distance(floor, data_to)) : 0;
        seq = data_to - len;
        if (len == 0)
            seq = seq_min(snd_max_, data_end()); // only the FIN is outstanding
        seq_len = fill_data(out, seq, len, now);
        rtt_timing_ = false; // Karn
        tlp_was_rtx_ = true;
    }
    if (seq_len == 0)
        return false;
    after_send(out, seq_len, now);
    tlp_out_ = true;
    tlp_dsack_ = false;
    tlp_seq_ = seq;
    tlp_end_ = snd_max_;
    arm_rtx(now); // RFC 8985 7.3: the RTO restarts from the probe
    return true;
}

bool Tcb::send_ack(OutSegment& out, TcpSeq seq, std::uint64_t now) {
    fill_common(out, seq, flags::kAck, now);
    after_send(out, 0, now);
    return true;
}

bool Tcb::next_segment(std::uint64_t now, OutSegment& out) {
    if (rst_pending_) {
        out = OutSegment{};
        out.header.src_port = local_port_;
        out.header.dst_port = remote_port_;
        out.header.seq = rst_seq_;
        out.header.ack = rst_ack_;
        out.header.flags = rst_flags_;
        rst_pending_ = false;
        return true;
    }
    switch (state_) {
    case TcpState::closed:
    case TcpState::listen:
        return false;
    case TcpState::syn_sent:
    case TcpState::syn_received: {
        // Our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED), sent again after SND.NXT = ISS.
        bool syn_ack = state_ == TcpState::syn_received;
        if (snd_nxt_ == iss_) {
            fill_syn(out, syn_ack, now);
            after_send(out, 1, now);
            return true;
        }
        if (!syn_ack)
            return false;
        break; // SYN-RECEIVED: at most a pure ACK
    }
    default:
        break;
    }
    if (can_send_data()) {
        if (tlp_now_) {
            tlp_now_ = false;
            if (send_probe(out, now))
                return true;
        }
        bool sack_recovery = in_recovery_ && sack_recovery_;
        if (sack_recovery) {
            if (recovery_send(out, now))
                return true;
        } else if (retransmit_one_) {
            // RFC 5681 3.2 step 4 / RFC 6582 partial ACK: resend SND.UNA.
            retransmit_one_ = false;
            if (retransmit_at(out, snd_una_, now))
                return true;
        }
        if (probe_now_) {
            // RFC 9293 3.8.6.1: a zero-length segment below SND.UNA makes the
            // peer answer with its current window.
            probe_now_ = false;
            return send_ack(out, snd_una_ - 1, now);
        }
        if (!sack_recovery) {
            TcpSeq cwnd_end = snd_una_ + cwnd_;
            if (try_send_data(out, cwnd_room(), now)) {
                if (out.header.seq + static_cast<std::uint32_t>(out.payload.size()) > cwnd_end)
                    counters_.count(TcpEvent::limited_transmit);
                return true;
            }
        }
    }
    if (!ack_now_)
        return false;
    // A pure ACK carries SND.MAX, not SND.NXT (as BSD): while resending
    // after an RTO, SND.NXT lies below what the peer already has, and an ACK
    // with that sequence number would be unacceptable to it (RFC 9293
    // 3.10.7.4 first), so both ends could drop each other's ACKs for good.
    return send_ack(out, snd_max_, now);
}

} // namespace smtpgw::tcp
