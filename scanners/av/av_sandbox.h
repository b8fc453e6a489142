// av_sandbox.h: confinement of the antivirus worker process.
//
// Purpose: libclamav parses hostile files (archives, documents, mail) and has
// a history of parser bugs. The worker that runs it (smtpgw-avscan) calls
// confine() before it loads a signature or reads a message part, so a bug
// exploited in libclamav finds a process that
//   * runs as an unprivileged user with no supplementary groups and no
//     capability (and cannot regain one: no_new_privs);
//   * cannot write outside its scratch folder, nor execute anything
//     (Landlock, when the kernel has it; the user's permissions otherwise);
//   * cannot open a network socket, start a process, trace one, load a
//     module or reach the kernel's larger attack surfaces (seccomp: those
//     system calls fail with EPERM);
//   * is bounded in address space, file size, open files and core dumps
//     (rlimits), and dies with its parent.
// Time is bounded by the parent, which kills a worker that does not answer.
// Error contract: confine() returns "" or a one-line reason; a worker that
// cannot be confined must not scan (it exits with the reason).
#pragma once

#include <cstdint>
#include <string>

namespace smtpgw::av {

struct SandboxSpec {
    std::string user;        // the unprivileged account (e.g. smtpgw-av)
    std::string scratch_dir; // the only folder it may write (libclamav's temporary files)
    // Address space: a runaway allocation ends in ENOMEM, not in the box's
    // memory. 0: no limit (AddressSanitizer builds reserve terabytes).
    std::uint64_t max_memory_bytes = 4096ull << 20;
    std::uint64_t max_file_bytes = 512ull << 20; // one temporary file (archive member)
    unsigned max_open_files = 256;               // libclamav opens a few per nested archive
};

struct SandboxReport {
    unsigned uid = 0, gid = 0;
    int landlock_abi = 0; // 0: not in this kernel (writes bounded by the user only)
    bool seccomp = false;
    bool memory_limited = false;
};

// Applies every restriction to the calling process, which must be root (it
// changes user). Single-threaded callers only (setuid and seccomp apply to
// the calling thread; the worker has no other).
std::string confine(const SandboxSpec& spec, SandboxReport* report = nullptr);

// One line for `show av`: "user smtpgw-av, seccomp, Landlock ABI 7, memory ≤ 4096 MB".
std::string describe(const SandboxSpec& spec, const SandboxReport& report);

} // namespace smtpgw::av
