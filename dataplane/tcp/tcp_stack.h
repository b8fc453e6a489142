// tcp_stack.h: the per-lcore TCP endpoint: connection table, listeners, SYN
// cookies, TIME-WAIT bound, timer wheel and the application interface.
//
// Purpose: everything between "a TCP segment for one of our addresses
// arrived" and the control blocks (tcp_tcb.h). One TcpStack per fast-path
// lcore owns its connections outright (no locks); it is still sans-I/O: the
// adapter (io/tcp_adapter.h) passes verified-address segments and the time
// in, and receives segments to transmit through a SegmentSink. Applications
// (the SMTP engine, the lab services) see a small stream interface: accept
// (through their listener's StreamHandler), send, receive, close, abort, and
// event callbacks with back-pressure (kSendSpace, the receive window).
// RFCs: 9293 (3.10.7.1 RST for segments to no connection, 3.6.1 TIME-WAIT),
// 6528 (ISS from a keyed hash plus a 4 us clock), 4987 3.6 (SYN cookies above
// a half-open high watermark, off again below a low one), 7323 5.4 (per
// connection timestamp offset), 6056 (local port choice for active opens).
// Security: every table is fixed at construction: connections
// (max_connections), half-open entries (syn_backlog_high, then cookies: no
// state for a flood), TIME-WAIT entries (time_wait_max: the oldest is
// recycled). The flow hash is keyed (SipHash) so a peer cannot aim
// collisions. Segments that fail the checksum or parse are counted and
// dropped before any lookup. Nothing is logged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "tcp/tcp_events.h"
#include "tcp/tcp_syncookie.h"
#include "tcp/tcp_tcb.h"
#include "tcp/tcp_tuple.h"

namespace smtpgw::tcp {

enum class TcpStackEvent : std::uint8_t {
#define SMTPGW_TCP_STACK_EVENT(name, severity, sentence) name,
#include "tcp/tcp_stack_events.def"
#undef SMTPGW_TCP_STACK_EVENT
    count_
};
inline constexpr std::size_t kTcpStackEventCount = static_cast<std::size_t>(TcpStackEvent::count_);
const net::ReasonInfo& tcp_stack_event_info(TcpStackEvent e);
using TcpStackCounters = net::CounterTable<TcpStackEvent, kTcpStackEventCount>;

struct TcpStackSettings {
    // Connections one lcore holds (every state but LISTEN); bounds memory.
    std::uint32_t max_connections = 16384;
    // Half-open (SYN-RECEIVED) entries above which SYNs get cookies instead of state.
    std::uint32_t syn_backlog_high = 256;
    // ... and below which state is kept again (hysteresis, RFC 4987 3.6).
    std::uint32_t syn_backlog_low = 128;
    // Beyond syn_backlog_high, this many more half-open entries for peers
    // that completed a handshake before (SynAdmission::proven): a spoofed
    // flood never has, and a cookie is fragile for SMTP, where the server
    // speaks first: a lost final ACK leaves the client waiting for a banner
    // until its timeout (RFC 4987 3.6); state retransmits the SYN-ACK.
    std::uint32_t syn_backlog_proven = 256;
    // TIME-WAIT entries kept; the oldest is freed first when full.
    std::uint32_t time_wait_max = 4096;
    // Local ports for active opens (RFC 6056 suggests 1024-65535; we keep
    // the IANA dynamic range clear of services).
    std::uint16_t ephemeral_first = 32768;
    std::uint16_t ephemeral_last = 60999;
    // This lcore owns local ports p with p % owner_count == owner_index, so
    // a reply is steered to the lcore that opened the connection.
    std::uint16_t owner_index = 0;
    std::uint16_t owner_count = 1;
    // Link MTU: our MSS is MTU - 40 (IPv4) or MTU - 60 (IPv6).
    std::uint16_t mtu = 1500;
    TcpSettings tcp;
    SynCookieSettings cookies;
};

// Keys for the keyed hashes: generate them from a CSPRNG at start.
struct TcpStackSecrets {
    SipKey isn;    // RFC 6528 F()
    SipKey cookie; // RFC 4987 cookie hash
    SipKey flow;   // connection table hash
};

// A handle on one connection: stale handles (the slot was freed and
// reused) are recognised by the generation and refused.
struct ConnRef {
    std::uint32_t index = 0;
    std::uint32_t generation = 0;
    bool operator==(const ConnRef&) const = default;
};
inline constexpr ConnRef kNoConn{0xffffffffu, 0};

class TcpStack;

// The application side of a connection. Calls arrive on the owning lcore
// only, never re-entrantly for the same connection.
class StreamHandler {
  public:
    virtual ~StreamHandler() = default;
    // `events` is a set of app_event bits (tcp_tcb.h). kEstablished on a
    // passive connection is the accept. kClosed is the last call for `c`:
    // the handle is invalid afterwards. A passive connection that dies
    // before it is established is freed without any call.
    virtual void on_events(TcpStack& stack, ConnRef c, std::uint32_t events, std::uint64_t now) = 0;
};

// Where segments to transmit go (the adapter builds the frame).
class SegmentSink {
  public:
    virtual ~SegmentSink() = default;
    // `tuple.local` is the source address; `seg.payload` is valid only for
    // the duration of the call.
    virtual void emit(const FourTuple& tuple, const OutSegment& seg) = 0;
};

// Decides at a SYN, before any state or SYN-ACK exists, whether a peer may
// open a connection (the peer filter: lists and per-peer limits), and hears
// how admitted connections end so per-peer counts stay right. Called on the
// owning lcore only.
class SynAdmission {
  public:
    enum class Verdict : std::uint8_t {
        accept,
        drop,  // silently: the peer gets nothing, no state is created
        reset, // answered with RST, no state is created
    };
    virtual ~SynAdmission() = default;
    // A SYN for a listening port. `stateful` is false when a SYN cookie
    // will answer it (no half-open entry will exist).
    virtual Verdict on_syn(const FourTuple& t, bool stateful, std::uint64_t now) = 0;
    // A passive connection reached ESTABLISHED; `was_half_open` is false for
    // one completed from a SYN cookie.
    virtual void on_established(const FourTuple& t, bool was_half_open, std::uint64_t now) = 0;
    // A stateful half-open entry was freed without reaching ESTABLISHED.
    virtual void on_half_open_gone(const FourTuple& t) = 0;
    // An established passive connection was freed.
    virtual void on_closed(const FourTuple& t) = 0;
    // Whether the peer has completed a handshake before (so its address is
    // not spoofed): it may keep state while cookies answer everyone else.
    virtual bool proven(const FourTuple& t) const = 0;
};

struct ConnInfo {
    FourTuple tuple;
    TcpState state;
    std::size_t readable;
    std::size_t unsent_space;
    std::uint32_t cwnd;
    std::uint64_t rto_ns;
    bool passive;
    std::size_t buffer_bytes; // send + receive storage held now
};

class TcpStack {
  public:
    // `counters`, `stack_counters` and `sink` must outlive the stack.
    TcpStack(const TcpStackSettings& settings, const TcpStackSecrets& secrets,
             TcpCounters& counters, TcpStackCounters& stack_counters, SegmentSink& sink);
    ~TcpStack();
    TcpStack(const TcpStack&) = delete;
    TcpStack& operator=(const TcpStack&) = delete;

