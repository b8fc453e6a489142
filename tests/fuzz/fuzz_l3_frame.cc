// fuzz_l3_frame.cc: the L2/L3 input path (dataplane/net/l3_input) on any
// frame: Ethernet, ARP, IPv4, IPv6, ICMP/ICMPv6, ND, and the TCP header and
// options of segments addressed to us. Properties: the handler never writes
// past the buffer's capacity (ASan sees the exact-size buffer), keeps the
// buffer, returns a valid verdict and drop reason, a reply fits the
// capacity; a segment handed to TCP parses, and its options parse alone.
// When the first byte says so, the IPv4 header checksum and the ICMP or
// ICMPv6 checksum are filled in, so mutations get past those checks and
// reach the handlers behind them.
#include <cstring>
#include <vector>

#include "fuzz_util.h"
#include "net/checksum.h"
#include "net/l3_input.h"
#include "tcp/tcp_packet.h"

using namespace smtpgw;

namespace {

void put16(std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}

// IPv4 header and ICMP checksums; ICMPv6 (pseudo-header) for IPv6.
void fix_checksums(std::uint8_t* f, std::size_t len) {
    if (len < 14)
        return;
    std::uint16_t type = static_cast<std::uint16_t>(f[12] << 8 | f[13]);
    std::uint8_t* ip = f + 14;
    std::size_t iplen = len - 14;
    if (type == 0x0800 && iplen >= 20) {
        std::size_t ihl = (ip[0] & 15u) * 4;
        if (ihl < 20 || ihl > iplen)
            return;
        put16(ip + 10, 0);
        put16(ip + 10, net::checksum_fold(net::checksum_add(0, ip, ihl)));
        if (ip[9] == 1 && iplen >= ihl + 4) { // ICMP
            put16(ip + ihl + 2, 0);
            put16(ip + ihl + 2, net::checksum_fold(net::checksum_add(0, ip + ihl, iplen - ihl)));
        }
    } else if (type == 0x86dd && iplen >= 44 && ip[6] == 58) { // ICMPv6 right after the header
        net::Ipv6Addr src, dst;
        std::memcpy(src.bytes.data(), ip + 8, 16);
        std::memcpy(dst.bytes.data(), ip + 24, 16);
        std::size_t l4 = iplen - 40;
        put16(ip + 42, 0);
        std::uint32_t sum = net::pseudo_header_v6(src, dst, 58, static_cast<std::uint32_t>(l4));
        put16(ip + 42, net::checksum_fold(net::checksum_add(sum, ip + 40, l4)));
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Input in(data, size);
    std::uint8_t knobs = in.byte();
    std::size_t extra = knobs & 63; // room for replies longer than the request
    auto bytes = in.rest();
    static const net::MacAddr mac{{0x02, 0, 0, 0, 0, 1}};
    static const net::PortAddressing addressing{mac, *net::parse_ipv4_prefix("203.0.113.1/24"),
                                                *net::parse_ipv6_prefix("2001:db8:1::1/64"),
                                                net::link_local_from_mac(mac)};
    net::PortL3State port{addressing, net::NeighborCache(16, 300'000'000'000ull)};
    std::vector<std::uint8_t> buf(bytes.begin(), bytes.end());
    buf.resize(bytes.size() + extra);
    if (knobs & 0x80)
        fix_checksums(buf.data(), bytes.size());
    net::FrameBuffer fb{buf.data(), bytes.size(), buf.size()};
    net::FrameResult r = net::handle_frame(fb, port, 1'000'000'000ull);
    fuzz::require(fb.data == buf.data() && fb.capacity == buf.size(), "the buffer is kept");
    fuzz::require(fb.length <= fb.capacity, "the frame fits its buffer");
    fuzz::require(static_cast<unsigned>(r.verdict) <= 3, "a valid verdict");
    if (r.verdict == net::FrameVerdict::drop)
        fuzz::require(r.reason < net::DropReason::count_, "a valid drop reason");
    // Any bytes as a TCP segment and as an options area: parse or refuse.
    tcp::Segment seg;
    (void)tcp::parse_segment(bytes, seg);
    tcp::TcpOptions opts;
    (void)tcp::parse_options(bytes.subspan(0, std::min<std::size_t>(bytes.size(), 40)), opts);
    return 0;
}
