// rule_verdict.cc: matched rules to accept / tag / reject (policy in
// rule_verdict.h).
#include "rules/rule_verdict.h"

#include <algorithm>

namespace smtpgw::rules {

namespace {

// "A,B,C", cut with ",..." before exceeding `max_bytes`.
std::string id_list(std::span<const Rule> rules, const std::vector<std::uint32_t>& which,
                    std::size_t max_bytes) {
    std::string s;
    for (auto i : which) {
        const std::string& id = rules[i].id;
        if (s.size() + id.size() + 1 > max_bytes) {
            s += s.empty() ? "..." : ",...";
            break;
        }
        if (!s.empty())
            s += ',';
        s += id;
    }
    return s;
}

} // namespace

std::string_view action_name(VerdictAction action) {
    switch (action) {
    case VerdictAction::accept:
        return "accept";
    case VerdictAction::tag:
        return "tag";
    case VerdictAction::reject:
        return "reject";
    }
    return "?";
}

Verdict decide(std::span<const Rule> rules, std::span<const std::uint32_t> matched,
               const VerdictSettings& settings) {
    Verdict v;
    for (auto i : matched)
        if (i < rules.size())
            v.rules.push_back(i);
    std::sort(v.rules.begin(), v.rules.end());
    v.rules.erase(std::unique(v.rules.begin(), v.rules.end()), v.rules.end());

    bool any_tag = false;
    std::vector<std::uint32_t> scored;
    for (auto i : v.rules) {
        const Rule& r = rules[i];
        switch (r.action) {
        case ActionKind::reject:
            if (!v.deciding_rule)
                v.deciding_rule = i;
            break;
        case ActionKind::tag:
            any_tag = true;
            break;
        case ActionKind::score:
            v.score += r.score; // at most kMaxRules * kMaxScore: no overflow
            scored.push_back(i);
            break;
        }
    }

    if (v.deciding_rule) {
        const Rule& r = rules[*v.deciding_rule];
        v.action = VerdictAction::reject;
        v.reply = "550 5.7.1 Message rejected by rule " + r.id + " (" + r.description + ")";
        return v;
    }
    bool over = settings.score_threshold > 0 && v.score >= settings.score_threshold;
    if (over && settings.over_threshold == VerdictAction::reject) {
        v.action = VerdictAction::reject;
        v.reply = "550 5.7.1 Message rejected: score " + std::to_string(v.score) +
                  " reaches threshold " + std::to_string(settings.score_threshold) + " (rules " +
                  id_list(rules, scored, kMaxReplyRuleListBytes) + ")";
        return v;
    }
    if (over || any_tag) {
        v.action = VerdictAction::tag;
        v.tag_header = std::string(kVerdictHeaderName) +
                       ": tagged; rules=" + id_list(rules, v.rules, kMaxHeaderRuleListBytes) +
                       "; score=" + std::to_string(v.score);
        return v;
    }
    v.action = VerdictAction::accept;
    return v;
}

Verdict decide(const RuleSet& set, std::span<const RuleMatch> matches,
               const VerdictSettings& settings) {
    std::vector<std::uint32_t> idx;
    idx.reserve(matches.size());
    for (const auto& m : matches)
        idx.push_back(m.rule);
    return decide(set.rules(), idx, settings);
}

} // namespace smtpgw::rules
