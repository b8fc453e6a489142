// smtpgw_main.cc: the appliance daemon: the DPDK fast path plus its control
// endpoint on the main lcore.
//
//   smtpgw [--board NAME|FILE] [--control-socket PATH] [--check]
//
// --board    a board profile file, or the name of an embedded one
//            (default: virtual, the lab)
// --check    parse the board, print the EAL arguments it implies, exit
// The daemon stops cleanly on SIGINT/SIGTERM: workers joined, ports stopped
// and closed; it never touches network namespaces (scripts/lab owns them).
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "board_profile.h"
#include "command_table.h"
#include "control_server.h"
#include "io/peer_filter_control.h"
#include "io/dataplane.h"
#include "io/dataplane_cli.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

int usage() {
    std::fprintf(stderr, "usage: smtpgw [--board NAME|FILE] [--control-socket PATH] [--check]\n");
    return 64;
}

} // namespace

int main(int argc, char** argv) {
    std::string board_arg = "virtual", socket_override;
    bool check_only = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--board" && i + 1 < argc)
            board_arg = argv[++i];
        else if (a == "--control-socket" && i + 1 < argc)
            socket_override = argv[++i];
        else if (a == "--check")
            check_only = true;
        else
            return usage();
    }

    std::string text, source = board_arg;
    if (const char* embedded = smtpgw::board::embedded_board_text(board_arg)) {
        text = embedded;
        source = "<embedded:" + board_arg + ">";
    } else {
        std::ifstream in(board_arg);
        if (!in) {
            std::fprintf(stderr, "smtpgw: no board '%s' (not embedded, no such file)\n",
                         board_arg.c_str());
            return 66;
        }
        std::stringstream ss;
        ss << in.rdbuf();
        text = ss.str();
    }
    auto parsed = smtpgw::board::parse_board_profile(text, source);
    if (auto* err = std::get_if<smtpgw::board::BoardError>(&parsed)) {
        std::fprintf(stderr, "smtpgw: %s\n", err->message.c_str());
        return 65;
    }
    auto board = std::get<smtpgw::board::BoardProfile>(std::move(parsed));
    if (!socket_override.empty())
        board.control_socket = socket_override;

    std::vector<std::string> eal = smtpgw::board::eal_arguments(board, "smtpgw");
    if (check_only) {
        std::printf("board %s: %s\nEAL:", board.name.c_str(), board.description.c_str());
        for (const auto& a : eal)
            std::printf(" %s", a.c_str());
        std::printf("\n");
        return 0;
    }

    std::vector<char*> eal_argv;
    std::string argv0 = argv[0];
    eal_argv.push_back(argv0.data());
    for (auto& a : eal)
        eal_argv.push_back(a.data());
    eal_argv.push_back(nullptr);

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);

    smtpgw::io::Dataplane dp(board);
    if (auto err = dp.init(static_cast<int>(eal_argv.size() - 1), eal_argv.data()); !err.empty()) {
        std::fprintf(stderr, "smtpgw: %s\n", err.c_str());
        dp.stop();
        return 1;
    }
    smtpgw::control::CommandTable table;
    table.add({"help", "list every command", {}, false, [&table](const auto&) {
                   return smtpgw::control::CommandResult::success(table.help_all());
               }});
    smtpgw::io::register_dataplane_commands(table, dp);
    smtpgw::io::PeerFilterControl peer_filter(dp, board.peer_filter_state_file,
                                              board.peer_filter_max_entries,
                                              board.peer_filter_action);
    peer_filter.register_commands(table);
    dp.set_auto_list_seconds(board.peer_filter_auto_list_s);

    smtpgw::control::ControlServer server(board.control_socket, table);
    if (auto err = server.start(); !err.empty()) {
        std::fprintf(stderr, "smtpgw: control socket: %s\n", err.c_str());
        dp.stop();
        return 1;
    }
    if (auto err = dp.start(); !err.empty()) {
        std::fprintf(stderr, "smtpgw: %s\n", err.c_str());
        dp.stop();
        return 1;
    }
    if (auto err = peer_filter.start(); !err.empty())
        std::fprintf(stderr, "smtpgw: peer filter: %s (starting with an empty table)\n", err.c_str());
    std::fprintf(stderr, "smtpgw: ready: board %s, %zu ports, %zu fast-path lcores, control %s\n",
                 board.name.c_str(), dp.ports().size(), dp.workers().size(),
                 board.control_socket.c_str());
    // One line per message and per refused attempt (smtp/smtp_proxy.h),
    // written here, off the fast path.
    std::FILE* mail_log = nullptr;
    if (!board.smtp.log_file.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(
            std::filesystem::path(board.smtp.log_file).parent_path(), ec);
        mail_log = std::fopen(board.smtp.log_file.c_str(), "a");
        if (!mail_log)
            std::fprintf(stderr, "smtpgw: cannot open the mail log %s; logging to stderr\n",
                         board.smtp.log_file.c_str());
    }
    while (!g_stop) {
        server.poll_once(100);
        peer_filter.tick(); // dynamic entries expire here, off the fast path
        for (const auto& line : dp.take_smtp_log_lines()) {
            char stamp[32];
            std::time_t t = std::time(nullptr);
            std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
            std::fprintf(mail_log ? mail_log : stderr, "%s smtpgw: %s\n", stamp, line.c_str());
        }
        if (mail_log)
            std::fflush(mail_log);
    }
    if (mail_log)
        std::fclose(mail_log);
    std::fprintf(stderr, "smtpgw: stopping\n");
    dp.stop();
    std::fprintf(stderr, "smtpgw: stopped\n");
    return 0;
}
