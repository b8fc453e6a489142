// privileges.cc: the daemon's capabilities after start-up (see privileges.h).
#include "daemon/privileges.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace smtpgw::daemon {

namespace {

constexpr std::pair<int, const char*> kKept[] = {
    {CAP_SETUID, "CAP_SETUID"}, {CAP_SETGID, "CAP_SETGID"},   {CAP_CHOWN, "CAP_CHOWN"},
    {CAP_KILL, "CAP_KILL"},     {CAP_SETPCAP, "CAP_SETPCAP"}, {CAP_IPC_LOCK, "CAP_IPC_LOCK"},
};

std::string failed(const char* what) {
    return std::string(what) + ": " + std::strerror(errno);
}

// The highest capability this kernel knows (PR_CAPBSET_READ fails past it).
int last_capability() {
    int last = 0;
    while (last < 63 && prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0)
        ++last;
    return last;
}

} // namespace

std::uint64_t kept_capabilities() {
    std::uint64_t mask = 0;
    for (const auto& [cap, name] : kKept)
        mask |= std::uint64_t{1} << cap;
    return mask;
}

std::string capability_names(std::uint64_t mask) {
    std::string out;
    for (int cap = 0; cap < 64; ++cap) {
        if (!(mask & (std::uint64_t{1} << cap)))
            continue;
        std::string name = "cap" + std::to_string(cap);
        for (const auto& [k, n] : kKept)
            if (k == cap)
                name = n;
        out += (out.empty() ? "" : ",") + name;
    }
    return out.empty() ? "none" : out;
}

std::string drop_capabilities() {
    const std::uint64_t keep = kept_capabilities();
    // Step 1: the bounding set (needs CAP_SETPCAP, still held here), so no
    // exec can bring a dropped capability back.
    for (int cap = 0; cap <= last_capability(); ++cap)
        if (!(keep & (std::uint64_t{1} << cap)) && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 &&
            prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
            return failed("PR_CAPBSET_DROP");
    // Step 2: ambient capabilities (none expected; cleared anyway).
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        return failed("PR_CAP_AMBIENT_CLEAR_ALL");
    // Step 3: effective and permitted to the kept set, inheritable empty.
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    for (int i = 0; i < 2; ++i) {
        auto word = static_cast<std::uint32_t>(keep >> (32 * i));
        data[i].effective = word;
        data[i].permitted = word;
        data[i].inheritable = 0;
    }
    if (syscall(SYS_capset, &header, data) != 0)
        return failed("capset");
    return {};
}

} // namespace smtpgw::daemon
