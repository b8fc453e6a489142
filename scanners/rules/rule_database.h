// rule_database.h: a rule file compiled with Hyperscan into streaming
// databases, and their on-disk cache.
//
// Purpose: compiling a few thousand expressions takes seconds; loading the
// serialized databases takes milliseconds. compile_rule_set() builds a
// RuleSet from a parsed rule file (rule_file.h), reusing the cache file when
// its key matches, and rewriting it otherwise.
//
// What it implements:
//  * One HS_MODE_STREAM database per target kind (raw-headers, text,
//    attachment, raw-body) and one per distinct header name of the
//    header:NAME rules, so a matcher feeds a header's value to exactly the
//    rules that name it. A target without rules has no database. Expression
//    ids are rule indexes (position in the file), whatever the database.
//    No start-of-match (SOM) tracking: verdicts need only that a rule
//    matched and where it ended, and SOM would cost stream state.
//  * The cache file: a header (magic, format version, key) then each
//    database's target and hs_serialize_database() bytes, then a checksum.
//    The key is SHA-256 over the cache format, hs_version(), the host
//    platform (hs_populate_platform(): CPU features and tuning) and every
//    rule's compile inputs (pattern, flags, target, order). Descriptions
//    and actions are not in the cache: they come from the file each load.
//    A missing, unreadable, corrupt or mismatched cache is ignored (the
//    report says why) and the rules are compiled and the cache rewritten
//    atomically (temporary file, fsync, rename, fsync of the directory).
//
// Sharing: a RuleSet is immutable once built and safe to use from any
// number of threads at once (Hyperscan databases are read-only at scan
// time). It is handed out as shared_ptr<const RuleSet>: a reload builds a
// new one and the owner swaps the pointer (RCU-style); messages in flight
// finish on the old set, freed with its last user. Scratch space is per
// thread: RuleScratch (rule_matcher.h).
//
// Security: the cache file is trusted no more than needed: its checksum
// and key are checked before Hyperscan sees any of it, and
// hs_deserialize_database() checks its own header, version and platform.
// Still, whoever can write the cache can change the policy, so it belongs
// in a directory only the gateway writes. The library never logs or reads
// clocks: what happened is returned in CacheReport for the caller to log.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rules/rule_file.h"

struct hs_database;
struct hs_scratch;

namespace smtpgw::rules {

// Format of the cache file; bump when the layout or the compile flags change.
inline constexpr std::uint32_t kCacheFormatVersion = 1;
// A cache file larger than this is not read (a real one is a few MB).
inline constexpr std::uint64_t kMaxCacheBytes = 1ull << 30;

// One compiled database: the rules of one target (kind, and name for
// header targets).
struct RuleDatabase {
    TargetKind target = TargetKind::raw_body;
    std::string header_name;        // lower case; header targets only
    hs_database* db = nullptr;      // owned by the RuleSet
    std::size_t stream_bytes = 0;   // hs_stream_size(): state of one open stream
    std::size_t database_bytes = 0; // hs_database_size()
    std::uint32_t rules = 0;        // expressions in it
};

class RuleSet {
  public:
    ~RuleSet();
    RuleSet(const RuleSet&) = delete;
    RuleSet& operator=(const RuleSet&) = delete;

    // The rules in file order; a match's rule index points in here. This is
    // what `show rules` lists (id, target, action, description, line).
    const std::vector<Rule>& rules() const { return rules_; }
    // Index of the rule with this id, if any (linear; for the console).
    std::optional<std::uint32_t> find_rule(std::string_view id) const;

    const std::vector<RuleDatabase>& databases() const { return databases_; }
    // Index into databases() of the target's database; nullopt when no rule
    // has that target. `header_name` is compared case-insensitively and only
    // used for TargetKind::header. No allocation.
    std::optional<std::uint32_t> find_database(TargetKind target,
                                               std::string_view header_name = {}) const;

    // The cache key, lower-case hex (64 digits), for `show rules`.
    std::string key_hex() const;
    const std::array<std::uint8_t, 32>& key() const { return key_; }
    // Messages each rule matched since this set was built (index: rules()).
    // Counted by the SMTP engine's lcores at the end of each message
    // (relaxed atomic adds: a few per message, only for matched rules);
    // read by the control plane for `show rules` and the metrics.
    void count_match(std::uint32_t rule) const {
        if (rule < rules_.size())
            hits_[rule].fetch_add(1, std::memory_order_relaxed);
    }
    std::uint64_t matches(std::uint32_t rule) const {
        return rule < rules_.size() ? hits_[rule].load(std::memory_order_relaxed) : 0;
    }
    // Process-unique serial of this set (RuleScratch knows which set it fits).
    std::uint64_t serial() const { return serial_; }
    // A scratch fitting every database, cloned by RuleScratch::for_set().
    hs_scratch* prototype_scratch() const { return prototype_; }

  private:
    RuleSet() = default;
    friend struct RuleSetBuilder;
    std::vector<Rule> rules_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> hits_; // per rule
    std::vector<RuleDatabase> databases_;
    std::array<std::uint8_t, 32> key_{};
    std::uint64_t serial_ = 0;
    hs_scratch* prototype_ = nullptr;
};

enum class CacheOutcome : std::uint8_t {
    not_used,         // no cache path given
    loaded,           // databases came from the cache
    compiled_saved,   // compiled; the cache was (re)written
    compiled_unsaved, // compiled; the cache could not be written (see note)
};

struct CacheReport {
    CacheOutcome outcome = CacheOutcome::not_used;
    // Why the cache was not loaded ("missing", "key mismatch", "bad
    // checksum"...) and, for compiled_unsaved, why it was not written.
    // Empty when loaded, or when it was simply absent.
    std::string note;
};

// Either the rule set, or the errors as "FILE:LINE: reason" lines.
using RuleSetResult = std::variant<std::shared_ptr<const RuleSet>, std::vector<std::string>>;

// Builds a RuleSet from a parsed file named `file_name` (for messages).
// Refused (errors returned, nothing built) when the parse has any error:
// the caller keeps its running set. A pattern Hyperscan refuses gives
// "FILE:LINE: pattern /x/: <Hyperscan's message>", LINE being the rule's
// line (found from the expression index Hyperscan reports). A CPU without
// SSSE3 (hs_valid_platform()) is refused. When `cache_path` is not empty,
// the cache is used and maintained as described above; cache problems
// never fail the call, they are reported in `report`. Never throws
// (std::bad_alloc aside).
RuleSetResult compile_rule_set(const RuleFileParse& parse, std::string_view file_name,
                               const std::string& cache_path = {}, CacheReport* report = nullptr);

// read_rule_file(rules_path) then compile_rule_set().
RuleSetResult load_rule_set(const std::string& rules_path, const std::string& cache_path = {},
                            CacheReport* report = nullptr);

// SHA-256 (FIPS 180-4), used for the cache key; exposed for its tests.
std::array<std::uint8_t, 32> sha256(std::span<const std::uint8_t> data);

} // namespace smtpgw::rules
