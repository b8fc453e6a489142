// tcp_tcb.cc: control block setup, application calls and state changes.
// RFCs: 9293 3.10.1-3.10.5 (OPEN, SEND, RECEIVE, CLOSE, ABORT), 7323 2.2,
// 4987 3.6 (a connection created from a SYN cookie's final ACK).
// Security: see tcp_tcb.h. Buffers are released in TIME-WAIT and CLOSED. Input is in tcp_input.cc,
// output in tcp_output.cc, timers in tcp_timers.cc.
#include "tcp/tcp_tcb.h"

#include <algorithm>
#include <array>

#include "tcp/tcp_syncookie.h"

namespace smtpgw::tcp {

namespace {
// Indexed by TcpState.
constexpr std::array<std::string_view, 11> kStateNames{
    "CLOSED",     "LISTEN",     "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1",
    "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING",  "LAST-ACK",     "TIME-WAIT",
};
static_assert(kStateNames.size() == static_cast<std::size_t>(TcpState::time_wait) + 1);
} // namespace

std::string_view state_name(TcpState s) {
    auto i = static_cast<std::size_t>(s);
    return i < kStateNames.size() ? kStateNames[i] : "?";
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
      eff_mss_(std::min(settings.default_peer_mss, settings.mss)), rto_(settings.rto_initial_ns) {
    my_wscale_ = offered_window_scale(s_);
    // The fixed arrays bound the settings.
    s_.max_ooo_ranges = std::min<std::uint32_t>(s_.max_ooo_ranges, kMaxOooRanges);
    s_.sack_scoreboard_ranges =
        std::min<std::uint32_t>(s_.sack_scoreboard_ranges, kMaxSackScoreboard);
    s_.rtx_track_segments = std::min<std::uint32_t>(s_.rtx_track_segments, kMaxRtxTrack);
}

void Tcb::open(TcpState state, TcpSeq iss, std::uint32_t ts_offset) {
    state_ = state;
    iss_ = iss;
    snd_una_ = snd_nxt_ = snd_max_ = iss;
    snd_buf_seq_ = iss + 1;
    ts_offset_ = ts_offset;
}

void Tcb::listen(TcpSeq iss, std::uint32_t ts_offset) {
    open(TcpState::listen, iss, ts_offset);
}

void Tcb::connect(TcpSeq iss, std::uint64_t now, std::uint32_t ts_offset) {
    (void)now; // the SYN and its timer start in next_segment()
    open(TcpState::syn_sent, iss, ts_offset);
}

void Tcb::accept_cookie(const SynCookieAccepted& c, const Segment& ack, std::uint64_t now,
                        std::uint32_t ts_offset) {
    open(TcpState::listen, c.iss, ts_offset);
    // The peer's SYN as far as the cookie remembers it; TS.Recent comes from
    // this ACK (its TSval is at least the SYN's, RFC 7323 4.3).
    TcpHeader syn;
    syn.seq = c.irs;
    syn.flags = flags::kSyn;
    syn.options.mss = c.mss;
    syn.options.window_scale = c.peer_wscale;
    syn.options.sack_permitted = c.sack_permitted;
    if (c.timestamps && ack.header.options.timestamps)
        syn.options.timestamps = Timestamps{ack.header.options.timestamps->value, 0};
    accept_syn(syn); // our shift is my_wscale_ = offered_window_scale(s_), as the cookie's
    enter_syn_received();
    // Our SYN-ACK <SEQ=ISS><ACK=RCV.NXT> went out (from the cookie code).
    snd_nxt_ = snd_max_ = iss_ + 1;
    last_ack_sent_ = rcv_nxt_;
    rcv_adv_ = rcv_nxt_ + window_to_advertise(true);
    // 3.10.7.4 as for SYN-RECEIVED: the ACK establishes, its text is taken.
    input_synchronized(ack, now);
    if (state_ == TcpState::syn_received) {
        // Refused (a RST is pending): there is no real SYN-RECEIVED to stay in.
        enter_closed();
    }
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
    std::size_t n = rcv_buf_.read(out); // the window grows by n
    if (n > 0 && (state_ == TcpState::time_wait || state_ == TcpState::closed))
        release_buffers(); // the last bytes were read: free the ring
    else if (ooo_.empty())
        rcv_buf_.trim(); // drained and no out-of-order bytes held: free it until data comes
    // RFC 1122 4.2.3.3: announce a reopened window once it grew by a full
    // segment or half the buffer, whichever is smaller (receiver SWS).
    std::uint32_t advertised = rcv_adv_ > rcv_nxt_ ? seq_distance(rcv_nxt_, rcv_adv_) : 0;
    std::uint32_t threshold = std::min<std::uint32_t>(eff_mss_, s_.recv_buffer_bytes / 2);
    if (n > 0 && takes_text() && rcv_wnd() > advertised && rcv_wnd() - advertised >= threshold)
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
        reset_with(snd_max_);
        break;
    default:
        break;
    }
    snd_buf_.clear();
    rcv_buf_.clear();
    if (state_ != TcpState::closed)
        enter_closed();
}

void Tcb::reset_with(TcpSeq seq) {
    // <SEQ=seq><CTL=RST>, sent by the next next_segment().
    rst_seq_ = seq;
    rst_ack_ = TcpSeq(0);
    rst_flags_ = flags::kRst;
    rst_pending_ = true;
}

void Tcb::enter_established(std::uint64_t now) {
    state_ = TcpState::established;
    events_ |= app_event::kEstablished;
    note_peer_alive(now); // the idle and keepalive clocks start
    if (fin_queued_)
        state_ = TcpState::fin_wait_1; // close() was called in SYN-RECEIVED
}

void Tcb::enter_time_wait(std::uint64_t now) {
    state_ = TcpState::time_wait;
    rtx_at_ = persist_at_ = delack_at_ = idle_at_ = keepalive_at_ = reo_at_ = tlp_at_ = kNever;
    state_at_ = now + s_.time_wait_ns;
    release_buffers();
}

void Tcb::enter_closed() {
    state_ = TcpState::closed;
    rtx_at_ = persist_at_ = delack_at_ = state_at_ = idle_at_ = keepalive_at_ = kNever;
    reo_at_ = tlp_at_ = kNever;
    ack_now_ = retransmit_one_ = tlp_now_ = probe_now_ = false;
    events_ |= app_event::kClosed;
    release_buffers();
}

void Tcb::release_buffers() {
    // TIME-WAIT and CLOSED send no more data (in TIME-WAIT all of it, FIN
    // included, was acknowledged) and take none: a table of such TCBs should
    // not cost two buffers each. Unread received bytes stay until receive()
    // has drained them.
    ooo_.clear();
    rcv_fin_pending_ = false;
    sacked_.clear();
    snd_buf_.release();
    if (rcv_buf_.empty())
        rcv_buf_.release();
}

} // namespace smtpgw::tcp
