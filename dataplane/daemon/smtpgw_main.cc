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
#include <chrono>
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

#include <rte_log.h>

#include "board_profile.h"
#include "command_table.h"
#include "control_server.h"
#include "daemon/privileges.h"
#include "daemon_log.h"
#include "io/dataplane.h"
#include "io/dataplane_cli.h"
#include "io/metrics_collect.h"
#include "io/peer_filter_control.h"
#include "io/scan_cli.h"
#include "io/settings_store.h"
#include "metrics_http.h"
#include "running_config.h"
#include "syslog_sink.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
    g_stop = 1;
}

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
    // The startup configuration's settings go into the profile before
    // anything is sized from it (tables, listeners); the whole file runs
    // again once the gateway is up, which reports any bad line.
    const smtpgw::board::BoardProfile board_file = board;
    if (!board.config_file.empty() && std::filesystem::exists(board.config_file)) {
        std::string err;
        if (auto startup = smtpgw::control::RunningConfig::read_file(board.config_file, &err))
            for (const auto& line : smtpgw::control::RunningConfig::set_lines(*startup))
                (void)smtpgw::board::apply_setting(board, line.key, line.value);
    }

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
    smtpgw::io::PeerFilterControl peer_filter(
        dp, board.peer_filter_state_file, board.peer_filter_max_entries, board.peer_filter_action);
    peer_filter.register_commands(table);
    smtpgw::io::BoardSettings settings(board_file, board, dp, peer_filter);
    smtpgw::control::RunningConfig config(table, settings, board.config_file, [] {
        return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::steady_clock::now().time_since_epoch())
                                              .count());
    });
    // `log level` also drives DPDK's own messages (EAL, PMDs).
    smtpgw::control::LogControl log_control([](smtpgw::control::LogLevel level) {
        constexpr std::uint32_t kDpdk[] = {RTE_LOG_ERR, RTE_LOG_WARNING, RTE_LOG_INFO,
                                           RTE_LOG_DEBUG};
        rte_log_set_global_level(kDpdk[static_cast<int>(level)]);
    });
    log_control.register_commands(table);
    table.add(
        {"tls reload",
         "read the STARTTLS certificates again (running sessions keep theirs; tickets stay valid)",
         {},
         0,
         [&](const smtpgw::control::CommandArgs&) {
             if (auto why = dp.set_smtp(settings.running()); !why.empty())
                 return smtpgw::control::CommandResult::failure(why + "; the running one stays");
             return smtpgw::control::CommandResult::success("certificates reloaded\n");
         }});
    smtpgw::io::register_scan_commands(
        table, dp,
        [&settings]() -> const smtpgw::board::BoardProfile& { return settings.running(); });
    config.add_section(&log_control);
    config.add_section(&peer_filter);
    config.register_commands();
    smtpgw::control::MonitorHistory monitor;
    smtpgw::io::register_monitor_command(
        table, monitor, "smtpgw monitor, board " + board.name + ", " + board.smtp.hostname);
    dp.set_auto_list_seconds(board.peer_filter_auto_list_s);
    dp.set_virus_auto_list_seconds(board.scan.virus_auto_list_s);

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
        std::fprintf(stderr, "smtpgw: peer filter: %s (starting with an empty table)\n",
                     err.c_str());
    for (const auto& report : config.load_startup())
        smtpgw::control::log_line(smtpgw::control::LogLevel::error,
                                  "startup configuration: " + report + " (skipped)");
    std::fprintf(stderr, "smtpgw: ready: board %s, %zu ports, %zu fast-path lcores, control %s\n",
                 board.name.c_str(), dp.ports().size(), dp.workers().size(),
                 board.control_socket.c_str());
    // One line per message and per refused attempt (smtp/smtp_proxy.h),
    // written here, off the fast path.
    // `set smtp.log_file` moves it: reopened when the setting changes.
    std::FILE* mail_log = nullptr;
    std::string mail_log_path;
    auto follow_mail_log = [&] {
        const std::string& want = settings.running().smtp.log_file;
        if (want == mail_log_path)
            return;
        if (mail_log)
            std::fclose(mail_log);
        mail_log = nullptr;
        mail_log_path = want;
        if (want.empty())
            return;
        std::error_code ec;
        std::filesystem::create_directories(std::filesystem::path(want).parent_path(), ec);
        mail_log = std::fopen(want.c_str(), "a");
        if (!mail_log)
            std::fprintf(stderr, "smtpgw: cannot open the mail log %s; logging to stderr\n",
                         want.c_str());
    };
    // The Prometheus endpoint, served from this loop (never the fast path).
    smtpgw::control::MetricsHttp metrics(
        board.metrics_listen, board.metrics_allow_non_loopback,
        [&] { return smtpgw::io::render_metrics(dp, peer_filter); });
    if (!board.metrics_listen.empty()) {
        if (auto why = metrics.start(); !why.empty())
            smtpgw::control::log_line(smtpgw::control::LogLevel::error, "metrics: " + why);
    }
    // Ports, sockets and antivirus workers are up: the rest of root goes.
    if (auto why = smtpgw::daemon::drop_capabilities(); !why.empty())
        smtpgw::control::log_line(smtpgw::control::LogLevel::error,
                                  "privileges: cannot drop capabilities: " + why);
    else
        std::fprintf(stderr, "smtpgw: privileges: capabilities reduced to %s\n",
                     smtpgw::daemon::capability_names(smtpgw::daemon::kept_capabilities()).c_str());
    smtpgw::control::SyslogSink syslog; // smtp.log_syslog
    std::uint64_t next_rotation = 0;
    while (!g_stop) {
        server.poll_once(100);
        metrics.poll_once(
            0, static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::steady_clock::now().time_since_epoch())
                                              .count()));
        peer_filter.tick(); // dynamic entries expire here, off the fast path
        if (auto note = config.tick(); !note.empty())
            smtpgw::control::log_line(smtpgw::control::LogLevel::warn, note);
        auto second =
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                           std::chrono::steady_clock::now().time_since_epoch())
                                           .count());
        if (monitor.size() == 0 || monitor.at(monitor.size() - 1).second != second)
            monitor.add(smtpgw::io::monitor_sample(dp, second));
        follow_mail_log();
        // Session ticket keys: a new one every tls.ticket_rotate_s.
        if (second >= next_rotation) {
            if (next_rotation != 0)
                if (auto why = dp.rotate_tls_tickets(); !why.empty() && why != "STARTTLS is off")
                    smtpgw::control::log_line(smtpgw::control::LogLevel::warn,
                                              "ticket key rotation: " + why);
            next_rotation = second + settings.running().tls.ticket_rotate_s;
        }
        syslog.set_target(settings.running().smtp.log_syslog);
        const std::vector<std::string> lines = dp.take_smtp_log_lines();
        const std::time_t t = std::time(nullptr);
        for (const auto& line : lines) {
            char stamp[32];
            std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
            if (!line.empty() && line.front() == '{') // JSON lines: the time inside
                std::fprintf(mail_log ? mail_log : stderr, "{\"time\":\"%s\",%s\n", stamp,
                             line.c_str() + 1);
            else
                std::fprintf(mail_log ? mail_log : stderr, "%s smtpgw: %s\n", stamp, line.c_str());
        }
        if (mail_log)
            std::fflush(mail_log);
        // After the file: whoever reads a datagram finds its line on disk.
        for (const auto& line : lines)
            syslog.send(line, static_cast<std::int64_t>(t));
    }
    if (mail_log)
        std::fclose(mail_log);
    std::fprintf(stderr, "smtpgw: stopping\n");
    dp.stop();
    std::fprintf(stderr, "smtpgw: stopped\n");
    return 0;
}
