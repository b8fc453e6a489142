// av_sandbox_test.cc: unit tests of scanners/av/av_sandbox.{h,cc}: a forked
// child confines itself as `nobody` and then tries, one by one, what a
// compromised libclamav would try: write outside its scratch folder, open a
// socket, run a program, start a process, signal its parent, become root
// again, allocate past its memory bound. Each must fail; writing in the
// scratch folder and starting a thread must still work. Needs root (the
// child changes user), as the daemon does.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include "av/av_sandbox.h"
#include "forked_probe.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw::av;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

struct Scratch {
    std::string dir;
    Scratch() {
        dir = "/tmp/smtpgw-sandbox-test-" + std::to_string(getpid());
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
        passwd* pw = getpwnam("nobody");
        if (pw)
            (void)!chown(dir.c_str(), pw->pw_uid, pw->pw_gid);
    }
    ~Scratch() { std::filesystem::remove_all(dir); }
};

SandboxSpec spec_in(const std::string& scratch) {
    SandboxSpec s;
    s.user = "nobody";
    s.scratch_dir = scratch;
    s.max_memory_bytes = kAsan ? 0 : 1ull << 30; // ASan reserves terabytes up front
    return s;
}

// Runs `probe` in a confined child; returns what it wrote (or why confine failed).
std::string in_confined_child(const SandboxSpec& spec,
                              const std::function<std::string(const SandboxReport&)>& probe) {
    return smtpgw::test::in_forked_child([&] {
        SandboxReport report;
        if (auto why = confine(spec, &report); !why.empty())
            return "confine failed: " + why;
        return probe(report);
    });
}

std::string status_field(const char* field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with(field))
            return line.substr(std::strlen(field));
    return "?";
}

// "ok" or "<what> <errno name>"; each check appends one word.
std::string check(bool failed_as_expected, const char* what) {
    if (failed_as_expected)
        return "";
    return std::string(what) + " (" + std::strerror(errno) + "); ";
}

} // namespace

TEST_GROUP(AvSandbox){};

TEST(AvSandbox, ConfinedChildRunsAsTheUserWithNoCapabilityAndCannotReturnToRoot) {
    Scratch scratch;
    std::string r = in_confined_child(spec_in(scratch.dir), [](const SandboxReport& rep) {
        std::string s;
        passwd* pw = getpwnam("nobody");
        s += check(pw && getuid() == pw->pw_uid && geteuid() == pw->pw_uid, "uid is not nobody");
        s += check(getgroups(0, nullptr) == 0, "supplementary groups kept");
        s += check(setuid(0) != 0, "setuid(0) worked");
        s += check(status_field("CapEff:").find_first_not_of("\t 0") == std::string::npos,
                   "capabilities left");
        s += check(status_field("CapBnd:").find_first_not_of("\t 0") == std::string::npos,
                   "bounding set left");
        s += check(status_field("NoNewPrivs:").find('1') != std::string::npos, "no_new_privs off");
        s += check(status_field("Seccomp:").find('2') != std::string::npos, "no seccomp filter");
        s += check(rep.seccomp, "report says no seccomp");
        return s.empty() ? "ok" : s;
    });
    STRCMP_EQUAL("ok", r.c_str());
}

TEST(AvSandbox, WritesOnlyInTheScratchFolder) {
    Scratch scratch;
    std::string outside = "/tmp/smtpgw-sandbox-outside-" + std::to_string(getpid());
    std::string r =
        in_confined_child(spec_in(scratch.dir), [&](const SandboxReport& rep) -> std::string {
            if (rep.landlock_abi <= 0)
                return "no Landlock in this kernel";
            std::string s;
            int fd = open((scratch.dir + "/member.tmp").c_str(), O_CREAT | O_WRONLY, 0600);
            s += check(fd >= 0 && write(fd, "x", 1) == 1, "cannot write in scratch");
            if (fd >= 0)
                close(fd);
            s += check(mkdir((scratch.dir + "/nested").c_str(), 0700) == 0,
                       "cannot mkdir in scratch");
            // /tmp is world-writable: only the sandbox stops this one.
            s += check(open(outside.c_str(), O_CREAT | O_WRONLY, 0600) < 0 && errno == EACCES,
                       "wrote outside scratch");
            s += check(unlink((scratch.dir + "/member.tmp").c_str()) == 0,
                       "cannot remove in scratch");
            return s.empty() ? "ok" : s;
        });
    std::filesystem::remove(outside);
    STRCMP_EQUAL("ok", r.c_str());
}

