// tcp_stack.cc: the per-lcore connection table (see tcp_stack.h).
#include "tcp/tcp_stack.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace smtpgw::tcp {

namespace {

constexpr std::array<net::ReasonInfo, kTcpStackEventCount> kStackInfo{{
#define SMTPGW_TCP_STACK_EVENT(name, severity, sentence) {#name, net::Severity::severity, sentence},
#include "tcp/tcp_stack_events.def"
#undef SMTPGW_TCP_STACK_EVENT
}};

constexpr std::uint64_t kTickNs = 1 * kMs;
constexpr std::size_t kWheelSlots = 1024; // about one second ahead
constexpr std::uint32_t kNotArmed = 0xffffffffu;
constexpr std::size_t kMaxListeners = 8;
// Event rounds per settle: a handler reacting to its own events (abort in
// answer to kReadable, say) needs a second round, never an unbounded loop.
constexpr int kEventRounds = 4;

std::uint64_t tick_of(std::uint64_t ns) {
    return ns / kTickNs;
}

} // namespace

const net::ReasonInfo& tcp_stack_event_info(TcpStackEvent e) {
    return kStackInfo[static_cast<std::size_t>(e)];
}

struct TcpStack::Slot {
    std::optional<Tcb> tcb;
    FourTuple tuple;
    std::uint64_t hash = 0;
    StreamHandler* handler = nullptr;
    std::uintptr_t user = 0;
    std::uint32_t generation = 0;
    std::uint32_t wheel_prev = 0, wheel_next = 0; // index + 1, 0 = none
    std::uint32_t wheel_slot = kNotArmed;
    std::uint32_t tw_prev = 0, tw_next = 0; // index + 1, 0 = none
    bool in_use = false;
    bool passive = false;
    bool half_open = false;
    bool in_time_wait = false;
    bool dirty = false;
    bool announced = false;     // the handler has seen kEstablished (or it is active)
    bool peer_released = false; // SynAdmission::on_closed already said (at TIME-WAIT)
    bool admitted = false;      // a stateful SYN admission is outstanding (SynAdmission)
};

TcpStack::TcpStack(const TcpStackSettings& settings, const TcpStackSecrets& secrets,
                   TcpCounters& counters, TcpStackCounters& stack_counters, SegmentSink& sink)
    : s_(settings), tcp_v4_(settings.tcp), tcp_v6_(settings.tcp), secrets_(secrets),
      counters_(counters), stack_counters_(stack_counters), sink_(sink) {
    // MSS clamped to the link MTU (RFC 9293 3.7.1, RFC 8200 5).
    tcp_v4_.mss = static_cast<std::uint16_t>(std::min<int>(s_.tcp.mss, s_.mtu - 40));
    tcp_v6_.mss = static_cast<std::uint16_t>(std::min<int>(s_.tcp.mss, s_.mtu - 60));
    if (s_.owner_count == 0)
        s_.owner_count = 1;
    slots_.resize(s_.max_connections);
    free_.reserve(s_.max_connections);
    for (std::uint32_t i = s_.max_connections; i > 0; --i)
        free_.push_back(i - 1);
    std::size_t cap = std::bit_ceil(std::max<std::size_t>(16, 2 * std::size_t{s_.max_connections}));
    table_.assign(cap, 0);
    table_mask_ = cap - 1;
    wheel_.assign(kWheelSlots, 0);
    dirty_.reserve(64);
    listeners_.reserve(kMaxListeners);
    next_port_ = static_cast<std::uint16_t>(siphash24(secrets_.isn, {}) & 0xffff);
}

TcpStack::~TcpStack() = default;

std::size_t TcpStack::slot_bytes() {
    // The slot itself plus its two table entries (the table is twice the
    // connection count so probes stay short).
    return sizeof(Slot) + 2 * sizeof(std::uint32_t);
}

bool TcpStack::listen(std::uint16_t port, StreamHandler& handler) {
    if (port == 0 || listener_for(port) || listeners_.size() >= kMaxListeners)
        return false;
    listeners_.push_back({port, &handler});
    return true;
}

