// board_profile.cc: parser and EAL argument builder (see board_profile.h).
#include "board_profile.h"

#include <algorithm>
#include <charconv>

namespace smtpgw::board {

const PortProfile* BoardProfile::port(std::string_view role) const {
    for (const auto& p : ports)
        if (p.role == role)
            return &p;
    return nullptr;
}

namespace {

std::string_view trim(std::string_view s) {
    auto b = s.find_first_not_of(" \t\r");
    if (b == std::string_view::npos)
        return {};
    auto e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

template <typename T>
bool parse_uint(std::string_view s, T& out, std::uint64_t max) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || s.empty() || v > max)
        return false;
    out = static_cast<T>(v);
    return true;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    while (true) {
        auto pos = s.find(sep);
        auto item = trim(s.substr(0, pos));
        if (!item.empty())
            out.push_back(item);
        if (pos == std::string_view::npos)
            return out;
        s.remove_prefix(pos + 1);
    }
}

struct Parser {
    BoardProfile board;

    // Returns an empty string when the line applied, else the reason.
    std::string apply(std::string_view key, std::string_view value) {
        if (key == "board.name") {
            board.name = value;
        } else if (key == "board.description") {
            board.description = value;
        } else if (key == "eal.args") {
            for (auto a : split(value, ' '))
                board.eal_args.emplace_back(a);
        } else if (key == "lcores.main") {
            if (!parse_uint(value, board.main_lcore, 1023))
                return "lcores.main must be a core number";
        } else if (key == "lcores.workers") {
            board.worker_lcores.clear();
            for (auto c : split(value, ',')) {
                unsigned core = 0;
                if (!parse_uint(c, core, 1023))
                    return "lcores.workers must be a comma-separated list of core numbers";
                for (unsigned seen : board.worker_lcores)
                    if (seen == core)
                        return "lcores.workers lists core " + std::to_string(core) + " twice";
                board.worker_lcores.push_back(core);
            }
        } else if (key == "lcores.cpu_map") {
            board.lcore_cpu_map.clear();
            for (auto item : split(value, ',')) {
                auto at = item.find('@');
                unsigned lcore = 0, cpu = 0;
                if (at == std::string_view::npos || !parse_uint(item.substr(0, at), lcore, 1023) ||
                    !parse_uint(item.substr(at + 1), cpu, 1023))
                    return "lcores.cpu_map must be a comma-separated list of LCORE@CPU";
                board.lcore_cpu_map.emplace_back(lcore, cpu);
            }
        } else if (key == "fastpath.idle_backoff") {
            if (value != "on" && value != "off")
                return "fastpath.idle_backoff must be on or off";
            board.idle_backoff = value == "on";
        } else if (key == "fastpath.idle_sleep_max_us") {
            if (!parse_uint(value, board.idle_sleep_max_us, 100000))
                return "fastpath.idle_sleep_max_us must be 0..100000";
        } else if (key == "memory.mbufs") {
            if (!parse_uint(value, board.mbufs, 1u << 24) || board.mbufs < 1024)
                return "memory.mbufs must be 1024..16777216";
        } else if (key == "neighbor.cache_size") {
            if (!parse_uint(value, board.neighbor_cache_size, 1u << 20) ||
                board.neighbor_cache_size < 8)
                return "neighbor.cache_size must be 8..1048576";
        } else if (key == "neighbor.max_age_s") {
            if (!parse_uint(value, board.neighbor_max_age_s, 86400) ||
                board.neighbor_max_age_s == 0)
                return "neighbor.max_age_s must be 1..86400";
        } else if (key == "control.socket") {
            if (!value.starts_with("/"))
                return "control.socket must be an absolute path";
            board.control_socket = value;
        } else if (key == "metrics.listen") {
            // Checked whole here: a typo in the port must not start the
            // endpoint on a random port with no error.
            auto colon = value.rfind(':');
            std::uint16_t port = 0;
            bool ok = value == "none";
            if (!ok && colon != std::string_view::npos &&
                parse_uint(value.substr(colon + 1), port, 65535) && port != 0) {
                auto host = value.substr(0, colon);
                ok = host.size() > 2 && host.front() == '[' && host.back() == ']'
                         ? net::parse_ipv6(host.substr(1, host.size() - 2)).has_value()
                         : net::parse_ipv4(host).has_value();
            }
            if (!ok)
                return "metrics.listen must be IPV4:PORT or [IPV6]:PORT (port 1..65535) or none";
            board.metrics_listen = value == "none" ? "" : std::string(value);
        } else if (key == "metrics.allow_non_loopback") {
            if (value != "on" && value != "off")
                return "metrics.allow_non_loopback must be on or off";
            board.metrics_allow_non_loopback = value == "on";
        } else if (key == "control.config_file") {
            if (!value.starts_with("/") && value != "none")
                return "control.config_file must be an absolute path or none";
            board.config_file = value == "none" ? "" : std::string(value);
        } else if (key == "fastpath.fault_injection") {
            if (value != "on" && value != "off")
                return "fastpath.fault_injection must be on or off";
            board.fault_injection = value == "on";
        } else if (key.starts_with("peer_filter.")) {
            return apply_peer_filter(key.substr(12), value);
        } else if (key.starts_with("tcp.")) {
            return apply_tcp(key.substr(4), value);
        } else if (key.starts_with("smtp.")) {
            return apply_smtp(key.substr(5), value);
        } else if (key.starts_with("tls.")) {
            return apply_tls(key.substr(4), value);
        } else if (key.starts_with("scan.")) {
            return apply_scan(key.substr(5), value);
        } else if (key.starts_with("port.")) {
            return apply_port(key.substr(5), value);
        } else {
            return "unknown key '" + std::string(key) + "'";
        }
        return {};
    }

