// drop_reason.cc: metadata table for drop_reasons.def.
#include "net/drop_reason.h"

#include <array>

namespace smtpgw::net {

namespace {
constexpr std::array<DropReasonInfo, kDropReasonCount> kInfo{{
#define SMTPGW_DROP(name, severity, sentence) {#name, Severity::severity, sentence},
#include "net/drop_reasons.def"
#undef SMTPGW_DROP
}};
} // namespace

const DropReasonInfo& drop_reason_info(DropReason r) {
    static constexpr DropReasonInfo kNone{"none", Severity::info, "not a drop"};
    auto i = static_cast<std::size_t>(r);
    return i < kInfo.size() ? kInfo[i] : kNone; // count_ marks results that are not drops
}

std::string_view severity_name(Severity s) {
    switch (s) {
    case Severity::info:
        return "info";
    case Severity::warn:
        return "warn";
    case Severity::error:
        return "error";
    }
    return "?";
}

} // namespace smtpgw::net