StreamHandler* TcpStack::listener_for(std::uint16_t port) const {
    for (const auto& l : listeners_)
        if (l.port == port)
            return l.handler;
    return nullptr;
}

const TcpSettings& TcpStack::settings_for(const FourTuple& t) const {
    return t.local.is_v4_mapped() ? tcp_v4_ : tcp_v6_;
}

// ------------------------------------------------------------ hashing

namespace {
std::array<std::uint8_t, 36> tuple_bytes(const FourTuple& t) {
    std::array<std::uint8_t, 36> b{};
    std::memcpy(b.data(), t.local.bytes.data(), 16);
    std::memcpy(b.data() + 16, t.remote.bytes.data(), 16);
    b[32] = static_cast<std::uint8_t>(t.local_port >> 8);
    b[33] = static_cast<std::uint8_t>(t.local_port);
    b[34] = static_cast<std::uint8_t>(t.remote_port >> 8);
    b[35] = static_cast<std::uint8_t>(t.remote_port);
    return b;
}
} // namespace

std::uint64_t TcpStack::flow_hash(const FourTuple& t) const {
    auto b = tuple_bytes(t);
    return siphash24(secrets_.flow, b);
}

TcpStack::ConnSecrets TcpStack::secrets_for(const FourTuple& t, std::uint64_t now) const {
    auto b = tuple_bytes(t);
    std::uint64_t f = siphash24(secrets_.isn, b);
    // RFC 6528 3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
    // M a 4 microsecond timer. RFC 7323 5.4: a per-connection timestamp
    // offset hides the clock; from the tuple, so a cookie SYN-ACK and the
    // TCB later made from its ACK agree.
    return {TcpSeq(static_cast<std::uint32_t>(now / 4000) + static_cast<std::uint32_t>(f)),
            static_cast<std::uint32_t>(f >> 32)};
}

TcpStack::Slot* TcpStack::find(const FourTuple& t, std::uint64_t h) {
    for (std::size_t i = h & table_mask_;; i = (i + 1) & table_mask_) {
        std::uint32_t e = table_[i];
        if (e == 0)
            return nullptr;
        Slot& s = slots_[e - 1];
        if (s.hash == h && s.tuple == t)
            return &s;
    }
}

void TcpStack::table_insert(std::uint32_t index) {
    std::size_t i = slots_[index].hash & table_mask_;
    while (table_[i] != 0)
        i = (i + 1) & table_mask_;
    table_[i] = index + 1;
}

void TcpStack::table_erase(std::uint32_t index) {
    std::size_t i = slots_[index].hash & table_mask_;
    while (table_[i] != index + 1) {
        if (table_[i] == 0)
            return; // not in the table
        i = (i + 1) & table_mask_;
    }
    // Linear probing deletion by backward shift (Knuth 6.4 algorithm R): no
    // tombstones, so lookups never slow down with churn.
    table_[i] = 0;
    for (std::size_t j = (i + 1) & table_mask_; table_[j] != 0; j = (j + 1) & table_mask_) {
        std::size_t home = slots_[table_[j] - 1].hash & table_mask_;
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        table_[i] = table_[j];
        table_[j] = 0;
        i = j;
    }
}

// ------------------------------------------------------------ slots

std::optional<std::uint32_t> TcpStack::allocate(const FourTuple& t, std::uint64_t hash,
                                                StreamHandler* handler, bool passive) {
    if (free_.empty()) {
        stack_counters_.count(TcpStackEvent::table_full);
        return std::nullopt;
    }
    std::uint32_t index = free_.back();
    free_.pop_back();
    Slot& s = slots_[index];
    const TcpSettings& ts = settings_for(t);
    s.tcb.emplace(ts, counters_, t.local_port, t.remote_port);
    s.tuple = t;
    s.hash = hash;
    s.handler = handler;
    s.user = 0;
    s.passive = passive;
    s.half_open = false;
    s.in_time_wait = false;
    s.dirty = false;
    s.announced = !passive;
    s.peer_released = false;
    s.in_use = true;
    table_insert(index);
    ++in_use_;
    return index;
}

