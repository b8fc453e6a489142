// tcp_net_sim.h: whole TcpStacks on a virtual network for the stack and
// lab-service tests: every emitted segment is encoded with the real codec,
// queued and delivered to the stack that owns its destination address, in
// virtual time (1 ms timer steps), optionally dropping every n-th segment.
#pragma once

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tcp/tcp_lab_services.h"
#include "tcp/tcp_stack.h"

#include <CppUTest/TestHarness.h>

namespace tcpnet {

using namespace smtpgw;
using namespace smtpgw::tcp;

inline net::Ipv6Addr v4(const char* text) { return net::v4_mapped(*net::parse_ipv4(text)); }
inline net::Ipv6Addr v6(const char* text) { return *net::parse_ipv6(text); }

struct Wire {
    net::Ipv6Addr src, dst;
    std::vector<std::uint8_t> bytes;
};

inline std::vector<std::uint8_t> encode(const FourTuple& t, const OutSegment& o) {
    std::vector<std::uint8_t> b(kTcpMaxHeaderLen + o.payload.size());
    std::size_t n = build_header(o.header, b);
    std::size_t copied = o.payload.copy_to({b.data() + n, o.payload.size()});
    b.resize(n + copied);
    if (t.local.is_v4_mapped())
        tcp_fill_checksum_v4(b, net::v4_unmapped(t.local), net::v4_unmapped(t.remote));
    else
        tcp_fill_checksum_v6(b, t.local, t.remote);
    return b;
}

// A network of stacks: every emitted segment is encoded, queued, and
// delivered to the stack owning its destination address.
struct Net;

struct Host final : SegmentSink {
    Host(Net& n, const TcpStackSettings& s, std::uint8_t key) : net(n) {
        TcpStackSecrets sec;
        sec.isn.bytes.fill(key);
        sec.cookie.bytes.fill(static_cast<std::uint8_t>(key + 1));
        sec.flow.bytes.fill(static_cast<std::uint8_t>(key + 2));
        stack = std::make_unique<TcpStack>(s, sec, counters, stack_counters, *this);
    }
    void emit(const FourTuple& t, const OutSegment& o) override;

    Net& net;
    TcpCounters counters;
    TcpStackCounters stack_counters;
    std::unique_ptr<TcpStack> stack;
    std::vector<Wire> sent; // everything this host emitted, for inspection
};

struct Net {
    std::vector<Wire> queue;
    std::map<std::string, Host*> hosts; // address text -> host
    std::uint64_t now = 1'000'000'000;
    std::uint32_t drop_every = 0; // 0: lossless; n: drop every n-th segment
    std::uint64_t counter = 0;

    // Applications must outlive their connections (TIME-WAIT included):
    // the network keeps them.
    std::vector<std::unique_ptr<struct Client>> apps;
    struct Client& client_app();

    void attach(const net::Ipv6Addr& a, Host& h) { hosts[net::to_string(a)] = &h; }

    void deliver_all() {
        for (int round = 0; round < 100000 && !queue.empty(); ++round) {
            auto batch = std::move(queue);
            queue.clear();
            for (auto& w : batch) {
                if (drop_every != 0 && ++counter % drop_every == 0)
                    continue;
                auto it = hosts.find(net::to_string(w.dst));
                if (it != hosts.end())
                    it->second->stack->input(w.src, w.dst, w.bytes, now);
            }
        }
    }
    // Advances virtual time in 1 ms steps, running every stack's timers.
    void run_ms(std::uint64_t ms) {
        for (std::uint64_t i = 0; i < ms; ++i) {
            now += kMs;
            for (auto& [addr, h] : hosts)
                h->stack->run_timers(now);
            deliver_all();
        }
    }
};

inline void Host::emit(const FourTuple& t, const OutSegment& o) {
    Wire w{t.local, t.remote, encode(t, o)};
    sent.push_back(w);
    net.queue.push_back(std::move(w));
}

// A client application: sends `to_send`, half-closes, collects everything.
struct Client final : StreamHandler {
    std::string to_send;
    std::size_t offset = 0;
    std::string received;
    std::size_t max_receive = ~std::size_t{0}; // stop reading here (the window closes)
    std::uint32_t events = 0;
    bool close_after_send = true;
    bool closed_sent = false;

    void on_events(TcpStack& s, ConnRef c, std::uint32_t ev, std::uint64_t) override {
        events |= ev;
        if (ev & app_event::kClosed)
            return;
        std::uint8_t buf[2048];
        while (received.size() < max_receive) {
            std::size_t want = std::min(sizeof buf, max_receive - received.size());
            std::size_t n = s.receive(c, {buf, want});
            if (n == 0)
                break;
            received.append(reinterpret_cast<const char*>(buf), n);
        }
        while (offset < to_send.size()) {
            std::size_t n = s.send(c, {reinterpret_cast<const std::uint8_t*>(to_send.data()) + offset,
                                       to_send.size() - offset});
            if (n == 0)
                break;
            offset += n;
        }
        if (close_after_send && offset == to_send.size() && !closed_sent &&
            (ev & (app_event::kEstablished | app_event::kSendSpace | app_event::kReadable |
                   app_event::kPeerClosed))) {
            closed_sent = true;
            s.close(c);
        }
    }
};

inline Client& Net::client_app() {
    apps.push_back(std::make_unique<Client>());
    return *apps.back();
}

// Connects `app` from `from` to `to`'s echo port and runs the network a while.
inline void client_connect_and_run(Net& n, Host& client, const net::Ipv6Addr& from,
                                   const net::Ipv6Addr& to, Client& app) {
    client.stack->connect(from, to, kEchoPort, app, n.now);
    n.deliver_all();
    n.run_ms(50);
}

inline std::string pattern(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& ch : s)
        ch = static_cast<char>(rng());
    return s;
}

inline TcpStackSettings small_settings() {
    TcpStackSettings s;
    s.max_connections = 64;
    s.syn_backlog_high = 8;
    s.syn_backlog_low = 4;
    s.time_wait_max = 16;
    return s;
}

inline const std::uint16_t kRelayPort = 10025;

// A server running echo, discard and chargen, and a client, on one network.
struct ServerAndClient : public Utest {
    Net net;
    std::unique_ptr<Host> server, client;
    EchoService echo;
    DiscardService discard;
    ChargenService chargen;

    void setup() override {
        server = std::make_unique<Host>(net, small_settings(), 1);
        client = std::make_unique<Host>(net, small_settings(), 7);
        CHECK_TRUE(server->stack->listen(kEchoPort, echo));
        CHECK_TRUE(server->stack->listen(kDiscardPort, discard));
        CHECK_TRUE(server->stack->listen(kChargenPort, chargen));
    }
};

} // namespace tcpnet

