// av_sandbox.cc: confinement of the antivirus worker (see av_sandbox.h).
#include "av/av_sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/landlock.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>

namespace smtpgw::av {

namespace {

std::string errno_text(const char* what) {
    return std::string(what) + ": " + std::strerror(errno);
}

bool set_limit(int resource, std::uint64_t value) {
    rlimit r{static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
    return setrlimit(resource, &r) == 0;
}

// Landlock: every write-like access and execution is handled (denied), then
// allowed again beneath the scratch folder only; reads stay open (the
// signatures, libclamav's own files). TCP bind/connect are handled with no
// rule (denied) where the kernel knows them (ABI 4). Returns the ABI used,
// 0 when the kernel has no Landlock, or -1 with `why`.
int apply_landlock(const std::string& scratch, std::string& why) {
    long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi <= 0)
        return 0; // ENOSYS or EOPNOTSUPP: not in this kernel
    // Newer rights than Debian 12's headers know, by their ABI's values.
    constexpr std::uint64_t kFsTruncate = 1ull << 14;                                 // ABI 3
    constexpr std::uint64_t kNetBindTcp = 1ull << 0;                                  // ABI 4
    constexpr std::uint64_t kNetConnectTcp = 1ull << 1;                               // ABI 4
    constexpr std::uint64_t kScopeAbstractUnix = 1ull << 0, kScopeSignal = 1ull << 1; // ABI 6
    struct RulesetAttr { // landlock_ruleset_attr as of ABI 6; the kernel reads `size` octets
        std::uint64_t handled_access_fs = 0;
        std::uint64_t handled_access_net = 0;
        std::uint64_t scoped = 0;
    } attr;
    std::uint64_t fs =
        LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
        LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
        LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
        LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
    if (abi >= 2)
        fs |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        fs |= kFsTruncate;
    attr.handled_access_fs = fs;
    std::size_t attr_size = sizeof(std::uint64_t);
    if (abi >= 4) { // TCP handled with no rule: no bind, no connect
        attr.handled_access_net = kNetBindTcp | kNetConnectTcp;
        attr_size = 2 * sizeof(std::uint64_t);
    }
    if (abi >= 6) { // no signal to, and no abstract socket of, anything outside
        attr.scoped = kScopeAbstractUnix | kScopeSignal;
        attr_size = sizeof(attr);
    }
    int ruleset = static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0));
    if (ruleset < 0) {
        why = errno_text("landlock_create_ruleset");
        return -1;
    }
    int dir = open(scratch.c_str(), O_PATH | O_CLOEXEC | O_DIRECTORY);
    if (dir < 0) {
        why = errno_text(("scratch folder " + scratch).c_str());
        close(ruleset);
        return -1;
    }
    landlock_path_beneath_attr beneath{};
    beneath.allowed_access = fs & ~static_cast<std::uint64_t>(LANDLOCK_ACCESS_FS_EXECUTE);
    beneath.parent_fd = dir;
    long added = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &beneath, 0);
    close(dir);
    if (added != 0) {
        why = errno_text("landlock_add_rule");
        close(ruleset);
        return -1;
    }
    long done = syscall(SYS_landlock_restrict_self, ruleset, 0);
    close(ruleset);
    if (done != 0) {
        why = errno_text("landlock_restrict_self");
        return -1;
    }
    return static_cast<int>(abi);
}

// seccomp: a deny list (EPERM) of what a file scanner never needs. An allow
// list would be tighter but breaks with every libclamav or glibc update that
// uses another harmless call; the dangerous families are all here.
std::string apply_seccomp() {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return "seccomp_init failed";
    const uint32_t deny = SCMP_ACT_ERRNO(EPERM);
    // A binary tree of the rules rather than a list: each of libclamav's
    // system calls walks a few comparisons, not all of them.
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    for (int call :
         {// network
          SCMP_SYS(socket), SCMP_SYS(socketpair), SCMP_SYS(connect), SCMP_SYS(bind),
          SCMP_SYS(listen), SCMP_SYS(accept), SCMP_SYS(accept4), SCMP_SYS(sendto),
          SCMP_SYS(sendmsg), SCMP_SYS(sendmmsg), SCMP_SYS(recvfrom), SCMP_SYS(recvmsg),
          SCMP_SYS(recvmmsg),
          // other programs and processes
          SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(fork), SCMP_SYS(vfork), SCMP_SYS(ptrace),
          SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev), SCMP_SYS(kill), SCMP_SYS(tkill),
          SCMP_SYS(pidfd_open), SCMP_SYS(pidfd_send_signal),
          // privileges and namespaces
          SCMP_SYS(setuid), SCMP_SYS(setgid), SCMP_SYS(setreuid), SCMP_SYS(setregid),
          SCMP_SYS(setresuid), SCMP_SYS(setresgid), SCMP_SYS(setgroups), SCMP_SYS(setfsuid),
          SCMP_SYS(setfsgid), SCMP_SYS(capset), SCMP_SYS(unshare), SCMP_SYS(setns), SCMP_SYS(mount),
          SCMP_SYS(umount2), SCMP_SYS(pivot_root), SCMP_SYS(chroot),
          // the kernel's larger surfaces
          SCMP_SYS(bpf), SCMP_SYS(perf_event_open), SCMP_SYS(userfaultfd), SCMP_SYS(io_uring_setup),
          SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register), SCMP_SYS(keyctl),
          SCMP_SYS(add_key), SCMP_SYS(request_key), SCMP_SYS(init_module), SCMP_SYS(finit_module),
          SCMP_SYS(delete_module), SCMP_SYS(kexec_load), SCMP_SYS(kexec_file_load),
          SCMP_SYS(reboot), SCMP_SYS(swapon), SCMP_SYS(swapoff), SCMP_SYS(acct),
          SCMP_SYS(personality), SCMP_SYS(ioperm), SCMP_SYS(iopl), SCMP_SYS(open_by_handle_at),
          SCMP_SYS(name_to_handle_at), SCMP_SYS(fanotify_init), SCMP_SYS(quotactl),
          SCMP_SYS(syslog), SCMP_SYS(settimeofday), SCMP_SYS(clock_settime), SCMP_SYS(adjtimex),
          SCMP_SYS(sethostname), SCMP_SYS(setdomainname), SCMP_SYS(vhangup),
          SCMP_SYS(lookup_dcookie)}) {
        if (call < 0) // not on this architecture
            continue;
        rc = seccomp_rule_add(ctx, deny, call, 0);
        if (rc != 0)
            break;
    }
    // New processes, not threads: clone without CLONE_THREAD; clone3's flags
    // are in memory (not filterable), so clone3 says ENOSYS and glibc falls
    // back to clone.
    if (rc == 0)
        rc = seccomp_rule_add(ctx, deny, SCMP_SYS(clone), 1,
                              scmp_arg_cmp{0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0});
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    // Signals to itself only (abort() and raise() use tgkill).
    if (rc == 0)
        rc = seccomp_rule_add(ctx, deny, SCMP_SYS(tgkill), 1,
                              scmp_arg_cmp{0, SCMP_CMP_NE, static_cast<scmp_datum_t>(getpid()), 0});
    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    return rc == 0 ? std::string() : std::string("seccomp: ") + std::strerror(-rc);
}

} // namespace