void TcpStack::free_slot(std::uint32_t index) {
    Slot& s = slots_[index];
    if (admission_ && s.passive) {
        if (s.announced && !s.peer_released)
            admission_->on_closed(s.tuple);
        else if (s.admitted)
            admission_->on_half_open_gone(s.tuple);
    }
    s.admitted = false;
    table_erase(index);
    wheel_unlink(index);
    if (s.in_time_wait)
        tw_unlink(index);
    if (s.half_open)
        leave_half_open(s);
    s.tcb.reset();
    s.in_use = false;
    s.dirty = false;
    s.handler = nullptr;
    ++s.generation;
    free_.push_back(index);
    --in_use_;
    stack_counters_.count(TcpStackEvent::freed);
}

TcpStack::Slot* TcpStack::resolve(ConnRef c) {
    if (c.index >= slots_.size())
        return nullptr;
    Slot& s = slots_[c.index];
    return s.in_use && s.generation == c.generation ? &s : nullptr;
}

const TcpStack::Slot* TcpStack::resolve(ConnRef c) const {
    return const_cast<TcpStack*>(this)->resolve(c);
}

void TcpStack::leave_half_open(Slot& s) {
    s.half_open = false;
    --half_open_;
    if (cookie_mode_ && half_open_ <= s_.syn_backlog_low)
        cookie_mode_ = false;
}

// ------------------------------------------------------------ input

void TcpStack::input(const net::Ipv6Addr& src, const net::Ipv6Addr& dst,
                     std::span<const std::uint8_t> segment, std::uint64_t now) {
    bool v4 = src.is_v4_mapped();
    if (v4 != dst.is_v4_mapped())
        return; // the adapter never mixes families
    if (segment.size() < kTcpMinHeaderLen) {
        counters_.count(TcpEvent::malformed_truncated);
        return;
    }
    bool sum_ok = v4 ? tcp_checksum_ok_v4(segment, net::v4_unmapped(src), net::v4_unmapped(dst))
                     : tcp_checksum_ok_v6(segment, src, dst);
    if (!sum_ok) {
        counters_.count(TcpEvent::bad_checksum);
        return;
    }
    Segment seg;
    if (TcpParseError e = parse_segment(segment, seg); e != TcpParseError::ok) {
        counters_.count(parse_error_event(e));
        return;
    }
    const TcpHeader& h = seg.header;
    if (h.src_port == 0 || h.dst_port == 0) {
        counters_.count(TcpEvent::bad_flags); // port 0 is reserved: no sender uses it
        return;
    }
    FourTuple t{dst, src, h.dst_port, h.src_port};
    std::uint64_t hash = flow_hash(t);
    if (Slot* s = find(t, hash)) {
        auto index = static_cast<std::uint32_t>(s - slots_.data());
        // RFC 9293 3.6.1: a new SYN above the old incarnation's RCV.NXT may
        // reuse a tuple in TIME-WAIT (the old duplicates cannot be confused).
        if (s->tcb->state() == TcpState::time_wait && h.has(flags::kSyn) && !h.has(flags::kAck) &&
            h.seq > s->tcb->rcv_nxt()) {
            stack_counters_.count(TcpStackEvent::time_wait_reused);
            free_slot(index);
        } else {
            s->tcb->on_segment(seg, now);
            mark_dirty(index);
            flush(now);
            return;
        }
    }
    on_no_connection(t, hash, seg, now);
    flush(now);
}

