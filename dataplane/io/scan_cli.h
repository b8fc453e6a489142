// scan_cli.h: the content-scanning commands of the control plane:
// `show rules`, `rules reload`, `show av`, `av reload`.
//
// Purpose: what the administrator asks of the scanners: which rules run
// (id, target, action, description, file line) and what they decided;
// which antivirus engine runs, how busy it is, and what its last reload
// cost in memory. Reloads compile or load on the control thread and swap
// (rules: a new set in the SMTP settings every lcore takes for its next
// messages; antivirus: a new engine the scanner threads take at their next
// job), so traffic never pauses. A failed reload keeps the running one and
// says why (FILE:LINE: reason for rules).
#pragma once

#include <functional>

#include "board_profile.h"
#include "command_table.h"
#include "io/dataplane.h"

namespace smtpgw::io {

// `running` gives the running board settings (scan.rules_file, scan.av_database).
void register_scan_commands(control::CommandTable& table, Dataplane& dp,
                            std::function<const board::BoardProfile&()> running);

} // namespace smtpgw::io
