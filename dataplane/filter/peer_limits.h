// peer_limits.h: per-peer connection limits decided at each SYN.
//
// Purpose: tell the fast path, at a SYN that would create state (or be
// answered with a cookie), whether this peer may open one more connection. A
// token bucket bounds the peer's connection rate; counters bound its
// established and half-open connections. Pure: no DPDK, no clock (time is a
// nanosecond argument), no allocation after construction. Owned by one
// fast-path lcore; the counters are single-writer and the control plane may
// read them at any time. The caller acts on the verdict (drop, RST, listing).
// RFCs: none defines per-peer limits; RFC 4987 (TCP SYN flooding) 3 motivates
// bounding half-open state per source; RFC 5321 4.5.3.2 lets an SMTP server
// refuse connections it cannot serve.
// Aggregation: a peer is a prefix, not an address. IPv4 is counted per /32 by
// default (setting `v4_prefix_len`, 24..32, for senders that rotate through a
// subnet). IPv6 is counted per /64 (`v6_prefix_len`, 32..128): a /64 is one
// subscriber's link (RFC 4291 2.5.1, 64-bit interface identifiers) and a host
// may use any of its 2^64 addresses (RFC 8981 temporary addresses), so a limit
// per /128 would limit nothing. Shorter lengths (/56, /48, the end-site sizes
// of RFC 6177) aggregate whole sites. IPv4 peers arrive v4-mapped
// (::ffff:a.b.c.d) and only `v4_prefix_len` applies to them.
// Security:
//  - bounded memory: `table_size` records (rounded up to a power of two) are
//    allocated at construction; a flood of sources never grows memory.
//  - keyed hash: a record's home slot is SipHash-2-4 of the peer's prefix under
//    a 128-bit secret the caller draws at start, so a remote peer cannot pick
//    sources that land in one probe window (kProbeWindow slots).
//  - eviction: a new peer takes an empty slot or a reusable record of its
//    window (no connections and a bucket full for `idle_expiry_ns`); failing
//    that, the least recently used record without connections is evicted and
//    counted; only when every record of the window holds connections is the
//    SYN refused as table_full. A record holding connections is never evicted,
//    so a flood of new sources cannot reset an active peer's counts, and a
//    known peer is never refused for lack of room. An evicted idle peer starts
//    again with a full bucket: the price of bounded memory, visible in
//    `evictions`.
//  - counts never underflow: an event with nothing to decrement (unknown peer,
//    or no matching half-open/established count) changes nothing and is
//    counted in `strays`.
//  - the caller must report the end of every connection it was allowed to
//    open (on_half_open_failed or on_closed); a record with connections that
//    are never reported stays pinned.
// Not thread-safe: one owner lcore.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "net/addr.h"
#include "net/counters.h"
#include "net/drop_reason.h"

namespace smtpgw::filter {

// ---------------------------------------------------------------------------
// Token bucket in integer fixed point.
//
// A token is kNanoTokensPerToken nano-tokens, so a rate of r tokens per second
// adds exactly r nano-tokens per nanosecond: refill is one multiplication,
// exact (no rounding drift) and free of floating point.

inline constexpr std::uint64_t kNanoTokensPerToken = 1'000'000'000ull;
// Largest rate and burst accepted: far above the SYNs one lcore can see in a
// second, and small enough that burst * kNanoTokensPerToken (1e15) and the
// refill product below stay far inside 64 bits.
inline constexpr std::uint32_t kMaxTokenRate = 1'000'000;
inline constexpr std::uint32_t kMaxTokenBurst = 1'000'000;

// What every bucket of one kind shares (kept once, not per peer).
struct TokenBucketShape {
    std::uint64_t rate = 1;     // nano-tokens per nanosecond (= tokens per second)
    std::uint64_t capacity = 0; // burst in nano-tokens
    std::uint64_t fill_ns = 0;  // time from empty to full: longer gaps just fill

