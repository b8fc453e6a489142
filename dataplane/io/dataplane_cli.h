// dataplane_cli.h: the fast path's commands in the control plane's table:
// show version|status|interfaces|stats|neighbors|memory.
// Handlers run on the main lcore; they read single-writer counters and ask
// workers for anything else through their mailboxes.
#pragma once

#include "command_table.h"
#include "io/dataplane.h"
#include "monitor.h"

namespace smtpgw::io {

void register_dataplane_commands(control::CommandTable& table, Dataplane& dp);

// The live view's figures now (`monitor`): gauges and counters summed over
// every lcore and port. Racy reads of single-writer counters, for display.
control::MonitorSample monitor_sample(const Dataplane& dp, std::uint64_t second);
// `show monitor`: the live view's screen from `history` (sampled by the
// control loop once a second); the console's `monitor` redraws it.
void register_monitor_command(control::CommandTable& table, const control::MonitorHistory& history,
                              std::string title);

// Memory report: the process allocator (jemalloc statistics when it is the
// allocator) and DPDK's heap and mbuf pool.
std::string memory_report(const Dataplane& dp);

} // namespace smtpgw::io
