// prometheus_text_test.cc: unit tests of controlplane/prometheus_text.{h,cc}:
// families written once with HELP and TYPE whatever the order of samples,
// label escaping, histograms (cumulative buckets, +Inf, sum, count), and
// refusal of invalid names or a type change.
#include <string>

#include "prometheus_text.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw::control;

TEST_GROUP(PrometheusText){};

TEST(PrometheusText, AFamilyIsWrittenOnceWithItsSamplesTogether) {
    PrometheusText t;
    t.add("smtpgw_a_total", MetricType::counter, "A things", {{"port", "wan"}}, 1);
    t.add("smtpgw_b", MetricType::gauge, "B now", {}, 2.5);
    t.add("smtpgw_a_total", MetricType::counter, "A things", {{"port", "lan"}}, 3);
    STRCMP_EQUAL("# HELP smtpgw_a_total A things\n# TYPE smtpgw_a_total counter\n"
                 "smtpgw_a_total{port=\"wan\"} 1\nsmtpgw_a_total{port=\"lan\"} 3\n"
                 "# HELP smtpgw_b B now\n# TYPE smtpgw_b gauge\nsmtpgw_b 2.5\n",
                 t.render().c_str());
    CHECK_EQUAL(0u, t.refused());
}

TEST(PrometheusText, LabelValuesAndHelpAreEscaped) {
    struct Case {
        const char* value;
        const char* rendered;
    };
    const Case cases[] = {
        {"plain", "{list=\"plain\"}"},
        {"/etc/a \"b\".txt", "{list=\"/etc/a \\\"b\\\".txt\"}"},
        {"back\\slash", "{list=\"back\\\\slash\"}"},
        {"two\nlines", "{list=\"two\\nlines\"}"},
    };
    for (const auto& c : cases)
        STRCMP_EQUAL(c.rendered, format_labels({{"list", c.value}}).c_str());
    PrometheusText t;
    t.add("m", MetricType::gauge, "help with \\ and\nnewline", {}, 0);
    CHECK_TRUE(t.render().starts_with("# HELP m help with \\\\ and\\nnewline\n"));
}

TEST(PrometheusText, HistogramsAreCumulativeWithInfSumAndCount) {
    PrometheusText t;
    CHECK_TRUE(t.add_histogram("smtpgw_x_seconds", "X", {{"lcore", "1"}}, {0.001, 0.01}, {2, 3, 1},
                               0.05));
    STRCMP_EQUAL("# HELP smtpgw_x_seconds X\n# TYPE smtpgw_x_seconds histogram\n"
                 "smtpgw_x_seconds_bucket{lcore=\"1\",le=\"0.001\"} 2\n"
                 "smtpgw_x_seconds_bucket{lcore=\"1\",le=\"0.01\"} 5\n"
                 "smtpgw_x_seconds_bucket{lcore=\"1\",le=\"+Inf\"} 6\n"
                 "smtpgw_x_seconds_sum{lcore=\"1\"} 0.05\n"
                 "smtpgw_x_seconds_count{lcore=\"1\"} 6\n",
                 t.render().c_str());
    CHECK_FALSE(t.add_histogram("smtpgw_y", "Y", {}, {1.0}, {1}, 0)); // counts need +Inf
    CHECK_FALSE(t.add_histogram("smtpgw_z", "Z", {{"le", "1"}}, {1.0}, {1, 0}, 0));
}

TEST(PrometheusText, InvalidNamesAndTypeChangesAreRefusedAndCounted) {
    PrometheusText t;
    struct Case {
        const char* name;
        const char* label;
        bool ok;
    };
    const Case cases[] = {
        {"ok_name", "port", true},  {"1bad", "port", false},    {"bad-name", "port", false},
        {"", "port", false},        {"ok:colon", "port", true}, {"ok2", "__reserved", false},
        {"ok3", "bad-label", false}, {"ok4", "9x", false},
    };
    std::size_t refused = 0;
    for (const auto& c : cases) {
        bool ok = t.add(c.name, MetricType::gauge, "h", {{c.label, "v"}}, 1);
        CHECK_EQUAL_TEXT(c.ok, ok, c.name);
        refused += !ok;
    }
    CHECK_FALSE(t.add("ok_name", MetricType::counter, "h", {}, 1)); // was a gauge
    CHECK_EQUAL(refused + 1, t.refused());
    CHECK_TRUE(t.render().find("1bad") == std::string::npos);
}
