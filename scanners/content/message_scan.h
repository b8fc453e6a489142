// message_scan.h: one message's content scan as its bytes arrive: MIME
// decoding, Hyperscan rules in streaming mode, and the parts the antivirus
// must see; then the message's verdict.
//
// Purpose: the SMTP engine feeds the canonical message text (dot-stuffing
// undone, CRLF lines) in the pieces it receives it, on the fast-path lcore
// that owns the session. Each piece goes through the MIME decoder
// (mime_decoder.h) and every target's Hyperscan stream (rule_matcher.h):
// raw header blocks, header values (RFC 2047 words decoded), decoded text,
// decoded attachments, and the raw body. Nothing waits for the whole
// message except the decoded parts kept for libclamav, which scans whole
// files (it runs on scanner threads, never here). finish() gives the rule
// verdict, the MIME summary and those parts; decide() and add_antivirus()
// turn them into the answer to the end of data.
// RFCs: 5322/2045/2046/2047 through the decoder; 5321 4.2 and 3463 for the
// replies (550 5.7.1 for content, 554 5.7.1 for a virus, 451 4.3.0 when a
// scan could not complete).
// Security: the input is hostile mail. Every bound is a named setting with
// its reason (ScanSettings); passing one never makes a message look clean:
// a MIME limit takes its configured verdict (reject by default), a part
// past the antivirus budget, a Hyperscan failure or an antivirus error is
// a temporary failure (451) by default, so nothing passes unscanned and
// nothing is lost. Pure: no I/O, no clock, no logging, no threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "av/av_engine.h"
#include "mime/mime_decoder.h"
#include "rules/rule_matcher.h"
#include "rules/rule_verdict.h"

namespace smtpgw::content {

// What the end of data answers.
enum class Disposition : std::uint8_t {
    accept,   // forward as is
    tag,      // forward with `header` on top
    reject,   // 5xx: the sender must not retry
    tempfail, // 4xx: the scan did not complete; the sender retries later
};
std::string_view disposition_name(Disposition d);
// Parses "accept" | "tag" | "reject" | "tempfail" (settings); nullopt otherwise.
std::optional<Disposition> parse_disposition(std::string_view text);

struct ScanSettings {
    mime::MimeLimits mime;
    rules::VerdictSettings verdict;
    // A message past a MIME limit (depth, parts, header sizes, decoding
    // bomb) could hide anything past it: refused by default.
    Disposition on_mime_limit = Disposition::reject;
    // Rule streams could not be scanned (Hyperscan failure, too many open
    // streams): the message was not fully checked.
    Disposition on_scan_error = Disposition::tempfail;
    // The antivirus could not give an answer (limit, timeout, engine down).
    Disposition on_av_error = Disposition::tempfail;
    // Decoded parts go to libclamav when true.
    bool antivirus = true;
    // Decoded octets of one part kept for the antivirus; a larger part
    // cannot be scanned whole: on_av_error. As large as any message accepted.
    std::uint64_t av_max_part_bytes = 64ull << 20;
    // Decoded octets of all parts kept for the antivirus (base64 shrinks,
    // uuencode inside text doubles): bounds one message's memory.
    std::uint64_t av_max_message_bytes = 128ull << 20;
    // Parts handed to the antivirus; past it: on_av_error. Real mail has a
    // handful; each is a libclamav call.
    std::uint32_t av_max_parts = 256;
    // At most this many Hyperscan streams open at once per message.
    std::size_t max_open_streams = rules::kDefaultMaxOpenStreams;
};

// A decoded part for libclamav.
struct AvPart {
    std::uint32_t part = 0;
    std::string name; // the part's file name, or "part-N"
    std::vector<std::uint8_t> bytes;
};

struct ScanOutcome {
    rules::Verdict rules; // accept when no rule set
    rules::MatchStatus rules_status = rules::MatchStatus::ok;
    mime::MimeSummary mime;
    std::vector<AvPart> av_parts; // empty when antivirus is off
    bool av_over_budget = false;  // a part or the message passed an av_max_* bound
};

// The answer to the end of data.
struct MessageVerdict {
    Disposition action = Disposition::accept;
    std::uint16_t code = 250;
    std::string enhanced; // RFC 3463, e.g. "5.7.1"
    std::string text;     // reply text after the codes
    std::string header;   // tag: the header line without CRLF
    std::string
        reason; // for the log and counters: "rule=ID", "virus=NAME", "mime-limit=depth", ...
    std::vector<std::string> rule_ids; // rules that matched (any action)
    bool virus = false;                // refused because the antivirus found one
};

class MessageScan final : private mime::MimeSink {
  public:
    // `rules` may be null (no content rules). `scratch` belongs to the
    // calling thread and outlives the scan; it is fitted to `rules` here.
    MessageScan(std::shared_ptr<const rules::RuleSet> rules, rules::RuleScratch& scratch,
                const ScanSettings& settings);
    ~MessageScan() override;
    MessageScan(const MessageScan&) = delete;
    MessageScan& operator=(const MessageScan&) = delete;

    // The next piece of the message text, any size. Ignored after finish().
    void feed(std::span<const std::uint8_t> bytes);
    void feed(std::string_view text) {
        feed({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
    }
    // The end of the message: closes every stream (end-anchored patterns
    // match here) and hands over the outcome. Call once.
    ScanOutcome finish();

    const ScanSettings& settings() const { return settings_; }

  private:
    struct PartState;
    void on_part_begin(const mime::PartInfo& part) override;
    void on_header_bytes(std::uint32_t part, std::span<const std::uint8_t> raw) override;
    void on_header_field(std::uint32_t part, std::string_view name,
                         std::string_view value) override;
    void on_body_bytes(std::uint32_t part, std::span<const std::uint8_t> bytes) override;
    void on_part_end(std::uint32_t part) override;
    PartState* state(std::uint32_t part);
    void feed_raw_body(std::span<const std::uint8_t> bytes);

    ScanSettings settings_;
    std::shared_ptr<const rules::RuleSet> rules_;
    std::unique_ptr<rules::RuleMatcher> matcher_; // null without rules
    mime::MimeDecoder decoder_;
    std::vector<PartState> parts_; // by part index
    rules::StreamHandle raw_body_{};
    bool raw_body_open_ = false;
    bool in_body_ = false;     // past the top-level header block
    std::uint8_t eol_run_ = 0; // header-end detector: 1 after "\n", 2 after "\n\r"
    std::vector<AvPart> av_parts_;
    std::uint64_t av_bytes_ = 0;
    bool av_over_budget_ = false;
    bool finished_ = false;
};

// The verdict from the rules, the MIME summary and the scan status, before
// the antivirus: final when it rejects or fails; otherwise the antivirus
// results go through add_antivirus().
MessageVerdict decide(const ScanOutcome& outcome, const ScanSettings& settings,
                      const rules::RuleSet* rules);

// The verdict with the antivirus results of `outcome.av_parts` (one per
// part, in order; fewer than the parts counts as an error). A virus
// rejects (554 5.7.1 naming it) whatever the rules said; an error takes
// on_av_error unless the message is already refused.
MessageVerdict add_antivirus(MessageVerdict before, std::span<const av::AvResult> results,
                             bool over_budget, const ScanSettings& settings);

} // namespace smtpgw::content
