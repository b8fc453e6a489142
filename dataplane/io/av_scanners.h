// av_scanners.h: the antivirus threads: libclamav off the fast path.
//
// Purpose: at the end of a message's data, its lcore hands the decoded
// parts (smtp::AvJob) to these threads through one multi-producer,
// multi-consumer rte_ring; a thread scans each part with the current
// AvEngine and puts the job back on its lcore's reply ring, which the lcore
// polls (SmtpService::poll). The threads are plain threads, not lcores:
// a scan can take milliseconds to seconds and must never hold a fast-path
// core. An idle thread naps (at most kIdleNapUs): no lock or system call
// on the lcore's side, a bounded delay on the scanner's.
// Reload: a new engine is compiled on the control thread while the old
// one keeps scanning, then swapped in; each thread picks the new one at
// its next job and the old one is freed when its last scan ends (two
// engines exist only for the swap: the peak is measured in `show av`).
// Security: the request ring is bounded (`queue_size`): a full ring is a
// temporary failure for that message (451), never an unscanned pass; each
// scan is bounded by the engine's limits (av_engine.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "av/av_engine.h"
#include "smtp/smtp_service.h"

struct rte_ring;

namespace smtpgw::io {

struct AvScannerStats {
    std::uint64_t jobs = 0;     // messages scanned
    std::uint64_t parts = 0;    // parts scanned
    std::uint64_t bytes = 0;    // octets scanned
    std::uint64_t infected = 0; // parts with a virus
    std::uint64_t errors = 0;   // parts with an error verdict
    std::uint64_t scan_us = 0;  // time in libclamav
};

class AvScanners {
  public:
    static constexpr unsigned kIdleNapUs = 200;

    AvScanners() = default;
    ~AvScanners();
    AvScanners(const AvScanners&) = delete;
    AvScanners& operator=(const AvScanners&) = delete;

    // Loads the engine from `db_dir`, creates the rings (one reply ring per
    // lcore) and starts `threads` scanners. Error contract: "" or why (the
    // database does not load, a ring cannot be made); nothing runs then.
    std::string start(const std::string& db_dir, const av::AvLimits& limits, unsigned threads,
                      unsigned lcores, unsigned queue_size = 1024);
    void stop(); // idempotent; jobs still queued are dropped (their sessions get 451 on timeout)

    // A new engine from `db_dir` (control thread). Error contract: "" or
    // why; the running engine stays on failure.
    std::string reload(const std::string& db_dir, const av::AvLimits& limits);

    bool running() const { return !threads_.empty(); }
    // The lcore's queue (its index among the workers).
    smtp::AvQueue* queue(unsigned lcore_index) { return queues_.at(lcore_index).get(); }
    std::shared_ptr<const av::AvEngine> engine() const;
    AvScannerStats stats() const;
    unsigned threads() const { return static_cast<unsigned>(threads_.size()); }
    std::size_t queued() const;
    // Resident memory (kB) before, at the peak of, and after the last reload.
    struct ReloadMemory {
        std::uint64_t before_kb = 0, peak_kb = 0, after_kb = 0;
        double load_ms = 0;
    };
    ReloadMemory last_reload() const;

  private:
    class LcoreQueue;
    void run();

    rte_ring* requests_ = nullptr;
    std::vector<rte_ring*> replies_;
    std::vector<std::unique_ptr<smtp::AvQueue>> queues_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_; // engine_, stats_, reload_: scanner threads and control only
    std::shared_ptr<const av::AvEngine> engine_;
    AvScannerStats stats_;
    ReloadMemory reload_;
};

} // namespace smtpgw::io
