// privileges.h: the daemon's capabilities after start-up.
//
// Purpose: the daemon starts as root because DPDK needs it (raw sockets or
// VFIO, hugepages, promiscuous mode). Once the ports are up, the control
// socket is bound and the antivirus workers run, almost none of that is
// needed again, and every capability kept is one an exploit of the fast
// path (which parses the internet's packets and SMTP) would inherit. So
// drop_capabilities() removes all but the few the running daemon uses, from
// the effective, permitted, inheritable, ambient and bounding sets, so none
// can come back, not even through an exec. Kept, and why:
//   CAP_SETUID, CAP_SETGID  start antivirus workers, which become smtpgw-av
//   CAP_CHOWN               give a worker its scratch folder
//   CAP_KILL                end a hung worker (another user's process)
//   CAP_SETPCAP             lets a new worker empty its own bounding set
//                           (it can only remove capabilities, never add)
//   CAP_IPC_LOCK            DPDK memory that VFIO pins (real boards)
// Error contract: "" or the system call that failed; a daemon that cannot
// drop must say so (it keeps running: refusing mail would not be safer).
#pragma once

#include <cstdint>
#include <string>

namespace smtpgw::daemon {

// The kept set as a capability bit mask (bit N: capability N).
std::uint64_t kept_capabilities();

std::string drop_capabilities();

// "CAP_CHOWN,CAP_KILL,..." for a mask (names of the kept ones; others by number).
std::string capability_names(std::uint64_t mask);

} // namespace smtpgw::daemon
