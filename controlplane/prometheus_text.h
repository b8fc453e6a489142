// prometheus_text.h: the Prometheus text exposition format (version 0.0.4)
// for the metrics endpoint: families with # HELP and # TYPE, samples with
// labels, counters, gauges and histograms.
//
// Purpose: a pure builder (no I/O): the collectors add samples, render()
// gives the body of GET /metrics. A family is written once, with all its
// samples together, whatever order they were added in (the format requires
// it). Label values are escaped (\\, ", newline), so a value that came from
// outside (a list file name) cannot break the exposition.
// Error contract: add() of an invalid metric or label name, or of a name
// already used with another type, is refused (returns false) and counted in
// refused(): a bug shows in the output instead of corrupting it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smtpgw::control {

enum class MetricType { counter, gauge, histogram };

using Labels = std::vector<std::pair<std::string, std::string>>;

class PrometheusText {
  public:
    bool add(std::string_view name, MetricType type, std::string_view help, const Labels& labels,
             double value);
    // A histogram: `bounds` are the buckets' upper bounds (ascending),
    // `counts` the observations per bucket (not cumulative; one more for
    // +Inf), `sum` their sum.
    bool add_histogram(std::string_view name, std::string_view help, const Labels& labels,
                       const std::vector<double>& bounds, const std::vector<std::uint64_t>& counts,
                       double sum);
    std::string render() const;
    std::size_t refused() const { return refused_; }

    static bool valid_metric_name(std::string_view name);
    static bool valid_label_name(std::string_view name);

  private:
    struct Family {
        MetricType type;
        std::string help;
        std::vector<std::string> lines; // sample lines, in order added
    };
    Family* family(std::string_view name, MetricType type, std::string_view help);

    std::vector<std::string> order_; // family names in first-added order
    std::map<std::string, Family, std::less<>> families_;
    std::size_t refused_ = 0;
};

// `{a="x",b="y"}` (empty for no labels), values escaped.
std::string format_labels(const Labels& labels);

} // namespace smtpgw::control