    std::string apply_peer_filter(std::string_view field, std::string_view value) {
        if (field == "state_file") {
            if (!value.starts_with("/") && value != "none")
                return "peer_filter.state_file must be an absolute path or none";
            board.peer_filter_state_file = value == "none" ? "" : std::string(value);
        } else if (field == "max_entries") {
            if (!parse_uint(value, board.peer_filter_max_entries, 16'000'000) ||
                board.peer_filter_max_entries == 0)
                return "peer_filter.max_entries must be 1..16000000";
        } else if (field == "auto_list_s") {
            if (!parse_uint(value, board.peer_filter_auto_list_s, 86400))
                return "peer_filter.auto_list_s must be 0..86400";
        } else if (field == "action") {
            if (value != "drop" && value != "rst")
                return "peer_filter.action must be drop or rst";
            board.peer_filter_action =
                value == "drop" ? filter::ListedAction::drop : filter::ListedAction::reset;
        } else {
            return apply_peer_limit(field, value);
        }
        return {};
    }

    // Per-peer limits (filter/peer_limits.h), checked against its ranges.
    std::string apply_peer_limit(std::string_view field, std::string_view value) {
        filter::PeerLimitSettings& l = board.peer_limits;
        constexpr std::string_view kFields[] = {
            "rate_per_second", "burst",         "max_concurrent", "max_half_open",
            "v4_prefix_len",   "v6_prefix_len", "table_size",     "idle_expiry_s"};
        if (std::find(std::begin(kFields), std::end(kFields), field) == std::end(kFields))
            return "unknown key 'peer_filter." + std::string(field) + "'";
        std::uint64_t v = 0;
        if (!parse_uint(value, v, 1ull << 40))
            return "peer_filter." + std::string(field) + " must be a number";
        if (field == "rate_per_second")
            l.rate_per_second = static_cast<std::uint32_t>(v);
        else if (field == "burst")
            l.burst = static_cast<std::uint32_t>(v);
        else if (field == "max_concurrent")
            l.max_concurrent = static_cast<std::uint32_t>(v);
        else if (field == "max_half_open")
            l.max_half_open = static_cast<std::uint32_t>(v);
        else if (field == "v4_prefix_len")
            l.v4_prefix_len = static_cast<std::uint8_t>(std::min<std::uint64_t>(v, 255));
        else if (field == "v6_prefix_len")
            l.v6_prefix_len = static_cast<std::uint8_t>(std::min<std::uint64_t>(v, 255));
        else if (field == "table_size")
            l.table_size = static_cast<std::size_t>(v);
        else if (field == "idle_expiry_s")
            l.idle_expiry_ns = v * 1'000'000'000ull;
        else
            return "unknown key 'peer_filter." + std::string(field) + "'";
        if (auto why = filter::peer_limit_settings_error(l))
            return "peer_filter." + std::string(field) + ": " + std::string(*why);
        return {};
    }

