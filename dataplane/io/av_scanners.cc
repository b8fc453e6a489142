// av_scanners.cc: the antivirus pool (see av_scanners.h).
#include "io/av_scanners.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string_view>

#include "progress.h"

#include <rte_errno.h>
#include <rte_ring.h>

namespace smtpgw::io {

namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t now_us() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
            .count());
}

void remove_scratch(const std::string& dir) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

} // namespace

// One worker process and the scanner thread that drives it.
struct AvScanners::Slot {
    unsigned index = 0;
    std::unique_ptr<av::AvWorker> worker; // the thread's, unless parked
    av::AvWorkerConfig config;            // what it was started with (restarts reuse it)
    std::thread thread;
    Clock::time_point next_start{}; // a worker that failed to start waits for this
    Clock::time_point next_check{}; // an idle worker's liveness is checked then
    std::atomic<pid_t> pid{-1};     // published, for memory sampling
    std::mutex mu;                  // park handshake and info
    std::condition_variable cv;
    bool park_requested = false;
    bool parked = false;
    AvWorkerInfo info;
};

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

AvScanners::AvScanners() = default;

AvScanners::~AvScanners() {
    stop();
}

av::AvWorkerConfig AvScanners::config_for(unsigned index, const av::AvWorkerConfig& base) {
    av::AvWorkerConfig c = base;
    // A folder per process: a worker loading beside another never clears its files.
    c.sandbox.scratch_dir = base.sandbox.scratch_dir + "/worker" + std::to_string(index) + "." +
                            std::to_string(++generation_);
    return c;
}

std::string AvScanners::start(const av::AvWorkerConfig& config, unsigned workers, unsigned lcores,
                              unsigned queue_size) {
    stop();
    stop_ = false;
    for (unsigned i = 0; i < std::max(1u, workers); ++i) {
        auto slot = std::make_unique<Slot>();
        slot->index = i;
        slot->config = config_for(i, config);
        slot->worker = std::make_unique<av::AvWorker>();
        if (auto why = slot->worker->start(slot->config); !why.empty()) {
            remove_scratch(slot->config.sandbox.scratch_dir);
            stop();
            return why;
        }
        publish(*slot);
        slots_.push_back(std::move(slot));
    }
    {
        std::lock_guard lock(mu_);
        confinement_ = slots_.front()->worker->sandbox();
    }
    requests_ = rte_ring_create("av_requests", rte_align32pow2(queue_size), SOCKET_ID_ANY, 0);
    if (!requests_) {
        stop();
        return "antivirus request ring: " + std::string(rte_strerror(rte_errno));
    }
    for (unsigned i = 0; i < lcores; ++i) {
        std::string name = "av_replies_" + std::to_string(i);
        // Jobs in flight are at most the request ring's plus one per
        // scanner: twice the request ring holds them all.
        rte_ring* r = rte_ring_create(name.c_str(), rte_align32pow2(2 * queue_size), SOCKET_ID_ANY,
                                      RING_F_SC_DEQ);
        if (!r) {
            stop();
            return "antivirus reply ring: " + std::string(rte_strerror(rte_errno));
        }
        replies_.push_back(r);
        queues_.push_back(std::make_unique<LcoreQueue>(requests_, r));
    }
    for (auto& slot : slots_)
        slot->thread = std::thread([this, s = slot.get()] { run(*s); });
    return {};
}

