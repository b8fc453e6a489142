// console.h: the interactive shell of smtpgw-cli, made for a serial line.
//
// Purpose: prompt with the host name, line editing and history (libedit),
// tab completion and `?` help (a line ending in ?) asked from the daemon's
// command table, paging of long output; works at 80x24 and with TERM=vt100.
#pragma once

#include <string>
#include <vector>

#include "control_client.h"

namespace smtpgw::control {

// Runs until `exit`, `quit` or end of input. Returns the process exit status.
int run_console(ControlClient& client);

// Splits `text` into pages of `rows - 1` lines (the last row is the prompt).
std::vector<std::string> paginate(const std::string& text, int rows);

} // namespace smtpgw::control
