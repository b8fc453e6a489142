// rule_file.h: the signature rule file: text in, rules (or per-line errors)
// out.
//
// Purpose: administrators write content rules (GTUBE, executable
// attachments, phishing phrases) in one text file; this module parses it.
// rule_database.h compiles the rules with Hyperscan, rule_matcher.h runs
// them over a message, rule_verdict.h turns the matches into an answer.
//
// Format (scanners/rules/default.rules is a commented example):
//   * One rule per line, LF or CRLF. Blank lines and lines whose first
//     non-blank character is `#` are ignored. Fields are separated by
//     spaces or tabs:
//         ID /PATTERN/FLAGS TARGET ACTION "DESCRIPTION"
//     e.g.
//         SMTPGW-0001 /GTUBE-STANDARD-ANTI-UBE-TEST/ raw-body reject "GTUBE spam test string"
//   * ID: 1 to kMaxIdBytes of [A-Za-z0-9._-], starting with a letter or a
//     digit; unique in the file (exact comparison). It names the rule in
//     SMTP replies, tag headers and `show rules`.
//   * PATTERN: a Hyperscan regular expression (the PCRE subset Hyperscan
//     accepts: no backreferences, lookbehind or conditionals) between
//     slashes. A `/` inside is written `\/`; a
//     backslash escapes the next byte for the purpose of finding the
//     closing slash, and the text is handed to Hyperscan unchanged (PCRE
//     reads `\/` as `/`). Binary bytes are written \xNN; a NUL or control
//     byte in the file is refused. Patterns that can match the empty input
//     (`/a*/`) are refused by Hyperscan when compiled.
//     `\A` and `^` (without m) anchor at the start of the stream, that is
//     the start of the target's bytes: `/\AMZ/` on `attachment` means "the
//     decoded attachment starts with MZ". `\z` and `$` anchor at its end.
//   * FLAGS (after the closing slash, no space, each at most once):
//       i  caseless                 (HS_FLAG_CASELESS)
//       s  dot matches newlines     (HS_FLAG_DOTALL)
//       m  ^ and $ match at lines   (HS_FLAG_MULTILINE)
//       u  UTF-8 with Unicode properties (HS_FLAG_UTF8 | HS_FLAG_UCP).
//          Hyperscan does not validate UTF-8: on invalid input such a rule's
//          result is unspecified, so use `u` for text targets only.
//     Every rule is compiled with HS_FLAG_SINGLEMATCH: a rule matches a
//     message once (its first match), which is all a verdict needs.
//   * TARGET: which bytes the pattern runs over (each is its own stream):
//       raw-headers     a header block as received (the message's, and each
//                       MIME part's if the caller feeds them), unfolded by
//                       nobody: CRLFs and folding whitespace included;
//       header:NAME     the value of every header field called NAME (case
//                       insensitive; NAME is an RFC 5322 field name), each
//                       value its own stream;
//       text            decoded (transfer-decoded) text/* parts;
//       attachment      decoded attachment parts (non-text, or named);
//       raw-body        the message body as received, before decoding.
//   * ACTION: `reject` (the message is refused, 550), `tag` (it is
//     delivered with a verdict header) or `score=N`, N in 1..kMaxScore:
//     scores of the matched rules add up, and the sum against the threshold
//     decides (rule_verdict.h). No negative scores: text stuffed into a
//     message must not be able to cancel a match.
//   * DESCRIPTION: the rest of the line, between double quotes; `\"` and
//     `\\` are the only escapes. 1 to kMaxDescriptionBytes printable ASCII
//     bytes: it goes into SMTP replies (RFC 5321 4.5.3.1.5 bounds a reply
//     line to 512 bytes) and headers. Nothing but blanks may follow it.
//
// Errors: every bad line is reported with its 1-based line number and a
// reason (describe() makes "FILE:LINE: reason"). A file with any bad line is
// refused as a whole: compile_rule_set() (rule_database.h) will not build
// a rule set from it, and the caller keeps the running one. Unlike a peer
// list, a rule file is a policy: half a policy silently applied would
// deliver what the administrator meant to reject.
//
// Security: the file is administrator input, but may come from a feed.
//  * Every length is bounded (line, id, description, rules per file,
//    reported errors); no recursion; linear time; nothing thrown (memory
//    exhaustion aside).
//  * Control bytes are refused everywhere (patterns write them \xNN);
//    descriptions are printable ASCII, so nothing from a rule file can
//    inject CRLF into an SMTP reply or a header. Reasons quote input with
//    non-printable bytes escaped (\xNN).
//  * Patterns are checked here only for framing; Hyperscan parses them at
//    compile time (rule_database.h) and its errors map back to FILE:LINE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace smtpgw::rules {

