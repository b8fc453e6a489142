// privileges_test.cc: unit tests of dataplane/daemon/privileges.{h,cc}: a
// forked child (root, as the daemon starts) drops its capabilities; then
// its /proc status shows exactly the kept set in every set that matters
// (effective, permitted, bounding; inheritable and ambient empty), and what
// the dropped ones allowed fails: a raw packet socket (CAP_NET_RAW), a port
// below 1024 (CAP_NET_BIND_SERVICE), another user's private file
// (CAP_DAC_OVERRIDE). What the kept ones allow still works: becoming
// another user (CAP_SETUID, CAP_SETGID), as an antivirus worker does.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>

#include "daemon/privileges.h"
#include "forked_probe.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw::daemon;

namespace {

std::uint64_t status_mask(const char* field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with(field))
            return std::stoull(line.substr(std::strlen(field)), nullptr, 16);
    return ~0ull;
}

// Runs `probe` in a child that has dropped its capabilities; its text back.
std::string after_drop(const std::function<std::string()>& probe) {
    return smtpgw::test::in_forked_child([&] {
        if (auto why = drop_capabilities(); !why.empty())
            return "drop failed: " + why;
        return probe();
    });
}

} // namespace

TEST_GROUP(Privileges){};

TEST(Privileges, OnlyTheKeptSetRemainsInEverySet) {
    std::string r = after_drop([] {
        char line[256];
        std::snprintf(line, sizeof line, "eff %llx prm %llx bnd %llx inh %llx amb %llx",
                      static_cast<unsigned long long>(status_mask("CapEff:")),
                      static_cast<unsigned long long>(status_mask("CapPrm:")),
                      static_cast<unsigned long long>(status_mask("CapBnd:")),
                      static_cast<unsigned long long>(status_mask("CapInh:")),
                      static_cast<unsigned long long>(status_mask("CapAmb:")));
        return std::string(line);
    });
    char want[256];
    auto k = static_cast<unsigned long long>(kept_capabilities());
    std::snprintf(want, sizeof want, "eff %llx prm %llx bnd %llx inh 0 amb 0", k, k, k);
    STRCMP_EQUAL(want, r.c_str());
}

TEST(Privileges, WhatTheDroppedCapabilitiesAllowedFails) {
    std::string secret = "/tmp/smtpgw-privileges-test-" + std::to_string(getpid());
    int fd = open(secret.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
    CHECK_TRUE(fd >= 0);
    close(fd);
    passwd* pw = getpwnam("nobody");
    CHECK_TRUE(pw != nullptr);
    CHECK_EQUAL(0, chown(secret.c_str(), pw->pw_uid, pw->pw_gid));
    std::string r = after_drop([&] {
        struct Case {
            const char* what;
            std::function<bool()> refused;
        };
        const Case cases[] = {
            {"raw packet socket", [] { return socket(AF_PACKET, SOCK_RAW, 0) < 0; }},
            {"port 25",
             [] {
                 int s = socket(AF_INET, SOCK_STREAM, 0);
                 sockaddr_in a{};
                 a.sin_family = AF_INET;
                 a.sin_port = htons(25);
                 a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                 bool refused =
                     bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno == EACCES;
                 close(s);
                 return refused;
             }},
            {"another user's private file",
             [&] { return open(secret.c_str(), O_RDONLY) < 0 && errno == EACCES; }},
        };
        std::string s;
        for (const auto& c : cases)
            if (!c.refused())
                s += std::string(c.what) + " allowed; ";
        // Kept: becoming the antivirus worker's user.
        if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
            setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0)
            s += std::string("cannot change user: ") + std::strerror(errno);
        return s.empty() ? std::string("ok") : s;
    });
    unlink(secret.c_str());
    STRCMP_EQUAL("ok", r.c_str());
}

TEST(Privileges, NamesTheKeptCapabilities) {
    STRCMP_EQUAL("CAP_CHOWN,CAP_KILL,CAP_SETGID,CAP_SETUID,CAP_SETPCAP,CAP_IPC_LOCK",
                 capability_names(kept_capabilities()).c_str());
    STRCMP_EQUAL("none", capability_names(0).c_str());
    STRCMP_EQUAL("cap12", capability_names(1ull << 12).c_str());
}
