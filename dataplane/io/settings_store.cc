// settings_store.cc: the settings behind `set KEY VALUE` (see header).
#include "io/settings_store.h"

#include <utility>

namespace smtpgw::io {

namespace {

struct KeyHelp {
    std::string_view key, help;
};

// One line each, for `set ?` and `help`.
constexpr KeyHelp kHelp[] = {
    {"fastpath.idle_backoff", "on: fast-path lcores nap when idle (shared CPUs)"},
    {"fastpath.idle_sleep_max_us", "longest idle nap, microseconds"},
    {"neighbor.cache_size", "ARP/ND entries per port (a flood cannot grow memory)"},
    {"neighbor.max_age_s", "relearn a neighbor after this many seconds"},
    {"tcp.max_connections", "connections per lcore (bounds memory)"},
    {"tcp.syn_backlog_high", "half-open entries before SYN cookies"},
    {"tcp.syn_backlog_low", "back to stateful SYNs below this"},
    {"tcp.syn_backlog_proven",
     "more half-open entries for proven peers while cookies answer a flood"},
    {"tcp.time_wait_max", "TIME-WAIT entries per lcore"},
    {"tcp.idle_timeout_s", "drop peers silent this long, new connections (0: never)"},
    {"smtp.enabled", "on: the SMTP engine answers on smtp.port"},
    {"smtp.port", "the SMTP port on the WAN side"},
    {"smtp.hostname", "our name in the greeting and EHLO"},
    {"smtp.relay_domains", "domains we accept mail for, comma-separated"},
    {"smtp.relay_subdomains", "on: their subdomains too"},
    {"smtp.lan_server4", "the LAN mail server's IPv4 address"},
    {"smtp.lan_server6", "the LAN mail server's IPv6 address"},
    {"smtp.lan_port", "the LAN mail server's port"},
    {"smtp.max_message_bytes", "largest message accepted (SIZE)"},
    {"smtp.max_recipients", "recipients per message (RFC 5321: at least 100)"},
    {"smtp.banner_delay_ms", "wait before the banner; early talkers are refused"},
    {"smtp.bare_newline", "reject or normalize bare CR/LF in messages (smuggling)"},
    {"smtp.max_sessions", "concurrent senders per lcore (bounds memory)"},
    {"smtp.idle_timeout_s", "drop a sender (or a TLS handshake) silent this long"},
    {"smtp.log_syslog", "also send each mail log line to this syslog socket (none)"},
    {"smtp.log_format", "mail log lines as text (key=value) or json"},
    {"smtp.log_file", "one line per message and refusal (none: no file)"},
    {"smtp.outbound_port", "port LAN clients send outbound mail to (0: off; restart)"},
    {"smtp.outbound_relay4", "where scanned outbound mail goes (a smarthost; none: off)"},
    {"smtp.outbound_relay_port", "the outbound relay host's port"},
    {"smtp.outbound_networks", "who may send outbound (prefixes; none: the LAN port's prefixes)"},
    {"peer_filter.max_entries", "list entries in all (a feed cannot exhaust memory)"},
    {"peer_filter.state_file", "where dynamic entries survive a restart (none)"},
    {"peer_filter.action", "what listed peers get: drop (nothing) or rst"},
    {"peer_filter.auto_list_s", "list peers over a limit, early talkers, this long (0: off)"},
    {"peer_filter.rate_per_second", "new connections per second per peer"},
    {"peer_filter.burst", "connection burst per peer"},
    {"peer_filter.max_concurrent", "concurrent connections per peer"},
    {"peer_filter.max_half_open", "half-open connections per peer"},
    {"peer_filter.v4_prefix_len", "IPv4 prefix a peer is counted under (32 or 24)"},
    {"peer_filter.v6_prefix_len", "IPv6 prefix a peer is counted under (64)"},
    {"peer_filter.table_size", "peers tracked per lcore (bounds memory)"},
    {"peer_filter.idle_expiry_s", "forget a quiet peer's counters after this"},
    {"tls.certificates", "STARTTLS certificates: CERT:KEY[,CERT:KEY...] (none: no STARTTLS)"},
    {"tls.min_version", "oldest TLS offered: 1.2 or 1.3"},
    {"tls.ciphers", "TLS 1.2 ciphers (OpenSSL list; TLS 1.3 suites are all AEAD)"},
    {"tls.required", "on: MAIL needs STARTTLS first (530 5.7.0)"},
    {"tls.required_networks", "STARTTLS first for senders in these prefixes (none)"},
    {"tls.lan", "TLS toward the LAN server: never, opportunistic, required"},
    {"tls.lan_ca_file", "trust anchors for the LAN server's certificate (required mode)"},
    {"tls.lan_name", "the name the LAN server's certificate must carry (required mode)"},
    {"tls.ticket_rotate_s", "a new session ticket key this often (the previous stays valid)"},
    {"scan.enabled", "on: messages are MIME-decoded, matched against the rules and scanned"},
    {"scan.rules_file", "content rules (scanners/rules format; none: no rules)"},
    {"scan.rules_cache", "compiled rules kept here so a restart does not recompile (none)"},
    {"scan.av_database",
     "libclamav signature folder (.cvd .cld .hdb .ndb ...; none: no antivirus)"},
    {"scan.av_threads", "antivirus scanner threads (never on a fast-path core)"},
    {"scan.on_mime_limit", "past a MIME limit: reject, tempfail, tag or accept"},
    {"scan.on_error", "scan or antivirus failure: tempfail (451), reject, tag or accept"},
    {"scan.score_threshold", "rule scores adding up to this reject the message (0: never)"},
    {"scan.max_depth", "MIME nesting parsed; deeper is a MIME limit"},
    {"scan.max_parts", "MIME parts per message; more is a MIME limit"},
    {"scan.av_max_scan_mb", "antivirus: octets read per part, archives expanded (a bomb's size)"},
    {"scan.av_max_recursion", "antivirus: archives in archives (a zip bomb's depth)"},
    {"scan.av_max_files", "antivirus: members per archive (a zip bomb's width)"},
    {"scan.av_max_scan_s", "antivirus: seconds per part; past it the message is deferred"},
    {"scan.av_max_memory_mb", "antivirus: address space of each worker process (MB)"},
    {"scan.av_user", "the unprivileged account the antivirus worker processes run as"},
    {"scan.av_scratch_dir", "the only folder an antivirus worker may write (its temporary files)"},
    {"scan.virus_auto_list_s", "list a sender of a virus in the peer filter this long (0: off)"},
};

// The smtp.* keys a running engine takes for its next sessions.
bool smtp_live(std::string_view key) {
    if (key.starts_with("tls.") && key != "tls.ticket_rotate_s")
        return true; // a new TLS context for new handshakes
    if (key.starts_with("scan.") && key != "scan.virus_auto_list_s" && !key.starts_with("scan.av_"))
        return true; // new rules or bounds for the next messages
    constexpr std::string_view kLive[] = {
        "smtp.hostname",          "smtp.relay_domains",       "smtp.relay_subdomains",
        "smtp.lan_server4",       "smtp.lan_server6",         "smtp.lan_port",
        "smtp.max_message_bytes", "smtp.max_recipients",      "smtp.banner_delay_ms",
        "smtp.bare_newline",      "smtp.idle_timeout_s",      "smtp.log_format",
        "smtp.outbound_relay4",   "smtp.outbound_relay_port", "smtp.outbound_networks"};
    for (auto k : kLive)
        if (k == key)
            return true;
    return false;
}

} // namespace

BoardSettings::BoardSettings(board::BoardProfile base, board::BoardProfile running, Dataplane& dp,
                             PeerFilterControl& peer_filter)
    : base_(std::move(base)), running_(std::move(running)), dp_(dp), peer_filter_(peer_filter) {}

std::string BoardSettings::help(std::string_view key) const {
    for (const auto& h : kHelp)
        if (h.key == key)
            return std::string(h.help);
    return "board setting " + std::string(key);
}

std::string BoardSettings::check(std::string_view key, std::string_view value) const {
    board::BoardProfile copy = running_;
    return board::apply_setting(copy, key, value);
}

std::string BoardSettings::set(std::string_view key, std::string_view value, bool* at_restart) {
    board::BoardProfile next = running_;
    if (auto why = board::apply_setting(next, key, value); !why.empty())
        return why;
    *at_restart = false;
    if (key == "tcp.idle_timeout_s") {
        if (auto why =
                dp_.set_tcp_idle_timeout(std::uint64_t{next.tcp.idle_timeout_s} * 1'000'000'000ull);
            !why.empty())
            return why;
    } else if (smtp_live(key) && dp_.smtp_running()) {
        if (auto why = dp_.set_smtp(next); !why.empty())
            return why;
    } else if (key.starts_with("scan.av_") && key != "scan.av_threads" && dp_.av_running()) {
        if (auto why = dp_.reload_av(next); !why.empty())
            return why;
    } else if (key == "peer_filter.action") {
        if (auto r = peer_filter_.set_action(next.peer_filter_action, ""); !r.ok)
            return r.text;
    } else if (key == "peer_filter.auto_list_s") {
        dp_.set_auto_list_seconds(next.peer_filter_auto_list_s);
    } else if (key == "scan.virus_auto_list_s") {
        dp_.set_virus_auto_list_seconds(next.scan.virus_auto_list_s);
    } else if (key != "smtp.log_file" && key != "smtp.log_syslog" && key != "tls.ticket_rotate_s") {
        // (the control loop follows running().smtp.log_file and the rotation period)
        *at_restart = true;
    }
    running_ = std::move(next);
    return {};
}

} // namespace smtpgw::io