    // rate and burst are clamped to 1..kMaxTokenRate and 1..kMaxTokenBurst.
    static TokenBucketShape make(std::uint32_t rate_per_second, std::uint32_t burst);
    std::uint32_t burst() const {
        return static_cast<std::uint32_t>(capacity / kNanoTokensPerToken);
    }
};

// What each bucket owns.
struct TokenBucketState {
    std::uint64_t level = 0;   // nano-tokens, <= shape.capacity
    std::uint64_t last_ns = 0; // latest time seen; time never runs backwards for a bucket

    static TokenBucketState full(const TokenBucketShape& shape, std::uint64_t now_ns) {
        return TokenBucketState{shape.capacity, now_ns};
    }
};

// Adds the tokens earned since last_ns. A clock that steps backwards earns
// nothing (last_ns keeps the latest time, so nothing is earned twice). Gaps of
// fill_ns or more fill the bucket without multiplying, so even a gap of
// 2^64-1 ns cannot overflow; shorter gaps give dt * rate < capacity + rate.
inline void token_refill(TokenBucketState& s, const TokenBucketShape& shape, std::uint64_t now_ns) {
    if (now_ns <= s.last_ns)
        return;
    std::uint64_t dt = now_ns - s.last_ns;
    s.last_ns = now_ns;
    if (dt >= shape.fill_ns) {
        s.level = shape.capacity;
        return;
    }
    s.level = std::min(shape.capacity, s.level + dt * shape.rate);
}

// Takes one token if a whole one is there (after token_refill).
inline bool token_take(TokenBucketState& s) {
    if (s.level < kNanoTokensPerToken)
        return false;
    s.level -= kNanoTokensPerToken;
    return true;
}

// The time at which the bucket is (or was) full again, saturating at 2^64-1.
inline std::uint64_t token_full_at(const TokenBucketState& s, const TokenBucketShape& shape) {
    if (s.level >= shape.capacity)
        return s.last_ns;
    std::uint64_t missing = shape.capacity - s.level;
    std::uint64_t wait = missing / shape.rate + (missing % shape.rate != 0);
    return wait > UINT64_MAX - s.last_ns ? UINT64_MAX : s.last_ns + wait;
}

// Whole tokens available at now_ns, without changing the bucket.
inline std::uint32_t token_count(TokenBucketState s, const TokenBucketShape& shape,
                                 std::uint64_t now_ns) {
    token_refill(s, shape, now_ns);
    return static_cast<std::uint32_t>(s.level / kNanoTokensPerToken);
}

// A standalone bucket: shape and state together. Starts full at now_ns.
class TokenBucket {
  public:
    TokenBucket(std::uint32_t rate_per_second, std::uint32_t burst, std::uint64_t now_ns = 0)
        : shape_(TokenBucketShape::make(rate_per_second, burst)),
          state_(TokenBucketState::full(shape_, now_ns)) {}

    // True (and one token fewer) when a whole token is available at now_ns.
    bool take(std::uint64_t now_ns) {
        token_refill(state_, shape_, now_ns);
        return token_take(state_);
    }
    std::uint32_t tokens(std::uint64_t now_ns) const { return token_count(state_, shape_, now_ns); }
    bool full(std::uint64_t now_ns) const { return token_full_at(state_, shape_) <= now_ns; }

    const TokenBucketShape& shape() const { return shape_; }
    const TokenBucketState& state() const { return state_; }

