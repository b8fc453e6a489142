// av_worker_test.cc: unit tests of scanners/av/av_worker.{h,cc} with the real
// smtpgw-avscan process, the real libclamav and the project's signatures:
// EICAR found and clean data clean through the shared-memory channel; an
// archive member extracted in the scratch folder; the process confined
// (its /proc status); a killed worker and a hung one (stopped with
// SIGSTOP) cost their scan an error verdict, never "clean", and a new
// start scans again; a bad database, a missing user and a missing
// executable are refused with a reason. Needs root, as the daemon does.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "av/av_worker.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw::av;

namespace {

const std::string kEicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

AvWorkerConfig config() {
    AvWorkerConfig c;
    c.executable = SMTPGW_AVSCAN;
    c.db_dir = SMTPGW_AV_SIGNATURES;
    c.sandbox.user = "nobody";
    c.sandbox.scratch_dir = "/tmp/smtpgw-avworker-test-" + std::to_string(getpid());
    c.limits.max_file_bytes = 4u << 20;
    return c;
}

AvResult scan(AvWorker& w, const std::string& data, const std::string& name = "part") {
    return w.scan({reinterpret_cast<const std::uint8_t*>(data.data()), data.size()}, name);
}

std::string proc_status(pid_t pid, const char* field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with(field))
            return line.substr(std::string(field).size());
    return "?";
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

} // namespace

TEST_GROUP(AvWorker) {
    AvWorker worker;
    void teardown() override {
        worker.stop();
        std::filesystem::remove_all(config().sandbox.scratch_dir);
    }
};

TEST(AvWorker, ScansThroughTheChannel) {
    auto why = worker.start(config());
    STRCMP_EQUAL("", why.c_str());
    CHECK_TRUE(worker.alive());
    CHECK_EQUAL(3u, worker.signatures());
    struct Case {
        std::string data;
        AvVerdict verdict;
        const char* name;
    };
    const Case cases[] = {
        {kEicar, AvVerdict::infected, "Smtpgw.Test.EICAR"},
        {"Dear colleague, the minutes are attached.\r\n", AvVerdict::clean, ""},
        {"prefix " + kEicar + " suffix", AvVerdict::infected, "Smtpgw.Test.EICAR"},
        {"", AvVerdict::clean, ""},
    };
    for (const auto& c : cases) {
        AvResult r = scan(worker, c.data);
        CHECK_EQUAL_TEXT(static_cast<int>(c.verdict), static_cast<int>(r.verdict), r.name.c_str());
        CHECK_TRUE_TEXT(r.name.starts_with(c.name), r.name.c_str());
    }
}

TEST(AvWorker, ExtractsArchivesInItsScratchFolder) {
    const char* zip = "/usr/share/clamav-testfiles/clam.zip";
    if (!std::filesystem::exists(zip))
        FAIL("clamav-testfiles is not installed (scripts/setup installs it)");
    STRCMP_EQUAL("", worker.start(config()).c_str());
    AvResult r = scan(worker, read_file(zip), "clam.zip");
    CHECK_EQUAL_TEXT(static_cast<int>(AvVerdict::infected), static_cast<int>(r.verdict),
                     r.name.c_str());
}

TEST(AvWorker, TheProcessIsConfined) {
    STRCMP_EQUAL("", worker.start(config()).c_str());
    pid_t pid = worker.pid();
    CHECK_TRUE(proc_status(pid, "Seccomp:").find('2') != std::string::npos);
    CHECK_TRUE(proc_status(pid, "NoNewPrivs:").find('1') != std::string::npos);
    CHECK_TRUE(proc_status(pid, "CapEff:").find_first_not_of("\t 0") == std::string::npos);
    std::string uid = proc_status(pid, "Uid:");
    CHECK_TRUE_TEXT(uid.find("65534") != std::string::npos, uid.c_str());
    CHECK_TRUE_TEXT(worker.sandbox().find("seccomp") != std::string::npos,
                    worker.sandbox().c_str());
}

TEST(AvWorker, AKilledWorkerCostsAnErrorVerdictThenStartsAgain) {
    STRCMP_EQUAL("", worker.start(config()).c_str());
    kill(worker.pid(), SIGKILL);
    AvResult r = scan(worker, kEicar);
    CHECK_EQUAL(static_cast<int>(AvVerdict::error), static_cast<int>(r.verdict));
    CHECK_FALSE(worker.alive());
    CHECK_TRUE_TEXT(worker.last_exit().find("signal 9") != std::string::npos,
                    worker.last_exit().c_str());
    // Not running: still an error, never clean.
    CHECK_EQUAL(static_cast<int>(AvVerdict::error),
                static_cast<int>(scan(worker, "clean text").verdict));
    STRCMP_EQUAL("", worker.start(config()).c_str());
    CHECK_EQUAL(static_cast<int>(AvVerdict::infected),
                static_cast<int>(scan(worker, kEicar).verdict));
}

TEST(AvWorker, AHungWorkerIsKilledAfterTheScanTimeAndItsGrace) {
    AvWorkerConfig c = config();
    c.limits.max_scan_ms = 300;
    c.grace_ms = 200;
    STRCMP_EQUAL("", worker.start(c).c_str());
    kill(worker.pid(), SIGSTOP);
    auto t0 = std::chrono::steady_clock::now();
    AvResult r = scan(worker, kEicar);
    auto waited =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    CHECK_EQUAL(static_cast<int>(AvVerdict::error), static_cast<int>(r.verdict));
    CHECK_TRUE_TEXT(r.name.find("hung") != std::string::npos, r.name.c_str());
    CHECK_TRUE(waited >= 500);
    CHECK_FALSE(worker.alive());
}

TEST(AvWorker, RefusesWhatCannotWork) {
    std::string empty_db = config().sandbox.scratch_dir + "-empty-db";
    std::filesystem::create_directories(empty_db);
    struct Case {
        const char* what;
        AvWorkerConfig config;
        const char* reason;
    };
    AvWorkerConfig no_db = config(), no_user = config(), no_exe = config();
    no_db.db_dir = empty_db;
    no_user.sandbox.user = "no-such-user-smtpgw";
    no_exe.executable = "/nonexistent/smtpgw-avscan";
    const Case cases[] = {{"empty database", no_db, empty_db.c_str()},
                          {"missing user", no_user, "no user"},
                          {"missing executable", no_exe, "/nonexistent/smtpgw-avscan"}};
    for (const auto& c : cases) {
        std::string why = worker.start(c.config);
        CHECK_TRUE_TEXT(why.find(c.reason) != std::string::npos, (c.what + (": " + why)).c_str());
        CHECK_FALSE(worker.alive());
    }
    std::filesystem::remove_all(empty_db);
}

TEST(AvWorker, APartLargerThanTheChannelIsAnErrorNotClean) {
    AvWorkerConfig c = config();
    c.limits.max_file_bytes = 1024;
    STRCMP_EQUAL("", worker.start(c).c_str());
    AvResult r = scan(worker, std::string(2048, 'a'));
    CHECK_EQUAL(static_cast<int>(AvVerdict::error), static_cast<int>(r.verdict));
    CHECK_TRUE(worker.alive());
}
