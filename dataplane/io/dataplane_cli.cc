// dataplane_cli.cc: show commands of the fast path (see header).
#include "io/dataplane_cli.h"

#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_version.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "io/tcp_adapter.h"

#include "engine_info.h"
#include "net/drop_reason.h"

#ifdef SMTPGW_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#ifndef SMTPGW_VERSION
#define SMTPGW_VERSION "unknown"
#endif
#ifndef SMTPGW_BUILD_TYPE
#define SMTPGW_BUILD_TYPE "unknown"
#endif

namespace smtpgw::io {

using control::CommandArgs;
using control::CommandResult;
using control::format_table;

namespace {

std::string u64(std::uint64_t v) {
    return std::to_string(v);
}

std::string show_version() {
    auto e = scanners::engine_info();
    std::vector<std::vector<std::string>> rows{
        {"smtpgw", SMTPGW_VERSION " (" SMTPGW_BUILD_TYPE ")"},
        {"DPDK", rte_version()},
        {"Hyperscan", e.hyperscan_version + (e.hyperscan_platform_ok ? "" : " (CPU lacks SSSE3!)")},
        {"libclamav", e.clamav_version},
        {"OpenSSL", e.openssl_version},
#ifdef SMTPGW_WITH_JEMALLOC
        {"allocator", "jemalloc"},
#else
        {"allocator", "system malloc (sanitizer build)"},
#endif
    };
    return format_table(rows);
}

std::string show_status(const Dataplane& dp) {
    auto up = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                               dp.started_at())
                  .count();
    std::vector<std::vector<std::string>> rows{
        {"board", dp.board().name + " (" + dp.board().description + ")"},
        {"state", dp.running() ? "running" : "stopped"},
        {"uptime", std::to_string(up) + " s"},
    };
    for (const auto& p : dp.ports()) {
        rte_eth_link link{};
        rte_eth_link_get_nowait(p.port_id, &link);
        rows.push_back({"port " + p.role, link.link_status ? "up" : "down"});
    }
    for (const auto& w : dp.workers())
        rows.push_back({"lcore " + std::to_string(w->lcore_id),
                        "fast path, heartbeat " + u64(w->heartbeat.read())});
    return format_table(rows);
}

std::string show_interfaces(const Dataplane& dp) {
    std::string out;
    for (const auto& p : dp.ports()) {
        std::uint64_t rxp = 0, rxb = 0, txp = 0, txb = 0;
        for (const auto& w : dp.workers())
            for (const auto& wp : w->ports)
                if (wp->port_id == p.port_id) {
                    rxp += wp->stats.rx_packets.read();
                    rxb += wp->stats.rx_bytes.read();
                    txp += wp->stats.tx_packets.read();
                    txb += wp->stats.tx_bytes.read();
                }
        rte_eth_stats st{};
        rte_eth_stats_get(p.port_id, &st);
        rte_eth_link link{};
        rte_eth_link_get_nowait(p.port_id, &link);
        std::vector<std::vector<std::string>> rows{
            {p.role, p.device + " (port " + std::to_string(p.port_id) + ")"},
            {"  link",
             std::string(link.link_status ? "up" : "down") + ", mtu " + std::to_string(p.mtu)},
            {"  mac", net::to_string(p.addressing.mac)},
            {"  ipv4", net::to_string(p.addressing.ipv4)},
            {"  ipv6",
             net::to_string(p.addressing.ipv6) + ", " + net::to_string(p.addressing.link_local)},
            {"  rx", u64(rxp) + " packets, " + u64(rxb) + " bytes"},
            {"  tx", u64(txp) + " packets, " + u64(txb) + " bytes"},
            {"  nic", "missed " + u64(st.imissed) + ", rx errors " + u64(st.ierrors) +
                          ", tx errors " + u64(st.oerrors) + ", no mbuf " + u64(st.rx_nombuf)},
        };
        out += format_table(rows);
    }
    return out;
}

std::string show_stats(const Dataplane& dp, bool all) {
    std::vector<std::vector<std::string>> rows;
    for (std::size_t i = 0; i < net::kDropReasonCount; ++i) {
        auto r = static_cast<net::DropReason>(i);
        std::uint64_t total = 0;
        for (const auto& w : dp.workers())
            total += w->drops.read(r);
        if (total == 0 && !all)
            continue;
        const auto& info = net::drop_reason_info(r);
        rows.push_back({"  " + std::string(info.name),
                        std::string(net::severity_name(info.severity)), u64(total),
                        std::string(info.sentence)});
    }
    std::string out = "drops by reason" +
                      std::string(all ? "" : " (non-zero; 'show stats all' lists every reason)") +
                      ":\n";
    out += rows.empty() ? "  none\n" : format_table(rows);

    std::uint64_t learned = 0, updated = 0, evicted = 0, arp = 0, na = 0, echo = 0;
    for (const auto& w : dp.workers())
        for (const auto& p : w->ports) {
            const auto& c = p->l3.neighbor_counters;
            learned += c.learned.read();
            updated += c.updated.read();
            evicted += c.evicted.read();
            arp += c.arp_replies_sent.read();
            na += c.nd_adverts_sent.read();
            echo += c.echo_replies_sent.read();
        }
    out += "events:\n";
    out += format_table({{"  neighbors_learned", u64(learned)},
                         {"  neighbors_updated", u64(updated)},
                         {"  neighbors_evicted", u64(evicted)},
                         {"  arp_replies_sent", u64(arp)},
                         {"  nd_adverts_sent", u64(na)},
                         {"  echo_replies_sent", u64(echo)}});
    out += "lcores:\n";
    for (const auto& w : dp.workers()) {
        std::uint64_t busy = w->busy_cycles.read(), idle = w->idle_cycles.read();
        double pct = busy + idle
                         ? 100.0 * static_cast<double>(busy) / static_cast<double>(busy + idle)
                         : 0.0;
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.2f%% busy", pct);
        out += format_table({{"  lcore " + std::to_string(w->lcore_id), "busy_cycles " + u64(busy),
                              "idle_cycles " + u64(idle), buf}});
    }
    return out;
}

std::string show_neighbors(Dataplane& dp) {
    auto snap = dp.neighbor_snapshot();
    std::vector<std::vector<std::string>> rows{{"port", "address", "mac", "lcore"}};
    for (std::size_t wi = 0; wi < snap.size(); ++wi) {
        const auto& w = dp.workers()[wi];
        if (snap[wi].empty()) {
            rows.push_back({"?", "(lcore did not answer)", "", std::to_string(w->lcore_id)});
            continue;
        }
        for (std::size_t pi = 0; pi < snap[wi].size(); ++pi)
            for (const auto& e : snap[wi][pi]) {
                std::string ip = e.ip.is_v4_mapped() ? net::to_string(net::v4_unmapped(e.ip))
                                                     : net::to_string(e.ip);
                rows.push_back(
                    {w->ports[pi]->role, ip, net::to_string(e.mac), std::to_string(w->lcore_id)});
            }
    }
    return format_table(rows);
}

std::string show_smtp(const Dataplane& dp) {
    std::vector<std::vector<std::string>> rows{
        {"lcore", "active sessions", "sessions", "refused (full)"}};
    struct Total {
        const char* name;
        net::Counter smtp::SmtpCounters::*field;
        const char* sentence;
    };
    const Total totals[] = {
        {"messages_sent", &smtp::SmtpCounters::messages_sent,
         "the LAN server accepted; the sender got 250"},
        {"messages_rejected", &smtp::SmtpCounters::messages_rejected, "refused with 5xx"},
        {"messages_deferred", &smtp::SmtpCounters::messages_deferred,
         "refused with 4xx (the sender retries)"},
        {"messages_aborted", &smtp::SmtpCounters::messages_aborted,
         "abandoned mid-transfer: nothing delivered"},
        {"refusals", &smtp::SmtpCounters::refusals,
         "commands refused (relay, syntax, limits, early talkers)"},
        {"lan_connects", &smtp::SmtpCounters::lan_connects, "connections opened to the LAN server"},
        {"lan_connect_failures", &smtp::SmtpCounters::lan_connect_failures,
         "no port or slot for one"},
        {"log_lines_dropped", &smtp::SmtpCounters::log_lines_dropped, "log queue full"},
    };
    bool any = false;
    for (const auto& w : dp.workers()) {
        const smtp::SmtpService* svc = w->tcp ? w->tcp->smtp() : nullptr;
        if (!svc)
            continue;
        any = true;
        rows.push_back({std::to_string(w->lcore_id), u64(svc->active_sessions()),
                        u64(w->smtp_counters.sessions.read()),
                        u64(w->smtp_counters.sessions_refused.read())});
    }
    if (!any)
        return "SMTP is off on this board (smtp.enabled, smtp.lan_server4)\n";
    std::string out = format_table(rows);
    std::vector<std::vector<std::string>> ev;
    for (const auto& t : totals) {
        std::uint64_t total = 0;
        for (const auto& w : dp.workers())
            total += (w->smtp_counters.*t.field).read();
        ev.push_back({"  " + std::string(t.name), u64(total), t.sentence});
    }
    return out + format_table(ev);
}

std::string show_tcp(const Dataplane& dp) {
    std::vector<std::vector<std::string>> rows{
        {"lcore", "connections", "half-open", "time-wait", "syn cookies", "steered out"}};
    for (const auto& w : dp.workers()) {
        if (!w->tcp)
            continue;
        // Gauges are plain fields of the lcore's stack: read racily, for display.
        const auto& st = w->tcp->stack();
        rows.push_back({std::to_string(w->lcore_id), u64(st.connections()), u64(st.half_open()),
                        u64(st.time_wait()), st.cookie_mode() ? "on" : "off",
                        u64(w->steered_out.read())});
    }
    std::string out = format_table(rows);
    for (const auto& w : dp.workers())
        if (w->tcp) {
            out += "idle timeout: " + u64(w->tcp->stack().idle_timeout() / 1'000'000'000) +
                   " s (new connections)\n";
            break;
        }
    std::vector<std::vector<std::string>> ev;
    for (std::size_t i = 0; i < tcp::kTcpStackEventCount; ++i) {
        auto e = static_cast<tcp::TcpStackEvent>(i);
        std::uint64_t total = 0;
        for (const auto& w : dp.workers())
            total += w->tcp_stack_events.read(e);
        if (total == 0)
            continue;
        const auto& info = tcp::tcp_stack_event_info(e);
        ev.push_back({"  " + std::string(info.name), std::string(net::severity_name(info.severity)),
                      u64(total), std::string(info.sentence)});
    }
    for (std::size_t i = 0; i < tcp::kTcpEventCount; ++i) {
        auto e = static_cast<tcp::TcpEvent>(i);
        std::uint64_t total = 0;
        for (const auto& w : dp.workers())
            total += w->tcp_events.read(e);
        if (total == 0)
            continue;
        const auto& info = tcp::tcp_event_info(e);
        ev.push_back({"  " + std::string(info.name), std::string(net::severity_name(info.severity)),
                      u64(total), std::string(info.sentence)});
    }
    out += "events (non-zero):\n";
    out += ev.empty() ? "  none\n" : format_table(ev);
    return out;
}

std::string endpoint(const net::Ipv6Addr& a, std::uint16_t port) {
    return a.is_v4_mapped() ? net::to_string(net::v4_unmapped(a)) + ":" + std::to_string(port)
                            : "[" + net::to_string(a) + "]:" + std::to_string(port);
}

std::string show_tcp_connections(Dataplane& dp) {
    constexpr std::size_t kMaxShown = 1000;
    auto snap = dp.tcp_snapshot(kMaxShown);
    std::vector<std::vector<std::string>> rows{
        {"lcore", "local", "remote", "state", "unread", "cwnd", "rto ms"}};
    for (std::size_t wi = 0; wi < snap.size(); ++wi)
        for (const auto& c : snap[wi])
            rows.push_back({std::to_string(dp.workers()[wi]->lcore_id),
                            endpoint(c.tuple.local, c.tuple.local_port),
                            endpoint(c.tuple.remote, c.tuple.remote_port),
                            std::string(tcp::state_name(c.state)), u64(c.readable), u64(c.cwnd),
                            u64(c.rto_ns / 1'000'000)});
    return format_table(rows);
}

// "off" or comma-separated name=value: loss, duplicate, reorder (percent,
// up to two decimals), reorder_delay_us, delay_us, seed.
std::optional<net::FaultSettings> parse_fault(std::string_view text, std::string& why) {
    net::FaultSettings f;
    if (text == "off")
        return f;
    while (!text.empty()) {
        auto comma = text.find(',');
        auto item = text.substr(0, comma);
        text.remove_prefix(comma == std::string_view::npos ? text.size() : comma + 1);
        auto eq = item.find('=');
        if (eq == std::string_view::npos) {
            why = "expected name=value, got '" + std::string(item) + "'";
            return std::nullopt;
        }
        auto name = item.substr(0, eq);
        std::string value(item.substr(eq + 1));
        if (!value.empty() && value.back() == '%')
            value.pop_back();
        char* end = nullptr;
        double v = std::strtod(value.c_str(), &end);
        if (value.empty() || *end != '\0' || v < 0) {
            why = "bad number '" + value + "' for " + std::string(name);
            return std::nullopt;
        }
        auto ppm = static_cast<std::uint32_t>(v * 10000.0 + 0.5);
        auto whole = static_cast<std::uint64_t>(v);
        if (name == "loss")
            f.loss_ppm = ppm;
        else if (name == "duplicate")
            f.duplicate_ppm = ppm;
        else if (name == "reorder")
            f.reorder_ppm = ppm;
        else if (name == "reorder_delay_us")
            f.reorder_delay_us = static_cast<std::uint32_t>(std::min<std::uint64_t>(whole, ~0u));
        else if (name == "delay_us")
            f.delay_us = static_cast<std::uint32_t>(std::min<std::uint64_t>(whole, ~0u));
        else if (name == "seed")
            f.seed = whole;
        else {
            why = "unknown setting '" + std::string(name) +
                  "' (loss, duplicate, reorder, reorder_delay_us, delay_us, seed)";
            return std::nullopt;
        }
    }
    return f;
}

std::string show_fault(const Dataplane& dp) {
    std::vector<std::vector<std::string>> rows{
        {"port", "fault injection", "dropped", "duplicated", "delayed"}};
    for (const auto& p : dp.ports()) {
        auto it = dp.faults().find(p.role);
        std::uint64_t dropped = 0, dup = 0, delayed = 0;
        for (const auto& w : dp.workers())
            for (const auto& wp : w->ports)
                if (wp->role == p.role)
                    for (const FaultPath* f : {&wp->rx_fault, &wp->tx_fault}) {
                        dropped += f->counters.dropped.read();
                        dup += f->counters.duplicated.read();
                        delayed += f->counters.delayed.read();
                    }
        rows.push_back({p.role, it == dp.faults().end() ? "off" : net::to_string(it->second),
                        u64(dropped), u64(dup), u64(delayed)});
    }
    return format_table(rows);
}

} // namespace

std::string memory_report(const Dataplane& dp) {
    std::vector<std::vector<std::string>> rows;
#ifdef SMTPGW_WITH_JEMALLOC
    std::uint64_t epoch = 1;
    std::size_t sz = sizeof epoch;
    mallctl("epoch", &epoch, &sz, &epoch, sz); // refresh the statistics
    for (const char* name : {"stats.allocated", "stats.active", "stats.resident", "stats.mapped",
                             "stats.metadata", "stats.retained"}) {
        std::size_t v = 0, vlen = sizeof v;
        if (mallctl(name, &v, &vlen, nullptr, 0) == 0)
            rows.push_back({std::string("jemalloc ") + (name + 6), u64(v) + " bytes"});
    }
#else
    rows.push_back({"allocator", "system malloc (sanitizer build): no jemalloc statistics"});
#endif
    rte_malloc_socket_stats heap{};
    if (rte_malloc_get_socket_stats(0, &heap) == 0) {
        rows.push_back({"dpdk heap total", u64(heap.heap_totalsz_bytes) + " bytes"});
        rows.push_back({"dpdk heap allocated", u64(heap.heap_allocsz_bytes) + " bytes"});
        rows.push_back({"dpdk heap free", u64(heap.heap_freesz_bytes) + " bytes"});
    }
    if (dp.mempool()) {
        rows.push_back({"mbufs in use", u64(rte_mempool_in_use_count(dp.mempool()))});
        rows.push_back({"mbufs available", u64(rte_mempool_avail_count(dp.mempool()))});
    }
    return format_table(rows);
}

void register_dataplane_commands(control::CommandTable& table, Dataplane& dp) {
    table.add(
        {"show version", "firmware, DPDK and engine versions", {}, false, [](const CommandArgs&) {
             return CommandResult::success(show_version());
         }});
    table.add(
        {"show status", "board, ports, fast-path lcores", {}, false, [&dp](const CommandArgs&) {
             return CommandResult::success(show_status(dp));
         }});
    table.add({"show interfaces",
               "ports: addresses, link, packet counters",
               {},
               false,
               [&dp](const CommandArgs&) { return CommandResult::success(show_interfaces(dp)); }});
    table.add({"show stats",
               "drops by reason, events, lcore busy/idle",
               {{"all", "also list reasons that are zero",
                 [] { return std::vector<std::string>{"all"}; }}},
               true,
               [&dp](const CommandArgs& a) {
                   if (!a.empty() && a[0] != "all")
                       return CommandResult::failure("usage: show stats [all]");
                   return CommandResult::success(show_stats(dp, !a.empty()));
               }});
    table.add(
        {"show neighbors", "ARP and ND caches of every port", {}, false, [&dp](const CommandArgs&) {
             return CommandResult::success(show_neighbors(dp));
         }});
    table.add({"show tcp",
               "TCP: connections, half-open, TIME-WAIT, SYN cookies, events",
               {},
               false,
               [&dp](const CommandArgs&) { return CommandResult::success(show_tcp(dp)); }});
    table.add(
        {"show tcp connections",
         "the TCP connection table (first 1000 per lcore)",
         {},
         false,
         [&dp](const CommandArgs&) { return CommandResult::success(show_tcp_connections(dp)); }});
    table.add(
        {"show connections",
         "TCP connections of every lcore (first 1000 each)",
         {},
         false,
         [&dp](const CommandArgs&) { return CommandResult::success(show_tcp_connections(dp)); }});
    table.add({"show tls",
               "STARTTLS: certificates by name, policy, handshakes",
               {},
               false,
               [&dp](const CommandArgs&) {
                   auto cfg = dp.smtp_config();
                   if (!cfg || !cfg->tls_server)
                       return CommandResult::success(
                           "STARTTLS is off (tls.certificates, and SMTP on)\n");
                   const auto& ctx = *cfg->tls_server;
                   std::string out = "STARTTLS offered on port " + std::to_string(cfg->port) +
                                     ", TLS " + ctx.server_settings().min_version + " and up" +
                                     (cfg->proxy.session.tls_required ? ", required" : "") + "\n";
                   for (std::size_t g = 0; g < ctx.names().size(); ++g) {
                       std::string names;
                       for (const auto& n : ctx.names()[g])
                           names += (names.empty() ? "" : ", ") + n;
                       out += "  certificate group " + std::to_string(g + 1) + ": " + names +
                              (g == 0 ? " (default)" : "") + "\n";
                   }
                   std::uint64_t started = 0, established = 0, resumed = 0, failed = 0;
                   for (const auto& w : dp.workers()) {
                       started += w->smtp_counters.tls_started.read();
                       established += w->smtp_counters.tls_established.read();
                       resumed += w->smtp_counters.tls_resumed.read();
                       failed += w->smtp_counters.tls_failed.read();
                   }
                   out += format_table({{"  starttls", u64(started)},
                                        {"  established", u64(established)},
                                        {"  resumed", u64(resumed)},
                                        {"  failed", u64(failed)}});
                   return CommandResult::success(out);
               }});
    table.add({"show smtp",
               "SMTP sessions and message outcomes per lcore",
               {},
               false,
               [&dp](const CommandArgs&) { return CommandResult::success(show_smtp(dp)); }});
    table.add({"show fault",
               "lab fault injection per port, with counts",
               {},
               false,
               [&dp](const CommandArgs&) { return CommandResult::success(show_fault(dp)); }});
    table.add(
        {"set fault",
         "lab only: inject faults on a port's frames, both directions",
         {{"PORT", "wan or lan",
           [] {
               return std::vector<std::string>{"wan", "lan"};
           }},
          {"SETTINGS",
           "off, or loss=P,duplicate=P,reorder=P (percent),delay_us=N,reorder_delay_us=N,seed=N",
           [] { return std::vector<std::string>{"off"}; }}},
         false,
         [&dp](const CommandArgs& a) {
             std::string why;
             auto f = parse_fault(a[1], why);
             if (!f)
                 return CommandResult::failure(why);
             if (auto err = dp.set_fault(a[0], *f); !err.empty())
                 return CommandResult::failure(err);
             return CommandResult::success(a[0] + ": " + net::to_string(*f) + "\n");
         }});
    table.add({"show memory",
               "allocator (jemalloc) and DPDK memory",
               {},
               false,
               [&dp](const CommandArgs&) { return CommandResult::success(memory_report(dp)); }});
}

} // namespace smtpgw::io

