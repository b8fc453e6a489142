// tcp_tuple.h: the 4-tuple naming one TCP connection.
//
// Purpose: one type for the connection key used by SYN cookies and by the
// adapter's connection table. IPv4 addresses are stored v4-mapped
// (::ffff:a.b.c.d, net::v4_mapped), as the neighbor cache does, so one type
// serves both families. Ports are in host byte order.
#pragma once

#include <cstdint>

#include "net/addr.h"

namespace smtpgw::tcp {

struct FourTuple {
    net::Ipv6Addr local;
    net::Ipv6Addr remote;
    std::uint16_t local_port = 0;
    std::uint16_t remote_port = 0;
    bool operator==(const FourTuple&) const = default;
};

} // namespace smtpgw::tcp
