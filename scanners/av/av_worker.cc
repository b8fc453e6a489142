// av_worker.cc: one confined antivirus worker process (see av_worker.h).
#include "av/av_worker.h"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <vector>

#include "av/av_worker_channel.h"

extern char** environ;

namespace smtpgw::av {

namespace {

using Clock = std::chrono::steady_clock;

AvResult error_result(std::string why) {
    AvResult r;
    r.verdict = AvVerdict::error;
    r.name = std::move(why);
    return r;
}

std::string exit_text(int status) {
    if (WIFEXITED(status))
        return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        const char* name = sigabbrev_np(WTERMSIG(status));
        return "killed by signal " + std::to_string(WTERMSIG(status)) +
               (name ? std::string(" (SIG") + name + ")" : "");
    }
    return "ended (status " + std::to_string(status) + ")";
}

// Waits up to `ms` for `fd` to be readable: 1 readable (or hung up), 0 timeout, -1 error.
int wait_readable(int fd, int ms) {
    pollfd p{fd, POLLIN, 0};
    for (;;) {
        int n = poll(&p, 1, ms);
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 ? -1 : (n == 0 ? 0 : 1);
    }
}

// The scratch folder, owned by the worker's user, 0700. What a crashed
// worker left in it is removed by the next worker (its files, its rights:
// the daemon keeps no capability to override file permissions).
std::string prepare_scratch(const SandboxSpec& spec) {
    passwd* pw = getpwnam(spec.user.c_str());
    if (!pw)
        return "no user '" + spec.user + "' (scripts/setup creates smtpgw-av)";
    std::error_code ec;
    struct stat st {};
    if (stat(spec.scratch_dir.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode) && st.st_uid == pw->pw_uid && (st.st_mode & 077) == 0)
            return {};
        std::filesystem::remove_all(spec.scratch_dir, ec);
    }
    std::filesystem::create_directories(spec.scratch_dir, ec);
    if (ec)
        return "scratch folder " + spec.scratch_dir + ": " + ec.message();
    if (chmod(spec.scratch_dir.c_str(), 0700) != 0 ||
        chown(spec.scratch_dir.c_str(), pw->pw_uid, pw->pw_gid) != 0)
        return "scratch folder " + spec.scratch_dir + ": " + std::strerror(errno);
    return {};
}

// A descriptor moved above the worker's fixed ones (3, 4), close-on-exec.
int high_fd(int fd) {
    int h = fcntl(fd, F_DUPFD_CLOEXEC, 10);
    close(fd);
    return h;
}

} // namespace

AvWorker::~AvWorker() {
    stop();
}

std::uint64_t AvWorker::capacity() const {
    return region_bytes_ > kChannelHeaderBytes ? region_bytes_ - kChannelHeaderBytes : 0;
}