// Longest line, without its LF/CRLF. Real rules are under 300 bytes; the
// bound keeps a hostile line from making huge patterns or reasons.
inline constexpr std::size_t kMaxLineBytes = 4096;
inline constexpr std::size_t kMaxIdBytes = 64;
// Fits "550 5.7.1 Message rejected by rule ID (DESCRIPTION)" in a 512-byte
// reply line with room to spare.
inline constexpr std::size_t kMaxDescriptionBytes = 200;
// Rules per file: Hyperscan compile time and memory grow with the count;
// the largest real mail rule sets are a few thousand expressions.
inline constexpr std::size_t kMaxRules = 20000;
inline constexpr int kMaxScore = 1000;
// Reasons kept per parse; further bad lines are only counted.
inline constexpr std::size_t kMaxReportedErrors = 100;
// Longest header name in a header:NAME target (RFC 5322 allows any length;
// real names are under 40 bytes).
inline constexpr std::size_t kMaxHeaderNameBytes = 128;

enum class TargetKind : std::uint8_t { raw_headers, header, text, attachment, raw_body };
inline constexpr std::size_t kTargetKinds = 5;

enum class ActionKind : std::uint8_t { reject, tag, score };

// The pattern flags letters map to (Hyperscan HS_FLAG_* bits).
enum PatternFlag : unsigned {
    kCaseless = 1u << 0,  // i
    kDotall = 1u << 1,    // s
    kMultiline = 1u << 2, // m
    kUtf8 = 1u << 3,      // u
};

struct Rule {
    std::string id;
    std::string pattern; // between the slashes, as written
    unsigned flags = 0;  // PatternFlag bits
    TargetKind target = TargetKind::raw_body;
    std::string header_name; // header:NAME targets only, lower case
    ActionKind action = ActionKind::reject;
    int score = 0;           // ActionKind::score only, 1..kMaxScore
    std::string description; // unescaped, printable ASCII
    std::uint32_t line = 0;  // 1-based line in the file
};

struct RuleError {
    std::uint32_t line = 0; // 1-based; 0 for errors about the whole file
    std::string reason;     // printable ASCII; input quoted with \xNN escapes
};

struct RuleFileParse {
    std::vector<Rule> rules; // in file order (the order is the rule index)
    // The first kMaxReportedErrors bad lines, then (if more) one line saying
    // how many more.
    std::vector<RuleError> errors;
    std::size_t bad_lines = 0; // every bad line, reported or not
    // Whether the file may be used: any bad line refuses it whole.
    bool ok() const { return bad_lines == 0 && errors.empty(); }
};

// Parses a rule file's text. Never throws (std::bad_alloc aside). Every bad
// line is reported; the good rules are returned too (for the error report's
// sake), but the file is only usable when ok(). Past kMaxRules rules the
// error "too many rules (limit N)" is added and the rest is ignored.
RuleFileParse parse_rule_file(std::string_view text);

// Reads `path` and parses it. A file that cannot be read, or that is
// larger than kMaxRules * kMaxLineBytes bytes, gives one error with line 0
// and the reason (strerror). Never throws (std::bad_alloc aside).
RuleFileParse read_rule_file(const std::string& path);

// "FILE:LINE: reason" ("FILE: reason" for line 0), as the rest of the
// product reports configuration errors.
std::string describe(const RuleError& error, std::string_view file_name);

// The rule's fields as written in the file ("raw-body", "header:subject",
// "score=5", "/x/i"), for `show rules`.
std::string target_name(const Rule& rule);
std::string action_name(const Rule& rule);
std::string pattern_text(const Rule& rule);
// One line in the file's syntax that parses back to the same rule.
std::string format_rule(const Rule& rule);

} // namespace smtpgw::rules
