// rule_verdict.h: the matched rules of a message turned into its answer.
//
// Purpose: after RuleMatcher has seen a message, decide() says whether it
// is accepted, delivered with a verdict header (tagged) or refused, and
// writes the SMTP reply or the header line that says so.
//
// Policy (in this order):
//  1. any matched `reject` rule: reject; the reply names the first such rule
//     in file order ("550 5.7.1 Message rejected by rule ID (DESCRIPTION)");
//  2. the scores of the matched `score=N` rules add up; at or above the
//     threshold (setting, default 10; 0 turns scoring off) the message is
//     rejected ("550 5.7.1 Message rejected: score S reaches threshold T
//     (rules A,B)") or, if so configured, tagged;
//  3. any matched `tag` rule: tag;
//  4. else accept (scores below the threshold alone do not tag).
// Tagging adds one header line, naming every matched rule (file order) and
// the score: "X-Smtpgw-Verdict: tagged; rules=SMTPGW-0002,SMTPGW-0005; score=7".
// Reject wins over tag, as a policy that both tags and rejects means reject.
//
// Hit counters: the caller keeps one counter per rule (indexes of
// RuleSet::rules(), which `show rules` lists with ids and descriptions) and
// adds one for each index in Verdict::rules.
//
// A matcher that is not ok() (rule_matcher.h) must not get here: its
// message was not fully scanned and is answered as a scan error instead.
//
// Security: replies and headers are built only from rule ids and
// descriptions, which rule_file.h restricts to printable ASCII (no CR/LF),
// and are bounded: a reply line stays under RFC 5321's 512 bytes, a header
// line under RFC 5322's 998 (lists of rule ids are cut with "...").
// Pure: no I/O, no clock, nothing thrown (std::bad_alloc aside).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rules/rule_database.h"
#include "rules/rule_matcher.h"

namespace smtpgw::rules {

inline constexpr int kDefaultScoreThreshold = 10;
inline constexpr std::string_view kVerdictHeaderName = "X-Smtpgw-Verdict";
// Bytes of rule ids listed in a reply (the rest is "..."), keeping the
// reply line under 512 bytes (RFC 5321 4.5.3.1.5).
inline constexpr std::size_t kMaxReplyRuleListBytes = 300;
// Bytes of rule ids listed in the tag header, under the 998-byte line limit
// of RFC 5322 2.1.1.
inline constexpr std::size_t kMaxHeaderRuleListBytes = 800;

enum class VerdictAction : std::uint8_t { accept, tag, reject };

std::string_view action_name(VerdictAction action);

struct VerdictSettings {
    // Sum of scores at which the message is refused (or tagged); 0: scores
    // never decide, they only show in the tag header.
    int score_threshold = kDefaultScoreThreshold;
    // What reaching the threshold does: reject or tag (accept is taken as tag).
    VerdictAction over_threshold = VerdictAction::reject;
};

struct Verdict {
    VerdictAction action = VerdictAction::accept;
    std::vector<std::uint32_t> rules; // matched rule indexes, file order, each once
    long score = 0;                   // sum of the matched score rules
    // The reject rule the reply names (reject by a rule); nullopt otherwise.
    std::optional<std::uint32_t> deciding_rule;
    std::string reply;      // reject: the SMTP reply line without CRLF; else empty
    std::string tag_header; // tag: the header line without CRLF; else empty
};

// From the rules of a set and the indexes of those that matched (any order,
// duplicates and out-of-range indexes ignored).
Verdict decide(std::span<const Rule> rules, std::span<const std::uint32_t> matched,
               const VerdictSettings& settings = {});
// From a matcher's matches.
Verdict decide(const RuleSet& set, std::span<const RuleMatch> matches,
               const VerdictSettings& settings = {});

} // namespace smtpgw::rules
