// tcp_packet.cc: TCP header/option codec and checksum (see tcp_packet.h).
// RFCs: 9293 3.1, 7323 2-3, 2018 2-3. Security: see tcp_packet.h.
#include "tcp/tcp_packet.h"

#include "net/byte_order.h"
#include "net/checksum.h"
#include "net/wire.h"

namespace smtpgw::tcp {

namespace {

// Byte offsets inside the fixed header (RFC 9293 3.1).
constexpr std::size_t kSrcPort = 0, kDstPort = 2, kSeq = 4, kAck = 8, kDataOffset = 12,
                      kFlags = 13, kWindow = 14, kChecksum = 16, kUrgent = 18;

constexpr std::uint8_t kLenMss = 4, kLenWindowScale = 3, kLenSackPermitted = 2,
                       kLenTimestamps = 10, kLenSackBase = 2, kLenSackBlock = 8;

// Option bytes besides SACK blocks, before rounding to 4.
std::size_t fixed_options_length(const TcpOptions& o) {
    std::size_t n = 0;
    if (o.mss)
        n += 4;
    if (o.timestamps)
        n += 12; // [SACKOK or NOP NOP] TS
    else if (o.sack_permitted)
        n += 4;  // NOP NOP SACKOK
    if (o.window_scale)
        n += 4;  // NOP WS
    return n;
}

std::size_t sack_blocks_that_fit(const TcpOptions& o) {
    std::size_t room = kTcpMaxOptionsLen - fixed_options_length(o);
    if (o.sack_count == 0 || room < 4 + kLenSackBlock)
        return 0;
    std::size_t fit = (room - 4) / kLenSackBlock; // NOP NOP kind len, then blocks
    return o.sack_count < fit ? o.sack_count : fit;
}

// The folded checksum of `segment` under the pseudo header sum `pseudo`: 0
// when a received segment verifies, the field's value when it holds 0.
std::uint16_t tcp_sum(std::uint32_t pseudo, std::span<const std::uint8_t> segment) {
    return net::checksum_fold(net::checksum_add(pseudo, segment.data(), segment.size()));
}

std::uint32_t pseudo_v4(net::Ipv4Addr src, net::Ipv4Addr dst, std::size_t len) {
    return net::pseudo_header_v4(src, dst, net::wire::kProtoTcp, static_cast<std::uint16_t>(len));
}

std::uint32_t pseudo_v6(const net::Ipv6Addr& src, const net::Ipv6Addr& dst, std::size_t len) {
    return net::pseudo_header_v6(src, dst, net::wire::kProtoTcp, static_cast<std::uint32_t>(len));
}

void store_checksum(std::span<std::uint8_t> segment, std::uint32_t pseudo) {
    net::store_be16(segment.data() + kChecksum, 0);
    net::store_be16(segment.data() + kChecksum, tcp_sum(pseudo, segment));
}

} // namespace

TcpEvent parse_error_event(TcpParseError e) {
    switch (e) {
    case TcpParseError::truncated:
        return TcpEvent::malformed_truncated;
    case TcpParseError::bad_data_offset:
    case TcpParseError::data_offset_overrun:
        return TcpEvent::malformed_data_offset;
    case TcpParseError::option_bad_length:
    case TcpParseError::option_overrun:
    case TcpParseError::ok:
        break;
    }
    return TcpEvent::malformed_option;
}

TcpParseError parse_options(std::span<const std::uint8_t> area, TcpOptions& out) {
    out = TcpOptions{};
    std::size_t i = 0;
    while (i < area.size()) {
        std::uint8_t kind = area[i];
        if (kind == option_kind::kEol)
            break; // RFC 9293 3.1: the rest is padding
        if (kind == option_kind::kNop) {
            ++i;
            continue;
        }
        if (i + 1 >= area.size())
            return TcpParseError::option_overrun; // no room for the length byte
        std::uint8_t len = area[i + 1];
        if (len < 2)
            return TcpParseError::option_bad_length;
        if (len > area.size() - i)
            return TcpParseError::option_overrun;
        const std::uint8_t* p = area.data() + i;
        switch (kind) {
        case option_kind::kMss:
            if (len != kLenMss)
                return TcpParseError::option_bad_length;
            out.mss = net::load_be16(p + 2);
            break;
        case option_kind::kWindowScale:
            if (len != kLenWindowScale)
                return TcpParseError::option_bad_length;
            out.window_scale = p[2];
            break;
        case option_kind::kSackPermitted:
            if (len != kLenSackPermitted)
                return TcpParseError::option_bad_length;
            out.sack_permitted = true;
            break;
        case option_kind::kTimestamps:
            if (len != kLenTimestamps)
                return TcpParseError::option_bad_length;
            out.timestamps = Timestamps{net::load_be32(p + 2), net::load_be32(p + 6)};
            break;
        case option_kind::kSack: {
            // RFC 2018 3: 2 + 8n bytes, n = 1..4.
            std::size_t body = len >= kLenSackBase ? std::size_t{len} - kLenSackBase : 0;
            if (body < kLenSackBlock || body % kLenSackBlock != 0 ||
                body / kLenSackBlock > kMaxSackBlocks)
                return TcpParseError::option_bad_length;
            std::size_t n = body / kLenSackBlock;
            for (std::size_t b = 0; b < n; ++b) {
                const std::uint8_t* q = p + kLenSackBase + b * kLenSackBlock;
                out.sack[b] = SackBlock{TcpSeq(net::load_be32(q)), TcpSeq(net::load_be32(q + 4))};
            }
            out.sack_count = static_cast<std::uint8_t>(n);
            break;
        }
        default:
            break; // unknown option: skipped by its length (RFC 9293 3.2)
        }
        i += len;
    }
    return TcpParseError::ok;
}

TcpParseError parse_segment(std::span<const std::uint8_t> bytes, Segment& out) {
    if (bytes.size() < kTcpMinHeaderLen)
        return TcpParseError::truncated;
    const std::uint8_t* p = bytes.data();
    std::size_t header_len = std::size_t{static_cast<std::uint8_t>(p[kDataOffset] >> 4)} * 4;
    if (header_len < kTcpMinHeaderLen)
        return TcpParseError::bad_data_offset;
    if (header_len > bytes.size())
        return TcpParseError::data_offset_overrun;
    TcpHeader& h = out.header;
    h.src_port = net::load_be16(p + kSrcPort);
    h.dst_port = net::load_be16(p + kDstPort);
    h.seq = TcpSeq(net::load_be32(p + kSeq));
    h.ack = TcpSeq(net::load_be32(p + kAck));
    h.flags = p[kFlags];
    h.window = net::load_be16(p + kWindow);
    h.urgent = net::load_be16(p + kUrgent);
    TcpParseError e = parse_options(bytes.subspan(kTcpMinHeaderLen, header_len - kTcpMinHeaderLen),
                                    h.options);
    if (e != TcpParseError::ok)
        return e;
    out.payload = bytes.subspan(header_len);
    return TcpParseError::ok;
}

bool tcp_checksum_ok_v4(std::span<const std::uint8_t> segment, net::Ipv4Addr src,
                        net::Ipv4Addr dst) {
    if (segment.size() < kTcpMinHeaderLen || segment.size() > 0xffff)
        return false;
    return tcp_sum(pseudo_v4(src, dst, segment.size()), segment) == 0;
}

bool tcp_checksum_ok_v6(std::span<const std::uint8_t> segment, const net::Ipv6Addr& src,
                        const net::Ipv6Addr& dst) {
    if (segment.size() < kTcpMinHeaderLen || segment.size() > 0xffffffffu)
        return false;
    return tcp_sum(pseudo_v6(src, dst, segment.size()), segment) == 0;
}

std::size_t options_length(const TcpOptions& o) {
    std::size_t n = fixed_options_length(o);
    std::size_t blocks = sack_blocks_that_fit(o);
    if (blocks > 0)
        n += 4 + blocks * kLenSackBlock;
    return n; // every piece above is a multiple of 4
}

std::size_t build_header(const TcpHeader& h, std::span<std::uint8_t> out) {
    std::size_t header_len = kTcpMinHeaderLen + options_length(h.options);
    if (out.size() < header_len)
        return 0;
    std::uint8_t* p = out.data();
    net::store_be16(p + kSrcPort, h.src_port);
    net::store_be16(p + kDstPort, h.dst_port);
    net::store_be32(p + kSeq, h.seq.raw());
    net::store_be32(p + kAck, h.ack.raw());
    p[kDataOffset] = static_cast<std::uint8_t>((header_len / 4) << 4);
    p[kFlags] = h.flags;
    net::store_be16(p + kWindow, h.window);
    net::store_be16(p + kChecksum, 0);
    net::store_be16(p + kUrgent, h.urgent);

    const TcpOptions& o = h.options;
    std::uint8_t* q = p + kTcpMinHeaderLen;
    if (o.mss) {
        q[0] = option_kind::kMss;
        q[1] = kLenMss;
        net::store_be16(q + 2, *o.mss);
        q += 4;
    }
    if (o.timestamps) {
        if (o.sack_permitted) {
            q[0] = option_kind::kSackPermitted;
            q[1] = kLenSackPermitted;
        } else {
            q[0] = option_kind::kNop;
            q[1] = option_kind::kNop;
        }
        q[2] = option_kind::kTimestamps;
        q[3] = kLenTimestamps;
        net::store_be32(q + 4, o.timestamps->value);
        net::store_be32(q + 8, o.timestamps->echo);
        q += 12;
    } else if (o.sack_permitted) {
        q[0] = option_kind::kNop;
        q[1] = option_kind::kNop;
        q[2] = option_kind::kSackPermitted;
        q[3] = kLenSackPermitted;
        q += 4;
    }
    if (o.window_scale) {
        q[0] = option_kind::kNop;
        q[1] = option_kind::kWindowScale;
        q[2] = kLenWindowScale;
        q[3] = *o.window_scale;
        q += 4;
    }
    std::size_t blocks = sack_blocks_that_fit(o);
    if (blocks > 0) {
        q[0] = option_kind::kNop;
        q[1] = option_kind::kNop;
        q[2] = option_kind::kSack;
        q[3] = static_cast<std::uint8_t>(kLenSackBase + blocks * kLenSackBlock);
        q += 4;
        for (std::size_t b = 0; b < blocks; ++b) {
            net::store_be32(q, o.sack[b].left.raw());
            net::store_be32(q + 4, o.sack[b].right.raw());
            q += kLenSackBlock;
        }
    }
    return header_len;
}

void tcp_fill_checksum_v4(std::span<std::uint8_t> segment, net::Ipv4Addr src, net::Ipv4Addr dst) {
    store_checksum(segment, pseudo_v4(src, dst, segment.size()));
}

void tcp_fill_checksum_v6(std::span<std::uint8_t> segment, const net::Ipv6Addr& src,
                          const net::Ipv6Addr& dst) {
    store_checksum(segment, pseudo_v6(src, dst, segment.size()));
}

} // namespace smtpgw::tcp
