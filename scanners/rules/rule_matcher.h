// rule_matcher.h: runs a RuleSet over one message, as its bytes arrive.
//
// Purpose: the MIME decoder hands over a message piece by piece: header
// blocks, header values, decoded text and attachment parts, the raw body.
// Each (part, target) is a Hyperscan stream: the caller opens it, feeds
// bytes as they come (any cut: a pattern split across feeds matches as if
// fed whole) and closes it; the matcher records which rules matched.
// rule_verdict.h turns the matches into the answer.
//
// What it implements:
//  * RuleScratch: the Hyperscan scratch space, one per thread (lcore or
//    scanner worker), owned by that thread. fit() clones the set's
//    prototype (allocated by hs_alloc_scratch for all of its databases) the
//    first time, and grows it for a new set after a reload.
//  * RuleMatcher: one per message (or reused across messages with reset()).
//    Stream handles are small values; a target without rules gives a handle
//    whose feeds cost nothing. Matches are deduplicated per rule, keeping
//    the first (part, end offset). Closed streams are reset and kept for the
//    next part on the same database, so after warm-up a message allocates
//    nothing; feed() never allocates (a first match of a rule may).
//
// Sharing: the RuleSet is read-only and may be used by any number of
// matchers on any threads at once; the caller keeps it alive (its
// shared_ptr) for the matcher's lifetime. A RuleMatcher and a RuleScratch
// are single-threaded.
//
// Error contract: failures are sticky: the first one is kept in status()
// and later calls keep returning it, while feeds go on being accepted and
// ignored, so the caller may check once per message. A message whose
// matcher is not ok() was not fully scanned and must not be taken for
// clean: the caller answers it as a scan error (451), as for the antivirus.
// Nothing throws (std::bad_alloc in the constructor aside); nothing logs.
//
// Security: the input is hostile mail. Hyperscan runs in bounded memory per
// stream (RuleDatabase::stream_bytes) and linear time; the number of streams
// open at once is bounded (max_open_streams), so a message nesting parts
// deeply cannot make the matcher allocate without bound.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "rules/rule_database.h"

struct hs_scratch;
struct hs_stream;

namespace smtpgw::rules {

// Streams open at once in one message, by default. A MIME decoder has one
// stream per target per nesting level open (raw-headers, header value,
// text or attachment, raw-body); nesting is bounded by the decoder (about
// 10 levels), so 64 is generous, while bounding a message's stream state to
// 64 * stream_bytes (a few KB each with real rules).
inline constexpr std::size_t kDefaultMaxOpenStreams = 64;
// The largest limit accepted (larger values are clamped).
inline constexpr std::size_t kMaxOpenStreamsLimit = 4096;

class RuleScratch {
  public:
    RuleScratch() = default;
    ~RuleScratch();
    RuleScratch(RuleScratch&& other) noexcept;
    RuleScratch& operator=(RuleScratch&& other) noexcept;
    RuleScratch(const RuleScratch&) = delete;
    RuleScratch& operator=(const RuleScratch&) = delete;

    // Makes the scratch usable with `set`: clones set.prototype_scratch()
    // the first time, grows it (hs_alloc_scratch) for another set. Call on
    // the owning thread, never while one of its matchers is scanning.
    // Returns false when Hyperscan cannot allocate (the scratch is then
    // unusable with `set` until a later fit succeeds).
    bool fit(const RuleSet& set);
    bool fits(const RuleSet& set) const { return serial_ == set.serial(); }
    hs_scratch* get() const { return scratch_; }

  private:
    hs_scratch* scratch_ = nullptr;
    std::uint64_t serial_ = 0;
};

enum class MatchStatus : std::uint8_t {
    ok,
    too_many_streams, // more than max_open_streams open at once
    bad_handle,       // a handle not open in this matcher (caller bug)
    scratch_error,    // the scratch could not be fitted to the set
    engine_error,     // Hyperscan returned an error while scanning
};

std::string_view status_name(MatchStatus status);

using PartId = std::uint32_t;

struct RuleMatch {
    std::uint32_t rule = 0;       // index into RuleSet::rules()
    PartId part = 0;              // the part it first matched in
    std::uint64_t end_offset = 0; // end of that match in its stream (bytes)
};

// A stream open in one matcher. Copyable; stale after close().
struct StreamHandle {
    std::uint32_t slot = kInvalid;
    std::uint32_t generation = 0;
    static constexpr std::uint32_t kInvalid = 0xffffffffu;
    static constexpr std::uint32_t kNoRules = 0xfffffffeu; // target without rules
};

class RuleMatcher {
  public:
    // Fits `scratch` to `set` when needed (failure: status() is
    // scratch_error). `max_open_streams` is clamped to
    // 1..kMaxOpenStreamsLimit.
    RuleMatcher(const RuleSet& set, RuleScratch& scratch,
                std::size_t max_open_streams = kDefaultMaxOpenStreams);
    ~RuleMatcher();
    RuleMatcher(const RuleMatcher&) = delete;
    RuleMatcher& operator=(const RuleMatcher&) = delete;

    // Opens the stream of `part` for `target` (`header_name` for header
    // targets, any case). With no rules for the target, returns a handle
    // that accepts and ignores bytes. Past the limit, or after an error,
    // returns an invalid handle and status() says why.
    StreamHandle open(PartId part, TargetKind target, std::string_view header_name = {});
    // Scans the next bytes of the stream. No allocation.
    MatchStatus feed(StreamHandle handle, std::span<const std::uint8_t> bytes);
    MatchStatus feed(StreamHandle handle, std::string_view bytes);
    // Ends the stream: end-anchored patterns (`$`, `\z`) are matched here.
    MatchStatus close(StreamHandle handle);
    // One whole header value: open(part, header, name), feed, close.
    MatchStatus scan_header(PartId part, std::string_view name, std::string_view value);

    // Back to a fresh message on the same set: open streams are dropped
    // (their end-anchored matches are not reported), matches and status
    // cleared; pooled streams and memory are kept.
    void reset();

    MatchStatus status() const { return status_; }
    bool ok() const { return status_ == MatchStatus::ok; }
    // Matched rules, each once, in the order they first matched.
    const std::vector<RuleMatch>& matches() const { return matches_; }
    bool matched(std::uint32_t rule) const { return rule < seen_.size() && seen_[rule]; }
    std::size_t open_streams() const { return open_; }
    std::size_t max_open_streams() const { return slots_.size(); }
    const RuleSet& rule_set() const { return set_; }

  private:
    struct Slot {
        RuleMatcher* owner = nullptr;
        hs_stream* stream = nullptr; // open, or reset and pooled
        std::uint32_t db = 0;        // index into set_.databases() of `stream`
        std::uint32_t generation = 0;
        PartId part = 0;
        bool in_use = false;
    };
    static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                        void* context);
    MatchStatus fail(MatchStatus status);
    Slot* slot_of(StreamHandle handle);

    const RuleSet& set_;
    RuleScratch& scratch_;
    std::vector<Slot> slots_;
    std::vector<RuleMatch> matches_;
    std::vector<std::uint8_t> seen_; // per rule
    std::size_t open_ = 0;
    MatchStatus status_ = MatchStatus::ok;
};

} // namespace smtpgw::rules
