// prometheus_text.cc: the Prometheus text format (see header).
#include "prometheus_text.h"

#include <cmath>
#include <cstdio>

namespace smtpgw::control {

namespace {

bool name_char(char c, bool first, bool colon) {
    bool alpha =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
    return alpha || (!first && c >= '0' && c <= '9');
}

std::string number(double v) {
    if (std::isnan(v))
        return "NaN";
    if (std::isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    if (v == std::floor(v) && std::fabs(v) < 1e15) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.0f", v);
        return buf;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

// HELP text escaping: backslash and newline (the format's rule).
std::string help_text(std::string_view h) {
    std::string out;
    for (char c : h) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

const char* type_name(MetricType t) {
    switch (t) {
    case MetricType::counter:
        return "counter";
    case MetricType::gauge:
        return "gauge";
    case MetricType::histogram:
        return "histogram";
    }
    return "untyped";
}

} // namespace

bool PrometheusText::valid_metric_name(std::string_view name) {
    if (name.empty())
        return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if (!name_char(name[i], i == 0, true))
            return false;
    return true;
}

bool PrometheusText::valid_label_name(std::string_view name) {
    if (name.empty() || name.starts_with("__"))
        return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if (!name_char(name[i], i == 0, false))
            return false;
    return true;
}

std::string format_labels(const Labels& labels) {
    if (labels.empty())
        return {};
    std::string out = "{";
    for (std::size_t i = 0; i < labels.size(); ++i) {
        if (i)
            out += ',';
        out += labels[i].first;
        out += "=\"";
        for (char c : labels[i].second) {
            if (c == '\\')
                out += "\\\\";
            else if (c == '"')
                out += "\\\"";
            else if (c == '\n')
                out += "\\n";
            else
                out += c;
        }
        out += '"';
    }
    out += '}';
    return out;
}

PrometheusText::Family* PrometheusText::family(std::string_view name, MetricType type,
                                               std::string_view help) {
    auto it = families_.find(name);
    if (it == families_.end()) {
        order_.emplace_back(name);
        it = families_.emplace(std::string(name), Family{type, std::string(help), {}}).first;
    } else if (it->second.type != type) {
        return nullptr;
    }
    return &it->second;
}

bool PrometheusText::add(std::string_view name, MetricType type, std::string_view help,
                         const Labels& labels, double value) {
    bool ok = valid_metric_name(name) && type != MetricType::histogram;
    for (const auto& l : labels)
        ok = ok && valid_label_name(l.first);
    Family* f = ok ? family(name, type, help) : nullptr;
    if (!f) {
        ++refused_;
        return false;
    }
    f->lines.push_back(std::string(name) + format_labels(labels) + " " + number(value));
    return true;
}

bool PrometheusText::add_histogram(std::string_view name, std::string_view help,
                                   const Labels& labels, const std::vector<double>& bounds,
                                   const std::vector<std::uint64_t>& counts, double sum) {
    bool ok = valid_metric_name(name) && counts.size() == bounds.size() + 1;
    for (const auto& l : labels)
        ok = ok && valid_label_name(l.first) && l.first != "le";
    Family* f = ok ? family(name, MetricType::histogram, help) : nullptr;
    if (!f) {
        ++refused_;
        return false;
    }
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= bounds.size(); ++i) {
        cumulative += counts[i];
        Labels with_le = labels;
        with_le.emplace_back("le", i < bounds.size() ? number(bounds[i]) : "+Inf");
        f->lines.push_back(std::string(name) + "_bucket" + format_labels(with_le) + " " +
                           number(static_cast<double>(cumulative)));
    }
    f->lines.push_back(std::string(name) + "_sum" + format_labels(labels) + " " + number(sum));
    f->lines.push_back(std::string(name) + "_count" + format_labels(labels) + " " +
                       number(static_cast<double>(cumulative)));
    return true;
}

std::string PrometheusText::render() const {
    std::string out;
    for (const auto& name : order_) {
        const Family& f = families_.find(name)->second;
        out += "# HELP " + name + " " + help_text(f.help) + "\n";
        out += "# TYPE " + name + " " + type_name(f.type) + "\n";
        for (const auto& l : f.lines)
            out += l + "\n";
    }
    return out;
}

} // namespace smtpgw::control