namespace smtpgw::io {

control::MonitorSample monitor_sample(const Dataplane& dp, std::uint64_t second) {
    using control::MonitorSeries;
    control::MonitorSample s;
    s.second = second;
    auto add = [&](MonitorSeries series, std::uint64_t v) {
        s.values[static_cast<std::size_t>(series)] += v;
    };
    for (const auto& w : dp.workers()) {
        if (w->tcp) {
            add(MonitorSeries::connections, w->tcp->stack().connections());
            if (const smtp::SmtpService* svc = w->tcp->smtp())
                add(MonitorSeries::sessions, svc->active_sessions());
        }
        add(MonitorSeries::messages_sent, w->smtp_counters.messages_sent.read());
        add(MonitorSeries::messages_refused,
            w->smtp_counters.messages_rejected.read() + w->smtp_counters.messages_deferred.read());
        for (std::size_t r = 0; r < net::kDropReasonCount; ++r)
            add(MonitorSeries::drops, w->drops.read(static_cast<net::DropReason>(r)));
        for (auto e :
             {filter::PeerFilterEvent::listed_dropped, filter::PeerFilterEvent::listed_reset,
              filter::PeerFilterEvent::rate_limited, filter::PeerFilterEvent::too_many_connections,
              filter::PeerFilterEvent::too_many_half_open,
              filter::PeerFilterEvent::limits_table_full})
            add(MonitorSeries::syns_refused, w->filter_events.read(e));
        for (const auto& p : w->ports)
            add(MonitorSeries::rx_packets, p->stats.rx_packets.read());
    }
    return s;
}

void register_monitor_command(control::CommandTable& table, const control::MonitorHistory& history,
                              std::string title) {
    table.add({"show monitor",
               "the live view's screen (the console's `monitor` redraws it)",
               {{"WIDTH", "columns (40..200, default 80)", {}}},
               1,
               [&history, title](const CommandArgs& a) {
                   int width = 80;
                   if (!a.empty()) {
                       char* end = nullptr;
                       long v = std::strtol(a[0].c_str(), &end, 10);
                       if (a[0].empty() || *end != '\0' || v < 40 || v > 200)
                           return CommandResult::failure("WIDTH must be 40..200");
                       width = static_cast<int>(v);
                   }
                   return CommandResult::success(control::render_monitor(history, title, width));
               }});
}

} // namespace smtpgw::io
