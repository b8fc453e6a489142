// metrics_collect.h: every counter the dataplane keeps, as the Prometheus
// text the metrics endpoint serves (controlplane/metrics_http.h).
//
// Purpose: one place that names the metrics, with stable names (smtpgw_*,
// counters end in _total) and labels (port, lcore, reason, severity, list,
// event, status, result): ports, drops by reason, TCP events and gauges,
// the peer filter's decisions and SYNs refused per list, SMTP sessions,
// messages by outcome, TLS handshakes, latency histograms (banner, verdict,
// LAN server reply), lcore busy/idle cycles, mbufs in use.
// Runs on the control thread; reads single-writer counters without locks.
#pragma once

#include <string>

#include "io/dataplane.h"
#include "io/peer_filter_control.h"

namespace smtpgw::io {

std::string render_metrics(const Dataplane& dp, const PeerFilterControl& peer_filter);

} // namespace smtpgw::io
