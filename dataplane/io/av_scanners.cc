// av_scanners.cc: the antivirus threads (see av_scanners.h).
#include "io/av_scanners.h"

#include <chrono>
#include <fstream>
#include <string_view>

#include "progress.h"

#include <rte_errno.h>
#include <rte_ring.h>

namespace smtpgw::io {

namespace {

// VmRSS of this process, kB (0 if unreadable).
std::uint64_t resident_kb() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with("VmRSS:"))
            return std::stoull(line.substr(6));
    return 0;
}

std::uint64_t now_us() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

} // namespace

// One lcore's side: enqueue on the shared ring, dequeue from its own.
class AvScanners::LcoreQueue final : public smtp::AvQueue {
  public:
    LcoreQueue(rte_ring* requests, rte_ring* replies) : requests_(requests), replies_(replies) {}
    bool submit(std::unique_ptr<smtp::AvJob>& job) override {
        if (rte_ring_mp_enqueue(requests_, job.get()) != 0)
            return false;
        (void)job.release(); // owned by the ring until it comes back
        return true;
    }
    std::unique_ptr<smtp::AvJob> poll() override {
        void* p = nullptr;
        if (rte_ring_sc_dequeue(replies_, &p) != 0)
            return nullptr;
        return std::unique_ptr<smtp::AvJob>(static_cast<smtp::AvJob*>(p));
    }

  private:
    rte_ring* requests_;
    rte_ring* replies_;
};

AvScanners::~AvScanners() {
    stop();
}

std::string AvScanners::start(const std::string& db_dir, const av::AvLimits& limits,
                              unsigned threads, unsigned lcores, unsigned queue_size) {
    auto loaded = av::AvEngine::load(db_dir, limits);
    if (auto* why = std::get_if<std::string>(&loaded))
        return *why;
    engine_ = std::get<std::shared_ptr<const av::AvEngine>>(loaded);
    requests_ = rte_ring_create("av_requests", rte_align32pow2(queue_size), SOCKET_ID_ANY, 0);
    if (!requests_)
        return "antivirus request ring: " + std::string(rte_strerror(rte_errno));
    for (unsigned i = 0; i < lcores; ++i) {
        std::string name = "av_replies_" + std::to_string(i);
        // Jobs in flight are at most the request ring's plus one per
        // scanner: twice the request ring holds them all.
        rte_ring* r = rte_ring_create(name.c_str(), rte_align32pow2(2 * queue_size), SOCKET_ID_ANY,
                                      RING_F_SC_DEQ);
        if (!r)
            return "antivirus reply ring: " + std::string(rte_strerror(rte_errno));
        replies_.push_back(r);
        queues_.push_back(std::make_unique<LcoreQueue>(requests_, r));
    }
    stop_ = false;
    for (unsigned i = 0; i < std::max(1u, threads); ++i)
        threads_.emplace_back([this] { run(); });
    return {};
}

void AvScanners::stop() {
    stop_ = true;
    for (auto& t : threads_)
        t.join();
    threads_.clear();
    auto drain = [](rte_ring* r) {
        void* p = nullptr;
        while (r && rte_ring_dequeue(r, &p) == 0)
            delete static_cast<smtp::AvJob*>(p);
    };
    drain(requests_);
    for (auto* r : replies_)
        drain(r);
    for (auto* r : replies_)
        rte_ring_free(r);
    replies_.clear();
    queues_.clear();
    rte_ring_free(requests_);
    requests_ = nullptr;
}

void AvScanners::run() {
    while (!stop_.load(std::memory_order_relaxed)) {
        void* p = nullptr;
        if (rte_ring_mc_dequeue(requests_, &p) != 0) {
            std::this_thread::sleep_for(std::chrono::microseconds(kIdleNapUs));
            continue;
        }
        std::unique_ptr<smtp::AvJob> job(static_cast<smtp::AvJob*>(p));
        std::shared_ptr<const av::AvEngine> engine = this->engine();
        AvScannerStats delta;
        std::uint64_t t0 = now_us();
        job->results.clear();
        for (const auto& part : job->parts) {
            av::AvResult r = engine->scan(part.bytes, part.name);
            delta.bytes += part.bytes.size();
            delta.infected += r.verdict == av::AvVerdict::infected;
            delta.errors += r.verdict == av::AvVerdict::error;
            job->results.push_back(std::move(r));
        }
        delta.scan_us = now_us() - t0;
        delta.parts = job->parts.size();
        job->parts.clear(); // the decoded octets are no longer needed
        job->parts.shrink_to_fit();
        {
            std::lock_guard lock(mu_);
            stats_.jobs += 1;
            stats_.parts += delta.parts;
            stats_.bytes += delta.bytes;
            stats_.infected += delta.infected;
            stats_.errors += delta.errors;
            stats_.scan_us += delta.scan_us;
        }
        rte_ring* reply = job->lcore < replies_.size() ? replies_[job->lcore] : nullptr;
        // Sized for every job in flight, so this does not wait in practice;
        // the session is suspended until its job comes back.
        while (reply && rte_ring_mp_enqueue(reply, job.get()) != 0 && !stop_)
            std::this_thread::sleep_for(std::chrono::microseconds(kIdleNapUs));
        if (reply && !stop_)
            (void)job.release();
    }
}

std::string AvScanners::reload(const std::string& db_dir, const av::AvLimits& limits) {
    ReloadMemory m;
    m.before_kb = resident_kb();
    std::uint64_t t0 = now_us();
    auto loaded = av::AvEngine::load(
        db_dir, limits, [](const std::string& note) { control::report_progress(note); });
    if (auto* why = std::get_if<std::string>(&loaded))
        return *why;
    m.peak_kb = resident_kb(); // both engines are alive here
    m.load_ms = static_cast<double>(now_us() - t0) / 1000.0;
    {
        std::lock_guard lock(mu_);
        engine_ = std::get<std::shared_ptr<const av::AvEngine>>(loaded);
    }
    m.after_kb = resident_kb(); // the old one is freed once its scans end
    std::lock_guard lock(mu_);
    reload_ = m;
    return {};
}

std::shared_ptr<const av::AvEngine> AvScanners::engine() const {
    std::lock_guard lock(mu_);
    return engine_;
}

AvScannerStats AvScanners::stats() const {
    std::lock_guard lock(mu_);
    return stats_;
}

AvScanners::ReloadMemory AvScanners::last_reload() const {
    std::lock_guard lock(mu_);
    return reload_;
}

std::size_t AvScanners::queued() const {
    return requests_ ? rte_ring_count(requests_) : 0;
}

} // namespace smtpgw::io
