// av_engine.cc: libclamav behind AvEngine (see av_engine.h).
#include "av/av_engine.h"

#include <clamav.h>

#include <chrono>
#include <mutex>

namespace smtpgw::av {

namespace {

// cl_init once per process, before the first engine.
cl_error_t init_clamav() {
    static cl_error_t result = [] { return cl_init(CL_INIT_DEFAULT); }();
    return result;
}

// libclamav's progress callbacks, reduced to one note per 10%.
struct ProgressState {
    const AvEngine::Progress* report = nullptr;
    const char* phase = "";
    int last_decile = -1;
};

cl_error_t on_progress(size_t total, size_t done, void* context) {
    auto* p = static_cast<ProgressState*>(context);
    if (total == 0 || !p->report || !*p->report)
        return CL_SUCCESS;
    int decile = static_cast<int>(done * 10 / total);
    if (decile != p->last_decile) {
        p->last_decile = decile;
        (*p->report)(std::string(p->phase) + ": " + std::to_string(decile * 10) + "% (" +
                     std::to_string(done) + " of " + std::to_string(total) + ")");
    }
    return CL_SUCCESS;
}

} // namespace

std::string clamav_version() {
    return cl_retver();
}

AvEngine::~AvEngine() {
    if (engine_)
        cl_engine_free(engine_);
}

std::variant<std::shared_ptr<const AvEngine>, std::string>
AvEngine::load(const std::string& db_dir, const AvLimits& limits, Progress progress,
               const std::string& tmp_dir) {
    if (cl_error_t e = init_clamav(); e != CL_SUCCESS)
        return std::string("libclamav: ") + cl_strerror(e);
    auto t0 = std::chrono::steady_clock::now();
    std::shared_ptr<AvEngine> a(new AvEngine);
    a->db_dir_ = db_dir;
    a->limits_ = limits;
    a->engine_ = cl_engine_new();
    if (!a->engine_)
        return std::string("libclamav: cannot make an engine (out of memory)");
    // The limits, before compiling (libclamav reads them at scan time).
    cl_engine_set_num(a->engine_, CL_ENGINE_MAX_SCANSIZE,
                      static_cast<long long>(limits.max_scan_bytes));
    cl_engine_set_num(a->engine_, CL_ENGINE_MAX_FILESIZE,
                      static_cast<long long>(limits.max_file_bytes));
    cl_engine_set_num(a->engine_, CL_ENGINE_MAX_RECURSION, limits.max_recursion);
    cl_engine_set_num(a->engine_, CL_ENGINE_MAX_FILES, limits.max_files);
    cl_engine_set_num(a->engine_, CL_ENGINE_MAX_SCANTIME, limits.max_scan_ms);
    if (!tmp_dir.empty())
        if (cl_error_t e = cl_engine_set_str(a->engine_, CL_ENGINE_TMPDIR, tmp_dir.c_str());
            e != CL_SUCCESS)
            return "libclamav: temporary folder " + tmp_dir + ": " + cl_strerror(e);
    ProgressState loading{&progress, "loading signatures"};
    ProgressState compiling{&progress, "compiling signatures"};
    if (progress) {
        cl_engine_set_clcb_sigload_progress(a->engine_, on_progress, &loading);
        cl_engine_set_clcb_engine_compile_progress(a->engine_, on_progress, &compiling);
    }
    unsigned sigs = 0;
    if (cl_error_t e = cl_load(db_dir.c_str(), a->engine_, &sigs, CL_DB_STDOPT); e != CL_SUCCESS)
        return db_dir + ": " + cl_strerror(e);
    if (sigs == 0)
        return db_dir +
               ": no signature loaded (an engine without signatures would pass everything)";
    if (cl_error_t e = cl_engine_compile(a->engine_); e != CL_SUCCESS)
        return db_dir + ": compiling the signatures: " + cl_strerror(e);
    if (progress) { // the callbacks' contexts end here
        cl_engine_set_clcb_sigload_progress(a->engine_, nullptr, nullptr);
        cl_engine_set_clcb_engine_compile_progress(a->engine_, nullptr, nullptr);
    }
    a->signatures_ = sigs;
    a->load_ms_ =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return std::shared_ptr<const AvEngine>(std::move(a));
}

AvResult AvEngine::scan(std::span<const std::uint8_t> data, const std::string& name) const {
    AvResult r;
    if (data.size() > limits_.max_file_bytes) { // not scanned is not clean
        r.name = "scan limit exceeded: part of " + std::to_string(data.size()) +
                 " bytes, max_file_bytes " + std::to_string(limits_.max_file_bytes);
        return r;
    }
    cl_fmap_t* map = cl_fmap_open_memory(data.data(), data.size());
    if (!map) {
        r.name = "libclamav: cannot map the data";
        return r;
    }
    cl_scan_options opts{};
    opts.parse = ~0u; // every parser: archives, mail, OLE2, PDF, HTML, ...
    // A file past a limit is an alert (an error verdict here), not a pass.
    opts.heuristic = CL_SCAN_HEURISTIC_EXCEEDS_MAX;
    const char* virname = nullptr;
    unsigned long scanned = 0;
    cl_error_t e =
        cl_scanmap_callback(map, name.c_str(), &virname, &scanned, engine_, &opts, nullptr);
    cl_fmap_close(map);
    r.scanned_bytes = static_cast<std::uint64_t>(scanned) * CL_COUNT_PRECISION;
    if (e == CL_CLEAN) {
        r.verdict = AvVerdict::clean;
    } else if (e == CL_VIRUS) {
        std::string n = virname ? virname : "unnamed";
        if (n.starts_with("Heuristics.Limits.Exceeded")) { // a limit, not a virus
            r.verdict = AvVerdict::error;
            r.name = "scan limit exceeded (" + n + ")";
        } else {
            r.verdict = AvVerdict::infected;
            r.name = n;
        }
    } else {
        r.verdict = AvVerdict::error;
        r.name = std::string("libclamav: ") + cl_strerror(e);
    }
    return r;
}

} // namespace smtpgw::av