void AvScanners::stop() {
    stop_ = true;
    for (auto& slot : slots_) {
        {
            std::lock_guard lock(slot->mu);
            slot->cv.notify_all();
        }
        if (slot->thread.joinable())
            slot->thread.join();
        slot->worker->stop();
        remove_scratch(slot->config.sandbox.scratch_dir);
    }
    slots_.clear();
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

void AvScanners::publish(Slot& slot) {
    std::lock_guard lock(slot.mu);
    const av::AvWorker& w = *slot.worker;
    slot.info.pid = w.alive() ? w.pid() : -1;
    slot.info.signatures = w.signatures();
    slot.info.load_ms = w.load_ms();
    slot.info.db_dir = slot.config.db_dir;
    slot.info.last_exit = w.last_exit();
    slot.pid = slot.info.pid;
}

void AvScanners::park(Slot& slot) {
    std::unique_lock lock(slot.mu);
    slot.park_requested = true;
    slot.cv.notify_all();
    slot.cv.wait(lock, [&] { return slot.parked || stop_; });
}

void AvScanners::unpark(Slot& slot) {
    std::lock_guard lock(slot.mu);
    slot.park_requested = false;
    slot.cv.notify_all();
}

void AvScanners::run(Slot& slot) {
    while (!stop_.load(std::memory_order_relaxed)) {
        {
            std::unique_lock lock(slot.mu);
            if (slot.park_requested) { // the control thread replaces the worker
                slot.parked = true;
                slot.cv.notify_all();
                slot.cv.wait(lock, [&] { return !slot.park_requested || stop_; });
                slot.parked = false;
                continue;
            }
        }
        if (!slot.worker->alive()) {
            // A worker that failed: start it again (at once, then every kRetryMs).
            if (Clock::now() >= slot.next_start) {
                std::string why = slot.worker->start(slot.config);
                if (why.empty()) {
                    {
                        std::lock_guard lock(mu_);
                        stats_.restarts += 1;
                    }
                    std::lock_guard lock(slot.mu);
                    slot.info.restarts += 1;
                } else {
                    std::fprintf(stderr, "smtpgw: antivirus worker %u cannot start: %s\n",
                                 slot.index, why.c_str());
                    slot.next_start = Clock::now() + std::chrono::milliseconds(kRetryMs);
                }
                publish(slot);
                continue;
            }
            // Meanwhile, if no worker is up at all, jobs get their error now.
            bool anyone_up = std::any_of(slots_.begin(), slots_.end(),
                                         [](const auto& s) { return s->pid.load() > 0; });
            if (anyone_up || !serve_one(slot))
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            continue;
        }
        if (serve_one(slot))
            continue;
        // Idle: a worker that died between scans is noticed here (every
        // kCheckMs) and started again before a message needs it.
        if (Clock::now() >= slot.next_check) {
            slot.next_check = Clock::now() + std::chrono::milliseconds(kCheckMs);
            if (!slot.worker->check()) {
                std::fprintf(stderr, "smtpgw: antivirus worker %u: %s\n", slot.index,
                             slot.worker->last_exit().c_str());
                {
                    std::lock_guard lock(mu_);
                    stats_.failures += 1;
                }
                publish(slot);
                continue;
            }
        }
        std::this_thread::sleep_for(std::chrono::microseconds(kIdleNapUs));
    }
}

bool AvScanners::serve_one(Slot& slot) {
    void* p = nullptr;
    if (rte_ring_mc_dequeue(requests_, &p) != 0)
        return false;
    std::unique_ptr<smtp::AvJob> job(static_cast<smtp::AvJob*>(p));
    AvScannerStats delta;
    std::uint64_t t0 = now_us();
    job->results.clear();
    for (const auto& part : job->parts) {
        bool was_alive = slot.worker->alive();
        av::AvResult r = slot.worker->scan(part.bytes, part.name);
        if (was_alive && !slot.worker->alive()) { // crashed or hung: its failure, logged once
            delta.failures += 1;
            std::fprintf(stderr, "smtpgw: antivirus worker %u: %s\n", slot.index,
                         slot.worker->last_exit().c_str());
            publish(slot);
        }
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
        stats_.failures += delta.failures;
    }
    answer(std::move(job));
    return true;
}

void AvScanners::answer(std::unique_ptr<smtp::AvJob> job) {
    rte_ring* reply = job->lcore < replies_.size() ? replies_[job->lcore] : nullptr;
    // Sized for every job in flight, so this does not wait in practice;
    // the session is suspended until its job comes back.
    while (reply && rte_ring_mp_enqueue(reply, job.get()) != 0 && !stop_)
        std::this_thread::sleep_for(std::chrono::microseconds(kIdleNapUs));
    if (reply && !stop_)
        (void)job.release();
}

std::uint64_t AvScanners::total_rss_kb(pid_t extra) const {
    std::uint64_t kb = av::process_rss_kb(extra);
    for (const auto& s : slots_)
        kb += av::process_rss_kb(s->pid.load());
    return kb;
}

std::string AvScanners::reload(const av::AvWorkerConfig& config) {
    if (slots_.empty())
        return "the antivirus is not running";
    ReloadMemory m;
    m.before_kb = total_rss_kb();
    m.one_at_a_time = slots_.size() >= 2;
    std::uint64_t t0 = now_us();
    // The peak, sampled every few milliseconds while workers load; `loading`
    // is the process being started (it is in no slot's pid yet).
    std::mutex sample_mu;
    const av::AvWorker* loading = nullptr;
    std::atomic<bool> sampling{true};
    std::uint64_t peak = m.before_kb;
    std::thread sampler([&] {
        while (sampling.load()) {
            pid_t extra = -1;
            {
                std::lock_guard lock(sample_mu);
                extra = loading ? loading->pid() : -1;
            }
            std::uint64_t kb = total_rss_kb(extra);
            {
                std::lock_guard lock(sample_mu);
                peak = std::max(peak, kb);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    });
    auto set_loading = [&](const av::AvWorker* w) {
        std::lock_guard lock(sample_mu);
        loading = w;
    };
    std::string failure;
    for (auto& slot_ptr : slots_) {
        Slot& slot = *slot_ptr;
        av::AvWorkerConfig next = config_for(slot.index, config);
        std::string who = "worker " + std::to_string(slot.index);
        auto progress = [&who](const std::string& note) {
            control::report_progress(who + ": " + note);
        };
        if (m.one_at_a_time) {
            // The others scan meanwhile; this one's engine is freed first.
            park(slot);
            av::AvWorkerConfig previous = slot.config;
            slot.worker->stop();
            slot.pid = -1;
            set_loading(slot.worker.get());
            std::string why = slot.worker->start(next, progress);
            set_loading(nullptr);
            if (why.empty()) {
                slot.config = next;
                remove_scratch(previous.sandbox.scratch_dir);
            } else {
                remove_scratch(next.sandbox.scratch_dir);
                failure = who + ": " + why;
                if (auto back = slot.worker->start(previous); !back.empty()) {
                    failure += "; it cannot start with its previous settings either (" + back +
                               "): it tries again every " + std::to_string(kRetryMs / 1000) + " s";
                    slot.next_start = Clock::now() + std::chrono::milliseconds(kRetryMs);
                }
            }
            publish(slot);
            unpark(slot);
        } else {
            // A single worker: the new one loads beside it, scanning never pauses.
            auto fresh = std::make_unique<av::AvWorker>();
            set_loading(fresh.get());
            std::string why = fresh->start(next, progress);
            if (!why.empty()) {
                set_loading(nullptr);
                remove_scratch(next.sandbox.scratch_dir);
                failure = who + ": " + why;
            } else {
                park(slot);
                std::swap(slot.worker, fresh); // `fresh` is the old one now
                av::AvWorkerConfig previous = slot.config;
                slot.config = next;
                publish(slot);
                set_loading(nullptr);
                unpark(slot);
                fresh->stop();
                remove_scratch(previous.sandbox.scratch_dir);
            }
        }
        if (!failure.empty())
            break; // the remaining workers keep the database they have
    }
    sampling = false;
    sampler.join();
    m.peak_kb = std::max(peak, total_rss_kb());
    m.after_kb = total_rss_kb();
    m.load_ms = static_cast<double>(now_us() - t0) / 1000.0;
    std::lock_guard lock(mu_);
    reload_ = m;
    if (failure.empty())
        confinement_ = slots_.front()->worker->sandbox();
    return failure;
}

std::vector<AvWorkerInfo> AvScanners::workers() const {
    std::vector<AvWorkerInfo> out;
    for (const auto& s : slots_) {
        std::lock_guard lock(s->mu);
        AvWorkerInfo i = s->info;
        i.rss_kb = av::process_rss_kb(i.pid);
        out.push_back(std::move(i));
    }
    return out;
}

AvScannerStats AvScanners::stats() const {
    std::lock_guard lock(mu_);
    return stats_;
}

AvScanners::ReloadMemory AvScanners::last_reload() const {
    std::lock_guard lock(mu_);
    return reload_;
}

std::string AvScanners::confinement() const {
    std::lock_guard lock(mu_);
    return confinement_;
}

std::size_t AvScanners::queued() const {
    return requests_ ? rte_ring_count(requests_) : 0;
}

} // namespace smtpgw::io
