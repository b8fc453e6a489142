// av_engine_test.cc: unit tests of scanners/av/av_engine.{h,cc} with the
// real libclamav and the project's own signatures (scanners/av/signatures):
// EICAR found by hash and by body signature; Debian's clamav-testfiles
// samples found inside archives, mailboxes and documents by libclamav's own
// parsers; clean data clean; a limit gives an error verdict, never clean;
// a missing or empty folder is refused with a reason.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "av/av_engine.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw::av;

namespace {

const std::string kEicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
const char* kTestFiles = "/usr/share/clamav-testfiles";

std::shared_ptr<const AvEngine> engine(const AvLimits& limits = {}) {
    auto r = AvEngine::load(SMTPGW_AV_SIGNATURES, limits);
    if (auto* why = std::get_if<std::string>(&r))
        FAIL(why->c_str());
    return std::get<std::shared_ptr<const AvEngine>>(r);
}

AvResult scan(const AvEngine& e, const std::string& data, const std::string& name = "part") {
    return e.scan({reinterpret_cast<const std::uint8_t*>(data.data()), data.size()}, name);
}

std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

} // namespace

TEST_GROUP(AvEngine){};

TEST(AvEngine, LoadsTheProjectsSignatures) {
    auto e = engine();
    CHECK_EQUAL(3u, e->signatures());
    CHECK_TRUE(e->load_ms() > 0);
    CHECK_FALSE(clamav_version().empty());
}

TEST(AvEngine, EicarIsFoundByHashAndByBody) {
    auto e = engine();
    struct Case {
        std::string data;
        AvVerdict verdict;
        const char* name;
    };
    const Case cases[] = {
        {kEicar, AvVerdict::infected, "Smtpgw.Test.EICAR-"}, // by hash or body, whichever first
        {"prefix " + kEicar + " suffix\r\n", AvVerdict::infected, "Smtpgw.Test.EICAR-Body"},
        {"Hello, this is a clean message body.\r\n", AvVerdict::clean, ""},
        {std::string(100000, 'A'), AvVerdict::clean, ""},
        {"", AvVerdict::clean, ""},
    };
    for (const auto& c : cases) {
        AvResult r = scan(*e, c.data);
        CHECK_EQUAL_TEXT(static_cast<int>(c.verdict), static_cast<int>(r.verdict), r.name.c_str());
        if (c.verdict == AvVerdict::infected)
            CHECK_TRUE_TEXT(r.name.starts_with(c.name), r.name.c_str());
    }
}

TEST(AvEngine, SamplesAreFoundInsideArchivesMailAndDocuments) {
    auto e = engine();
    // Formats whose parsers libclamav runs to reach clam.exe inside.
    const char* files[] = {"clam.exe",         "clam.zip",     "clam.tar.gz",
                           "clam.7z",          "clam.cab",     "clam.exe.mbox.base64",
                           "clam.exe.mbox.uu", "clam.exe.rtf", "clam.ole.doc"};
    for (const char* f : files) {
        std::string path = std::string(kTestFiles) + "/" + f;
        if (!std::filesystem::exists(path))
            FAIL(("missing test sample " + path + " (scripts/setup installs clamav-testfiles)")
                     .c_str());
        AvResult r = scan(*e, read(path), f);
        CHECK_EQUAL_TEXT(static_cast<int>(AvVerdict::infected), static_cast<int>(r.verdict),
                         (std::string(f) + ": " + r.name).c_str());
        // libclamav marks signatures not from ClamAV's own databases ".UNOFFICIAL".
        STRCMP_EQUAL_TEXT("Smtpgw.Test.ClamAV-Test-File.UNOFFICIAL", r.name.c_str(), f);
    }
}

TEST(AvEngine, ALimitIsAnErrorVerdictNeverClean) {
    AvLimits tight;
    tight.max_file_bytes = 1024; // smaller than the sample inside the archive
    tight.max_scan_bytes = 1024;
    auto e = engine(tight);
    AvResult r = scan(*e, std::string(1 << 20, 'x'));
    CHECK_EQUAL_TEXT(static_cast<int>(AvVerdict::error), static_cast<int>(r.verdict),
                     r.name.c_str());
    CHECK_TRUE_TEXT(r.name.find("limit") != std::string::npos, r.name.c_str());
    // An archive: its member (544 bytes) is within the limit and still found.
    AvResult z = scan(*e, read(std::string(kTestFiles) + "/clam.zip"), "clam.zip");
    CHECK_TRUE_TEXT(z.verdict != AvVerdict::clean, z.name.c_str());
}

TEST(AvEngine, AFolderWithoutSignaturesIsRefused) {
    struct Case {
        const char* dir;
        const char* reason;
    };
    std::filesystem::create_directories("/tmp/smtpgw-av-empty");
    const Case cases[] = {
        {"/nonexistent/smtpgw-av", "/nonexistent/smtpgw-av"},
        {"/tmp/smtpgw-av-empty", "/tmp/smtpgw-av-empty"},
    };
    for (const auto& c : cases) {
        auto r = AvEngine::load(c.dir);
        auto* why = std::get_if<std::string>(&r);
        CHECK_TRUE_TEXT(why != nullptr, c.dir);
        CHECK_TRUE_TEXT(why->find(c.reason) != std::string::npos, why->c_str());
    }
    std::filesystem::remove("/tmp/smtpgw-av-empty");
}