    std::string apply_smtp(std::string_view field, std::string_view value) {
        SmtpProfile& m = board.smtp;
        auto on_off = [&](bool& out) {
            if (value != "on" && value != "off")
                return "smtp." + std::string(field) + " must be on or off";
            out = value == "on";
            return std::string();
        };
        if (field == "enabled") {
            return on_off(m.enabled);
        } else if (field == "relay_subdomains") {
            return on_off(m.relay_subdomains);
        } else if (field == "port") {
            if (!parse_uint(value, m.port, 65535) || m.port == 0)
                return "smtp.port must be 1..65535";
        } else if (field == "lan_port") {
            if (!parse_uint(value, m.lan_port, 65535) || m.lan_port == 0)
                return "smtp.lan_port must be 1..65535";
        } else if (field == "hostname") {
            if (value.empty() || value.find_first_of(" \t\r\n") != std::string_view::npos)
                return "smtp.hostname must be one word";
            m.hostname = value;
        } else if (field == "relay_domains") {
            auto domains = split(value, ',');
            bool bad =
                domains.size() != std::size_t(std::count(value.begin(), value.end(), ',')) + 1;
            for (auto d : domains)
                bad = bad || d.find_first_of(" @[]<>") != std::string_view::npos;
            if (bad) // an empty item too: "a,,b" is a typo, not two domains
                return "smtp.relay_domains must be domain names separated by commas";
            m.relay_domains.assign(domains.begin(), domains.end());
        } else if (field == "lan_server4") {
            auto v = net::parse_ipv4(value);
            if (!v)
                return "smtp.lan_server4 must be an IPv4 address";
            m.lan_server4 = *v;
        } else if (field == "lan_server6") {
            auto v = net::parse_ipv6(value);
            if (!v)
                return "smtp.lan_server6 must be an IPv6 address";
            m.lan_server6 = *v;
        } else if (field == "max_message_bytes") {
            if (!parse_uint(value, m.max_message_bytes, 1ull << 40) || m.max_message_bytes < 1024)
                return "smtp.max_message_bytes must be 1024..2^40";
        } else if (field == "max_recipients") {
            if (!parse_uint(value, m.max_recipients, 100000) || m.max_recipients < 100)
                return "smtp.max_recipients must be 100..100000 (RFC 5321 4.5.3.1.8)";
        } else if (field == "banner_delay_ms") {
            if (!parse_uint(value, m.banner_delay_ms, 60000))
                return "smtp.banner_delay_ms must be 0..60000";
        } else if (field == "bare_newline") {
            if (value != "reject" && value != "normalize")
                return "smtp.bare_newline must be reject or normalize";
            m.bare_newline_normalize = value == "normalize";
        } else if (field == "max_sessions") {
            if (!parse_uint(value, m.max_sessions, 1u << 20) || m.max_sessions == 0)
                return "smtp.max_sessions must be 1..1048576";
        } else if (field == "idle_timeout_s") {
            if (!parse_uint(value, m.idle_timeout_s, 3600) || m.idle_timeout_s == 0)
                return "smtp.idle_timeout_s must be 1..3600";
        } else if (field == "log_syslog") {
            if (!value.starts_with("/") && value != "none")
                return "smtp.log_syslog must be a syslog socket path (/dev/log) or none";
            m.log_syslog = value == "none" ? "" : std::string(value);
        } else if (field == "log_format") {
            if (value != "text" && value != "json")
                return "smtp.log_format must be text or json";
            m.log_json = value == "json";
        } else if (field == "outbound_port") {
            if (!parse_uint(value, m.outbound_port, 65535))
                return "smtp.outbound_port must be 0..65535 (0: no outbound service)";
        } else if (field == "outbound_relay4") {
            if (value == "none") {
                m.outbound_relay4.reset();
            } else if (auto a = net::parse_ipv4(value)) {
                m.outbound_relay4 = *a;
            } else {
                return "smtp.outbound_relay4 must be an IPv4 address or none";
            }
        } else if (field == "outbound_relay_port") {
            if (!parse_uint(value, m.outbound_relay_port, 65535) || m.outbound_relay_port == 0)
                return "smtp.outbound_relay_port must be 1..65535";
        } else if (field == "outbound_networks") {
            std::vector<net::Ipv6Prefix> nets;
            if (value != "none")
                for (auto item : split(value, ',')) {
                    item = trim(item);
                    if (auto p4 = net::parse_ipv4_prefix(item))
                        nets.push_back(net::Ipv6Prefix{net::v4_mapped(p4->network().addr),
                                                       static_cast<std::uint8_t>(p4->length + 96)});
                    else if (auto p6 = net::parse_ipv6_prefix(item))
                        nets.push_back(p6->network());
                    else
                        return "smtp.outbound_networks: '" + std::string(item) +
                               "' is not an IPv4 or IPv6 prefix";
                }
            m.outbound_networks = std::move(nets);
        } else if (field == "log_file") {
            if (!value.starts_with("/") && value != "none")
                return "smtp.log_file must be an absolute path or none";
            m.log_file = value == "none" ? "" : std::string(value);
        } else {
            return "unknown key 'smtp." + std::string(field) + "'";
        }
        return {};
    }

