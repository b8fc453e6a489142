// av_scanners.h: the antivirus pool: confined libclamav worker processes,
// each driven by one scanner thread of the daemon, off the fast path.
//
// Purpose: at the end of a message's data, its lcore hands the decoded
// parts (smtp::AvJob) to the pool through one multi-producer,
// multi-consumer rte_ring; a scanner thread takes the job, has its worker
// process (scanners/av/av_worker.h: smtpgw-avscan, unprivileged, seccomp,
// Landlock, rlimits) scan each part through shared memory, and puts the job
// back on its lcore's reply ring, which the lcore polls
// (SmtpService::poll). Scanner threads are plain threads, not lcores: a
// scan can take seconds and must never hold a fast-path core. An idle
// thread naps (at most kIdleNapUs): no lock or system call on the lcore's
// side, a bounded delay on the scanner's.
// Faults: a worker that crashes or hangs (killed after scan.av_max_scan_s
// plus a grace) costs its job's parts an error verdict, hence 451 (nothing
// passes unscanned, the sender retries), and is started again by its
// thread; the fast path never notices. While no worker is up, jobs are
// answered at once with error verdicts rather than left to time out.
// Reload: each worker has its own engine. With two workers or more they are
// replaced one at a time, the old one stopped before the new one loads, so
// the others go on scanning and the engines' memory never exceeds the
// steady state; a single worker is replaced by loading the new one beside
// it first (scanning never pauses, the peak is two engines). The memory
// before, at the peak of and after the last reload is in `show av`.
// Security: the request ring is bounded (`queue_size`): a full ring is a
// temporary failure for that message (451), never an unscanned pass.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "av/av_worker.h"
#include "smtp/smtp_service.h"

struct rte_ring;

namespace smtpgw::io {

struct AvScannerStats {
    std::uint64_t jobs = 0;     // messages scanned
    std::uint64_t parts = 0;    // parts scanned
    std::uint64_t bytes = 0;    // octets scanned
    std::uint64_t infected = 0; // parts with a virus
    std::uint64_t errors = 0;   // parts with an error verdict
    std::uint64_t scan_us = 0;  // time in the workers
    std::uint64_t failures = 0; // workers that crashed or hung
    std::uint64_t restarts = 0; // workers started again after a failure
};

struct AvWorkerInfo {
    pid_t pid = -1; // -1: down
    unsigned signatures = 0;
    double load_ms = 0;
    std::uint64_t rss_kb = 0;
    std::uint64_t restarts = 0;
    std::string db_dir;
    std::string last_exit; // why its previous process ended
};

class AvScanners {
  public:
    static constexpr unsigned kIdleNapUs = 200;
    static constexpr unsigned kRetryMs = 5000; // a worker that cannot start tries again
    static constexpr unsigned kCheckMs = 100;  // an idle worker's liveness

    AvScanners();
    ~AvScanners();
    AvScanners(const AvScanners&) = delete;
    AvScanners& operator=(const AvScanners&) = delete;

    // Starts `workers` processes from `config` (each in its own scratch
    // folder beneath config.sandbox.scratch_dir), the rings (one reply ring
    // per lcore) and the scanner threads. Error contract: "" or why (the
    // worker's reason: the database, the sandbox, the executable; a ring);
    // nothing runs then.
    std::string start(const av::AvWorkerConfig& config, unsigned workers, unsigned lcores,
                      unsigned queue_size = 1024);
    void stop(); // idempotent; jobs still queued are dropped (their sessions get 451 on timeout)

    // Replaces the workers with ones built from `config` (control thread;
    // progress notes through control::report_progress). Error contract: ""
    // or why; a worker that cannot load the new database is started again
    // with its previous settings, and the workers not yet replaced keep
    // theirs.
    std::string reload(const av::AvWorkerConfig& config);

    bool running() const { return !slots_.empty(); }
    // The lcore's queue (its index among the workers).
    smtp::AvQueue* queue(unsigned lcore_index) { return queues_.at(lcore_index).get(); }
    std::vector<AvWorkerInfo> workers() const;
    AvScannerStats stats() const;
    unsigned threads() const { return static_cast<unsigned>(slots_.size()); }
    std::size_t queued() const;
    std::string confinement() const; // the sandbox, in one line
    // The workers' resident memory (kB, all of them) before, at the peak
    // of, and after the last reload.
    struct ReloadMemory {
        std::uint64_t before_kb = 0, peak_kb = 0, after_kb = 0;
        double load_ms = 0;
        bool one_at_a_time = false;
    };
    ReloadMemory last_reload() const;

  private:
    class LcoreQueue;
    struct Slot;
    void run(Slot& slot);
    bool serve_one(Slot& slot);
    void answer(std::unique_ptr<smtp::AvJob> job);
    void publish(Slot& slot); // the worker's facts for workers()
    void park(Slot& slot);    // control thread: the scanner thread lets go of its worker
    void unpark(Slot& slot);
    av::AvWorkerConfig config_for(unsigned index, const av::AvWorkerConfig& base);
    std::uint64_t total_rss_kb(pid_t extra = -1) const;

    rte_ring* requests_ = nullptr;
    std::vector<rte_ring*> replies_;
    std::vector<std::unique_ptr<smtp::AvQueue>> queues_;
    std::vector<std::unique_ptr<Slot>> slots_;
    std::atomic<bool> stop_{false};
    std::atomic<unsigned> up_{0};              // workers alive
    std::atomic<std::uint64_t> generation_{0}; // names scratch folders
    mutable std::mutex mu_;                    // stats_, reload_, confinement_
    AvScannerStats stats_;
    ReloadMemory reload_;
    std::string confinement_;
};

} // namespace smtpgw::io
