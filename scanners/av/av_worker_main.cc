// av_worker_main.cc: smtpgw-avscan, the confined antivirus worker process.
//
// Purpose: the only place libclamav runs. Started by the daemon
// (av_worker.h) with the channel on fds 3 (socket) and 4 (shared memory);
// it confines itself (av_sandbox.h) before it reads a signature, loads the
// database, says "ready", then scans one part per doorbell until the socket
// closes. It has no other input and no other output than the channel and
// its stderr (the daemon's log).
// Security: everything it reads is hostile once the first part arrives; a
// crash or a hang costs only the parts in flight (the daemon answers 451 and
// starts another worker). The request's lengths are checked against the
// region's size even though the daemon wrote them.
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "av/av_engine.h"
#include "av/av_sandbox.h"
#include "av/av_worker_channel.h"

// LeakSanitizer stops the world with ptrace at exit, which the sandbox forbids.
#if defined(__SANITIZE_ADDRESS__)
#define SMTPGW_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SMTPGW_ASAN 1
#endif
#endif
#ifdef SMTPGW_ASAN
extern "C" const char* __asan_default_options() {
    return "detect_leaks=0";
}
#endif

using namespace smtpgw::av;

namespace {

// write(), not send(): the sandbox refuses the socket calls (sendto, ...).
void say(const std::string& msg) {
    (void)!write(kWorkerSocketFd, msg.data(), msg.size());
}

[[noreturn]] void fail(const std::string& why, int status) {
    say("fail " + why);
    std::fprintf(stderr, "smtpgw-avscan: %s\n", why.c_str());
    std::exit(status);
}

// Empties the scratch folder (what a crashed predecessor left, or this
// worker's own files at the end), keeping the folder itself.
void clean_scratch(const std::string& dir) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
        std::filesystem::remove_all(entry.path(), ec);
}

std::uint64_t number(const char* s, const char* name) {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        fail(std::string("bad number for ") + name + ": " + s, 2);
    return v;
}

} // namespace

int main(int argc, char** argv) {
    std::string db_dir;
    SandboxSpec spec;
    AvLimits limits;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        const char* v = argv[i + 1];
        if (a == "--db")
            db_dir = v;
        else if (a == "--scratch")
            spec.scratch_dir = v;
        else if (a == "--user")
            spec.user = v;
        else if (a == "--max-memory-mb")
            spec.max_memory_bytes = number(v, "--max-memory-mb") << 20;
        else if (a == "--max-scan-bytes")
            limits.max_scan_bytes = number(v, "--max-scan-bytes");
        else if (a == "--max-file-bytes")
            limits.max_file_bytes = number(v, "--max-file-bytes");
        else if (a == "--max-recursion")
            limits.max_recursion = static_cast<std::uint32_t>(number(v, "--max-recursion"));
        else if (a == "--max-files")
            limits.max_files = static_cast<std::uint32_t>(number(v, "--max-files"));
        else if (a == "--max-scan-ms")
            limits.max_scan_ms = static_cast<std::uint32_t>(number(v, "--max-scan-ms"));
        else
            fail("unknown option " + a, 2);
    }
    if (db_dir.empty() || spec.scratch_dir.empty() || spec.user.empty())
        fail("usage: smtpgw-avscan --db DIR --scratch DIR --user NAME [limits] "
             "(started by smtpgw with its channel on fds 3 and 4)",
             2);
    struct stat st {};
    if (fstat(kWorkerMemoryFd, &st) != 0 || st.st_size <= static_cast<off_t>(kChannelHeaderBytes))
        fail("no shared memory on fd 4", 2);
    auto region_bytes = static_cast<std::size_t>(st.st_size);
    void* region =
        mmap(nullptr, region_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, kWorkerMemoryFd, 0);
    if (region == MAP_FAILED)
        fail(std::string("shared memory: ") + std::strerror(errno), 2);
    auto* h = static_cast<ChannelHeader*>(region);
    const std::uint64_t capacity = region_bytes - kChannelHeaderBytes;
    if (h->magic != kChannelMagic)
        fail("not an antivirus channel on fd 4", 2);
    // A temporary file is at most what a scan may read.
    spec.max_file_bytes = limits.max_scan_bytes + (1u << 20);
#ifdef SMTPGW_ASAN
    spec.max_memory_bytes = 0; // AddressSanitizer reserves terabytes of address space
#endif
    // Step 1: confinement, before any signature or part is read.
    SandboxReport report;
    if (auto why = confine(spec, &report); !why.empty())
        fail("sandbox: " + why, 3);
    clean_scratch(spec.scratch_dir);
    // Step 2: the database, with progress notes for the administrator.
    auto loaded = AvEngine::load(
        db_dir, limits, [](const std::string& note) { say("note " + note); }, spec.scratch_dir);
    if (auto* why = std::get_if<std::string>(&loaded))
        fail(*why, 4);
    auto engine = std::get<std::shared_ptr<const AvEngine>>(loaded);
    char ready[64];
    std::snprintf(ready, sizeof(ready), "ready %u %.1f ", engine->signatures(), engine->load_ms());
    say(ready + describe(spec, report));
    // Step 3: one part per doorbell.
    auto* data = static_cast<const std::uint8_t*>(region) + kChannelHeaderBytes;
    for (;;) {
        std::uint64_t seq = 0;
        ssize_t n = read(kWorkerSocketFd, &seq, sizeof(seq));
        if (n == 0) { // the daemon closed the channel: done
            clean_scratch(spec.scratch_dir);
            return 0;
        }
        if (n != sizeof(seq))
            return n < 0 && errno == EINTR ? 0 : 5;
        AvResult r;
        if (h->request_seq != seq || h->data_len > capacity || h->name_len >= sizeof(h->name)) {
            r.name = "bad request on the channel";
        } else {
            std::string name(h->name, h->name_len);
            r = engine->scan({data, h->data_len}, name);
        }
        h->verdict = static_cast<std::uint32_t>(r.verdict);
        h->scanned_bytes = r.scanned_bytes;
        h->text_len = static_cast<std::uint32_t>(std::min(r.name.size(), sizeof(h->text) - 1));
        std::memcpy(h->text, r.name.data(), h->text_len);
        __atomic_store_n(&h->response_seq, seq, __ATOMIC_RELEASE);
        if (write(kWorkerSocketFd, &seq, sizeof(seq)) != sizeof(seq))
            return 0;
    }
}
