// engine_info.cc: versions of the linked engines (see header).
#include "engine_info.h"

#include <clamav.h>
#include <hs/hs.h>
#include <openssl/crypto.h>

namespace smtpgw::scanners {

EngineInfo engine_info() {
    EngineInfo e;
    e.hyperscan_version = hs_version();
    e.hyperscan_platform_ok = hs_valid_platform() == HS_SUCCESS;
    e.clamav_version = cl_retver();
    e.openssl_version = OpenSSL_version(OPENSSL_VERSION);
    return e;
}

} // namespace smtpgw::scanners
