// tcp_syncookie.cc: SYN cookies and SipHash-2-4 (see tcp_syncookie.h).
// RFCs: 4987 3.6, 7323. Security: see tcp_syncookie.h.
#include "tcp/tcp_syncookie.h"

#include <algorithm>
#include <cstring>

#include "net/byte_order.h"
#include "tcp/tcp_packet.h"

namespace smtpgw::tcp {

namespace {

constexpr unsigned kCounterShift = 27, kMssShift = 24;
constexpr std::uint32_t kCounterMask = 0x1f, kMssMask = 0x7, kHashMask = 0x00ffffff;
constexpr std::uint32_t kTsOptMask = 0x1f;      // low TSval bits: wscale (4) + SACK (1)
constexpr std::uint32_t kTsNoWscale = 0xf;      // wscale field value for "none"
constexpr std::uint32_t kTsSackBit = 0x10;

std::uint32_t cookie_hash(const SipKey& key, const FourTuple& t, TcpSeq peer_isn,
                          std::uint64_t counter, std::uint32_t mss_index, bool ts,
                          std::uint32_t opt_bits) {
    std::uint8_t buf[16 + 16 + 2 + 2 + 4 + 8 + 1 + 1 + 1];
    std::uint8_t* p = buf;
    std::memcpy(p, t.local.bytes.data(), 16);
    p += 16;
    std::memcpy(p, t.remote.bytes.data(), 16);
    p += 16;
    net::store_be16(p, t.local_port);
    p += 2;
    net::store_be16(p, t.remote_port);
    p += 2;
    net::store_be32(p, peer_isn.raw());
    p += 4;
    net::store_be32(p, static_cast<std::uint32_t>(counter >> 32));
    net::store_be32(p + 4, static_cast<std::uint32_t>(counter));
    p += 8;
    *p++ = static_cast<std::uint8_t>(mss_index);
    *p++ = ts ? 1 : 0;
    *p++ = static_cast<std::uint8_t>(opt_bits);
    return static_cast<std::uint32_t>(siphash24(key, buf)) & kHashMask;
}

} // namespace

SynCookie syncookie_make(const SipKey& key, const SynCookieSettings& s,
                         const SynCookieRequest& req, std::uint64_t now_ns,
                         std::uint32_t ts_now) {
    std::uint32_t mss_index = 0;
    for (std::uint32_t i = 0; i < kSynCookieMssTable.size(); ++i)
        if (kSynCookieMssTable[i] <= req.peer_mss)
            mss_index = i;
    std::uint32_t opt_bits = 0;
    SynCookie c;
    if (req.timestamps) {
        std::uint32_t ws = kTsNoWscale;
        if (req.peer_wscale)
            ws = std::min(*req.peer_wscale, kMaxWindowScale); // RFC 7323 2.3
        opt_bits = ws | (req.sack_permitted ? kTsSackBit : 0);
        std::uint32_t tsval = (ts_now & ~kTsOptMask) | opt_bits;
        if (static_cast<std::int32_t>(tsval - ts_now) > 0)
            tsval -= kTsOptMask + 1; // never ahead of our clock
        c.tsval = tsval;
    }
    std::uint64_t counter = now_ns / s.period_ns;
    std::uint32_t hash =
        cookie_hash(key, req.tuple, req.peer_isn, counter, mss_index, req.timestamps, opt_bits);
    c.iss = TcpSeq((static_cast<std::uint32_t>(counter & kCounterMask) << kCounterShift) |
                   (mss_index << kMssShift) | hash);
    c.mss = kSynCookieMssTable[mss_index];
    return c;
}

SynCookieError syncookie_check(const SipKey& key, const SynCookieSettings& s,
                               const FourTuple& tuple, TcpSeq seg_seq, TcpSeq seg_ack,
                               std::optional<std::uint32_t> tsecr, std::uint64_t now_ns,
                               SynCookieAccepted& out) {
    std::uint32_t cookie = (seg_ack - 1).raw();
    TcpSeq peer_isn = seg_seq - 1;
    std::uint64_t now_counter = now_ns / s.period_ns;
    std::uint32_t age =
        (static_cast<std::uint32_t>(now_counter) - (cookie >> kCounterShift)) & kCounterMask;
    if (age > s.max_age_periods || age > now_counter)
        return SynCookieError::expired;
    std::uint64_t counter = now_counter - age;
    std::uint32_t mss_index = (cookie >> kMssShift) & kMssMask;
    bool ts = tsecr.has_value();
    std::uint32_t opt_bits = ts ? (*tsecr & kTsOptMask) : 0;
    if (cookie_hash(key, tuple, peer_isn, counter, mss_index, ts, opt_bits) != (cookie & kHashMask))
        return SynCookieError::bad_hash;
    out = SynCookieAccepted{};
    out.iss = TcpSeq(cookie);
    out.irs = peer_isn;
    out.mss = kSynCookieMssTable[mss_index];
    out.timestamps = ts;
    if (ts) {
        std::uint32_t ws = opt_bits & kTsNoWscale;
        if (ws != kTsNoWscale)
            out.peer_wscale = static_cast<std::uint8_t>(ws);
        out.sack_permitted = (opt_bits & kTsSackBit) != 0;
    }
    return SynCookieError::ok;
}

} // namespace smtpgw::tcp