std::string confine(const SandboxSpec& spec, SandboxReport* report) {
    SandboxReport r;
    passwd* pw = getpwnam(spec.user.c_str());
    if (!pw)
        return "no user '" + spec.user + "' (scripts/setup creates smtpgw-av)";
    if (pw->pw_uid == 0)
        return "user '" + spec.user + "' is root: the antivirus must run unprivileged";
    r.uid = pw->pw_uid;
    r.gid = pw->pw_gid;
    // Step 1: an empty bounding set (while CAP_SETPCAP is still held), so
    // not even an exec by root could bring a capability back.
    for (int cap = 0; cap <= 63; ++cap) {
        int in_set = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (in_set < 0)
            break; // past the last capability this kernel knows
        if (in_set == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
            return errno_text("PR_CAPBSET_DROP");
    }
    // Step 2: the user. Groups first (setgroups needs root), then gid, then uid.
    if (setgroups(0, nullptr) != 0)
        return errno_text("setgroups");
    if (setresgid(r.gid, r.gid, r.gid) != 0)
        return errno_text("setresgid");
    if (setresuid(r.uid, r.uid, r.uid) != 0)
        return errno_text("setresuid");
    if (setuid(0) == 0) // must be impossible now
        return "could still become root after dropping the user";
    // Step 3: die with the parent (cleared by the credential change above,
    // so set here), unless the parent is already gone.
    pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        return errno_text("PR_SET_PDEATHSIG");
    if (getppid() != parent || parent == 1)
        return "the daemon is gone";
    // Step 4: no privilege can be gained by any later execve.
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return errno_text("PR_SET_NO_NEW_PRIVS");
    if (prctl(PR_SET_DUMPABLE, 0) != 0) // no core, no ptrace by the same user
        return errno_text("PR_SET_DUMPABLE");
    // Step 5: rlimits.
    if (spec.max_memory_bytes != 0) {
        if (!set_limit(RLIMIT_AS, spec.max_memory_bytes))
            return errno_text("RLIMIT_AS");
        r.memory_limited = true;
    }
    if (!set_limit(RLIMIT_FSIZE, spec.max_file_bytes))
        return errno_text("RLIMIT_FSIZE");
    if (!set_limit(RLIMIT_NOFILE, spec.max_open_files))
        return errno_text("RLIMIT_NOFILE");
    if (!set_limit(RLIMIT_CORE, 0))
        return errno_text("RLIMIT_CORE");
    // Step 6: writes beneath the scratch folder only.
    std::string why;
    r.landlock_abi = apply_landlock(spec.scratch_dir, why);
    if (r.landlock_abi < 0)
        return why;
    // Step 7: the system calls.
    if (auto e = apply_seccomp(); !e.empty())
        return e;
    r.seccomp = true;
    if (report)
        *report = r;
    return {};
}

std::string describe(const SandboxSpec& spec, const SandboxReport& report) {
    std::string s = "user " + spec.user + " (uid " + std::to_string(report.uid) + ")";
    s += report.seccomp ? ", seccomp" : ", no seccomp";
    s += report.landlock_abi > 0 ? ", writes only in " + spec.scratch_dir + " (Landlock ABI " +
                                       std::to_string(report.landlock_abi) + ")"
                                 : ", no Landlock in this kernel";
    s += report.memory_limited
             ? ", memory <= " + std::to_string(spec.max_memory_bytes >> 20) + " MB"
             : ", no memory limit (sanitizer build)";
    return s;
}

} // namespace smtpgw::av
