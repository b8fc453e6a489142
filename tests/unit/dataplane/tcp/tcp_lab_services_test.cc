// tcp_lab_services_test.cc: echo, discard, chargen and the relay
// (tcp/tcp_lab_services.h) between whole stacks on tcp_net_sim.h.
#include "tcp_net_sim.h"

using namespace tcpnet;

TEST_GROUP_BASE(TcpLabServices, ServerAndClient){};

namespace {
// The relay's world: the client on 192.0.2.10, the gateway on WAN 192.0.2.1
// and LAN 198.51.100.1 running the relay, the LAN server on 198.51.100.25.
struct RelayLab {
    explicit RelayLab(Net& n, Host& client)
        : gateway(n, small_settings(), 21), lan_server(n, small_settings(), 31),
          relay(targets(), 8) {
        gateway.stack->listen(kRelayPort, relay);
        n.attach(client_addr, client);
        n.attach(wan, gateway);
        n.attach(targets().local4, gateway);
        n.attach(targets().remote4, lan_server);
    }
    static RelayTargets targets() {
        RelayTargets t;
        t.local4 = v4("198.51.100.1");
        t.remote4 = v4("198.51.100.25");
        t.remote_port = kRelayPort;
        return t;
    }
    net::Ipv6Addr client_addr = v4("192.0.2.10"), wan = v4("192.0.2.1");
    Host gateway, lan_server;
    RelayService relay;
};
} // namespace

TEST(TcpLabServices, EchoReturnsEveryByteForEachFamilyAndSize) {
    struct Case {
        const char* client_addr;
        const char* server_addr;
        std::size_t bytes;
    };
    const Case cases[] = {
        {"192.0.2.10", "192.0.2.1", 0},         {"192.0.2.10", "192.0.2.1", 1},
        {"192.0.2.10", "192.0.2.1", 1460},      {"192.0.2.10", "192.0.2.1", 300000},
        {"2001:db8::10", "2001:db8::1", 1},     {"2001:db8::10", "2001:db8::1", 300000},
    };
    int i = 0;
    for (const auto& c : cases) {
        bool is6 = std::string(c.client_addr).find(':') != std::string::npos;
        auto ca = is6 ? v6(c.client_addr) : v4(c.client_addr);
        auto sa = is6 ? v6(c.server_addr) : v4(c.server_addr);
        net.attach(ca, *client);
        net.attach(sa, *server);
        Client& app = net.client_app();
        app.to_send = pattern(c.bytes, static_cast<std::uint32_t>(++i));
        ConnRef ref = client->stack->connect(ca, sa, kEchoPort, app, net.now);
        CHECK_FALSE(ref == kNoConn);
        net.deliver_all();
        net.run_ms(200);
        CHECK_TEXT(app.received == app.to_send, c.client_addr);
        CHECK_TRUE(app.events & app_event::kPeerClosed);
    }
    // The server side closed after the client (passive close): nothing left there.
    net.run_ms(1000);
    LONGS_EQUAL(0, server->stack->connections());
}

TEST(TcpLabServices, ChargenStreamsItsPatternUntilTheReaderCloses) {
    auto ca = v4("192.0.2.10"), sa = v4("192.0.2.1");
    net.attach(ca, *client);
    net.attach(sa, *server);
    Client& app = net.client_app();
    app.close_after_send = false;
    app.max_receive = 300000; // then the window closes and chargen must stop
    ConnRef ref = client->stack->connect(ca, sa, kChargenPort, app, net.now);
    net.deliver_all();
    net.run_ms(5);
    LONGS_EQUAL(300000, app.received.size());
    for (std::size_t k = 0; k < app.received.size(); ++k)
        if (static_cast<std::uint8_t>(app.received[k]) != k % kChargenPeriod)
            FAIL("chargen byte out of pattern");
    // The reader leaves with unread data: it resets, as a kernel does (RFC 2525 2.17).
    client->stack->abort(ref);
    net.run_ms(10);
    LONGS_EQUAL(0, server->stack->connections());
}

TEST(TcpLabServices, DiscardSwallowsDataAndClosesOnFin) {
    auto ca = v4("192.0.2.10"), sa = v4("192.0.2.1");
    net.attach(ca, *client);
    net.attach(sa, *server);
    Client& app = net.client_app();
    app.to_send = pattern(100000, 3);
    client->stack->connect(ca, sa, kDiscardPort, app, net.now);
    net.deliver_all();
    net.run_ms(300);
    CHECK_TRUE(app.received.empty());
    CHECK_TRUE(app.events & app_event::kPeerClosed);
}

TEST(TcpLabServices, RelaySplicesAWanClientToTheLanServerBothWays) {
    RelayLab lab(net, *client); // the LAN server runs echo
    EchoService lan_echo;
    lab.lan_server.stack->listen(kRelayPort, lan_echo);
    for (std::size_t bytes : {std::size_t{0}, std::size_t{1}, std::size_t{200000}}) {
        Client& app = net.client_app();
        app.to_send = pattern(bytes, static_cast<std::uint32_t>(bytes));
        client->stack->connect(lab.client_addr, lab.wan, kRelayPort, app, net.now);
        net.deliver_all();
        net.run_ms(500);
        CHECK_EQUAL(app.to_send.size(), app.received.size());
        CHECK_TRUE(app.received == app.to_send);
        CHECK_TEXT(app.events & app_event::kPeerClosed, std::to_string(bytes).c_str());
    }
    net.run_ms(61'000);
    LONGS_EQUAL(0, lab.relay.active_pairs());
    LONGS_EQUAL(0, lab.gateway.stack->connections());
}

TEST(TcpLabServices, RelayResetsTheClientWhenTheLanServerRefuses) {
    RelayLab lab(net, *client); // the LAN server listens nowhere: RST
    Client& app = net.client_app();
    app.to_send.assign(5, 'h');
    client->stack->connect(lab.client_addr, lab.wan, kRelayPort, app, net.now);
    net.deliver_all();
    net.run_ms(10);
    CHECK_TRUE(app.events & app_event::kReset);
    LONGS_EQUAL(0, lab.relay.active_pairs());
}