    std::string apply_scan(std::string_view field, std::string_view value) {
        ScanProfile& c = board.scan;
        auto path = [&](std::string& out) {
            if (!value.starts_with("/") && value != "none")
                return "scan." + std::string(field) + " must be an absolute path or none";
            out = value == "none" ? "" : std::string(value);
            return std::string();
        };
        auto disposition = [&](std::string& out) {
            if (value != "reject" && value != "tempfail" && value != "tag" && value != "accept")
                return "scan." + std::string(field) + " must be reject, tempfail, tag or accept";
            out = std::string(value);
            return std::string();
        };
        if (field == "enabled") {
            if (value != "on" && value != "off")
                return "scan.enabled must be on or off";
            c.enabled = value == "on";
        } else if (field == "rules_file") {
            return path(c.rules_file);
        } else if (field == "rules_cache") {
            return path(c.rules_cache);
        } else if (field == "av_database") {
            return path(c.av_database);
        } else if (field == "av_threads") {
            if (!parse_uint(value, c.av_threads, 64) || c.av_threads == 0)
                return "scan.av_threads must be 1..64";
        } else if (field == "on_mime_limit") {
            return disposition(c.on_mime_limit);
        } else if (field == "on_error") {
            return disposition(c.on_error);
        } else if (field == "score_threshold") {
            if (!parse_uint(value, c.score_threshold, 100000))
                return "scan.score_threshold must be 0..100000";
        } else if (field == "max_depth") {
            if (!parse_uint(value, c.max_depth, 100) || c.max_depth == 0)
                return "scan.max_depth must be 1..100";
        } else if (field == "av_max_scan_mb") {
            if (!parse_uint(value, c.av_max_scan_mb, 4096) || c.av_max_scan_mb == 0)
                return "scan.av_max_scan_mb must be 1..4096";
        } else if (field == "av_max_recursion") {
            if (!parse_uint(value, c.av_max_recursion, 64) || c.av_max_recursion == 0)
                return "scan.av_max_recursion must be 1..64";
        } else if (field == "av_max_files") {
            if (!parse_uint(value, c.av_max_files, 1000000) || c.av_max_files == 0)
                return "scan.av_max_files must be 1..1000000";
        } else if (field == "av_user") {
            if (value.empty() || value == "root" || value.find_first_of(" \t:/") != value.npos)
                return "scan.av_user must be an unprivileged account name (not root)";
            c.av_user = std::string(value);
        } else if (field == "av_scratch_dir") {
            if (!value.starts_with("/") || value == "/")
                return "scan.av_scratch_dir must be an absolute folder (not /)";
            c.av_scratch_dir = std::string(value);
        } else if (field == "av_max_memory_mb") {
            if (!parse_uint(value, c.av_max_memory_mb, 65536) || c.av_max_memory_mb < 256)
                return "scan.av_max_memory_mb must be 256..65536";
        } else if (field == "av_max_scan_s") {
            if (!parse_uint(value, c.av_max_scan_s, 3600) || c.av_max_scan_s == 0)
                return "scan.av_max_scan_s must be 1..3600";
        } else if (field == "virus_auto_list_s") {
            if (!parse_uint(value, c.virus_auto_list_s, 30 * 86400))
                return "scan.virus_auto_list_s must be 0..2592000 (30 days)";
        } else if (field == "max_parts") {
            if (!parse_uint(value, c.max_parts, 100000) || c.max_parts == 0)
                return "scan.max_parts must be 1..100000";
        } else {
            return "unknown key 'scan." + std::string(field) + "'";
        }
        return {};
    }

    std::string apply_tls(std::string_view field, std::string_view value) {
        TlsProfile& t = board.tls;
        auto absolute_or_none = [&](std::string& out) {
            if (!value.starts_with("/") && value != "none")
                return "tls." + std::string(field) + " must be an absolute path or none";
            out = value == "none" ? "" : std::string(value);
            return std::string();
        };
        if (field == "certificates") {
            std::vector<std::pair<std::string, std::string>> pairs;
            if (value != "none") {
                for (auto item : split(value, ',')) {
                    auto colon = item.find(':');
                    if (colon == std::string_view::npos || !item.starts_with("/") ||
                        !item.substr(colon + 1).starts_with("/"))
                        return "tls.certificates must be CERT:KEY[,CERT:KEY...] with absolute "
                               "paths, or none";
                    pairs.emplace_back(item.substr(0, colon), item.substr(colon + 1));
                }
            }
            t.certificates = std::move(pairs);
        } else if (field == "min_version") {
            if (value != "1.2" && value != "1.3")
                return "tls.min_version must be 1.2 or 1.3";
            t.min_version = value;
        } else if (field == "ciphers") {
            if (value.find_first_of(" \t") != std::string_view::npos)
                return "tls.ciphers must be an OpenSSL cipher list without blanks";
            t.ciphers = value;
        } else if (field == "required") {
            if (value != "on" && value != "off")
                return "tls.required must be on or off";
            t.required = value == "on";
        } else if (field == "required_networks") {
            std::vector<net::Ipv6Prefix> nets;
            if (value != "none") {
                for (auto item : split(value, ',')) {
                    if (auto v4 = net::parse_ipv4_prefix(item)) {
                        nets.push_back(
                            {net::v4_mapped(v4->addr), static_cast<std::uint8_t>(96 + v4->length)});
                    } else if (auto v6 = net::parse_ipv6_prefix(item)) {
                        nets.push_back(*v6);
                    } else {
                        return "tls.required_networks must be prefixes (198.51.100.0/24, "
                               "2001:db8::/32) separated by commas, or none";
                    }
                }
            }
            t.required_networks = std::move(nets);
        } else if (field == "lan") {
            if (value != "never" && value != "opportunistic" && value != "required")
                return "tls.lan must be never, opportunistic or required";
            t.lan = value;
        } else if (field == "lan_ca_file") {
            return absolute_or_none(t.lan_ca_file);
        } else if (field == "lan_name") {
            if (value.find_first_of(" \t") != std::string_view::npos)
                return "tls.lan_name must be one name";
            t.lan_name = value == "none" ? "" : std::string(value);
        } else if (field == "ticket_rotate_s") {
            if (!parse_uint(value, t.ticket_rotate_s, 7 * 86400) || t.ticket_rotate_s < 60)
                return "tls.ticket_rotate_s must be 60..604800";
        } else {
            return "unknown key 'tls." + std::string(field) + "'";
        }
        return {};
    }

