// Tests for dataplane/net/drop_reason.{h,cc}: the reason table behind
// drop_reasons.def that `show stats` prints.
#include "net/drop_reason.h"

#include <set>
#include <string>

#include <CppUTest/TestHarness.h>

using namespace smtpgw::net;

TEST_GROUP(DropReason){};

TEST(DropReason, EveryReasonHasAUniqueNameASeverityAndASentence) {
    std::set<std::string> names;
    for (std::size_t i = 0; i < kDropReasonCount; ++i) {
        const auto& info = drop_reason_info(static_cast<DropReason>(i));
        CHECK_FALSE(info.name.empty());
        CHECK_TRUE(info.sentence.size() > 10);
        CHECK_TRUE(names.insert(std::string(info.name)).second);
        CHECK_TRUE(severity_name(info.severity) != "?");
    }
    UNSIGNED_LONGS_EQUAL(kDropReasonCount, names.size());
}

TEST(DropReason, NamesMatchTheEnumOrder) {
    STRCMP_EQUAL("frame_truncated", std::string(drop_reason_info(DropReason::frame_truncated).name).c_str());
    STRCMP_EQUAL("ipv4_bad_checksum",
                 std::string(drop_reason_info(DropReason::ipv4_bad_checksum).name).c_str());
    STRCMP_EQUAL("error", std::string(severity_name(drop_reason_info(DropReason::ipv4_bad_checksum).severity)).c_str());
}

TEST(DropReason, TheNotADropMarkerHasSafeMetadata) {
    const auto& info = drop_reason_info(DropReason::count_);
    STRCMP_EQUAL("none", std::string(info.name).c_str());
}
