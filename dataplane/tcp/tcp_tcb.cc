// tcp_tcb.cc: control block setup, application calls and state changes.
// RFCs: 9293 3.10.1-3.10.5 (OPEN, SEND, RECEIVE, CLOSE, ABORT), 7323 2.2.
// Security: see tcp_tcb.h. Input is in tcp_input.cc, output in
// tcp_output.cc, timers in tcp_timers.cc.
#include "tcp/tcp_tcb.h"

#include <algorithm>

namespace smtpgw::tcp {

std::string_view state_name(TcpState s) {
    switch (s) {
    case TcpState::closed:
        return "CLOSED";
    case TcpState::listen:
        return "LISTEN";
    case TcpState::syn_sent:
        return "SYN-SENT";
    case TcpState::syn_received:
        return "SYN-RECEIVED";
    case TcpState::established:
        return "ESTABLISHED";
    case TcpState::fin_wait_1:
        return "FIN-WAIT-1";
    case TcpState::fin_wait_2:
        return "FIN-WAIT-2";
    case TcpState::close_wait:
        return "CLOSE-WAIT";
    case TcpState::closing:
        return "CLOSING";
    case TcpState::last_ack:
        return "LAST-ACK";
    case TcpState::time_wait:
        return "TIME-WAIT";
    }
    return "?";
}

bool make_reset_for(const Segment& seg, TcpHeader& out) {
    // RFC 9293 3.10.7.1: never answer a RST; otherwise
    //   ACK off: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
    //   ACK on:  <SEQ=SEG.ACK><CTL=RST>
    if (seg.header.has(flags::kRst))
        return false;
    out = TcpHeader{};
    out.src_port = seg.header.dst_port;
    out.dst_port = seg.header.src_port;
    if (seg.header.has(flags::kAck)) {
        out.seq = seg.header.ack;
        out.flags = flags::kRst;
    } else {
        out.seq = TcpSeq(0);
        out.ack = seg.header.seq + seg.seg_len();
        out.flags = flags::kRst | flags::kAck;
    }
    return true;
}

Tcb::Tcb(const TcpSettings& settings, TcpCounters& counters, std::uint16_t local_port,
         std::uint16_t remote_port)
    : s_(settings), counters_(counters), local_port_(local_port), remote_port_(remote_port),
      snd_buf_(settings.send_buffer_bytes), rcv_buf_(settings.recv_buffer_bytes),
      rto_(settings.rto_initial_ns) {
    // RFC 7323 2.3: the smallest shift that lets the whole buffer be advertised.
    std::uint32_t space = s_.recv_buffer_bytes;
    while (my_wscale_ < kMaxWindowScale && (space >> my_wscale_) > 0xffff)
        ++my_wscale_;
    peer_mss_ = s_.default_peer_mss;
    eff_mss_ = std::min(peer_mss_, s_.mss);
}

void Tcb::listen(TcpSeq iss, std::uint32_t ts_offset) {
    state_ = TcpState::listen;
    iss_ = iss;
    snd_una_ = snd_nxt_ = snd_max_ = iss;
    snd_buf_seq_ = iss + 1;
    ts_offset_ = ts_offset;
}

void Tcb::connect(TcpSeq iss, std::uint64_t now, std::uint32_t ts_offset) {
    (void)now; // the SYN and its timer start in next_segment()
    state_ = TcpState::syn_sent;
    iss_ = iss;
    snd_una_ = snd_nxt_ = snd_max_ = iss;
    snd_buf_seq_ = iss + 1;
    ts_offset_ = ts_offset;
    ws_offered_ = s_.window_scaling;
    ts_offered_ = s_.timestamps;
}

std::uint32_t Tcb::take_events() {
    std::uint32_t e = events_;
    events_ = 0;
    return e;
}

std::size_t Tcb::send(std::span<const std::uint8_t> data) {
    // RFC 9293 3.10.2: queued in SYN-SENT/SYN-RECEIVED, sent once established.
    switch (state_) {
    case TcpState::syn_sent:
    case TcpState::syn_received:
    case TcpState::established:
    case TcpState::close_wait:
        break;
    default:
        return 0;
    }
    if (fin_queued_)
        return 0;
    std::size_t n = snd_buf_.write(data);
    if (n < data.size())
        counters_.count(TcpEvent::send_buffer_full);
    return n;
}

std::size_t Tcb::receive(std::span<std::uint8_t> out) {
    std::uint32_t before = rcv_wnd();
    std::size_t n = rcv_buf_.read(out);
    // RFC 1122 4.2.3.3: announce a reopened window once it grew by a full
    // segment or half the buffer, whichever is smaller (receiver SWS).
    std::uint32_t advertised = rcv_adv_ > rcv_nxt_ ? seq_distance(rcv_nxt_, rcv_adv_) : 0;
    std::uint32_t threshold = std::min<std::uint32_t>(eff_mss_, s_.recv_buffer_bytes / 2);
    bool synchronized = state_ == TcpState::established || state_ == TcpState::fin_wait_1 ||
                        state_ == TcpState::fin_wait_2;
    if (n > 0 && synchronized && rcv_wnd() > before && rcv_wnd() - advertised >= threshold &&
        rcv_wnd() > advertised)
        ack_now_ = true;
    return n;
}

void Tcb::close() {
    // RFC 9293 3.10.4
    switch (state_) {
    case TcpState::listen:
    case TcpState::syn_sent:
        enter_closed();
        break;
    case TcpState::syn_received: // FIN queued until ESTABLISHED
        fin_queued_ = true;
        break;
    case TcpState::established:
        fin_queued_ = true;
        state_ = TcpState::fin_wait_1;
        break;
    case TcpState::close_wait:
        fin_queued_ = true;
        state_ = TcpState::last_ack;
        break;
    default:
        break; // already closing: "error: connection closing"
    }
}

void Tcb::abort() {
    // RFC 9293 3.10.5: synchronized states send <SEQ=SND.NXT><CTL=RST>.
    switch (state_) {
    case TcpState::syn_received:
    case TcpState::established:
    case TcpState::fin_wait_1:
    case TcpState::fin_wait_2:
    case TcpState::close_wait:
        reset_with(snd_max_, TcpSeq(0), false);
        break;
    default:
        break;
    }
    snd_buf_.clear();
    rcv_buf_.clear();
    if (state_ != TcpState::closed)
        enter_closed();
}

void Tcb::reset_with(TcpSeq seq, TcpSeq ack, bool with_ack) {
    rst_ = TcpHeader{};
    rst_.src_port = local_port_;
    rst_.dst_port = remote_port_;
    rst_.seq = seq;
    rst_.ack = ack;
    rst_.flags = flags::kRst | (with_ack ? flags::kAck : 0);
    rst_pending_ = true;
}

void Tcb::enter_established() {
    state_ = TcpState::established;
    events_ |= app_event::kEstablished;
    if (fin_queued_)
        state_ = TcpState::fin_wait_1; // close() was called in SYN-RECEIVED
}

void Tcb::enter_time_wait(std::uint64_t now) {
    state_ = TcpState::time_wait;
    rtx_at_ = persist_at_ = delack_at_ = kNever;
    state_at_ = now + s_.time_wait_ns;
}

void Tcb::enter_closed() {
    state_ = TcpState::closed;
    rtx_at_ = persist_at_ = delack_at_ = state_at_ = kNever;
    ack_now_ = retransmit_one_ = probe_now_ = false;
    events_ |= app_event::kClosed;
}

} // namespace smtpgw::tcp