    std::string apply_tcp(std::string_view field, std::string_view value) {
        TcpProfile& t = board.tcp;
        if (field == "max_connections") {
            if (!parse_uint(value, t.max_connections, 1u << 24) || t.max_connections < 16)
                return "tcp.max_connections must be 16..16777216";
        } else if (field == "syn_backlog_high") {
            if (!parse_uint(value, t.syn_backlog_high, 1u << 24) || t.syn_backlog_high == 0)
                return "tcp.syn_backlog_high must be 1..16777216";
        } else if (field == "syn_backlog_proven") {
            if (!parse_uint(value, t.syn_backlog_proven, 1u << 24))
                return "tcp.syn_backlog_proven must be 0..16777216";
        } else if (field == "syn_backlog_low") {
            if (!parse_uint(value, t.syn_backlog_low, 1u << 24))
                return "tcp.syn_backlog_low must be 0..16777216";
        } else if (field == "time_wait_max") {
            if (!parse_uint(value, t.time_wait_max, 1u << 24))
                return "tcp.time_wait_max must be 0..16777216";
        } else if (field == "lab_services") {
            if (value != "on" && value != "off")
                return "tcp.lab_services must be on or off";
            t.lab_services = value == "on";
        } else if (field == "relay_port") {
            if (!parse_uint(value, t.relay_port, 65535) || t.relay_port == 0)
                return "tcp.relay_port must be 1..65535";
        } else if (field == "relay_target4") {
            auto v = net::parse_ipv4(value);
            if (!v)
                return "tcp.relay_target4 must be an IPv4 address";
            t.relay_target4 = *v;
        } else if (field == "relay_target6") {
            auto v = net::parse_ipv6(value);
            if (!v)
                return "tcp.relay_target6 must be an IPv6 address";
            t.relay_target6 = *v;
        } else if (field == "idle_timeout_s") {
            if (!parse_uint(value, t.idle_timeout_s, 86400))
                return "tcp.idle_timeout_s must be 0..86400";
        } else {
            return "unknown key 'tcp." + std::string(field) + "'";
        }
        return {};
    }

    std::string apply_port(std::string_view rest, std::string_view value) {
        auto dot = rest.find('.');
        if (dot == std::string_view::npos)
            return "port keys are port.ROLE.FIELD";
        auto role = rest.substr(0, dot), field = rest.substr(dot + 1);
        if (role != "wan" && role != "lan")
            return "port role must be wan or lan";
        PortProfile* p = nullptr;
        for (auto& existing : board.ports)
            if (existing.role == role)
                p = &existing;
        if (!p) {
            board.ports.push_back(PortProfile{});
            p = &board.ports.back();
            p->role = role;
        }
        if (field == "device") {
            p->device = value;
        } else if (field == "devargs") {
            p->devargs = value;
        } else if (field == "ipv4") {
            auto v = net::parse_ipv4_prefix(value);
            if (!v || v->length == 0 || v->length > 30)
                return "ipv4 must be ADDRESS/LEN with LEN 1..30";
            p->ipv4 = *v;
        } else if (field == "ipv6") {
            auto v = net::parse_ipv6_prefix(value);
            if (!v || v->length == 0 || v->length > 126 || v->addr.is_multicast())
                return "ipv6 must be a unicast ADDRESS/LEN with LEN 1..126";
            p->ipv6 = *v;
        } else if (field == "gateway4") {
            auto v = net::parse_ipv4(value);
            if (!v)
                return "gateway4 must be an IPv4 address";
            p->gateway4 = *v;
        } else if (field == "gateway6") {
            auto v = net::parse_ipv6(value);
            if (!v)
                return "gateway6 must be an IPv6 address";
            p->gateway6 = *v;
        } else if (field == "mtu") {
            if (!parse_uint(value, p->mtu, 9000) || p->mtu < 1280)
                return "mtu must be 1280..9000";
        } else {
            return "unknown port field '" + std::string(field) + "'";
        }
        return {};
    }

    std::string validate() const { return validate_board(board); }
};

} // namespace

