// siphash.h: SipHash-2-4 (Aumasson and Bernstein, 2012), the keyed hash of
// the fast path's tables and secrets (TCP ISS, SYN cookies, the connection
// table, per-peer limits).
//
// Purpose: one implementation, so every table a remote peer can aim at is
// keyed the same way. Security: the key is the caller's (from getrandom at
// start); with it secret, a peer cannot choose inputs that collide.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace smtpgw::net {

struct SipKey {
    std::array<std::uint8_t, 16> bytes{}; // k0 then k1, little endian, as the reference
};

std::uint64_t siphash24(const SipKey& key, std::span<const std::uint8_t> data);

} // namespace smtpgw::net
