// progress.h: progress notes from long commands to whoever asked.
//
// Purpose: loading a million-entry list, compiling rules or loading AV
// databases takes seconds; the console shows how far it got instead of a
// silent wait. A handler calls report_progress("parsed 500000 lines"); the
// control server, which installed a sink for the request it is running,
// sends it to that client at once as a progress frame. With no sink (the
// startup configuration, unit tests) notes go nowhere.
// Single-threaded: the control thread runs one command at a time.
#pragma once

#include <string_view>

namespace smtpgw::control {

class ProgressSink {
  public:
    virtual ~ProgressSink() = default;
    virtual void note(std::string_view text) = 0;
};

// Sends `text` to the current request's client, if any. Never blocks for
// long: a client that does not read gets its notes queued with the answer.
void report_progress(std::string_view text);

// Installs `sink` for the lifetime of the scope (nested scopes restore).
class ProgressScope {
  public:
    explicit ProgressScope(ProgressSink* sink);
    ~ProgressScope();
    ProgressScope(const ProgressScope&) = delete;
    ProgressScope& operator=(const ProgressScope&) = delete;

  private:
    ProgressSink* previous_;
};

} // namespace smtpgw::control