void TcpStack::on_no_connection(const FourTuple& t, std::uint64_t hash, const Segment& seg,
                                std::uint64_t now) {
    const TcpHeader& h = seg.header;
    if (h.has(flags::kRst))
        return; // 3.10.7.1: never answer a RST
    StreamHandler* handler = listener_for(t.local_port);
    if (!handler) {
        stack_counters_.count(TcpStackEvent::no_listener);
        send_reset(t, seg);
        return;
    }
    if (h.has(flags::kSyn) && !h.has(flags::kAck)) {
        open_passive(t, hash, seg, *handler, now);
        return;
    }
    if (h.has(flags::kAck) && !h.has(flags::kSyn) && cookies_ever_sent_ &&
        now - last_cookie_ns_ <= s_.cookies.period_ns * (s_.cookies.max_age_periods + 1)) {
        if (try_cookie(t, hash, seg, *handler, now))
            return;
        stack_counters_.count(TcpStackEvent::cookie_rejected);
    } else {
        stack_counters_.count(TcpStackEvent::stray_segment);
    }
    send_reset(t, seg);
}

void TcpStack::send_reset(const FourTuple& t, const Segment& seg) {
    OutSegment out{};
    if (!make_reset_for(seg, out.header))
        return;
    counters_.count(TcpEvent::rst_sent);
    sink_.emit(t, out);
}

void TcpStack::open_passive(const FourTuple& t, std::uint64_t hash, const Segment& seg,
                            StreamHandler& h, std::uint64_t now) {
    // The peer filter decides before anything is spent on the peer: no
    // SYN-ACK, no cookie, no state for a refused one.
    // Cookies answer a flood; a proven peer keeps state from a reserve
    // beyond syn_backlog_high (see TcpStackSettings::syn_backlog_proven).
    bool stateful = !cookie_mode_;
    if (!stateful && admission_ && half_open_ < s_.syn_backlog_high + s_.syn_backlog_proven &&
        admission_->proven(t)) {
        stateful = true;
        stack_counters_.count(TcpStackEvent::syn_proven_stateful);
    }
    if (admission_) {
        switch (admission_->on_syn(t, stateful, now)) {
        case SynAdmission::Verdict::accept:
            break;
        case SynAdmission::Verdict::drop:
            return;
        case SynAdmission::Verdict::reset:
            send_reset(t, seg);
            return;
        }
    }
    if (!stateful) {
        send_cookie(t, seg, now);
        return;
    }
    auto index = allocate(t, hash, &h, /*passive=*/true);
    if (!index) {
        if (admission_)
            admission_->on_half_open_gone(t);
        return; // counted; the peer retries its SYN
    }
    Slot& s = slots_[*index];
    s.admitted = admission_ != nullptr;
    ConnSecrets k = secrets_for(t, now);
    s.tcb->listen(k.iss, k.ts_offset);
    s.tcb->on_segment(seg, now);
    if (s.tcb->state() == TcpState::syn_received) {
        s.half_open = true;
        if (++half_open_ >= s_.syn_backlog_high)
            cookie_mode_ = true;
    }
    mark_dirty(*index);
}

void TcpStack::send_cookie(const FourTuple& t, const Segment& seg, std::uint64_t now) {
    const TcpSettings& ts = settings_for(t);
    const TcpOptions& peer = seg.header.options;
    SynCookieRequest req;
    req.tuple = t;
    req.peer_isn = seg.header.seq;
    req.peer_mss = peer.mss.value_or(kDefaultPeerMss);
    if (ts.window_scaling && peer.window_scale)
        req.peer_wscale = std::min(*peer.window_scale, kMaxWindowScale);
    req.sack_permitted = ts.sack && peer.sack_permitted;
    req.timestamps = ts.timestamps && peer.timestamps.has_value();
    auto ts_now = static_cast<std::uint32_t>(now / ts.ts_tick_ns) + secrets_for(t, now).ts_offset;
    SynCookie c = syncookie_make(secrets_.cookie, s_.cookies, req, now, ts_now);

    // The SYN-ACK a Tcb would build, with the cookie as ISS (RFC 4987 3.6).
    OutSegment out{};
    TcpHeader& h = out.header;
    h.src_port = t.local_port;
    h.dst_port = t.remote_port;
    h.seq = c.iss;
    h.ack = seg.header.seq + 1;
    h.flags = flags::kSyn | flags::kAck;
    h.window = static_cast<std::uint16_t>(std::min<std::uint32_t>(ts.recv_buffer_bytes, 0xffff));
    h.options.mss = ts.mss;
    if (req.peer_wscale)
        h.options.window_scale = offered_window_scale(ts); // what a Tcb would offer
    h.options.sack_permitted = req.sack_permitted;
    if (c.tsval)
        h.options.timestamps = Timestamps{*c.tsval, peer.timestamps->value};
    cookies_ever_sent_ = true;
    last_cookie_ns_ = now;
    stack_counters_.count(TcpStackEvent::cookie_sent);
    sink_.emit(t, out);
}

