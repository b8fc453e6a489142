// board_profile.h: a board profile describes one kind of box: its DPDK
// ports and their roles (wan, lan), device arguments, lcore layout, memory
// and addresses. The daemon reads one at start (default: the embedded
// `virtual` board, the lab of ../shared/lab.md).
//
// Format: `key = value` lines, `#` comments. Keys are listed in
// board/README.md. Error contract: parse_board_profile never throws; on any
// bad line it returns an error "FILE:LINE: reason" and no profile.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "filter/peer_limits.h"
#include "filter/peer_table.h"
#include "net/addr.h"

namespace smtpgw::board {

struct PortProfile {
    std::string role;    // "wan" or "lan"
    std::string device;  // vdev name ("net_af_packet0") or PCI address ("0000:03:00.0")
    std::string devargs; // appended after the device ("iface=gw-wan,qpairs=1")
    net::Ipv4Prefix ipv4;
    std::optional<net::Ipv6Prefix> ipv6;
    std::optional<net::Ipv4Addr> gateway4;
    std::optional<net::Ipv6Addr> gateway6;
    std::uint16_t mtu = 1500;

    bool is_virtual_device() const { return device.starts_with("net_"); }
};

// The fast path's TCP limits and the lab-only services (tcp/tcp_stack.h).
struct TcpProfile {
    std::uint32_t max_connections = 16384;  // per lcore: bounds connection memory
    std::uint32_t syn_backlog_high = 256;   // half-open entries before SYN cookies
    std::uint32_t syn_backlog_low = 128;    // ... and back to state below this
    std::uint32_t syn_backlog_proven = 256; // more half-open for proven peers during cookies
    std::uint32_t time_wait_max = 4096;     // TIME-WAIT entries kept per lcore
    bool lab_services = false;              // echo 7, discard 9, chargen 19 (lab only)
    std::uint16_t relay_port = 0;           // lab relay WAN:port -> relay target:port
    std::optional<net::Ipv4Addr> relay_target4;
    std::optional<net::Ipv6Addr> relay_target6;
    std::uint32_t idle_timeout_s = 600; // a silent peer is dropped (0: never)
};

// The SMTP engine (dataplane/smtp): whom it relays for, where the LAN mail
// server is, and its limits on senders (each a setting with a reason in
// smtp/smtp_session.h; these are the ones a board usually changes).
struct SmtpProfile {
    bool enabled = true;
    std::uint16_t port = 25;
    std::string hostname = "smtpgw.invalid"; // greeting and EHLO name
    std::vector<std::string> relay_domains;  // empty: relay for nobody
    bool relay_subdomains = false;
    std::optional<net::Ipv4Addr> lan_server4; // unset: SMTP is refused (421)
    std::optional<net::Ipv6Addr> lan_server6;
    std::uint16_t lan_port = 25;
    std::uint64_t max_message_bytes = 10'240'000; // the LAN Postfix's default limit
    std::uint32_t max_recipients = 1000;
    std::uint64_t banner_delay_ms = 0;   // > 0: early talkers are refused
    bool bare_newline_normalize = false; // default: refuse messages with bare CR/LF
    std::size_t max_sessions = 2048;     // per lcore: bounds session memory
    // A sender (or a TLS handshake) silent this long is dropped: RFC 5321
    // 4.5.3.2.7 asks for 5 minutes; lower only under attack.
    std::uint32_t idle_timeout_s = 300;
    std::string log_file = "/var/log/smtpgw/mail.log"; // "" : no file
    std::string log_syslog;                            // a syslog socket (/dev/log); "": none
    bool log_json = false;                             // lines as JSON objects
    // Outbound mail: LAN clients in outbound_networks (default: the LAN
    // port's prefixes) send to the gateway's port outbound_port; each
    // message is scanned like inbound mail, then relayed to the relay host
    // (a smarthost on the WAN side). 0: off.
    std::uint16_t outbound_port = 0;
    std::optional<net::Ipv4Addr> outbound_relay4;
    std::uint16_t outbound_relay_port = 25;
    std::vector<net::Ipv6Prefix> outbound_networks; // v4 as v4-mapped
};

// STARTTLS (dataplane/tls): certificates, policy, and TLS toward the LAN server.
struct TlsProfile {
    std::vector<std::pair<std::string, std::string>> certificates; // (cert, key) PEM files
    std::string min_version = "1.2";
    std::string ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20"; // TLS 1.2 (RFC 7525 4.2)
    bool required = false; // MAIL and the rest need STARTTLS first (530 5.7.0)
    // ... for senders in these networks only (v4 as v4-mapped), when not required for all.
    std::vector<net::Ipv6Prefix> required_networks;
    std::string lan = "opportunistic";     // toward the LAN server: never, opportunistic, required
    std::string lan_ca_file;               // required: trust anchors for the LAN server
    std::string lan_name;                  // required: the name its certificate carries
    std::uint32_t ticket_rotate_s = 43200; // a new ticket key this often (the previous stays valid)
};

// Content scanning (scanners/): rules, antivirus, and what failures mean.
struct ScanProfile {
    bool enabled = true;
    std::string rules_file = "/etc/smtpgw/rules/default.rules"; // "": no content rules
    std::string rules_cache = "/var/lib/smtpgw/rules.cache";    // compiled rules ("": none)
    std::string av_database = "/var/lib/smtpgw/clamav";         // "": no antivirus
    unsigned av_threads = 1; // scanner threads (restart): never on a fast-path core
    // A message past a MIME limit could hide anything past it.
    std::string on_mime_limit = "reject";
    // The scan or the antivirus could not finish: 451, so nothing passes unscanned.
    std::string on_error = "tempfail";
    std::uint32_t score_threshold = 10;  // 0: scores never decide
    std::uint32_t max_depth = 20;        // MIME nesting parsed (real mail: under 10)
    std::uint32_t max_parts = 1000;      // MIME parts per message (real mail: under 100)
    std::uint32_t virus_auto_list_s = 0; // list a sender of a virus this long (0: off)
    // libclamav's limits; past one a part gets an error verdict (on_error), never clean.
    std::uint32_t av_max_scan_mb = 100;  // octets read per part, archives expanded
    std::uint32_t av_max_recursion = 16; // archives in archives: a zip bomb's depth
    std::uint32_t av_max_files = 10000;  // members per archive: a zip bomb's width
    std::uint32_t av_max_scan_s = 120;   // a pathological file cannot hold a scanner thread
    // The confined worker process libclamav runs in (scanners/av/av_sandbox.h).
    std::string av_user = "smtpgw-av";             // unprivileged; never root
    std::string av_scratch_dir = "/run/smtpgw/av"; // the only place a worker may write
    std::uint32_t av_max_memory_mb = 4096; // per worker: the full ClamAV database needs ~1.5 GB
};

struct BoardProfile {
    std::string name;
    std::string description;
    std::vector<std::string> eal_args; // extra EAL arguments (--no-huge, -m ...)
    unsigned main_lcore = 0;
    std::vector<unsigned> worker_lcores;
    // lcore -> CPU where they differ (`lcores.cpu_map = 2@1`): lets a lab
    // board run more fast-path lcores than the machine has cores.
    std::vector<std::pair<unsigned, unsigned>> lcore_cpu_map;
    bool idle_backoff = false;              // sleep when idle (shared CPUs) instead of polling
    unsigned idle_sleep_max_us = 200;       // longest nap: bounds the added latency when idle
    unsigned mbufs = 8191;                  // packet buffers per socket
    std::size_t neighbor_cache_size = 1024; // per port: an ARP/ND flood cannot grow memory
    std::uint32_t neighbor_max_age_s = 300; // relearn a moved or replaced host after this
    std::string control_socket = "/run/smtpgw/control.sock";
    // The startup configuration: console commands run at start, written by
    // `config save` ("": none).
    std::string config_file = "/etc/smtpgw/smtpgw.conf";
    // The Prometheus endpoint (HTTP on the kernel's stack): loopback unless
    // allowed otherwise; "" : off.
    std::string metrics_listen = "127.0.0.1:9101";
    bool metrics_allow_non_loopback = false;
    bool fault_injection = false; // `set fault` allowed (lab boards only)
    TcpProfile tcp;
    SmtpProfile smtp;
    TlsProfile tls;
    ScanProfile scan;
    filter::PeerLimitSettings peer_limits;           // per-peer rate, concurrency, half-open
    std::size_t peer_filter_max_entries = 2'000'000; // list entries (1M target, with room)
    // Dynamic (TTL) entries persist here across restarts ("": not kept).
    std::string peer_filter_state_file = "/var/lib/smtpgw/peer-filter.dynamic";
    filter::ListedAction peer_filter_action = filter::ListedAction::drop;
    std::uint32_t peer_filter_auto_list_s = 0; // list peers over a limit this long (0: off)
    std::vector<PortProfile> ports;

