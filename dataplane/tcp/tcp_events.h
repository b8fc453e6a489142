// tcp_events.h: the enum, metadata and counters behind tcp_events.def.
//
// Purpose: a reason table in the style of VPP's tcp_error.def: every abnormal
// event in the TCP core is a counter with a severity and a sentence, never a
// log line. Counters are owned by the per-lcore caller and passed to each
// control block by reference (single writer, see net/counters.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "net/counters.h"
#include "net/drop_reason.h"

namespace smtpgw::tcp {

enum class TcpEvent : std::uint8_t {
#define SMTPGW_TCP_EVENT(name, severity, sentence) name,
#include "tcp/tcp_events.def"
#undef SMTPGW_TCP_EVENT
    count_
};

inline constexpr std::size_t kTcpEventCount = static_cast<std::size_t>(TcpEvent::count_);

const net::ReasonInfo& tcp_event_info(TcpEvent e);

using TcpCounters = net::CounterTable<TcpEvent, kTcpEventCount>;

} // namespace smtpgw::tcp
