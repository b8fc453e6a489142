// dataplane_cli.h: the fast path's commands in the control plane's table:
// show version|status|interfaces|stats|neighbors|memory.
// Handlers run on the main lcore; they read single-writer counters and ask
// workers for anything else through their mailboxes.
#pragma once

#include "command_table.h"
#include "io/dataplane.h"

namespace smtpgw::io {

void register_dataplane_commands(control::CommandTable& table, Dataplane& dp);

// Memory report: the process allocator (jemalloc statistics when it is the
// allocator) and DPDK's heap and mbuf pool.
std::string memory_report(const Dataplane& dp);

} // namespace smtpgw::io