    const PortProfile* port(std::string_view role) const;
};

struct BoardError {
    std::string message; // "FILE:LINE: reason"
};

std::variant<BoardProfile, BoardError> parse_board_profile(std::string_view text,
                                                           std::string_view file_name);

// The profile compiled into the binary under `name` (only "virtual" today),
// or nullptr.
const char* embedded_board_text(std::string_view name);

// One key of the profile, as `set KEY VALUE` changes it at run time (and the
// startup configuration at start): the same names, syntax and checks as a
// board file line. Error contract: returns "" and updates `board`, or the
// reason with `board` unchanged. Keys that describe hardware (board.*,
// eal.*, lcores.*, memory.*, port.*, control.socket) are refused: they
// belong to the board file.
std::string apply_setting(BoardProfile& board, std::string_view key, std::string_view value);
// The checks that span keys (syn_backlog_low < syn_backlog_high, ...):
// "" or the reason.
std::string validate_board(const BoardProfile& board);
// Every key apply_setting() takes, and its current value in the syntax it
// accepts (so `set KEY <value>` gives the same profile back).
std::vector<std::string> setting_keys();
std::string setting_value(const BoardProfile& board, std::string_view key);

// EAL argv (without argv[0]) that brings up this board's ports and lcores.
std::vector<std::string> eal_arguments(const BoardProfile& board, std::string_view file_prefix);

} // namespace smtpgw::board
