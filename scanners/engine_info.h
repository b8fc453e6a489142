// engine_info.h: identity and health of the content-scanning engines.
//
// Purpose: tell the administrator which Hyperscan, libclamav and OpenSSL the
// firmware runs and whether this CPU can run Hyperscan at all (it needs
// SSSE3): `show version` and the board bring-up check print it.
// The MIME decoder, the signature stage and the antivirus workers join this
// library as they are built.
#pragma once

#include <string>

namespace smtpgw::scanners {

struct EngineInfo {
    std::string hyperscan_version;
    bool hyperscan_platform_ok = false; // hs_valid_platform(): SSSE3 present
    std::string clamav_version;
    std::string openssl_version;
};

EngineInfo engine_info();

} // namespace smtpgw::scanners
