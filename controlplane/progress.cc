// progress.cc: progress notes (see header).
#include "progress.h"

namespace smtpgw::control {

namespace {
ProgressSink* g_sink = nullptr; // the control thread's current request
} // namespace

void report_progress(std::string_view text) {
    if (g_sink)
        g_sink->note(text);
}

ProgressScope::ProgressScope(ProgressSink* sink) : previous_(g_sink) {
    g_sink = sink;
}
ProgressScope::~ProgressScope() {
    g_sink = previous_;
}

} // namespace smtpgw::control
