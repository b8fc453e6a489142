// bench_rig.h: what every fast-path benchmark sets up the same way: the
// EAL without hugepages or devices, and one DPDK ethdev over two rte_rings
// (the ring PMD), so synthetic frames enter and leave the real fast path
// with no kernel in the loop; the lab's WAN addressing for its port.
#pragma once

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "net/addr.h"
#include "net/l3_input.h"

namespace smtpgw::bench {

inline const net::MacAddr kGatewayMac{{0x02, 0, 0, 0, 0, 0x01}};
inline const net::MacAddr kPeerMac{{0x02, 0, 0, 0, 0, 0xfe}};
inline const net::Ipv4Addr kGateway4 = *net::parse_ipv4("203.0.113.1");

// The gateway's WAN port as the lab numbers it.
inline net::PortAddressing wan_addressing() {
    return {kGatewayMac, net::Ipv4Prefix{kGateway4, 24},
            *net::parse_ipv6_prefix("2001:db8:1::1/64"), net::link_local_from_mac(kGatewayMac)};
}

// One core, no hugepages, no PCI, no shared config: runs beside the lab.
// Returns false (and says why) when the EAL does not start.
inline bool start_eal(const char* name, unsigned memory_mb) {
    std::vector<std::string> args{name,
                                  "-l",
                                  "0",
                                  "--no-huge",
                                  "--no-pci",
                                  "-m",
                                  std::to_string(memory_mb),
                                  "--no-shconf",
                                  std::string("--file-prefix=") + name,
                                  "--log-level=lib.eal:error"};
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
        std::fprintf(stderr, "%s: EAL init failed\n", name);
        return false;
    }
    return true;
}

// An mbuf pool and a started ethdev whose RX reads `rx` and TX writes `tx`.
struct RingPort {
    rte_mempool* pool = nullptr;
    rte_ring* rx = nullptr; // frames to the gateway
    rte_ring* tx = nullptr; // frames from the gateway
    std::uint16_t port = 0;
};

// Error contract: an empty string, or what failed.
// `name` tells ports apart (a bench with a WAN and a LAN port makes two);
// `pool`: share an existing mbuf pool instead of making one.
inline std::string make_ring_port(RingPort& r, unsigned mbufs, unsigned ring_size,
                                  const std::string& name = "wan", rte_mempool* pool = nullptr) {
    auto socket = static_cast<int>(rte_socket_id());
    r.pool = pool ? pool
                  : rte_pktmbuf_pool_create(("bench_mbufs_" + name).c_str(), mbufs, 256, 0,
                                            RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    r.rx = rte_ring_create(("bench_rx_" + name).c_str(), ring_size, socket,
                           RING_F_SP_ENQ | RING_F_SC_DEQ);
    r.tx = rte_ring_create(("bench_tx_" + name).c_str(), ring_size, socket,
                           RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!r.pool || !r.rx || !r.tx)
        return "mempool or rings";
    int pid = rte_eth_from_rings(("bench_" + name).c_str(), &r.rx, 1, &r.tx, 1, rte_socket_id());
    if (pid < 0)
        return "rte_eth_from_rings";
    r.port = static_cast<std::uint16_t>(pid);
    rte_eth_conf conf{};
    if (rte_eth_dev_configure(r.port, 1, 1, &conf) != 0 ||
        rte_eth_rx_queue_setup(r.port, 0, 1024, rte_socket_id(), nullptr, r.pool) != 0 ||
        rte_eth_tx_queue_setup(r.port, 0, 1024, rte_socket_id(), nullptr) != 0 ||
        rte_eth_dev_start(r.port) != 0)
        return "ring ethdev setup";
    return {};
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace smtpgw::bench
