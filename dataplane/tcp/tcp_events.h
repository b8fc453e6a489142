// tcp_events.h: the enum, metadata and counters behind tcp_events.def.
//
// Purpose: a reason table in the style of VPP's tcp_error.def: every abnormal
// event in the TCP core is a counter with a severity and a sentence, never a
// log line. Counters are owned by the per-lcore caller and passed to each
// control block by reference (single writer, see net/counters.h).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

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

struct TcpEventInfo {
    std::string_view name;
    net::Severity severity;
    std::string_view sentence;
};

const TcpEventInfo& tcp_event_info(TcpEvent e);

struct TcpCounters {
    std::array<net::Counter, kTcpEventCount> by_event{};

    void count(TcpEvent e) { by_event[static_cast<std::size_t>(e)].add(); }
    std::uint64_t read(TcpEvent e) const { return by_event[static_cast<std::size_t>(e)].read(); }
};

} // namespace smtpgw::tcp