  private:
    TokenBucketShape shape_;
    TokenBucketState state_;
};

// ---------------------------------------------------------------------------
// Per-peer limits.

struct PeerLimitSettings {
    // A peer opening connections faster than any MTA needs is a flood: an MTA
    // sends many messages per connection (RFC 5321 3.3) and rarely needs more
    // than a few new connections a second.
    std::uint32_t rate_per_second = 10;
    // A queue run after an outage opens a batch at once; two seconds' worth absorbs it.
    std::uint32_t burst = 20;
    // One peer cannot take the connection table; 20 is Postfix's
    // default_destination_concurrency_limit, what a large sender opens to us.
    // Counts established and half-open connections together.
    std::uint32_t max_concurrent = 20;
    // A real MTA completes its handshake within a round trip; many half-open
    // connections from one peer are a SYN flood, each holding state until it times out.
    std::uint32_t max_half_open = 10;
    // IPv4 aggregation (24..32): one address is one host or one NAT.
    std::uint8_t v4_prefix_len = 32;
    // IPv6 aggregation (32..128): a /64 is one subscriber (see the header comment).
    std::uint8_t v6_prefix_len = 64;
    // Records kept (about 48 bytes each, 3 MiB by default, rounded up to a
    // power of two of at least kPeerProbeWindow): more distinct peers than this
    // within idle_expiry_ns is a flood, which eviction absorbs.
    std::size_t table_size = 65536;
    // A record with no connections and a full bucket for this long may be
    // reused without counting an eviction. Such a record holds nothing a new
    // one would not, so this only sets how long `usage` can still show a quiet peer.
    std::uint64_t idle_expiry_ns = 300'000'000'000ull;
};

// Bounds the settings accept (the constructor clamps into them).
// Far above any real peer; keeps half_open + concurrent inside 32 bits.
inline constexpr std::uint32_t kMaxPeerConnections = 1'000'000;
// 16 Mi records (768 MiB): anything larger is a typo, not a plan.
inline constexpr std::size_t kMaxPeerTableSize = std::size_t{1} << 24;
// Slots a peer may live in, from its home slot on: small enough that a SYN
// costs a few cache lines, large enough that random collisions rarely evict.
inline constexpr std::size_t kPeerProbeWindow = 8;

// The first problem with `s` as an operator-facing sentence, or nullopt when
// every setting is in range. Configuration code calls this before construction.
std::optional<std::string_view> peer_limit_settings_error(const PeerLimitSettings& s);
// `s` with every setting moved into its range (what PeerLimits uses).
PeerLimitSettings clamp_peer_limit_settings(const PeerLimitSettings& s);

// SYN verdicts: X(name, severity, sentence), a reason table for `show`.
#define SMTPGW_PEER_VERDICTS(X)                                                                    \
    X(allow, info, "peer may open the connection: one token charged, one half-open counted")       \
    X(rate_exceeded, warn, "peer's connection-rate bucket is empty")                               \
    X(too_many_connections, warn,                                                                  \
      "peer holds max_concurrent connections (established + half-open)")                           \
    X(too_many_half_open, warn, "peer holds max_half_open half-open connections")                  \
    X(table_full, error, "new peer: every record in its probe window holds connections")

enum class PeerVerdict : std::uint8_t {
#define SMTPGW_PEER_VERDICT_ENUM(name, severity, sentence) name,
    SMTPGW_PEER_VERDICTS(SMTPGW_PEER_VERDICT_ENUM)
#undef SMTPGW_PEER_VERDICT_ENUM
    // clang-format off
    count_
    // clang-format on
};
inline constexpr std::size_t kPeerVerdictCount = static_cast<std::size_t>(PeerVerdict::count_);

const net::ReasonInfo& peer_verdict_info(PeerVerdict v);

struct PeerLimitCounters {
    // One count per on_syn, by verdict.
    net::CounterTable<PeerVerdict, kPeerVerdictCount> verdicts;
    net::Counter created;   // a new peer took an empty slot
    net::Counter recycled;  // a new peer took a reusable (expired idle) record's slot
    net::Counter evictions; // a new peer replaced an idle record before it expired
    net::Counter strays;    // an event with nothing to decrement (ignored)
};

// 128-bit secret of the slot hash; draw it from a random source at start.
struct PeerHashKey {
    std::uint64_t k0 = 0;
    std::uint64_t k1 = 0;
};

// SipHash-2-4 (Aumasson and Bernstein, 2012) of the 16 address bytes, with the
// key words as the reference implementation loads its 16 key bytes (little endian).
std::uint64_t peer_hash(const PeerHashKey& key, const net::Ipv6Addr& a);

// What the console shows for one peer.
struct PeerUsage {
    net::Ipv6Prefix prefix;       // the aggregate; IPv4 as ::ffff:a.b.c.0/(96 + v4 length)
    std::uint32_t concurrent = 0; // established connections
    std::uint32_t half_open = 0;
    std::uint32_t tokens = 0;       // whole tokens in its bucket at now_ns
    std::uint64_t last_seen_ns = 0; // latest SYN (or cookie ACK): the LRU order
    bool reusable = false;          // idle long enough that a new peer may take its slot
};

class PeerLimits {
  public:
    // Allocates the whole table; nothing is allocated afterwards. Settings out
    // of range are clamped (see peer_limit_settings_error).
    PeerLimits(const PeerLimitSettings& settings, const PeerHashKey& key);
    PeerLimits(const PeerLimits&) = delete;
    PeerLimits& operator=(const PeerLimits&) = delete;

