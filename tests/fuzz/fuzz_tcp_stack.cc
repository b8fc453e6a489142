// fuzz_tcp_stack.cc: the userspace TCP (dataplane/tcp: TcpStack and the
// control blocks behind it) fed arbitrary segment sequences from a few
// peers, with the echo service listening. Each step's header is chosen by
// the fuzzer, with its sequence and acknowledgment numbers either raw or
// near what the stack last sent that peer (so handshakes complete and
// established states are reached), options, payload and time advancing;
// checksums are filled so segments reach the state machine. Properties:
// every segment the stack emits parses back with a valid header; it never
// holds more connections than max_connections; the stack survives any
// sequence with its timers running to the end.
#include <array>
#include <vector>

#include "fuzz_util.h"
#include "tcp/tcp_lab_services.h"
#include "tcp/tcp_stack.h"

using namespace smtpgw;
using namespace smtpgw::tcp;

namespace {

const net::Ipv6Addr kUs = net::v4_mapped(net::Ipv4Addr{0xcb007101});   // 203.0.113.1
const net::Ipv6Addr kPeer = net::v4_mapped(net::Ipv4Addr{0xcb00710a}); // 203.0.113.10

struct Sink final : SegmentSink {
    // What the stack last sent each peer port: their next seq is our ack.
    std::array<TcpSeq, 4> last_seq{}, last_ack{};
    std::size_t emitted = 0;
    void emit(const FourTuple& tuple, const OutSegment& seg) override {
        ++emitted;
        fuzz::require(seg.header.src_port == tuple.local_port, "source port is ours");
        std::uint16_t peer = tuple.remote_port;
        last_seq[peer % 4] = seg.header.seq + static_cast<std::uint32_t>(seg.payload.size()) +
                             (seg.header.has(flags::kSyn) ? 1u : 0u) +
                             (seg.header.has(flags::kFin) ? 1u : 0u);
        last_ack[peer % 4] = seg.header.ack;
        std::array<std::uint8_t, kTcpMaxHeaderLen> hdr{};
        std::size_t n = build_header(seg.header, hdr);
        fuzz::require(n >= kTcpMinHeaderLen && n <= kTcpMaxHeaderLen, "a valid header length");
        Segment back;
        fuzz::require(parse_segment(std::span(hdr.data(), n), back) == TcpParseError::ok,
                      "every emitted header parses back");
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Input in(data, size);
    TcpStackSettings settings;
    settings.max_connections = 8;
    settings.syn_backlog_high = 4;
    settings.syn_backlog_low = 2;
    settings.time_wait_max = 4;
    TcpStackSecrets secrets{};
    TcpCounters counters;
    TcpStackCounters stack_counters;
    Sink sink;
    TcpStack stack(settings, secrets, counters, stack_counters, sink);
    EchoService echo;
    stack.listen(kEchoPort, echo);
    std::uint64_t now = 1'000'000'000;
    std::vector<std::uint8_t> seg;
    for (int step = 0; step < 64 && in.rest().size() >= 8; ++step) {
        std::uint8_t peer = in.byte() % 4;
        TcpHeader h;
        h.src_port = static_cast<std::uint16_t>(40000 + peer);
        h.dst_port = in.byte() & 1 ? kEchoPort : static_cast<std::uint16_t>(in.byte());
        h.flags = in.byte();
        std::uint8_t mode = in.byte();
        // Near what we said last (so the handshake and data flow), or raw.
        h.seq = mode & 1 ? sink.last_ack[peer] + (mode >> 4)
                         : TcpSeq(static_cast<std::uint32_t>(in.byte()) << 24 | in.byte());
        h.ack = mode & 2 ? sink.last_seq[peer] - ((mode >> 2) & 3)
                         : TcpSeq(static_cast<std::uint32_t>(in.byte()) << 24 | in.byte());
        h.window = static_cast<std::uint16_t>(in.byte() << 8 | in.byte());
        std::uint8_t opt = in.byte();
        if (opt & 1)
            h.options.mss = static_cast<std::uint16_t>(in.byte() << 4);
        if (opt & 2)
            h.options.window_scale = in.byte() & 15;
        if (opt & 4)
            h.options.timestamps = Timestamps{in.byte() * 1000u, in.byte()};
        h.options.sack_permitted = opt & 8;
        std::size_t payload = in.byte() % 64;
        seg.assign(kTcpMaxHeaderLen + payload, 0);
        std::size_t hl = build_header(h, std::span(seg.data(), kTcpMaxHeaderLen));
        seg.resize(hl);
        for (std::size_t i = 0; i < payload; ++i)
            seg.push_back(in.byte());
        tcp_fill_checksum_v4(seg, net::v4_unmapped(kPeer), net::v4_unmapped(kUs));
        stack.input(kPeer, kUs, seg, now);
        fuzz::require(stack.connections() <= settings.max_connections,
                      "never more connections than max_connections");
        now += static_cast<std::uint64_t>(in.byte()) * 10'000'000; // 0..2.5 s
        stack.run_timers(now);
    }
    // Let every timer run out: retransmissions, TIME-WAIT, idle.
    for (int i = 0; i < 40; ++i) {
        now += 5'000'000'000;
        stack.run_timers(now);
    }
    return 0;
}