bool TcpStack::try_cookie(const FourTuple& t, std::uint64_t hash, const Segment& seg,
                          StreamHandler& h, std::uint64_t now) {
    std::optional<std::uint32_t> tsecr;
    if (seg.header.options.timestamps)
        tsecr = seg.header.options.timestamps->echo;
    SynCookieAccepted acc;
    if (syncookie_check(secrets_.cookie, s_.cookies, t, seg.header.seq, seg.header.ack, tsecr, now,
                        acc) != SynCookieError::ok)
        return false;
    auto index = allocate(t, hash, &h, /*passive=*/true);
    if (!index)
        return true; // counted as table_full; the peer's retransmission finds no room either
    Slot& s = slots_[*index];
    s.tcb->accept_cookie(acc, seg, now, secrets_for(t, now).ts_offset);
    stack_counters_.count(TcpStackEvent::cookie_accepted);
    mark_dirty(*index);
    return true;
}

// ------------------------------------------------------------ settle

void TcpStack::mark_dirty(std::uint32_t index) {
    Slot& s = slots_[index];
    if (s.dirty)
        return;
    s.dirty = true;
    dirty_.push_back(index);
}

void TcpStack::flush(std::uint64_t now) {
    last_now_ = now;
    if (flushing_)
        return; // the outer flush picks the work up
    flushing_ = true;
    while (!dirty_.empty()) {
        std::uint32_t index = dirty_.back();
        dirty_.pop_back();
        Slot& s = slots_[index];
        if (!s.dirty || !s.in_use)
            continue;
        s.dirty = false;
        settle(index, now);
    }
    flushing_ = false;
}

void TcpStack::settle(std::uint32_t index, std::uint64_t now) {
    Slot& s = slots_[index];
    Tcb& tcb = *s.tcb;
    ConnRef ref{index, s.generation};
    for (int round = 0; round < kEventRounds; ++round) {
        std::uint32_t ev = tcb.take_events();
        if (ev == 0)
            break;
        if (ev & app_event::kEstablished) {
            if (s.half_open)
                leave_half_open(s);
            if (admission_ && s.passive)
                admission_->on_established(s.tuple, s.admitted, now);
            s.admitted = false;
            stack_counters_.count(s.passive ? TcpStackEvent::accepted : TcpStackEvent::connected);
            s.announced = true;
        }
        if (s.announced && s.handler)
            s.handler->on_events(*this, ref, ev, now);
        if (!s.in_use || s.generation != ref.generation)
            return; // cannot happen today (handlers cannot free), kept as a guard
    }
    OutSegment out;
    while (tcb.next_segment(now, out))
        sink_.emit(s.tuple, out);

    TcpState st = tcb.state();
    if (s.half_open && st != TcpState::syn_received)
        leave_half_open(s);
    if (st == TcpState::closed || st == TcpState::listen) {
        free_slot(index);
        return;
    }
    if (st == TcpState::time_wait && !s.in_time_wait) {
        // The connection is over for its peer: TIME-WAIT is our bounded
        // bookkeeping (time_wait_max), not a connection the peer holds, so
        // its per-peer concurrency is released now.
        if (admission_ && s.passive && s.announced && !s.peer_released) {
            admission_->on_closed(s.tuple);
            s.peer_released = true;
        }
        tw_push(index);
        if (time_wait_count_ > s_.time_wait_max && tw_head_ != 0) {
            stack_counters_.count(TcpStackEvent::time_wait_recycled);
            std::uint32_t oldest = tw_head_ - 1;
            free_slot(oldest);
            if (oldest == index)
                return;
        }
    }
    wheel_arm(index, now);
}

