// tcp_stack_test.cc: the per-lcore connection table (tcp/tcp_stack.h):
// listeners, RST for closed ports, SYN cookies under a flood, table and
// TIME-WAIT bounds, port ownership, timers; whole stacks on tcp_net_sim.h.
#include "tcp_net_sim.h"

using namespace tcpnet;

TEST_GROUP_BASE(TcpStack, ServerAndClient){};

TEST(TcpStack, SegmentsForClosedPortsAreAnsweredWithRst) {
    auto ca = v4("192.0.2.10"), sa = v4("192.0.2.1");
    net.attach(ca, *client);
    net.attach(sa, *server);
    Client& app = net.client_app();
    ConnRef ref = client->stack->connect(ca, sa, 4444, app, net.now);
    net.deliver_all();
    CHECK_TRUE(app.events & app_event::kReset);
    CHECK_TRUE(app.events & app_event::kClosed);
    LONGS_EQUAL(1, server->stack_counters.read(TcpStackEvent::no_listener));
    LONGS_EQUAL(0, server->stack->connections());
    CHECK_FALSE(client->stack->info(ref).has_value()); // the handle went stale
}

TEST(TcpStack, StrayAckToAListeningPortIsReset) {
    auto ca = v4("192.0.2.10"), sa = v4("192.0.2.1");
    net.attach(sa, *server);
    OutSegment o{};
    o.header.src_port = 5555;
    o.header.dst_port = kEchoPort;
    o.header.seq = TcpSeq(100);
    o.header.ack = TcpSeq(200);
    o.header.flags = flags::kAck;
    o.header.window = 1000;
    FourTuple from{ca, sa, 5555, kEchoPort};
    server->stack->input(ca, sa, encode(from, o), net.now);
    LONGS_EQUAL(1, server->stack_counters.read(TcpStackEvent::stray_segment));
    LONGS_EQUAL(1, server->sent.size());
    Segment rst;
    CHECK(parse_segment(server->sent[0].bytes, rst) == TcpParseError::ok);
    CHECK_TRUE(rst.header.has(flags::kRst));
    CHECK(rst.header.seq == TcpSeq(200)); // RFC 9293 3.10.7.1: <SEQ=SEG.ACK>
}

TEST(TcpStack, MalformedAndBadChecksumSegmentsAreCountedNotAnswered) {
    auto ca = v4("192.0.2.10"), sa = v4("192.0.2.1");
    OutSegment o{};
    o.header.src_port = 5555;
    o.header.dst_port = kEchoPort;
    o.header.flags = flags::kSyn;
    FourTuple from{ca, sa, 5555, kEchoPort};
    auto good = encode(from, o);
    auto bad_sum = good;
    bad_sum[16] ^= 0x01;
    server->stack->input(ca, sa, bad_sum, net.now);
    std::vector<std::uint8_t> short_seg(good.begin(), good.begin() + 10);
    server->stack->input(ca, sa, short_seg, net.now);
    LONGS_EQUAL(1, server->counters.read(TcpEvent::bad_checksum));
    LONGS_EQUAL(1, server->counters.read(TcpEvent::malformed_truncated));
    LONGS_EQUAL(0, server->sent.size());
    LONGS_EQUAL(0, server->stack->connections());
}

TEST(TcpStack, RandomGarbageNeverCreatesStateOrCrashes) {
    auto ca = v4("192.0.2.10"), sa = v4("192.0.2.1");
    std::mt19937 rng(99);
    for (int i = 0; i < 20000; ++i) {
        std::vector<std::uint8_t> b(rng() % 80);
        for (auto& x : b)
            x = static_cast<std::uint8_t>(rng());
        if (b.size() >= 20 && (i & 1)) { // half of them with a valid checksum
            b[16] = b[17] = 0;
            tcp_fill_checksum_v4(b, net::v4_unmapped(ca), net::v4_unmapped(sa));
        }
        server->stack->input(ca, sa, b, net.now);
    }
    // Random SYNs may open half-open entries; never more than the backlog bound.
    CHECK_TRUE(server->stack->half_open() <= small_settings().syn_backlog_high);
    net.run_ms(1);
}

