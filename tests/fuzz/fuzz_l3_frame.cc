// fuzz_l3_frame.cc: the L2/L3 input path (dataplane/net/l3_input) on any
// frame: Ethernet, ARP, IPv4, IPv6, ICMP/ICMPv6, ND, and the TCP header and
// options of segments addressed to us. Properties: the handler never writes
// past the buffer's capacity (ASan sees the exact-size buffer), keeps the
// buffer, returns a valid verdict and drop reason, a reply fits the
// capacity; a segment handed to TCP parses, and its options parse alone.
#include <vector>

#include "fuzz_util.h"
#include "net/l3_input.h"
#include "tcp/tcp_packet.h"

using namespace smtpgw;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Input in(data, size);
    std::size_t extra = in.byte() & 63; // room for replies longer than the request
    auto bytes = in.rest();
    static const net::MacAddr mac{{0x02, 0, 0, 0, 0, 1}};
    static const net::PortAddressing addressing{mac, *net::parse_ipv4_prefix("203.0.113.1/24"),
                                                *net::parse_ipv6_prefix("2001:db8:1::1/64"),
                                                net::link_local_from_mac(mac)};
    net::PortL3State port{addressing, net::NeighborCache(16, 300'000'000'000ull)};
    std::vector<std::uint8_t> buf(bytes.begin(), bytes.end());
    buf.resize(bytes.size() + extra);
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