// ------------------------------------------------------------ timers

void TcpStack::wheel_unlink(std::uint32_t index) {
    Slot& s = slots_[index];
    if (s.wheel_slot == kNotArmed)
        return;
    if (s.wheel_prev)
        slots_[s.wheel_prev - 1].wheel_next = s.wheel_next;
    else
        wheel_[s.wheel_slot] = s.wheel_next;
    if (s.wheel_next)
        slots_[s.wheel_next - 1].wheel_prev = s.wheel_prev;
    s.wheel_prev = s.wheel_next = 0;
    s.wheel_slot = kNotArmed;
}

void TcpStack::wheel_arm(std::uint32_t index, std::uint64_t now) {
    wheel_unlink(index);
    Slot& s = slots_[index];
    std::uint64_t at = s.tcb->next_expiry();
    if (at == kNever)
        return;
    if (!wheel_started_) {
        wheel_tick_ = tick_of(now) - 1;
        wheel_started_ = true;
    }
    // Never file into a tick already processed; beyond the horizon, wait in
    // the farthest slot and be re-filed when it comes round.
    std::uint64_t tick = std::clamp(tick_of(at), wheel_tick_ + 1, wheel_tick_ + kWheelSlots);
    auto slot = static_cast<std::uint32_t>(tick % kWheelSlots);
    s.wheel_slot = slot;
    s.wheel_prev = 0;
    s.wheel_next = wheel_[slot];
    if (wheel_[slot])
        slots_[wheel_[slot] - 1].wheel_prev = index + 1;
    wheel_[slot] = index + 1;
}

void TcpStack::run_timers(std::uint64_t now) {
    last_now_ = now;
    std::uint64_t target = tick_of(now);
    if (!wheel_started_) {
        wheel_tick_ = target;
        wheel_started_ = true;
        return;
    }
    if (target <= wheel_tick_)
        return;
    // After a long gap every slot is visited once; all that is due fires.
    if (target - wheel_tick_ > kWheelSlots)
        wheel_tick_ = target - kWheelSlots;
    flushing_ = true; // settle below; handlers' calls are collected in dirty_
    while (wheel_tick_ < target) {
        ++wheel_tick_;
        auto slot = static_cast<std::uint32_t>(wheel_tick_ % kWheelSlots);
        // Detach the whole list: re-armed entries go to later ticks.
        std::uint32_t e = wheel_[slot];
        wheel_[slot] = 0;
        while (e != 0) {
            std::uint32_t index = e - 1;
            Slot& s = slots_[index];
            e = s.wheel_next;
            s.wheel_prev = s.wheel_next = 0;
            s.wheel_slot = kNotArmed;
            if (e != 0)
                slots_[e - 1].wheel_prev = 0;
            if (s.tcb->next_expiry() <= now)
                s.tcb->on_timer(now);
            settle(index, now);
        }
    }
    flushing_ = false;
    flush(now);
}

// ------------------------------------------------------------ TIME-WAIT FIFO

void TcpStack::tw_push(std::uint32_t index) {
    Slot& s = slots_[index];
    s.in_time_wait = true;
    s.tw_next = 0;
    s.tw_prev = tw_tail_;
    if (tw_tail_)
        slots_[tw_tail_ - 1].tw_next = index + 1;
    else
        tw_head_ = index + 1;
    tw_tail_ = index + 1;
    ++time_wait_count_;
}

void TcpStack::tw_unlink(std::uint32_t index) {
    Slot& s = slots_[index];
    if (s.tw_prev)
        slots_[s.tw_prev - 1].tw_next = s.tw_next;
    else
        tw_head_ = s.tw_next;
    if (s.tw_next)
        slots_[s.tw_next - 1].tw_prev = s.tw_prev;
    else
        tw_tail_ = s.tw_prev;
    s.tw_prev = s.tw_next = 0;
    s.in_time_wait = false;
    --time_wait_count_;
}

// ------------------------------------------------------------ application side

