// av_worker.h: one confined antivirus worker process, seen from the daemon.
//
// Purpose: libclamav runs in smtpgw-avscan (av_worker_main.cc), a separate
// process that confines itself (av_sandbox.h) before loading a signature;
// this class starts it, hands it parts through shared memory
// (av_worker_channel.h), and notices when it crashes or hangs. A dead or
// hung worker costs the parts it was scanning an error verdict (the SMTP
// engine answers 451: nothing passes unscanned, nothing is lost) and is
// started again by its owner; the daemon's memory is never shared with it.
// Each worker has its own compiled engine: a reload replaces workers one at
// a time (av_scanners.h), so the others go on scanning meanwhile and the
// memory peak is one engine more at most.
// Error contract: start() returns "" or the worker's one-line reason (the
// database, the sandbox, the executable); scan() never throws and returns an
// error verdict with a reason when the worker fails (then alive() is false).
// Not thread-safe: one owner thread at a time (pid() excepted).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <span>
#include <string>

#include "av/av_engine.h"
#include "av/av_sandbox.h"

namespace smtpgw::av {

struct AvWorkerConfig {
    std::string executable; // smtpgw-avscan
    std::string db_dir;
    AvLimits limits;
    SandboxSpec sandbox;             // user, scratch folder, memory
    std::uint32_t start_ms = 600000; // loading the full ClamAV database takes tens of seconds
    std::uint32_t grace_ms = 5000;   // beyond limits.max_scan_ms before a scan counts as hung
};

class AvWorker {
  public:
    AvWorker() = default;
    ~AvWorker();
    AvWorker(const AvWorker&) = delete;
    AvWorker& operator=(const AvWorker&) = delete;

    // Starts the process and waits until it has loaded the database (or
    // says why not, or start_ms passes). The scratch folder is emptied first
    // (a crashed worker leaves its temporary files).
    // `progress` gets the worker's loading notes (av_engine.h).
    std::string start(const AvWorkerConfig& config, const AvEngine::Progress& progress = {});
    // Ends the process (EOF, then SIGKILL after a short wait). Idempotent.
    void stop();

    AvResult scan(std::span<const std::uint8_t> data, const std::string& name);
    // Between scans: false (and the process reaped) if it has died. An idle
    // worker never writes, so anything readable on its socket means it is gone.
    bool check();

    bool alive() const { return pid_ > 0; }
    pid_t pid() const { return pid_; } // may be read from another thread (memory sampling)
    // The worker's own account of its confinement (av_sandbox.h describe()).
    const std::string& sandbox() const { return sandbox_; }
    unsigned signatures() const { return signatures_; }
    double load_ms() const { return load_ms_; }
    const AvWorkerConfig& config() const { return config_; }
    // Why the last process ended ("killed by signal 11", "hung: killed after
    // 125000 ms", ...); "" while none has ended.
    const std::string& last_exit() const { return last_exit_; }
    std::uint64_t capacity() const;

  private:
    void reap(const std::string& why); // the process is gone or must go
    AvWorkerConfig config_;
    std::atomic<pid_t> pid_{-1};
    int socket_ = -1;
    int memfd_ = -1;
    void* region_ = nullptr;
    std::size_t region_bytes_ = 0;
    std::uint64_t seq_ = 0;
    unsigned signatures_ = 0;
    double load_ms_ = 0;
    std::string last_exit_;
    std::string sandbox_;
};

// smtpgw-avscan: the build tree's when this build runs from one, else the
// installed one (libexec/smtpgw).
std::string default_worker_executable();

// Resident memory (kB) of a process, from /proc/PID/status (0 if gone).
std::uint64_t process_rss_kb(pid_t pid);

} // namespace smtpgw::av