std::string AvWorker::start(const AvWorkerConfig& config, const AvEngine::Progress& progress) {
    stop();
    config_ = config;
    if (access(config.executable.c_str(), X_OK) != 0)
        return "antivirus worker " + config.executable + ": " + std::strerror(errno);
    if (auto why = prepare_scratch(config.sandbox); !why.empty())
        return why;
    // Step 1: the shared region, sized for the largest part.
    region_bytes_ = kChannelHeaderBytes + config.limits.max_file_bytes;
    memfd_ = high_fd(memfd_create("smtpgw-av", MFD_CLOEXEC));
    if (memfd_ < 0 || ftruncate(memfd_, static_cast<off_t>(region_bytes_)) != 0) {
        std::string why = std::string("antivirus shared memory: ") + std::strerror(errno);
        reap(why);
        return why;
    }
    region_ = mmap(nullptr, region_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_, 0);
    if (region_ == MAP_FAILED) {
        region_ = nullptr;
        std::string why = std::string("antivirus shared memory: ") + std::strerror(errno);
        reap(why);
        return why;
    }
    auto* h = static_cast<ChannelHeader*>(region_);
    std::memset(h, 0, sizeof(*h));
    h->magic = kChannelMagic;
    h->capacity = config.limits.max_file_bytes;
    // Step 2: the doorbell socket.
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        std::string why = std::string("antivirus socketpair: ") + std::strerror(errno);
        reap(why);
        return why;
    }
    socket_ = high_fd(sv[0]);
    int theirs = high_fd(sv[1]);
    // Step 3: the process, with only the channel open (fds 3 and 4).
    auto num = [](std::uint64_t v) { return std::to_string(v); };
    const AvLimits& l = config.limits;
    std::vector<std::string> args = {config.executable,
                                     "--db",
                                     config.db_dir,
                                     "--scratch",
                                     config.sandbox.scratch_dir,
                                     "--user",
                                     config.sandbox.user,
                                     "--max-memory-mb",
                                     num(config.sandbox.max_memory_bytes >> 20),
                                     "--max-scan-bytes",
                                     num(l.max_scan_bytes),
                                     "--max-file-bytes",
                                     num(l.max_file_bytes),
                                     "--max-recursion",
                                     num(l.max_recursion),
                                     "--max-files",
                                     num(l.max_files),
                                     "--max-scan-ms",
                                     num(l.max_scan_ms)};
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    // A small environment: nothing of the daemon's but the sanitizers' options.
    std::vector<std::string> env_strings = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"};
    for (const char* keep : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"})
        if (const char* v = getenv(keep))
            env_strings.push_back(std::string(keep) + "=" + v);
    std::vector<char*> envp;
    for (auto& e : env_strings)
        envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, theirs, kWorkerSocketFd);
    posix_spawn_file_actions_adddup2(&fa, memfd_, kWorkerMemoryFd);
    posix_spawn_file_actions_addclosefrom_np(&fa, kWorkerMemoryFd + 1);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Default signal dispositions and an empty mask (the daemon blocks some).
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, config.executable.c_str(), &fa, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(theirs);
    if (rc != 0) {
        std::string why = "antivirus worker " + config.executable + ": " + std::strerror(rc);
        reap(why);
        return why;
    }
    pid_ = pid;
    // Step 4: its first word: ready, or why not.
    auto deadline = Clock::now() + std::chrono::milliseconds(config.start_ms);
    for (;;) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0 || wait_readable(socket_, static_cast<int>(left)) == 0) {
            std::string why = "antivirus worker did not load " + config.db_dir + " within " +
                              std::to_string(config.start_ms) + " ms";
            reap(why);
            return why;
        }
        char buf[1100];
        ssize_t n = recv(socket_, buf, sizeof(buf) - 1, 0);
        if (n <= 0) {
            reap("ended while starting");
            return "antivirus worker " + last_exit_;
        }
        std::string msg(buf, static_cast<std::size_t>(n));
        if (msg.starts_with("ready ")) {
            char* end = nullptr;
            signatures_ = static_cast<unsigned>(std::strtoul(msg.c_str() + 6, &end, 10));
            load_ms_ = std::strtod(end, &end);
            sandbox_ = *end == ' ' ? std::string(end + 1) : std::string();
            return {};
        }
        if (msg.starts_with("note ")) {
            if (progress)
                progress(msg.substr(5));
            continue;
        }
        if (msg.starts_with("fail ")) {
            std::string why = msg.substr(5);
            reap("refused to start: " + why);
            return why;
        }
        // Anything else is a protocol violation from a process we started: stop it.
        reap("said something unexpected while starting");
        return "antivirus worker " + last_exit_;
    }
}