ConnRef TcpStack::connect(const net::Ipv6Addr& local, const net::Ipv6Addr& remote,
                          std::uint16_t remote_port, StreamHandler& handler, std::uint64_t now) {
    std::uint32_t range = std::uint32_t{s_.ephemeral_last} - s_.ephemeral_first + 1;
    // RFC 6056 3.3.2-like: walk the range from a moving start; skip ports
    // other lcores own and tuples still in use (TIME-WAIT included).
    for (std::uint32_t tries = 0; tries < range; ++tries) {
        auto port = static_cast<std::uint16_t>(s_.ephemeral_first + (next_port_++ % range));
        if (port % s_.owner_count != s_.owner_index)
            continue;
        FourTuple t{local, remote, port, remote_port};
        std::uint64_t hash = flow_hash(t);
        if (find(t, hash))
            continue;
        auto index = allocate(t, hash, &handler, /*passive=*/false);
        if (!index)
            return kNoConn;
        Slot& s = slots_[*index];
        ConnSecrets k = secrets_for(t, now);
        s.tcb->connect(k.iss, now, k.ts_offset);
        ConnRef ref{*index, s.generation};
        mark_dirty(*index);
        flush(now);
        return ref;
    }
    stack_counters_.count(TcpStackEvent::ports_exhausted);
    return kNoConn;
}

std::size_t TcpStack::send(ConnRef c, std::span<const std::uint8_t> data) {
    Slot* s = resolve(c);
    if (!s)
        return 0;
    std::size_t n = s->tcb->send(data);
    mark_dirty(c.index);
    flush(last_now_);
    return n;
}

std::size_t TcpStack::receive(ConnRef c, std::span<std::uint8_t> out) {
    Slot* s = resolve(c);
    if (!s)
        return 0;
    std::size_t n = s->tcb->receive(out);
    if (n > 0) { // the window may open: a window update may be due
        mark_dirty(c.index);
        flush(last_now_);
    }
    return n;
}

std::size_t TcpStack::readable(ConnRef c) const {
    const Slot* s = resolve(c);
    return s ? s->tcb->readable() : 0;
}

std::size_t TcpStack::send_space(ConnRef c) const {
    const Slot* s = resolve(c);
    return s ? s->tcb->send_space() : 0;
}

void TcpStack::close(ConnRef c) {
    if (Slot* s = resolve(c)) {
        s->tcb->close();
        mark_dirty(c.index);
        flush(last_now_);
    }
}

void TcpStack::abort(ConnRef c) {
    if (Slot* s = resolve(c)) {
        s->tcb->abort();
        mark_dirty(c.index);
        flush(last_now_);
    }
}

void TcpStack::set_user(ConnRef c, std::uintptr_t value) {
    if (Slot* s = resolve(c))
        s->user = value;
}

std::uintptr_t TcpStack::user(ConnRef c) const {
    const Slot* s = resolve(c);
    return s ? s->user : 0;
}

std::uint32_t TcpStack::slots_size() const {
    return static_cast<std::uint32_t>(slots_.size());
}

ConnRef TcpStack::passive_ref(std::uint32_t index) const {
    const Slot& s = slots_[index];
    return s.in_use && s.passive ? ConnRef{index, s.generation} : kNoConn;
}

const net::Ipv6Addr& TcpStack::remote_of(std::uint32_t index) const {
    return slots_[index].tuple.remote;
}

std::optional<ConnInfo> TcpStack::info(ConnRef c) const {
    const Slot* s = resolve(c);
    if (!s)
        return std::nullopt;
    const Tcb& t = *s->tcb;
    return ConnInfo{s->tuple, t.state(),  t.readable(), t.send_space(),
                    t.cwnd(), t.rto_ns(), s->passive,   t.buffer_bytes()};
}

void TcpStack::snapshot_into(std::vector<ConnInfo>& out) const {
    for (std::uint32_t i = 0; i < slots_.size() && out.size() < out.capacity(); ++i)
        if (slots_[i].in_use)
            out.push_back(*info(ConnRef{i, slots_[i].generation}));
}

} // namespace smtpgw::tcp