TEST(TcpStack, SynFloodTurnsOnCookiesAndARealClientStillConnects) {
    auto sa = v4("192.0.2.1"), ca = v4("192.0.2.10");
    net.attach(sa, *server);
    net.attach(ca, *client);
    // Spoofed SYNs: their SYN-ACKs go nowhere (no host owns 198.18.x.y).
    for (std::uint32_t i = 0; i < 100; ++i) {
        auto spoofed = net::v4_mapped(net::Ipv4Addr{0xc6120000u + i});
        OutSegment o{};
        o.header.src_port = static_cast<std::uint16_t>(1024 + i);
        o.header.dst_port = kEchoPort;
        o.header.seq = TcpSeq(i * 7919);
        o.header.flags = flags::kSyn;
        o.header.window = 65535;
        o.header.options.mss = 1460;
        server->stack->input(spoofed, sa, encode({spoofed, sa, o.header.src_port, kEchoPort}, o),
                             net.now);
    }
    net.deliver_all();
    LONGS_EQUAL(small_settings().syn_backlog_high, server->stack->half_open());
    CHECK_TRUE(server->stack->cookie_mode());
    LONGS_EQUAL(100 - small_settings().syn_backlog_high,
                server->stack_counters.read(TcpStackEvent::cookie_sent));

    Client& app = net.client_app();
    app.to_send = pattern(50000, 5);
    client->stack->connect(ca, sa, kEchoPort, app, net.now);
    net.deliver_all();
    net.run_ms(300);
    CHECK_TRUE(app.received == app.to_send);
    LONGS_EQUAL(1, server->stack_counters.read(TcpStackEvent::cookie_accepted));

    // The half-open entries give up after their SYN-ACK retransmissions and
    // the stack leaves cookie mode below the low watermark.
    net.run_ms(120'000);
    LONGS_EQUAL(0, server->stack->half_open());
    CHECK_FALSE(server->stack->cookie_mode());
    LONGS_EQUAL(0, server->stack->connections());
}

TEST(TcpStack, ForgedCookieAcksAreRejected) {
    auto sa = v4("192.0.2.1"), ca = v4("192.0.2.10");
    net.attach(sa, *server);
    // Enter cookie mode with spoofed SYNs first.
    for (std::uint32_t i = 0; i < 20; ++i) {
        auto spoofed = net::v4_mapped(net::Ipv4Addr{0xc6120000u + i});
        OutSegment o{};
        o.header.src_port = 2000;
        o.header.dst_port = kEchoPort;
        o.header.flags = flags::kSyn;
        server->stack->input(spoofed, sa, encode({spoofed, sa, 2000, kEchoPort}, o), net.now);
    }
    CHECK_TRUE(server->stack->cookie_mode());
    std::mt19937 rng(4);
    for (int i = 0; i < 1000; ++i) {
        OutSegment o{};
        o.header.src_port = 3000;
        o.header.dst_port = kEchoPort;
        o.header.seq = TcpSeq(rng());
        o.header.ack = TcpSeq(rng());
        o.header.flags = flags::kAck;
        server->stack->input(ca, sa, encode({ca, sa, 3000, kEchoPort}, o), net.now);
    }
    LONGS_EQUAL(1000, server->stack_counters.read(TcpStackEvent::cookie_rejected));
    LONGS_EQUAL(0, server->stack_counters.read(TcpStackEvent::cookie_accepted));
}

TEST(TcpStack, FullTableDropsSynsWithoutAnswering) {
    TcpStackSettings s = small_settings();
    s.max_connections = 16;
    s.syn_backlog_high = 1000; // no cookies: the table is the limit here
    s.syn_backlog_low = 8;
    Host tiny(net, s, 9);
    tiny.stack->listen(kEchoPort, echo);
    auto sa = v4("192.0.2.1");
    for (std::uint32_t i = 0; i < 40; ++i) {
        auto peer = net::v4_mapped(net::Ipv4Addr{0xc6120000u + i});
        OutSegment o{};
        o.header.src_port = 4000;
        o.header.dst_port = kEchoPort;
        o.header.flags = flags::kSyn;
        tiny.stack->input(peer, sa, encode({peer, sa, 4000, kEchoPort}, o), net.now);
    }
    LONGS_EQUAL(16, tiny.stack->connections());
    CHECK_TRUE(tiny.stack_counters.read(TcpStackEvent::table_full) > 0);
}

TEST(TcpStack, TimeWaitIsBoundedByRecyclingTheOldest) {
    auto ca = v4("192.0.2.10"), sa = v4("192.0.2.1");
    net.attach(ca, *client);
    net.attach(sa, *server);
    // The client closes first each time, so it holds the TIME-WAIT entries.
    for (int i = 0; i < 40; ++i) {
        Client& app = net.client_app();
        app.to_send.assign(1, 'x');
        client->stack->connect(ca, sa, kDiscardPort, app, net.now);
        net.deliver_all();
        net.run_ms(2);
    }
    LONGS_EQUAL(small_settings().time_wait_max, client->stack->time_wait());
    LONGS_EQUAL(40 - small_settings().time_wait_max,
                client->stack_counters.read(TcpStackEvent::time_wait_recycled));
    // TIME-WAIT ends after 2 MSL.
    net.run_ms(61'000);
    LONGS_EQUAL(0, client->stack->time_wait());
    LONGS_EQUAL(0, client->stack->connections());
}

namespace {
// A service that closes as soon as the connection is established, so the
// server is the active closer and keeps the TIME-WAIT entry.
struct CloseFirst final : StreamHandler {
    void on_events(TcpStack& s, ConnRef c, std::uint32_t ev, std::uint64_t) override {
        if (ev & app_event::kEstablished)
            s.close(c);
    }
};
} // namespace

TEST(TcpStack, NewSynAboveRcvNxtReusesATimeWaitTuple) {
    CloseFirst closer;
    const std::uint16_t kPort = 2222;
    server->stack->listen(kPort, closer);
    auto ca = v4("192.0.2.10"), sa = v4("192.0.2.1");
    net.attach(ca, *client);
    net.attach(sa, *server);
    Client& app = net.client_app();
    app.close_after_send = false;
    ConnRef ref = client->stack->connect(ca, sa, kPort, app, net.now);
    std::uint16_t cport = client->stack->info(ref)->tuple.local_port;
    net.deliver_all();
    CHECK_TRUE(app.events & app_event::kPeerClosed);
    client->stack->close(ref);
    net.deliver_all();
    LONGS_EQUAL(1, server->stack->time_wait());

    // An old duplicate SYN (below RCV.NXT) does not reopen the tuple ...
    OutSegment o{};
    o.header.src_port = cport;
    o.header.dst_port = kPort;
    o.header.flags = flags::kSyn;
    o.header.window = 65535;
    auto syn_at = [&](std::uint32_t seq) {
        o.header.seq = TcpSeq(seq);
        server->stack->input(ca, sa, encode({ca, sa, cport, kPort}, o), net.now);
    };
    // The client's ISS: the sequence number of its first SYN.
    Segment first;
    CHECK(parse_segment(client->sent.front().bytes, first) == TcpParseError::ok);
    std::uint32_t client_iss = first.header.seq.raw();
    syn_at(client_iss);
    LONGS_EQUAL(0, server->stack_counters.read(TcpStackEvent::time_wait_reused));
    LONGS_EQUAL(1, server->stack->time_wait());
    // ... a new one well above it does.
    syn_at(client_iss + 100000);
    LONGS_EQUAL(1, server->stack_counters.read(TcpStackEvent::time_wait_reused));
    LONGS_EQUAL(0, server->stack->time_wait());
    LONGS_EQUAL(1, server->stack->half_open());
}

TEST(TcpStack, StaleHandlesAreRefused) {
    auto ca = v4("192.0.2.10"), sa = v4("192.0.2.1");
    net.attach(ca, *client);
    net.attach(sa, *server);
    Client& app = net.client_app();
    ConnRef ref = client->stack->connect(ca, sa, 4444, app, net.now); // refused by RST
    net.deliver_all();
    const std::uint8_t byte = 1;
    LONGS_EQUAL(0, client->stack->send(ref, {&byte, 1}));
    LONGS_EQUAL(0, client->stack->readable(ref));
    client->stack->close(ref); // harmless
    client->stack->abort(ref);
    LONGS_EQUAL(0, client->stack->user(ref));
}

TEST(TcpStack, ActiveOpensUseOnlyPortsThisLcoreOwns) {
    TcpStackSettings s = small_settings();
    s.owner_count = 2;
    s.owner_index = 1;
    s.ephemeral_first = 50000;
    s.ephemeral_last = 50009; // five ports are ours
    Host h(net, s, 11);
    auto local = v4("192.0.2.10"), remote = v4("192.0.2.99"); // nobody answers
    Client& app = net.client_app();
    std::vector<std::uint16_t> ports;
    for (int i = 0; i < 6; ++i) {
        ConnRef r = h.stack->connect(local, remote, 25, app, net.now);
        if (r == kNoConn)
            break;
        ports.push_back(h.stack->info(r)->tuple.local_port);
    }
    LONGS_EQUAL(5, ports.size());
    for (auto p : ports)
        LONGS_EQUAL(1, p % 2);
    LONGS_EQUAL(1, h.stack_counters.read(TcpStackEvent::ports_exhausted));
}

TEST(TcpStack, TransfersSurviveLossThroughTheTimerWheel) {
    auto ca = v4("192.0.2.10"), sa = v4("192.0.2.1");
    net.attach(ca, *client);
    net.attach(sa, *server);
    net.drop_every = 13;
    Client& app = net.client_app();
    app.to_send = pattern(400000, 77);
    client->stack->connect(ca, sa, kEchoPort, app, net.now);
    net.deliver_all();
    net.run_ms(30'000);
    CHECK_TRUE(app.received == app.to_send);
}

TEST(TcpStack, SlotStateStaysSmall) {
    // Target of the design: under 1 KB per idle connection without buffers.
    CHECK_TRUE(TcpStack::slot_bytes() < 1024);
}

namespace {
// Refuses one address (silently or with RST) and records the lifecycle calls.
struct Gatekeeper final : SynAdmission {
    net::Ipv6Addr refused;
    net::Ipv6Addr known; // completed a handshake before: proven()
    Verdict refusal = Verdict::drop;
    int syns = 0, stateless = 0, established = 0, from_cookie = 0, half_open_gone = 0, closed = 0;
    Verdict on_syn(const FourTuple& t, bool stateful, std::uint64_t) override {
        ++syns;
        stateless += !stateful;
        return t.remote == refused ? refusal : Verdict::accept;
    }
    void on_established(const FourTuple&, bool was_half_open, std::uint64_t) override {
        ++established;
        from_cookie += !was_half_open;
    }
    void on_half_open_gone(const FourTuple&) override { ++half_open_gone; }
    void on_closed(const FourTuple&) override { ++closed; }
    bool proven(const FourTuple& t) const override { return t.remote == known; }
};

void syn_from(Host& server, const net::Ipv6Addr& from, const net::Ipv6Addr& to, std::uint16_t port,
              std::uint64_t now) {
    OutSegment o{};
    o.header.src_port = port;
    o.header.dst_port = kEchoPort;
    o.header.seq = TcpSeq(port * 7919u);
    o.header.flags = flags::kSyn;
    o.header.window = 65535;
    o.header.options.mss = 1460;
    server.stack->input(from, to, encode({from, to, port, kEchoPort}, o), now);
}
} // namespace

TEST(TcpStack, DuringCookiesAProvenPeerKeepsStateFromItsReserve) {
    // RFC 4987 3.6: a cookie's lost final ACK strands a client that waits
    // for the server to speak (SMTP); a peer that completed a handshake
    // before gets a half-open entry (its SYN-ACK is retransmitted) from
    // syn_backlog_proven beyond syn_backlog_high; others get cookies.
    TcpStackSettings s = small_settings();
    s.syn_backlog_proven = 2;
    Net n;
    Host srv(n, s, 1);
    EchoService svc;
    srv.stack->listen(kEchoPort, svc);
    Gatekeeper gate;
    gate.known = v4("192.0.2.10");
    srv.stack->set_admission(&gate);
    auto sa = v4("192.0.2.1");
    for (std::uint32_t i = 0; i < 20; ++i) // a spoofed flood
        syn_from(srv, net::v4_mapped(net::Ipv4Addr{0xc6120000u + i}), sa,
                 static_cast<std::uint16_t>(1024 + i), n.now);
    CHECK_TRUE(srv.stack->cookie_mode());
    LONGS_EQUAL(s.syn_backlog_high, srv.stack->half_open());
    const auto cookies = srv.stack_counters.read(TcpStackEvent::cookie_sent);
    struct Case {
        const char* from;
        std::uint16_t port;
        std::uint32_t half_open_after;
        std::uint64_t cookies_after;
    };
    const Case cases[] = {
        {"192.0.2.10", 5000, s.syn_backlog_high + 1, cookies},     // proven: state
        {"192.0.2.99", 5001, s.syn_backlog_high + 1, cookies + 1}, // unknown: cookie
        {"192.0.2.10", 5002, s.syn_backlog_high + 2, cookies + 1}, // proven: reserve's last
        {"192.0.2.10", 5003, s.syn_backlog_high + 2, cookies + 2}, // reserve used up: cookie
    };
    for (const auto& c : cases) {
        syn_from(srv, v4(c.from), sa, c.port, n.now);
        LONGS_EQUAL_TEXT(c.half_open_after, srv.stack->half_open(), c.from);
        LONGS_EQUAL_TEXT(c.cookies_after, srv.stack_counters.read(TcpStackEvent::cookie_sent),
                         c.from);
    }
    LONGS_EQUAL(2, srv.stack_counters.read(TcpStackEvent::syn_proven_stateful));
}

TEST(TcpStack, AdmissionRefusesAPeerBeforeAnyStateOrSynAck) {
    struct Case {
        SynAdmission::Verdict refusal;
        std::size_t segments_back; // what the refused peer receives
    };
    const Case cases[] = {{SynAdmission::Verdict::drop, 0}, {SynAdmission::Verdict::reset, 1}};
    for (const auto& c : cases) {
        Net n;
        Host srv(n, small_settings(), 1), cli(n, small_settings(), 7);
        EchoService svc;
        srv.stack->listen(kEchoPort, svc);
        Gatekeeper gate;
        gate.refused = v4("198.18.0.66");
        gate.refusal = c.refusal;
        srv.stack->set_admission(&gate);
        auto sa = v4("192.0.2.1");
        n.attach(sa, srv);
        n.attach(gate.refused, cli);
        Client& app = n.client_app();
        client_connect_and_run(n, cli, gate.refused, sa, app);
        LONGS_EQUAL(c.segments_back, srv.sent.size());
        LONGS_EQUAL(0, srv.stack->connections());
        LONGS_EQUAL(0, srv.stack->half_open());
        LONGS_EQUAL(0, gate.established);
    }
}

TEST(TcpStack, AdmissionHearsHowEveryAdmittedConnectionEnds) {
    Gatekeeper gate;
    server->stack->set_admission(&gate);
    auto ca = v4("192.0.2.10"), sa = v4("192.0.2.1");
    net.attach(ca, *client);
    net.attach(sa, *server);
    Client& app = net.client_app();
    app.to_send.assign(100, 'x');
    client->stack->connect(ca, sa, kEchoPort, app, net.now);
    net.deliver_all();
    net.run_ms(100);
    CHECK_TRUE(app.received == app.to_send);
    LONGS_EQUAL(1, gate.syns);
    LONGS_EQUAL(1, gate.established);
    LONGS_EQUAL(0, gate.from_cookie);
    LONGS_EQUAL(1, gate.closed);
    // A half-open entry that never completes (spoofed source) is reported gone.
    auto spoofed = v4("198.18.0.9");
    OutSegment o{};
    o.header.src_port = 1234;
    o.header.dst_port = kEchoPort;
    o.header.flags = flags::kSyn;
    server->stack->input(spoofed, sa, encode({spoofed, sa, 1234, kEchoPort}, o), net.now);
    net.run_ms(40'000);
    LONGS_EQUAL(2, gate.syns);
    LONGS_EQUAL(1, gate.half_open_gone);
    LONGS_EQUAL(1, gate.closed);
}

TEST(TcpStack, TimeWaitReleasesThePeersConcurrencyAtOnce) {
    // A peer whose connections the gateway closed first holds nothing in
    // TIME-WAIT: its per-peer count drops when TIME-WAIT starts, once.
    Gatekeeper gate;
    CloseFirst closer;
    constexpr std::uint16_t kPort = 2525;
    server->stack->listen(kPort, closer);
    server->stack->set_admission(&gate);
    auto ca = v4("192.0.2.10"), sa = v4("192.0.2.1");
    net.attach(ca, *client);
    net.attach(sa, *server);
    Client& app = net.client_app();
    app.close_after_send = false;
    ConnRef ref = client->stack->connect(ca, sa, kPort, app, net.now);
    net.deliver_all();
    client->stack->close(ref);
    net.deliver_all();
    LONGS_EQUAL(1, gate.established);
    LONGS_EQUAL(1, server->stack->time_wait());
    LONGS_EQUAL(1, gate.closed);
    net.run_ms(130'000); // past TIME-WAIT: no second report
    LONGS_EQUAL(0, server->stack->time_wait());
    LONGS_EQUAL(1, gate.closed);
}
