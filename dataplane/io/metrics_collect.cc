// metrics_collect.cc: the dataplane's counters as Prometheus text (see header).
#include "io/metrics_collect.h"

#include <rte_ethdev.h>
#include <rte_mempool.h>

#include <vector>

#include "io/tcp_adapter.h"
#include "io/worker.h"
#include "prometheus_text.h"

namespace smtpgw::io {

using control::Labels;
using control::MetricType;

namespace {

double d(std::uint64_t v) {
    return static_cast<double>(v);
}

void histogram(control::PrometheusText& t, const char* name, const char* help, const Dataplane& dp,
               net::LatencyHistogram smtp::SmtpCounters::*field) {
    std::vector<double> bounds;
    for (auto us : net::LatencyHistogram::kBoundsUs)
        bounds.push_back(static_cast<double>(us) / 1e6);
    std::vector<std::uint64_t> counts(net::LatencyHistogram::kBuckets, 0);
    std::uint64_t sum_us = 0;
    for (const auto& w : dp.workers()) {
        const auto& h = w->smtp_counters.*field;
        for (std::size_t i = 0; i < counts.size(); ++i)
            counts[i] += h.bucket(i);
        sum_us += h.sum_us();
    }
    t.add_histogram(name, help, {}, bounds, counts, static_cast<double>(sum_us) / 1e6);
}

} // namespace

std::string render_metrics(const Dataplane& dp, const PeerFilterControl& peer_filter) {
    control::PrometheusText t;
    // Ports: our counters per queue summed, and the NIC's own.
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
        Labels port{{"port", p.role}};
        t.add("smtpgw_port_rx_packets_total", MetricType::counter, "Frames received", port, d(rxp));
        t.add("smtpgw_port_rx_bytes_total", MetricType::counter, "Octets received", port, d(rxb));
        t.add("smtpgw_port_tx_packets_total", MetricType::counter, "Frames sent", port, d(txp));
        t.add("smtpgw_port_tx_bytes_total", MetricType::counter, "Octets sent", port, d(txb));
        rte_eth_stats st{};
        rte_eth_stats_get(p.port_id, &st);
        t.add("smtpgw_port_nic_missed_total", MetricType::counter,
              "Frames the NIC dropped for lack of room", port, d(st.imissed));
        t.add("smtpgw_port_nic_rx_errors_total", MetricType::counter, "NIC receive errors", port,
              d(st.ierrors));
        t.add("smtpgw_port_nic_tx_errors_total", MetricType::counter, "NIC transmit errors", port,
              d(st.oerrors));
    }
    // Drops by reason, every reason (a zero is information too).
    for (std::size_t r = 0; r < net::kDropReasonCount; ++r) {
        auto reason = static_cast<net::DropReason>(r);
        std::uint64_t total = 0;
        for (const auto& w : dp.workers())
            total += w->drops.read(reason);
        const auto& info = net::drop_reason_info(reason);
        t.add("smtpgw_drops_total", MetricType::counter, "Frames dropped, by reason",
              {{"reason", std::string(info.name)},
               {"severity", std::string(net::severity_name(info.severity))}},
              d(total));
    }
    for (std::size_t i = 0; i < tcp::kTcpStackEventCount; ++i) {
        auto e = static_cast<tcp::TcpStackEvent>(i);
        std::uint64_t total = 0;
        for (const auto& w : dp.workers())
            total += w->tcp_stack_events.read(e);
        t.add("smtpgw_tcp_events_total", MetricType::counter, "TCP stack events",
              {{"event", std::string(tcp::tcp_stack_event_info(e).name)}}, d(total));
    }
    for (std::size_t i = 0; i < filter::kPeerFilterEventCount; ++i) {
        auto e = static_cast<filter::PeerFilterEvent>(i);
        std::uint64_t total = 0;
        for (const auto& w : dp.workers())
            total += w->filter_events.read(e);
        t.add("smtpgw_peer_filter_decisions_total", MetricType::counter,
              "Peer filter decisions at SYN",
              {{"decision", std::string(filter::peer_filter_event_info(e).name)}}, d(total));
    }
    for (const auto& [list, refused] : peer_filter.refused_per_list())
        t.add("smtpgw_peer_filter_refused_total", MetricType::counter, "SYNs refused, by list",
              {{"list", list}}, d(refused));
    for (const auto& w : dp.workers()) {
        Labels lcore{{"lcore", std::to_string(w->lcore_id)}};
        t.add("smtpgw_lcore_busy_cycles_total", MetricType::counter,
              "TSC cycles in loop iterations that moved frames", lcore, d(w->busy_cycles.read()));
        t.add("smtpgw_lcore_idle_cycles_total", MetricType::counter,
              "TSC cycles polling empty queues or napping", lcore, d(w->idle_cycles.read()));
        if (w->tcp) {
            const auto& st = w->tcp->stack();
            t.add("smtpgw_tcp_connections", MetricType::gauge, "TCP connections", lcore,
                  d(st.connections()));
            t.add("smtpgw_tcp_half_open", MetricType::gauge, "Half-open TCP connections", lcore,
                  d(st.half_open()));
            t.add("smtpgw_tcp_time_wait", MetricType::gauge, "Connections in TIME-WAIT", lcore,
                  d(st.time_wait()));
            if (const smtp::SmtpService* svc = w->tcp->smtp())
                t.add("smtpgw_smtp_sessions_active", MetricType::gauge, "SMTP sessions open", lcore,
                      d(svc->active_sessions()));
        }
        const auto& c = w->smtp_counters;
        t.add("smtpgw_smtp_sessions_total", MetricType::counter, "SMTP sessions accepted", lcore,
              d(c.sessions.read()));
        t.add("smtpgw_smtp_sessions_refused_total", MetricType::counter,
              "SMTP connections refused for a full session table", lcore,
              d(c.sessions_refused.read()));
    }
    std::uint64_t sent = 0, rejected = 0, deferred = 0, aborted = 0, refusals = 0, lan = 0,
                  lan_fail = 0, log_drop = 0, tls_s = 0, tls_e = 0, tls_r = 0, tls_f = 0,
                  lan_tls_e = 0, lan_tls_f = 0;
    for (const auto& w : dp.workers()) {
        const auto& c = w->smtp_counters;
        sent += c.messages_sent.read();
        rejected += c.messages_rejected.read();
        deferred += c.messages_deferred.read();
        aborted += c.messages_aborted.read();
        refusals += c.refusals.read();
        lan += c.lan_connects.read();
        lan_fail += c.lan_connect_failures.read();
        log_drop += c.log_lines_dropped.read();
        tls_s += c.tls_started.read();
        tls_e += c.tls_established.read();
        tls_r += c.tls_resumed.read();
        tls_f += c.tls_failed.read();
        lan_tls_e += c.lan_tls_established.read();
        lan_tls_f += c.lan_tls_failed.read();
    }
    const char* msg_help = "Messages by outcome (sent: the LAN server accepted)";
    t.add("smtpgw_smtp_messages_total", MetricType::counter, msg_help, {{"status", "sent"}},
          d(sent));
    t.add("smtpgw_smtp_messages_total", MetricType::counter, msg_help, {{"status", "rejected"}},
          d(rejected));
    t.add("smtpgw_smtp_messages_total", MetricType::counter, msg_help, {{"status", "deferred"}},
          d(deferred));
    t.add("smtpgw_smtp_messages_total", MetricType::counter, msg_help, {{"status", "aborted"}},
          d(aborted));
    t.add("smtpgw_smtp_refusals_total", MetricType::counter,
          "Commands refused (relay, syntax, limits, early talkers)", {}, d(refusals));
    t.add("smtpgw_smtp_lan_connects_total", MetricType::counter,
          "Connections opened to the LAN server", {}, d(lan));
    t.add("smtpgw_smtp_lan_connect_failures_total", MetricType::counter,
          "LAN connections that could not be opened", {}, d(lan_fail));
    t.add("smtpgw_smtp_log_lines_dropped_total", MetricType::counter,
          "Mail log lines lost to a full queue", {}, d(log_drop));
    const char* tls_help = "STARTTLS handshakes from senders";
    t.add("smtpgw_tls_handshakes_total", MetricType::counter, tls_help, {{"result", "started"}},
          d(tls_s));
    t.add("smtpgw_tls_handshakes_total", MetricType::counter, tls_help, {{"result", "established"}},
          d(tls_e));
    t.add("smtpgw_tls_handshakes_total", MetricType::counter, tls_help, {{"result", "resumed"}},
          d(tls_r));
    t.add("smtpgw_tls_handshakes_total", MetricType::counter, tls_help, {{"result", "failed"}},
          d(tls_f));
    t.add("smtpgw_lan_tls_handshakes_total", MetricType::counter,
          "STARTTLS handshakes toward the LAN server", {{"result", "established"}}, d(lan_tls_e));
    t.add("smtpgw_lan_tls_handshakes_total", MetricType::counter,
          "STARTTLS handshakes toward the LAN server", {{"result", "failed"}}, d(lan_tls_f));
    // Content scanning (issue 7): messages by scan outcome.
    std::uint64_t scanned = 0, s_rej = 0, s_tag = 0, s_temp = 0, viruses = 0, av_jobs = 0,
                  av_busy = 0;
    for (const auto& w : dp.workers()) {
        const auto& c = w->smtp_counters;
        scanned += c.scanned.read();
        s_rej += c.scan_rejected.read();
        s_tag += c.scan_tagged.read();
        s_temp += c.scan_tempfailed.read();
        viruses += c.viruses.read();
        av_jobs += c.av_jobs.read();
        av_busy += c.av_busy.read();
    }
    t.add("smtpgw_scan_messages_total", MetricType::counter, "Messages through the content scan",
          {}, d(scanned));
    const char* verdict_help = "Content scan verdicts other than accept";
    t.add("smtpgw_scan_verdicts_total", MetricType::counter, verdict_help,
          {{"verdict", "rejected"}}, d(s_rej));
    t.add("smtpgw_scan_verdicts_total", MetricType::counter, verdict_help, {{"verdict", "virus"}},
          d(viruses));
    t.add("smtpgw_scan_verdicts_total", MetricType::counter, verdict_help, {{"verdict", "tagged"}},
          d(s_tag));
    t.add("smtpgw_scan_verdicts_total", MetricType::counter, verdict_help,
          {{"verdict", "deferred"}}, d(s_temp));
    t.add("smtpgw_av_jobs_total", MetricType::counter, "Messages sent to the antivirus threads", {},
          d(av_jobs));
    t.add("smtpgw_av_queue_full_total", MetricType::counter,
          "Messages deferred because the antivirus queue was full", {}, d(av_busy));
    if (auto set = dp.rules())
        for (std::uint32_t i = 0; i < set->rules().size(); ++i)
            t.add("smtpgw_rule_matches_total", MetricType::counter,
                  "Messages each content rule matched (since the rules were loaded)",
                  {{"rule", set->rules()[i].id}}, d(set->matches(i)));
    histogram(t, "smtpgw_smtp_banner_seconds", "Accepted connection to the banner sent", dp,
              &smtp::SmtpCounters::banner_latency);
    histogram(t, "smtpgw_smtp_verdict_seconds",
              "End of data to the sender's answer (the LAN server's verdict)", dp,
              &smtp::SmtpCounters::verdict_latency);
    histogram(t, "smtpgw_smtp_lan_reply_seconds", "LAN server reply time, per command", dp,
              &smtp::SmtpCounters::lan_reply_latency);
    if (dp.mempool())
        t.add("smtpgw_mbufs_in_use", MetricType::gauge, "Packet buffers in use", {},
              d(rte_mempool_in_use_count(dp.mempool())));
    t.add("smtpgw_metrics_refused_total", MetricType::counter,
          "Samples this exposition refused (a bug if not 0)", {}, d(t.refused()));
    return t.render();
}

} // namespace smtpgw::io
