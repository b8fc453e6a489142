// console.h: the interactive shell of smtpgw-cli, made for a serial line.
//
// Purpose: prompt with the host name, line editing and history (libedit),
// tab completion and `?` help (in place, without Enter) asked from the
// daemon's command table, paging of long output, the `monitor` live view;
// works at 80x24 and with TERM=vt100.
#pragma once

#include <string>
#include <vector>

#include "control_client.h"

namespace smtpgw::control {

// Runs until `exit`, `quit` or end of input. Returns the process exit status.
int run_console(ControlClient& client);

// The live view: `show monitor` redrawn every second until q (or Ctrl-C,
// Esc). Not on a terminal: one screen. Returns the exit status.
int run_monitor(ControlClient& client);

// Splits `text` into pages of `rows - 1` lines (the last row is the prompt).
std::vector<std::string> paginate(const std::string& text, int rows);

} // namespace smtpgw::control