std::string validate_board(const BoardProfile& board) {
    {
        if (board.name.empty())
            return "board.name is missing";
        if (board.worker_lcores.empty())
            return "lcores.workers is missing";
        for (auto w : board.worker_lcores)
            if (w == board.main_lcore)
                return "a worker lcore cannot be the main lcore";
        if (board.tcp.syn_backlog_low >= board.tcp.syn_backlog_high)
            return "tcp.syn_backlog_low must be below tcp.syn_backlog_high";
        if (board.tcp.syn_backlog_high > board.tcp.max_connections)
            return "tcp.syn_backlog_high must not exceed tcp.max_connections";
        if (std::uint64_t{board.tcp.syn_backlog_high} + board.tcp.syn_backlog_proven >
            board.tcp.max_connections)
            return "tcp.syn_backlog_high + tcp.syn_backlog_proven must not exceed "
                   "tcp.max_connections";
        if (board.tcp.relay_port != 0 && !board.tcp.relay_target4)
            return "tcp.relay_port needs tcp.relay_target4";
        if (board.tcp.relay_port != 0 && !board.tcp.lab_services)
            return "tcp.relay_port needs tcp.lab_services = on";
        for (const char* role : {"wan", "lan"}) {
            const PortProfile* p = board.port(role);
            if (!p)
                return std::string("port.") + role + " is missing";
            if (p->device.empty())
                return std::string("port.") + role + ".device is missing";
            if (p->ipv4.addr.is_unspecified())
                return std::string("port.") + role + ".ipv4 is missing";
            if (p->gateway4 && !p->ipv4.contains(*p->gateway4))
                return std::string("port.") + role + ".gateway4 is not on the port's subnet";
            if (p->gateway6 && !(p->ipv6 && p->ipv6->contains(*p->gateway6)) &&
                !p->gateway6->is_link_local())
                return std::string("port.") + role + ".gateway6 is not on the port's subnet";
        }
        return {};
    }
}

namespace {

// The keys `set` may change: everything but the hardware description.
constexpr std::string_view kSettingKeys[] = {
    "fastpath.idle_backoff",
    "fastpath.idle_sleep_max_us",
    "neighbor.cache_size",
    "neighbor.max_age_s",
    "tcp.max_connections",
    "tcp.syn_backlog_high",
    "tcp.syn_backlog_low",
    "tcp.syn_backlog_proven",
    "tcp.time_wait_max",
    "tcp.idle_timeout_s",
    "smtp.enabled",
    "smtp.port",
    "smtp.hostname",
    "smtp.relay_domains",
    "smtp.relay_subdomains",
    "smtp.lan_server4",
    "smtp.lan_server6",
    "smtp.lan_port",
    "smtp.max_message_bytes",
    "smtp.max_recipients",
    "smtp.banner_delay_ms",
    "smtp.bare_newline",
    "smtp.max_sessions",
    "smtp.log_file",
    "smtp.idle_timeout_s",
    "smtp.log_syslog",
    "smtp.log_format",
    "smtp.outbound_port",
    "smtp.outbound_relay4",
    "smtp.outbound_relay_port",
    "smtp.outbound_networks",
    "peer_filter.max_entries",
    "peer_filter.state_file",
    "peer_filter.action",
    "peer_filter.auto_list_s",
    "peer_filter.rate_per_second",
    "peer_filter.burst",
    "peer_filter.max_concurrent",
    "peer_filter.max_half_open",
    "peer_filter.v4_prefix_len",
    "peer_filter.v6_prefix_len",
    "peer_filter.table_size",
    "peer_filter.idle_expiry_s",
    "scan.enabled",
    "scan.rules_file",
    "scan.rules_cache",
    "scan.av_database",
    "scan.av_threads",
    "scan.on_mime_limit",
    "scan.on_error",
    "scan.score_threshold",
    "scan.max_depth",
    "scan.max_parts",
    "scan.virus_auto_list_s",
    "scan.av_max_scan_mb",
    "scan.av_max_recursion",
    "scan.av_max_files",
    "scan.av_max_scan_s",
    "scan.av_max_memory_mb",
    "scan.av_user",
    "scan.av_scratch_dir",
    "tls.certificates",
    "tls.min_version",
    "tls.ciphers",
    "tls.required",
    "tls.required_networks",
    "tls.lan",
    "tls.lan_ca_file",
    "tls.lan_name",
    "tls.ticket_rotate_s",
};

std::string on_off(bool v) {
    return v ? "on" : "off";
}
std::string path_or_none(const std::string& p) {
    return p.empty() ? "none" : p;
}

} // namespace

std::vector<std::string> setting_keys() {
    return {std::begin(kSettingKeys), std::end(kSettingKeys)};
}

std::string apply_setting(BoardProfile& board, std::string_view key, std::string_view value) {
    if (std::find(std::begin(kSettingKeys), std::end(kSettingKeys), key) == std::end(kSettingKeys))
        return "unknown setting '" + std::string(key) + "' (`set ?` lists them)";
    if (trim(value).empty())
        return std::string(key) + " needs a value";
    Parser parser{board};
    if (auto why = parser.apply(key, trim(value)); !why.empty())
        return why;
    if (auto why = validate_board(parser.board); !why.empty())
        return why;
    board = std::move(parser.board);
    return {};
}

