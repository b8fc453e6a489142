// tcp_lab_services.cc: echo, discard, chargen and relay (see tcp_lab_services.h).
#include "tcp/tcp_lab_services.h"

#include <algorithm>

namespace smtpgw::tcp {

namespace {
// Per-connection flags kept in the stack's user value.
constexpr std::uintptr_t kPeerDone = 1; // FIN received
constexpr std::uintptr_t kWeClosed = 2; // close() called

void drain(TcpStack& stack, ConnRef c, std::span<std::uint8_t> scratch) {
    while (stack.receive(c, scratch) > 0) {
    }
}
} // namespace

std::size_t pump(TcpStack& stack, ConnRef from, ConnRef to, std::span<std::uint8_t> scratch) {
    std::size_t moved = 0;
    for (;;) {
        std::size_t n = std::min({stack.readable(from), stack.send_space(to), scratch.size()});
        if (n == 0)
            return moved;
        std::size_t got = stack.receive(from, scratch.first(n));
        std::size_t sent = stack.send(to, scratch.first(got));
        moved += sent;
        if (sent < got || got == 0)
            return moved; // cannot happen: space was checked; never loop on it
    }
}

void EchoService::on_events(TcpStack& stack, ConnRef c, std::uint32_t events, std::uint64_t) {
    if (events & (app_event::kReset | app_event::kTimedOut | app_event::kClosed))
        return;
    std::uintptr_t f = stack.user(c);
    if (events & app_event::kPeerClosed)
        f |= kPeerDone;
    pump(stack, c, c, scratch_);
    // Half-close: the client's FIN ends the input; we close once all of it
    // has been echoed into the send buffer.
    if ((f & kPeerDone) && !(f & kWeClosed) && stack.readable(c) == 0) {
        f |= kWeClosed;
        stack.close(c);
    }
    stack.set_user(c, f);
}

void DiscardService::on_events(TcpStack& stack, ConnRef c, std::uint32_t events, std::uint64_t) {
    if (events & (app_event::kReset | app_event::kTimedOut | app_event::kClosed))
        return;
    drain(stack, c, scratch_);
    if ((events & app_event::kPeerClosed) && !(stack.user(c) & kWeClosed)) {
        stack.set_user(c, kWeClosed);
        stack.close(c);
    }
}

ChargenService::ChargenService() {
    for (std::size_t i = 0; i < pattern_.size(); ++i)
        pattern_[i] = static_cast<std::uint8_t>(i % kChargenPeriod);
}

void ChargenService::on_events(TcpStack& stack, ConnRef c, std::uint32_t events,
                               std::uint64_t) {
    if (events & (app_event::kReset | app_event::kTimedOut | app_event::kClosed))
        return;
    std::array<std::uint8_t, 4096> sink{};
    drain(stack, c, sink);
    // The user value is the stream offset, shifted past the flag bit.
    std::uintptr_t v = stack.user(c);
    if (v & kWeClosed)
        return;
    if (events & app_event::kPeerClosed) { // the reader is done: stop the stream
        stack.set_user(c, v | kWeClosed);
        stack.close(c);
        return;
    }
    std::uintptr_t offset = v >> 2;
    for (;;) {
        std::size_t space = std::min<std::size_t>(stack.send_space(c), 16384);
        if (space == 0)
            break;
        std::size_t at = offset % kChargenPeriod;
        std::size_t sent = stack.send(c, std::span<const std::uint8_t>(pattern_).subspan(at, space));
        if (sent == 0)
            break;
        offset += sent;
    }
    stack.set_user(c, offset << 2);
}

// ------------------------------------------------------------ relay

RelayService::RelayService(const RelayTargets& targets, std::size_t max_pairs)
    : targets_(targets), pairs_(max_pairs) {
    free_.reserve(max_pairs);
    for (std::size_t i = max_pairs; i > 0; --i)
        free_.push_back(static_cast<std::uint32_t>(i - 1));
}

// User value: (pair index + 1) << 1 | side.
void RelayService::accept(TcpStack& stack, ConnRef c, std::uint64_t now) {
    auto info = stack.info(c);
    bool v4 = info && info->tuple.local.is_v4_mapped();
    if (free_.empty() || !info || (!v4 && !targets_.has_v6)) {
        stack.abort(c);
        return;
    }
    std::uint32_t index = free_.back();
    free_.pop_back();
    Pair& p = pairs_[index];
    p = Pair{};
    p.used = true;
    ++active_;
    p.side[0].conn = c;
    p.side[0].established = true;
    stack.set_user(c, (std::uintptr_t{index} + 1) << 1);
    ConnRef lan = v4 ? stack.connect(targets_.local4, targets_.remote4, targets_.remote_port,
                                     *this, now)
                     : stack.connect(targets_.local6, targets_.remote6, targets_.remote_port,
                                     *this, now);
    if (lan == kNoConn) {
        p.side[1].gone = true;
        p.side[0].shut = true;
        stack.abort(c);
        return;
    }
    p.side[1].conn = lan;
    stack.set_user(lan, ((std::uintptr_t{index} + 1) << 1) | 1);
}

void RelayService::move(TcpStack& stack, Pair& p) {
    for (int from = 0; from < 2; ++from) {
        Side& a = p.side[from];
        Side& b = p.side[1 - from];
        if (a.gone || b.gone)
            continue;
        pump(stack, a.conn, b.conn, scratch_);
        // A's FIN travels on to B once every byte before it has (and B is
        // synchronized: CLOSE in SYN-SENT would delete B, RFC 9293 3.10.4).
        if (a.eof && !b.shut && b.established && stack.readable(a.conn) == 0) {
            b.shut = true;
            stack.close(b.conn);
        }
    }
}

void RelayService::release_if_done(Pair& p) {
    if (p.used && p.side[0].gone && p.side[1].gone) {
        p.used = false;
        --active_;
        free_.push_back(static_cast<std::uint32_t>(&p - pairs_.data()));
    }
}

void RelayService::on_events(TcpStack& stack, ConnRef c, std::uint32_t events,
                             std::uint64_t now) {
    std::uintptr_t u = stack.user(c);
    if (u == 0) { // a new client connection; its FIN may have come with the ACK
        if (!(events & app_event::kEstablished))
            return;
        accept(stack, c, now);
        u = stack.user(c);
        if (u == 0)
            return; // refused
    }
    Pair& p = pairs_[(u >> 1) - 1];
    int me = static_cast<int>(u & 1);
    Side& mine = p.side[me];
    Side& other = p.side[1 - me];
    if (events & (app_event::kReset | app_event::kTimedOut)) {
        // One side failed: the other must not believe the stream completed.
        if (!other.gone)
            stack.abort(other.conn);
    }
    if (events & app_event::kEstablished)
        mine.established = true;
    if (events & app_event::kPeerClosed)
        mine.eof = true;
    if (events & app_event::kClosed) {
        mine.gone = true;
        // Gone without its peer's FIN (reset, timeout, refused): the other
        // stream is incomplete and must not end as if it were whole.
        if (!mine.eof && !other.gone)
            stack.abort(other.conn);
        release_if_done(p);
        return;
    }
    move(stack, p);
}

} // namespace smtpgw::tcp
