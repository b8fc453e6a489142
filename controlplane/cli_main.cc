// cli_main.cc: smtpgw-cli, the control-plane CLI and console shell.
//
//   smtpgw-cli [-s SOCKET] COMMAND...   run one command; exit 0 on success,
//                                        1 with the reason on stderr when the
//                                        gateway refused it, 2 when it cannot
//                                        be reached
//   smtpgw-cli [-s SOCKET]               interactive console
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "console.h"
#include "control_client.h"

using namespace smtpgw::control;

namespace {
std::string quote_arg(const std::string& a) {
    if (!a.empty() && a.find_first_of(" \t\"\\") == std::string::npos)
        return a;
    std::string q = "\"";
    for (char c : a) {
        if (c == '"' || c == '\\')
            q += '\\';
        q += c;
    }
    return q + "\"";
}
} // namespace

int main(int argc, char** argv) {
    std::string path = kDefaultControlSocket;
    if (const char* env = std::getenv("SMTPGW_CONTROL_SOCKET"))
        path = env;
    int i = 1;
    if (i + 1 < argc && std::strcmp(argv[i], "-s") == 0) {
        path = argv[i + 1];
        i += 2;
    }
    if (i < argc && (std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0)) {
        std::printf("usage: smtpgw-cli [-s SOCKET] [COMMAND...]\n"
                    "  without COMMAND: interactive console; 'help' lists commands\n");
        return 0;
    }
    ControlClient client;
    if (auto err = client.connect(path); !err.empty()) {
        std::fprintf(stderr, "smtpgw-cli: %s\n", err.c_str());
        return 2;
    }
    if (i >= argc)
        return run_console(client);
    if (i + 1 == argc && std::strcmp(argv[i], "monitor") == 0)
        return run_monitor(client);
    std::string line;
    for (; i < argc; ++i) {
        if (!line.empty())
            line += ' ';
        line += quote_arg(argv[i]);
    }
    // Progress of a long command goes to stderr, so stdout stays the answer.
    client.set_progress_handler([](const std::string& note) {
        std::fprintf(stderr, "smtpgw-cli: ... %s\n", note.c_str());
    });
    auto f = client.request(line);
    if (!f) {
        std::fprintf(stderr, "smtpgw-cli: %s\n", client.error().c_str());
        return 2;
    }
    if (!f->ok) {
        std::fprintf(stderr, "smtpgw-cli: %s\n", f->payload.c_str());
        return 1;
    }
    std::fputs(f->payload.c_str(), stdout);
    return 0;
}
