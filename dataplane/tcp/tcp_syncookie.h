// tcp_syncookie.h: stateless SYN cookies.
//
// Purpose: answer a SYN flood without keeping state: the SYN-ACK's initial
// sequence number encodes a time counter, an MSS index and a keyed hash over
// the 4-tuple, so the final ACK of the handshake proves the peer received our
// SYN-ACK, and the connection can be created from that ACK alone.
// RFCs: 4987 3.6 (SYN cookies), 7323 (window scale and SACK-permitted carried
// in the low bits of our TSval when the peer sent timestamps), 9293 3.4.1.
// Layout of the cookie (ISS): bits 31..27 time counter mod 32, bits 26..24
// MSS index into kSynCookieMssTable, bits 23..0 SipHash-2-4 over (tuple,
// peer ISN, full counter, MSS index, option bits) keyed by the caller's secret.
// Security: the secret is the caller's (128 random bits, rotated by the
// caller; no clock, no randomness and no state live here). A forged ACK
// succeeds with probability 2^-24 per guess for a known 4-tuple and period;
// the caller must still rate-limit cookie validation failures. Cookies older
// than max_age_periods are refused (replay bound). The option bits in TSval
// are covered by the hash, so a peer cannot choose its own window scale.
// Limitations (RFC 4987 3.6): without timestamps, window scale and SACK are
// lost; the MSS is rounded down to a table entry.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "net/siphash.h"
#include "tcp/tcp_packet.h"
#include "tcp/tcp_seq.h"
#include "tcp/tcp_tuple.h"

namespace smtpgw::tcp {

// The keyed hash behind cookies (net/siphash.h).
using net::SipKey;
using net::siphash24;

struct SynCookieSettings {
    // Length of one counter period; cookies made in one period share it.
    std::uint64_t period_ns = 64'000'000'000ull; // as Linux: coarse enough to be cheap
    // Periods after which a cookie is refused: longer than any sane SYN-ACK
    // round trip, short enough to bound replay of a captured ACK.
    std::uint32_t max_age_periods = 2;
};

// MSS values a cookie can carry (3 bits); the peer's MSS is rounded down.
inline constexpr std::array<std::uint16_t, 8> kSynCookieMssTable{
    kDefaultPeerMss, 1220, 1300, 1360, 1400, 1440, 1452, 1460};

struct SynCookieRequest {
    FourTuple tuple;
    TcpSeq peer_isn;                          // SEG.SEQ of the SYN
    std::uint16_t peer_mss = kDefaultPeerMss; // RFC 9293 3.7.1 default without the option
    std::optional<std::uint8_t> peer_wscale;  // window scale the peer offered
    bool sack_permitted = false;
    bool timestamps = false;                  // peer sent timestamps (and we accept them)
};

struct SynCookie {
    TcpSeq iss;                          // our ISN for the SYN-ACK
    std::uint16_t mss = kDefaultPeerMss; // the MSS that will be restored (<= peer's)
    std::optional<std::uint32_t> tsval;  // our TSval for the SYN-ACK when timestamps
};

// Makes a cookie. `ts_now` is our timestamp clock; the returned TSval is at
// most ts_now (its low 5 bits carry the options). Never fails.
SynCookie syncookie_make(const SipKey& key, const SynCookieSettings& s,
                         const SynCookieRequest& req, std::uint64_t now_ns,
                         std::uint32_t ts_now);

enum class SynCookieError : std::uint8_t {
    ok,
    expired,  // counter older than max_age_periods (or from the future)
    bad_hash, // not a cookie of ours for this tuple: answer with RST or drop
};

struct SynCookieAccepted {
    TcpSeq iss; // our ISN (SND.UNA - 1 after this ACK)
    TcpSeq irs; // the peer's ISN
    std::uint16_t mss = kDefaultPeerMss;
    std::optional<std::uint8_t> peer_wscale;
    bool sack_permitted = false;
    bool timestamps = false;
};

// Checks the third segment of a handshake (an ACK without SYN) against the
// cookie. `tsecr` is the segment's TSecr when it has timestamps. On ok, `out`
// holds what the SYN negotiated; on any error `out` is unspecified and the
// caller treats the segment as one for no connection (RFC 9293 3.10.7.1).
SynCookieError syncookie_check(const SipKey& key, const SynCookieSettings& s,
                               const FourTuple& tuple, TcpSeq seg_seq, TcpSeq seg_ack,
                               std::optional<std::uint32_t> tsecr, std::uint64_t now_ns,
                               SynCookieAccepted& out);

} // namespace smtpgw::tcp
