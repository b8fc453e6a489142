// tcp_packet.h: the TCP wire format: header and option parsing and building,
// and checksum verification over the IPv4/IPv6 pseudo headers.
//
// Purpose: the only place that reads or writes TCP header bytes. Everything
// above (tcp_tcb.h) works on the decoded `Segment`.
// RFCs: 9293 3.1 (header format, options, EOL/NOP, MSS), 7323 (window scale,
// timestamps), 2018 (SACK-permitted and SACK blocks), 1071/791/8200
// (checksum and pseudo headers, via net/checksum.h).
// Security: every length is checked before it is read. parse_segment()
// rejects a data offset below 5 words or beyond the segment, option lengths
// below 2, option lengths that do not match their kind, and options that
// overrun the header; an unknown option is skipped by its length. Nothing
// here allocates, logs or keeps state.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "net/addr.h"
#include "tcp/tcp_events.h"
#include "tcp/tcp_seq.h"

namespace smtpgw::tcp {

namespace flags {
inline constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10,
                              kUrg = 0x20, kEce = 0x40, kCwr = 0x80;
} // namespace flags

inline constexpr std::size_t kTcpMinHeaderLen = 20;
inline constexpr std::size_t kTcpMaxHeaderLen = 60;
inline constexpr std::size_t kTcpMaxOptionsLen = kTcpMaxHeaderLen - kTcpMinHeaderLen;
inline constexpr std::uint8_t kMaxWindowScale = 14; // RFC 7323 2.3
inline constexpr std::uint16_t kDefaultPeerMss = 536; // RFC 9293 3.7.1: no MSS option (IPv4)
inline constexpr std::size_t kMaxSackBlocks = 4;    // 4 * 8 + 2 = 34 <= 40 bytes

namespace option_kind {
inline constexpr std::uint8_t kEol = 0, kNop = 1, kMss = 2, kWindowScale = 3, kSackPermitted = 4,
                              kSack = 5, kTimestamps = 8;
} // namespace option_kind

struct SackBlock {
    TcpSeq left;  // first sequence number of the block
    TcpSeq right; // sequence number just after the block
    bool operator==(const SackBlock&) const = default;
};

struct Timestamps {
    std::uint32_t value = 0; // TSval
    std::uint32_t echo = 0;  // TSecr
    bool operator==(const Timestamps&) const = default;
};

// Decoded options. On parse, a repeated option keeps its last value.
struct TcpOptions {
    std::optional<std::uint16_t> mss;
    std::optional<std::uint8_t> window_scale; // as received; the TCB clamps to 14
    bool sack_permitted = false;
    std::optional<Timestamps> timestamps;
    std::array<SackBlock, kMaxSackBlocks> sack{};
    std::uint8_t sack_count = 0;
};

// The header fields a sender chooses; data offset and checksum are derived.
struct TcpHeader {
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;
    TcpSeq seq;
    TcpSeq ack;
    std::uint8_t flags = 0;
    std::uint16_t window = 0; // as on the wire (unscaled)
    std::uint16_t urgent = 0;
    TcpOptions options;

    bool has(std::uint8_t f) const { return (flags & f) != 0; }
};

// A decoded segment. `payload` points into the caller's buffer.
struct Segment {
    TcpHeader header;
    std::span<const std::uint8_t> payload;

    // SEG.LEN of RFC 9293 3.3.1: payload plus one for SYN and one for FIN.
    std::uint32_t seg_len() const {
        return static_cast<std::uint32_t>(payload.size()) + (header.has(flags::kSyn) ? 1u : 0u) +
               (header.has(flags::kFin) ? 1u : 0u);
    }
};

enum class TcpParseError : std::uint8_t {
    ok,
    truncated,            // fewer than 20 bytes
    bad_data_offset,      // data offset < 5 words
    data_offset_overrun,  // data offset beyond the end of the segment
    option_bad_length,    // option length < 2, or wrong for its kind
    option_overrun,       // option (or its length byte) runs past the header
};

// The counter to bump for a parse error (ok maps to nothing: do not call).
TcpEvent parse_error_event(TcpParseError e);

// Decodes `bytes` (the whole TCP segment: header, options, payload) into
// `out`. Error contract: on any error other than ok, `out` is unspecified and
// the caller must drop the segment silently (no RST: a malformed segment
// proves nothing about a connection) and count parse_error_event(e).
// The checksum is not checked here: call tcp_checksum_ok_v4/v6 first.
TcpParseError parse_segment(std::span<const std::uint8_t> bytes, Segment& out);

// Parses only the options area (exposed for tests and fuzzing).
TcpParseError parse_options(std::span<const std::uint8_t> area, TcpOptions& out);

// True when the checksum of `segment` (header with its checksum field, and
// payload) verifies against the pseudo header. False for segments longer
// than the IPv4 pseudo header can express (65535 bytes).
bool tcp_checksum_ok_v4(std::span<const std::uint8_t> segment, net::Ipv4Addr src,
                        net::Ipv4Addr dst);
bool tcp_checksum_ok_v6(std::span<const std::uint8_t> segment, const net::Ipv6Addr& src,
                        const net::Ipv6Addr& dst);

// Bytes the options of `o` take when built (a multiple of 4, at most 40).
// SACK blocks that do not fit after the other options are left out.
std::size_t options_length(const TcpOptions& o);

// Writes the header and options of `h` at the start of `out`, with the
// checksum field zero. Returns the header length written (20..60), or 0 when
// `out` is too small (nothing is written then). Options are laid out as
// RFC 7323 appendix A suggests: MSS, SACK-permitted/timestamps aligned with
// NOPs, window scale, SACK blocks.
std::size_t build_header(const TcpHeader& h, std::span<std::uint8_t> out);

// Fills the checksum field of a built segment (header + payload, contiguous).
// Contract: segment.size() >= 20; for v4 at most 65535 bytes.
void tcp_fill_checksum_v4(std::span<std::uint8_t> segment, net::Ipv4Addr src, net::Ipv4Addr dst);
void tcp_fill_checksum_v6(std::span<std::uint8_t> segment, const net::Ipv6Addr& src,
                          const net::Ipv6Addr& dst);

} // namespace smtpgw::tcp
