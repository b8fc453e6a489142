// tcp_events.cc: metadata table for tcp_events.def (see tcp_events.h).
#include "tcp/tcp_events.h"

#include <array>

namespace smtpgw::tcp {

namespace {
constexpr std::array<net::ReasonInfo, kTcpEventCount> kInfo{{
#define SMTPGW_TCP_EVENT(name, severity, sentence) {#name, net::Severity::severity, sentence},
#include "tcp/tcp_events.def"
#undef SMTPGW_TCP_EVENT
}};
} // namespace

const net::ReasonInfo& tcp_event_info(TcpEvent e) { return kInfo[static_cast<std::size_t>(e)]; }

} // namespace smtpgw::tcp