void AvWorker::reap(const std::string& why) {
    if (socket_ >= 0) {
        close(socket_); // a live worker reads EOF and exits
        socket_ = -1;
    }
    if (pid_ > 0) {
        int status = 0;
        pid_t got = 0;
        // A clean exit takes a moment; a hung or hostile one gets SIGKILL.
        for (int i = 0; i < 50 && (got = waitpid(pid_, &status, WNOHANG)) == 0; ++i)
            usleep(2000);
        if (got == 0) {
            kill(pid_, SIGKILL);
            got = waitpid(pid_, &status, 0);
        }
        last_exit_ = why.empty() ? exit_text(status) : why + ": " + exit_text(status);
        pid_ = -1;
    } else if (!why.empty()) {
        last_exit_ = why;
    }
    if (region_) {
        munmap(region_, region_bytes_);
        region_ = nullptr;
    }
    if (memfd_ >= 0) {
        close(memfd_);
        memfd_ = -1;
    }
}

void AvWorker::stop() {
    if (pid_ > 0 || socket_ >= 0 || region_)
        reap("");
}

AvResult AvWorker::scan(std::span<const std::uint8_t> data, const std::string& name) {
    if (!alive())
        return error_result("antivirus worker not running (" + last_exit_ + ")");
    if (data.size() > capacity())
        return error_result("scan limit exceeded: part of " + std::to_string(data.size()) +
                            " bytes, max_file_bytes " + std::to_string(capacity()));
    auto* h = static_cast<ChannelHeader*>(region_);
    auto* bytes = static_cast<std::uint8_t*>(region_) + kChannelHeaderBytes;
    if (!data.empty())
        std::memcpy(bytes, data.data(), data.size());
    h->data_len = data.size();
    h->name_len = static_cast<std::uint32_t>(std::min(name.size(), sizeof(h->name) - 1));
    std::memcpy(h->name, name.data(), h->name_len);
    h->name[h->name_len] = '\0';
    h->response_seq = 0;
    h->request_seq = ++seq_;
    std::uint64_t seq = seq_;
    if (send(socket_, &seq, sizeof(seq), MSG_NOSIGNAL) != sizeof(seq)) {
        reap("gone before a scan");
        return error_result("antivirus worker " + last_exit_);
    }
    int wait_ms = static_cast<int>(config_.limits.max_scan_ms + config_.grace_ms);
    if (wait_readable(socket_, wait_ms) == 0) {
        reap("hung: killed after " + std::to_string(wait_ms) + " ms");
        return error_result("antivirus worker " + last_exit_);
    }
    std::uint64_t answer = 0;
    ssize_t n = recv(socket_, &answer, sizeof(answer), 0);
    if (n == 0 || (n < 0 && errno != EINTR)) {
        reap("died during a scan");
        return error_result("antivirus worker " + last_exit_);
    }
    // From here the region is the worker's word: check every field.
    std::uint64_t response_seq = __atomic_load_n(&h->response_seq, __ATOMIC_ACQUIRE);
    if (n != sizeof(answer) || answer != seq || response_seq != seq ||
        h->verdict > static_cast<std::uint32_t>(AvVerdict::error) ||
        h->text_len >= sizeof(h->text)) {
        reap("broke the channel protocol");
        return error_result("antivirus worker " + last_exit_);
    }
    AvResult r;
    r.verdict = static_cast<AvVerdict>(h->verdict);
    r.name.assign(h->text, h->text_len);
    r.scanned_bytes = h->scanned_bytes;
    return r;
}

std::string default_worker_executable() {
    std::string_view paths = SMTPGW_AVSCAN_PATHS;
    std::string last;
    while (!paths.empty()) {
        auto colon = paths.find(':');
        last = std::string(paths.substr(0, colon));
        if (access(last.c_str(), X_OK) == 0)
            return last;
        paths = colon == paths.npos ? std::string_view{} : paths.substr(colon + 1);
    }
    return last;
}

bool AvWorker::check() {
    if (!alive())
        return false;
    if (wait_readable(socket_, 0) == 0)
        return true;
    reap("died while idle");
    return false;
}

std::uint64_t process_rss_kb(pid_t pid) {
    if (pid <= 0)
        return 0;
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with("VmRSS:"))
            return std::stoull(line.substr(6));
    return 0;
}

} // namespace smtpgw::av