std::string setting_value(const BoardProfile& b, std::string_view key) {
    auto u = [](std::uint64_t v) { return std::to_string(v); };
    const SmtpProfile& m = b.smtp;
    const filter::PeerLimitSettings& l = b.peer_limits;
    if (key == "fastpath.idle_backoff")
        return on_off(b.idle_backoff);
    if (key == "fastpath.idle_sleep_max_us")
        return u(b.idle_sleep_max_us);
    if (key == "neighbor.cache_size")
        return u(b.neighbor_cache_size);
    if (key == "neighbor.max_age_s")
        return u(b.neighbor_max_age_s);
    if (key == "tcp.max_connections")
        return u(b.tcp.max_connections);
    if (key == "tcp.syn_backlog_high")
        return u(b.tcp.syn_backlog_high);
    if (key == "tcp.syn_backlog_low")
        return u(b.tcp.syn_backlog_low);
    if (key == "tcp.syn_backlog_proven")
        return u(b.tcp.syn_backlog_proven);
    if (key == "tcp.time_wait_max")
        return u(b.tcp.time_wait_max);
    if (key == "tcp.idle_timeout_s")
        return u(b.tcp.idle_timeout_s);
    if (key == "smtp.enabled")
        return on_off(m.enabled);
    if (key == "smtp.port")
        return u(m.port);
    if (key == "smtp.hostname")
        return m.hostname;
    if (key == "smtp.relay_domains") {
        std::string out;
        for (const auto& d : m.relay_domains)
            out.append(out.empty() ? "" : ",").append(d);
        return out;
    }
    if (key == "smtp.relay_subdomains")
        return on_off(m.relay_subdomains);
    if (key == "smtp.lan_server4")
        return m.lan_server4 ? net::to_string(*m.lan_server4) : "";
    if (key == "smtp.lan_server6")
        return m.lan_server6 ? net::to_string(*m.lan_server6) : "";
    if (key == "smtp.lan_port")
        return u(m.lan_port);
    if (key == "smtp.max_message_bytes")
        return u(m.max_message_bytes);
    if (key == "smtp.max_recipients")
        return u(m.max_recipients);
    if (key == "smtp.banner_delay_ms")
        return u(m.banner_delay_ms);
    if (key == "smtp.bare_newline")
        return m.bare_newline_normalize ? "normalize" : "reject";
    if (key == "smtp.max_sessions")
        return u(m.max_sessions);
    if (key == "smtp.log_syslog")
        return path_or_none(m.log_syslog);
    if (key == "smtp.log_format")
        return m.log_json ? "json" : "text";
    if (key == "smtp.outbound_port")
        return u(m.outbound_port);
    if (key == "smtp.outbound_relay4")
        return m.outbound_relay4 ? net::to_string(*m.outbound_relay4) : "none";
    if (key == "smtp.outbound_relay_port")
        return u(m.outbound_relay_port);
    if (key == "smtp.outbound_networks") {
        std::string out;
        for (const auto& p : m.outbound_networks) {
            out += out.empty() ? "" : ",";
            out += p.addr.is_v4_mapped()
                       ? net::to_string(net::Ipv4Prefix{net::v4_unmapped(p.addr),
                                                        static_cast<std::uint8_t>(p.length - 96)})
                       : net::to_string(p);
        }
        return out.empty() ? "none" : out;
    }
    if (key == "smtp.idle_timeout_s")
        return u(m.idle_timeout_s);
    if (key == "smtp.log_file")
        return path_or_none(m.log_file);
    const ScanProfile& c = b.scan;
    if (key == "scan.enabled")
        return on_off(c.enabled);
    if (key == "scan.rules_file")
        return path_or_none(c.rules_file);
    if (key == "scan.rules_cache")
        return path_or_none(c.rules_cache);
    if (key == "scan.av_database")
        return path_or_none(c.av_database);
    if (key == "scan.av_threads")
        return u(c.av_threads);
    if (key == "scan.on_mime_limit")
        return c.on_mime_limit;
    if (key == "scan.on_error")
        return c.on_error;
    if (key == "scan.score_threshold")
        return u(c.score_threshold);
    if (key == "scan.max_depth")
        return u(c.max_depth);
    if (key == "scan.max_parts")
        return u(c.max_parts);
    if (key == "scan.virus_auto_list_s")
        return u(c.virus_auto_list_s);
    if (key == "scan.av_max_scan_mb")
        return u(c.av_max_scan_mb);
    if (key == "scan.av_max_recursion")
        return u(c.av_max_recursion);
    if (key == "scan.av_max_files")
        return u(c.av_max_files);
    if (key == "scan.av_max_scan_s")
        return u(c.av_max_scan_s);
    if (key == "scan.av_max_memory_mb")
        return u(c.av_max_memory_mb);
    if (key == "scan.av_user")
        return c.av_user;
    if (key == "scan.av_scratch_dir")
        return c.av_scratch_dir;
    if (key == "peer_filter.max_entries")
        return u(b.peer_filter_max_entries);
    if (key == "peer_filter.state_file")
        return path_or_none(b.peer_filter_state_file);
    if (key == "peer_filter.action")
        return b.peer_filter_action == filter::ListedAction::drop ? "drop" : "rst";
    if (key == "peer_filter.auto_list_s")
        return u(b.peer_filter_auto_list_s);
    if (key == "peer_filter.rate_per_second")
        return u(l.rate_per_second);
    if (key == "peer_filter.burst")
        return u(l.burst);
    if (key == "peer_filter.max_concurrent")
        return u(l.max_concurrent);
    if (key == "peer_filter.max_half_open")
        return u(l.max_half_open);
    if (key == "peer_filter.v4_prefix_len")
        return u(l.v4_prefix_len);
    if (key == "peer_filter.v6_prefix_len")
        return u(l.v6_prefix_len);
    if (key == "peer_filter.table_size")
        return u(l.table_size);
    if (key == "peer_filter.idle_expiry_s")
        return u(l.idle_expiry_ns / 1'000'000'000ull);
    const TlsProfile& t = b.tls;
    if (key == "tls.certificates") {
        std::string out;
        for (const auto& [cert, k] : t.certificates)
            out.append(out.empty() ? "" : ",").append(cert).append(":").append(k);
        return out.empty() ? "none" : out;
    }
    if (key == "tls.min_version")
        return t.min_version;
    if (key == "tls.ciphers")
        return t.ciphers;
    if (key == "tls.required")
        return on_off(t.required);
    if (key == "tls.required_networks") {
        std::string out;
        for (const auto& n : t.required_networks) {
            out.append(out.empty() ? "" : ",");
            if (n.addr.is_v4_mapped() && n.length >= 96)
                out += net::to_string(net::Ipv4Prefix{net::v4_unmapped(n.addr),
                                                      static_cast<std::uint8_t>(n.length - 96)});
            else
                out += net::to_string(n);
        }
        return out.empty() ? "none" : out;
    }
    if (key == "tls.lan")
        return t.lan;
    if (key == "tls.lan_ca_file")
        return path_or_none(t.lan_ca_file);
    if (key == "tls.lan_name")
        return t.lan_name.empty() ? "none" : t.lan_name;
    if (key == "tls.ticket_rotate_s")
        return u(t.ticket_rotate_s);
    return {};
}

std::variant<BoardProfile, BoardError> parse_board_profile(std::string_view text,
                                                           std::string_view file_name) {
    Parser parser;
    auto where = [&](std::size_t line) {
        return std::string(file_name) + ":" + std::to_string(line) + ": ";
    };
    std::size_t line_no = 0;
    while (!text.empty()) {
        ++line_no;
        auto nl = text.find('\n');
        auto line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        auto hash = line.find('#');
        line = trim(line.substr(0, hash));
        if (line.empty())
            continue;
        auto eq = line.find('=');
        if (eq == std::string_view::npos)
            return BoardError{where(line_no) + "expected 'key = value'"};
        auto key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
        if (key.empty() || value.empty())
            return BoardError{where(line_no) + "expected 'key = value'"};
        if (auto why = parser.apply(key, value); !why.empty())
            return BoardError{where(line_no) + why};
    }
    if (auto why = parser.validate(); !why.empty())
        return BoardError{std::string(file_name) + ": " + why};
    return std::move(parser.board);
}

std::vector<std::string> eal_arguments(const BoardProfile& board, std::string_view file_prefix) {
    std::vector<std::string> args;
    std::vector<unsigned> all{board.main_lcore};
    all.insert(all.end(), board.worker_lcores.begin(), board.worker_lcores.end());
    std::string lcores;
    for (auto l : all) {
        if (!lcores.empty())
            lcores += ',';
        lcores += std::to_string(l);
    }
    if (board.lcore_cpu_map.empty()) {
        args.push_back("-l");
        args.push_back(lcores);
    } else {
        // EAL's --lcores form: every lcore with its CPU (its own number unless mapped).
        std::string spec;
        for (auto l : all) {
            unsigned cpu = l;
            for (auto [lc, c] : board.lcore_cpu_map)
                if (lc == l)
                    cpu = c;
            if (!spec.empty())
                spec += ',';
            spec += std::to_string(l);
            spec += '@';
            spec += std::to_string(cpu);
        }
        args.push_back("--lcores=" + spec);
    }
    args.push_back("--main-lcore=" + std::to_string(board.main_lcore));
    args.push_back("--file-prefix=" + std::string(file_prefix));
    for (const auto& p : board.ports) {
        std::string dev = p.device + (p.devargs.empty() ? "" : "," + p.devargs);
        args.push_back(p.is_virtual_device() ? "--vdev=" + dev : "--allow=" + dev);
    }
    for (const auto& a : board.eal_args)
        args.push_back(a);
    return args;
}

} // namespace smtpgw::board