    // At a SYN that would create state or a cookie. On allow: one token is
    // charged and one half-open counted; the caller must later report
    // on_established or on_half_open_failed. On any other verdict nothing is
    // charged: the caller drops the SYN (or answers RST) and keeps no state.
    // `peer` is the source address, v4-mapped for IPv4. Every call counts its
    // verdict in counters().verdicts.
    // For a SYN answered with a cookie, no state is held: report
    // on_half_open_failed once the SYN-ACK is sent, and on_cookie_established
    // if a valid cookie ACK later creates the connection.
    PeerVerdict on_syn(const net::Ipv6Addr& peer, std::uint64_t now_ns);
    // A half-open connection completed its handshake: half-open -> established.
    void on_established(const net::Ipv6Addr& peer);
    // A half-open connection went away without establishing (RST, timeout,
    // SYN-ACK retries exhausted, or a cookie sent).
    void on_half_open_failed(const net::Ipv6Addr& peer);
    // An established connection ended.
    void on_closed(const net::Ipv6Addr& peer);
    // A connection created from a valid SYN-cookie ACK (its SYN was already
    // charged at on_syn). Returns allow when it is counted as established;
    // too_many_connections or table_full when counting it would break a limit:
    // the caller should then refuse the connection (RST). Not counted in
    // counters().verdicts, which counts SYNs.
    PeerVerdict on_cookie_established(const net::Ipv6Addr& peer, std::uint64_t now_ns);
    // Whether `peer`'s aggregate has completed a handshake (stateful or from
    // a cookie) since its record was made: a spoofed source never has. Such
    // records are evicted only when no unproven idle record is left.
    bool proven(const net::Ipv6Addr& peer) const;

    // For the console: the record of `peer`'s aggregate, if one is held.
    std::optional<PeerUsage> usage(const net::Ipv6Addr& peer, std::uint64_t now_ns) const;
    // The aggregate `peer` is counted under.
    net::Ipv6Prefix aggregate(const net::Ipv6Addr& peer) const;

    // Records held (idle ones included until a new peer reuses their slot).
    std::size_t peers() const { return in_use_; }
    std::size_t capacity() const { return slots_.size(); }
    const PeerLimitSettings& settings() const { return settings_; }
    const PeerLimitCounters& counters() const { return counters_; }

  private:
    struct Record {
        net::Ipv6Addr key;       // aggregate address (host bits zero)
        TokenBucketState bucket; // bucket.last_ns is the peer's latest SYN: LRU order
        std::uint32_t concurrent = 0;
        std::uint32_t half_open = 0;
        bool used = false;
        bool proven = false; // a handshake completed: the address is not spoofed
    };

    net::Ipv6Addr aggregate_key(const net::Ipv6Addr& peer) const;
    std::size_t home_slot(const net::Ipv6Addr& key) const;
    Record* find(const net::Ipv6Addr& key);
    const Record* find(const net::Ipv6Addr& key) const;
    // The record of `key`, creating it (empty counts, full bucket) if needed;
    // nullptr when every record in the window holds connections.
    Record* find_or_insert(const net::Ipv6Addr& key, std::uint64_t now_ns);
    bool reusable(const Record& r, std::uint64_t now_ns) const;
    PeerVerdict decide(Record& r, std::uint64_t now_ns);

    PeerLimitSettings settings_;
    PeerHashKey key_;
    TokenBucketShape shape_;
    std::vector<Record> slots_;
    std::size_t in_use_ = 0;
    PeerLimitCounters counters_;
};

} // namespace smtpgw::filter
