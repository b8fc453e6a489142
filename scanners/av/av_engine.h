// av_engine.h: the antivirus engine: libclamav loaded from a signature
// folder, compiled once, then shared read-only by scanner threads.
//
// Purpose: decoded message parts (attachments, bodies) are scanned here,
// in the confined worker process (av_worker.h), never on a fast-path core. A compiled
// cl_engine is safe for concurrent scans, so one AvEngine serves every
// thread; a reload builds a new one and swaps the shared_ptr (scans in
// flight finish on the old engine, which is freed with its last user).
// Formats: whatever libclamav loads from the folder (.cvd, .cld, .cud, .ndb,
// .hdb, .hsb, .ldb, ...); the project's test signatures are in
// scanners/av/signatures/.
// Security: every limit is a named setting (AvLimits) with a reason; a
// scan that hits one, times out or fails is an error verdict, never
// "clean": the caller gives it the configured answer (451 by default), so
// nothing passes unscanned. Input is untrusted and parsed by libclamav with
// every parser on (archives, mail, documents): the daemon runs this only in
// smtpgw-avscan, a separate confined process (av_sandbox.h).
// Error contract: load() returns the engine or a one-line reason (the
// folder, libclamav's message); scan() never throws.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <variant>

struct cl_engine;

namespace smtpgw::av {

struct AvLimits {
    // A scan reads at most this much in all (archives expand): bounds time and memory.
    std::uint64_t max_scan_bytes = 100ull << 20;
    // A single file (or archive member) larger than this is not scanned: error verdict.
    std::uint64_t max_file_bytes = 25ull << 20;
    // Archives in archives: a zip bomb's depth.
    std::uint32_t max_recursion = 16;
    // Members of an archive: a zip bomb's width.
    std::uint32_t max_files = 10000;
    // Wall time per scan: a pathological file cannot hold a scanner thread.
    std::uint32_t max_scan_ms = 120000;
};

enum class AvVerdict : std::uint8_t {
    clean,
    infected, // `name`: the signature's name
    error,    // `name`: why (a limit, a timeout, a parse failure)
};

struct AvResult {
    AvVerdict verdict = AvVerdict::error;
    std::string name;
    std::uint64_t scanned_bytes = 0;
};

class AvEngine {
  public:
    ~AvEngine();
    AvEngine(const AvEngine&) = delete;
    AvEngine& operator=(const AvEngine&) = delete;

    // Called during a load with a note such as "signatures: 40% (120000 of
    // 300000)" at most once per 10% of each phase (loading, compiling).
    using Progress = std::function<void(const std::string& note)>;
    // `tmp_dir`: where libclamav writes the members it extracts ("": its
    // default, the system's temporary folder).
    static std::variant<std::shared_ptr<const AvEngine>, std::string>
    load(const std::string& db_dir, const AvLimits& limits = {}, Progress progress = {},
         const std::string& tmp_dir = {});

    // Scans `data` (one decoded part) as the file `name` (used by libclamav
    // for type hints and in its messages). Thread-safe.
    AvResult scan(std::span<const std::uint8_t> data, const std::string& name) const;

    unsigned signatures() const { return signatures_; }
    double load_ms() const { return load_ms_; }
    const std::string& db_dir() const { return db_dir_; }
    const AvLimits& limits() const { return limits_; }

  private:
    AvEngine() = default;
    cl_engine* engine_ = nullptr;
    unsigned signatures_ = 0;
    double load_ms_ = 0;
    std::string db_dir_;
    AvLimits limits_;
};

// libclamav's version string ("1.4.6").
std::string clamav_version();

} // namespace smtpgw::av