TEST(AvSandbox, RefusesNetworkProcessesAndSignals) {
    Scratch scratch;
    pid_t parent = getpid();
    std::string r = in_confined_child(spec_in(scratch.dir), [&](const SandboxReport&) {
        struct Case {
            const char* what;
            std::function<bool()> refused;
        };
        const Case cases[] = {
            {"inet socket", [] { return socket(AF_INET, SOCK_STREAM, 0) < 0 && errno == EPERM; }},
            {"inet6 socket", [] { return socket(AF_INET6, SOCK_DGRAM, 0) < 0 && errno == EPERM; }},
            {"unix socket", [] { return socket(AF_UNIX, SOCK_STREAM, 0) < 0 && errno == EPERM; }},
            {"execve",
             [] {
                 char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
                 return execve("/bin/true", argv, environ) < 0;
             }},
            {"fork",
             [] {
                 pid_t p = fork();
                 if (p == 0)
                     _exit(0);
                 return p < 0 && errno == EPERM;
             }},
            {"signal to the parent", [&] { return kill(parent, 0) < 0 && errno == EPERM; }},
        };
        std::string s;
        for (const auto& c : cases)
            s += check(c.refused(), c.what);
        // Threads are allowed (clone with CLONE_THREAD).
        bool ran = false;
        std::thread t([&] { ran = true; });
        t.join();
        s += check(ran, "no thread");
        return s.empty() ? "ok" : s;
    });
    STRCMP_EQUAL("ok", r.c_str());
}

TEST(AvSandbox, AddressSpaceIsBounded) {
    if (kAsan)
        return; // not applied under AddressSanitizer (see spec_in)
    Scratch scratch;
    std::string r = in_confined_child(spec_in(scratch.dir), [](const SandboxReport& rep) {
        void* big = std::malloc(std::size_t{2} << 30); // past the 1 GiB bound
        bool refused = big == nullptr;
        std::free(big);
        void* small = std::malloc(std::size_t{64} << 20);
        bool fine = small != nullptr;
        std::free(small);
        std::string s = check(rep.memory_limited, "report says unlimited");
        s += check(refused, "2 GiB allocated");
        s += check(fine, "64 MiB refused");
        return s.empty() ? "ok" : s;
    });
    STRCMP_EQUAL("ok", r.c_str());
}

TEST(AvSandbox, RefusesAMissingUserAndRoot) {
    Scratch scratch;
    struct Case {
        const char* user;
        const char* reason;
    };
    const Case cases[] = {{"no-such-user-smtpgw", "no user 'no-such-user-smtpgw'"},
                          {"root", "is root"}};
    for (const auto& c : cases) {
        SandboxSpec s = spec_in(scratch.dir);
        s.user = c.user;
        std::string r = in_confined_child(s, [](const SandboxReport&) { return "confined"; });
        CHECK_TRUE_TEXT(r.find(c.reason) != std::string::npos, r.c_str());
    }
}

TEST(AvSandbox, DescribesItself) {
    SandboxSpec s = spec_in("/run/x");
    s.max_memory_bytes = 4096ull << 20;
    SandboxReport r;
    r.uid = 65534;
    r.seccomp = true;
    r.landlock_abi = 7;
    r.memory_limited = true;
    STRCMP_EQUAL("user nobody (uid 65534), seccomp, writes only in /run/x (Landlock ABI 7), "
                 "memory <= 4096 MB",
                 describe(s, r).c_str());
}
