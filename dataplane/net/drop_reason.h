// drop_reason.h: the enum and metadata behind drop_reasons.def.
//
// Purpose: a reason table in the style of VPP's *_error.def: each drop is a
// counter with a severity and a sentence, shown by `show stats`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace smtpgw::net {

enum class DropReason : std::uint8_t {
#define SMTPGW_DROP(name, severity, sentence) name,
#include "net/drop_reasons.def"
#undef SMTPGW_DROP
    count_
};

inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::count_);

enum class Severity : std::uint8_t { info, warn, error };

// One row of a reason table: drops here, TCP events in tcp/tcp_events.h.
struct ReasonInfo {
    std::string_view name;
    Severity severity;
    std::string_view sentence;
};
using DropReasonInfo = ReasonInfo;

const DropReasonInfo& drop_reason_info(DropReason r);
std::string_view severity_name(Severity s);

} // namespace smtpgw::net