    // Consults `a` at every SYN from now on (nullptr: accept every SYN).
    void set_admission(SynAdmission* a) { admission_ = a; }

    // Aborts (RST) every passive connection whose peer `pred(remote)` says
    // must go, e.g. a peer that was just listed. Returns how many.
    template <typename Pred>
    std::size_t abort_peers(Pred&& pred) {
        std::size_t n = 0;
        for (std::uint32_t i = 0; i < slots_size(); ++i)
            if (ConnRef c = passive_ref(i); !(c == kNoConn) && pred(remote_of(i))) {
                abort(c);
                ++n;
            }
        return n;
    }

    // Accepts connections to `port` on every local address. False when the
    // port is taken or the listener table (8 entries) is full.
    bool listen(std::uint16_t port, StreamHandler& handler);

    // One TCP segment addressed to us. `src`/`dst` are IPv6 or v4-mapped
    // IPv4 (both the same family). The checksum is verified here; malformed
    // segments are counted and dropped. Never fails.
    void input(const net::Ipv6Addr& src, const net::Ipv6Addr& dst,
               std::span<const std::uint8_t> segment, std::uint64_t now);
    // Runs every timer due at `now`. Call at least once per millisecond.
    void run_timers(std::uint64_t now);

    // Active open from `local` (one of our addresses) to remote:port.
    // Returns kNoConn when no port or slot is free (counted).
    ConnRef connect(const net::Ipv6Addr& local, const net::Ipv6Addr& remote,
                    std::uint16_t remote_port, StreamHandler& handler, std::uint64_t now);

    // Application calls; on a stale handle they do nothing and return 0/false.
    std::size_t send(ConnRef c, std::span<const std::uint8_t> data);
    std::size_t receive(ConnRef c, std::span<std::uint8_t> out);
    std::size_t readable(ConnRef c) const;
    std::size_t send_space(ConnRef c) const;
    void close(ConnRef c);
    void abort(ConnRef c);
    // Opaque per-connection value for the application (0 initially).
    void set_user(ConnRef c, std::uintptr_t value);
    std::uintptr_t user(ConnRef c) const;
    std::optional<ConnInfo> info(ConnRef c) const;

    // New connections drop a peer silent for this long (0: never). Existing
    // connections keep the value they started with.
    void set_idle_timeout(std::uint64_t ns) {
        tcp_v4_.idle_timeout_ns = tcp_v6_.idle_timeout_ns = ns;
    }
    std::uint64_t idle_timeout() const { return tcp_v4_.idle_timeout_ns; }

    // The lcore that owns connections whose local port is `local_port`, or
    // nullopt when any lcore may (a listening port: the RSS queue the
    // client's flow hashes to owns it). The adapter forwards segments that
    // arrive on another lcore to their owner.
    std::optional<std::uint16_t> owner_of(std::uint16_t local_port) const {
        if (s_.owner_count <= 1 || local_port < s_.ephemeral_first ||
            local_port > s_.ephemeral_last)
            return std::nullopt;
        return static_cast<std::uint16_t>(local_port % s_.owner_count);
    }
    std::uint16_t owner_index() const { return s_.owner_index; }

    // Gauges for the console.
    std::uint32_t connections() const { return in_use_; }
    std::uint32_t half_open() const { return half_open_; }
    std::uint32_t time_wait() const { return time_wait_count_; }
    bool cookie_mode() const { return cookie_mode_; }
    // Appends connections to `out` up to its capacity, never growing it
    // (the control side reserves the storage; see io/mailbox.h).
    void snapshot_into(std::vector<ConnInfo>& out) const;

    // Bytes of state per connection slot, without its data buffers.
    static std::size_t slot_bytes();

  private:
    struct Slot;
    std::uint32_t slots_size() const;
    ConnRef passive_ref(std::uint32_t index) const; // kNoConn unless an in-use passive slot
    const net::Ipv6Addr& remote_of(std::uint32_t index) const;

    // `hash` is flow_hash(t): computed once per segment and passed along.
    Slot* find(const FourTuple& t, std::uint64_t hash);
    std::uint64_t flow_hash(const FourTuple& t) const;
    void table_insert(std::uint32_t index);
    void table_erase(std::uint32_t index);
    std::optional<std::uint32_t> allocate(const FourTuple& t, std::uint64_t hash,
                                          StreamHandler* handler, bool passive);
    void free_slot(std::uint32_t index);
    Slot* resolve(ConnRef c);
    const Slot* resolve(ConnRef c) const;

    void on_no_connection(const FourTuple& t, std::uint64_t hash, const Segment& seg,
                          std::uint64_t now);
    void open_passive(const FourTuple& t, std::uint64_t hash, const Segment& seg, StreamHandler& h,
                      std::uint64_t now);
    void send_cookie(const FourTuple& t, const Segment& seg, std::uint64_t now);
    bool try_cookie(const FourTuple& t, std::uint64_t hash, const Segment& seg, StreamHandler& h,
                    std::uint64_t now);
    void send_reset(const FourTuple& t, const Segment& seg);
    StreamHandler* listener_for(std::uint16_t port) const;
    const TcpSettings& settings_for(const FourTuple& t) const;
    // The per-connection secrets derived from one keyed hash of the tuple:
    // the RFC 6528 ISS and the RFC 7323 5.4 timestamp offset.
    struct ConnSecrets {
        TcpSeq iss;
        std::uint32_t ts_offset;
    };
    ConnSecrets secrets_for(const FourTuple& t, std::uint64_t now) const;

    // Delivers events, drains output, then frees, files into TIME-WAIT and
    // re-arms the timer as the new state requires.
    void settle(std::uint32_t index, std::uint64_t now);
    void mark_dirty(std::uint32_t index);
    void flush(std::uint64_t now);
    void leave_half_open(Slot& s);

    // Timer wheel: one list per tick of kTickNs, kWheelSlots ticks ahead;
    // a later expiry waits in the last slot and is re-filed on the way.
    void wheel_unlink(std::uint32_t index);
    void wheel_arm(std::uint32_t index, std::uint64_t now);

    // TIME-WAIT FIFO for the bound.
    void tw_push(std::uint32_t index);
    void tw_unlink(std::uint32_t index);

    TcpStackSettings s_;
    TcpSettings tcp_v4_, tcp_v6_;
    TcpStackSecrets secrets_;
    TcpCounters& counters_;
    TcpStackCounters& stack_counters_;
    SegmentSink& sink_;

    std::vector<Slot> slots_;
    std::vector<std::uint32_t> free_;  // stack of free slot indices
    std::vector<std::uint32_t> table_; // open addressing; index + 1, 0 = empty
    std::size_t table_mask_ = 0;
    std::vector<std::uint32_t> wheel_; // list heads, index + 1, 0 = empty
    std::uint64_t wheel_tick_ = 0;     // last tick processed
    bool wheel_started_ = false;
    std::vector<std::uint32_t> dirty_; // slots with work pending for settle()
    bool flushing_ = false;
    std::uint64_t last_now_ = 0;              // time of the latest input, timer or connect
    std::uint32_t tw_head_ = 0, tw_tail_ = 0; // index + 1, 0 = none

    struct Listener {
        std::uint16_t port;
        StreamHandler* handler;
    };
    std::vector<Listener> listeners_;
    SynAdmission* admission_ = nullptr;

    std::uint32_t in_use_ = 0;
    std::uint32_t half_open_ = 0;
    std::uint32_t time_wait_count_ = 0;
    bool cookie_mode_ = false;
    std::uint64_t last_cookie_ns_ = 0;
    bool cookies_ever_sent_ = false;
    std::uint16_t next_port_ = 0;
};

} // namespace smtpgw::tcp
