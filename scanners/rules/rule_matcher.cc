// rule_matcher.cc: per-message Hyperscan streaming (contracts in
// rule_matcher.h).
#include "rules/rule_matcher.h"

#include <algorithm>
#include <climits>
#include <utility>

#include <hs/hs.h>

namespace smtpgw::rules {

RuleScratch::~RuleScratch() {
    hs_free_scratch(scratch_);
}

RuleScratch::RuleScratch(RuleScratch&& other) noexcept
    : scratch_(std::exchange(other.scratch_, nullptr)), serial_(std::exchange(other.serial_, 0)) {}

RuleScratch& RuleScratch::operator=(RuleScratch&& other) noexcept {
    if (this != &other) {
        hs_free_scratch(scratch_);
        scratch_ = std::exchange(other.scratch_, nullptr);
        serial_ = std::exchange(other.serial_, 0);
    }
    return *this;
}

bool RuleScratch::fit(const RuleSet& set) {
    if (fits(set))
        return true;
    serial_ = 0;
    if (!scratch_ && set.prototype_scratch()) {
        if (hs_clone_scratch(set.prototype_scratch(), &scratch_) != HS_SUCCESS) {
            scratch_ = nullptr;
            return false;
        }
    } else {
        // Grows the scratch only if this set needs more than it has.
        for (const auto& d : set.databases())
            if (hs_alloc_scratch(d.db, &scratch_) != HS_SUCCESS)
                return false;
    }
    serial_ = set.serial();
    return true;
}

std::string_view status_name(MatchStatus status) {
    switch (status) {
    case MatchStatus::ok:
        return "ok";
    case MatchStatus::too_many_streams:
        return "too many streams open";
    case MatchStatus::bad_handle:
        return "bad stream handle";
    case MatchStatus::scratch_error:
        return "scratch allocation failed";
    case MatchStatus::engine_error:
        return "Hyperscan scan error";
    }
    return "?";
}

RuleMatcher::RuleMatcher(const RuleSet& set, RuleScratch& scratch, std::size_t max_open_streams)
    : set_(set), scratch_(scratch) {
    max_open_streams = std::clamp<std::size_t>(max_open_streams, 1, kMaxOpenStreamsLimit);
    slots_.resize(max_open_streams);
    for (auto& s : slots_)
        s.owner = this;
    seen_.assign(set.rules().size(), 0);
    matches_.reserve(std::min<std::size_t>(set.rules().size(), 16));
    if (!scratch_.fit(set_))
        status_ = MatchStatus::scratch_error;
}

RuleMatcher::~RuleMatcher() {
    for (auto& s : slots_)
        if (s.stream)
            hs_close_stream(s.stream, nullptr, nullptr, nullptr);
}

MatchStatus RuleMatcher::fail(MatchStatus status) {
    if (status_ == MatchStatus::ok)
        status_ = status;
    return status_;
}

int RuleMatcher::on_match(unsigned id, unsigned long long, unsigned long long to, unsigned,
                          void* context) {
    auto* slot = static_cast<Slot*>(context);
    RuleMatcher* m = slot->owner;
    if (id < m->seen_.size() && !m->seen_[id]) {
        m->seen_[id] = 1;
        m->matches_.push_back(RuleMatch{id, slot->part, to});
    }
    return 0; // keep scanning: other rules of the database may still match
}

StreamHandle RuleMatcher::open(PartId part, TargetKind target, std::string_view header_name) {
    if (status_ != MatchStatus::ok)
        return {};
    auto db = set_.find_database(target, header_name);
    if (!db)
        return {StreamHandle::kNoRules, 0};
    if (open_ >= slots_.size()) {
        fail(MatchStatus::too_many_streams);
        return {};
    }
    // A pooled stream of the same database, else an empty slot, else any
    // free slot (its pooled stream, of another database, is closed).
    Slot* same = nullptr;
    Slot* empty = nullptr;
    Slot* other = nullptr;
    for (auto& s : slots_) {
        if (s.in_use)
            continue;
        if (s.stream && s.db == *db) {
            same = &s;
            break;
        }
        if (!s.stream && !empty)
            empty = &s;
        else if (s.stream && !other)
            other = &s;
    }
    Slot* pick = same ? same : empty ? empty : other;
    if (!pick) { // cannot happen while open_ < slots_.size()
        fail(MatchStatus::too_many_streams);
        return {};
    }
    if (pick->stream && pick->db != *db) {
        hs_close_stream(pick->stream, nullptr, nullptr, nullptr);
        pick->stream = nullptr;
    }
    if (!pick->stream) {
        hs_stream_t* stream = nullptr;
        if (hs_open_stream(set_.databases()[*db].db, 0, &stream) != HS_SUCCESS) {
            fail(MatchStatus::engine_error);
            return {};
        }
        pick->stream = stream;
        pick->db = *db;
    }
    pick->in_use = true;
    pick->part = part;
    ++pick->generation;
    ++open_;
    return {static_cast<std::uint32_t>(pick - slots_.data()), pick->generation};
}

RuleMatcher::Slot* RuleMatcher::slot_of(StreamHandle handle) {
    if (handle.slot >= slots_.size())
        return nullptr;
    Slot& s = slots_[handle.slot];
    if (!s.in_use || s.generation != handle.generation)
        return nullptr;
    return &s;
}

MatchStatus RuleMatcher::feed(StreamHandle handle, std::span<const std::uint8_t> bytes) {
    if (handle.slot == StreamHandle::kNoRules || status_ != MatchStatus::ok)
        return status_;
    Slot* s = slot_of(handle);
    if (!s)
        return fail(MatchStatus::bad_handle);
    const char* p = reinterpret_cast<const char*>(bytes.data());
    std::size_t left = bytes.size();
    while (left > 0) { // hs_scan_stream takes an unsigned length
        auto n = static_cast<unsigned>(std::min<std::size_t>(left, UINT_MAX));
        if (hs_scan_stream(s->stream, p, n, 0, scratch_.get(), on_match, s) != HS_SUCCESS)
            return fail(MatchStatus::engine_error);
        p += n;
        left -= n;
    }
    return status_;
}

MatchStatus RuleMatcher::feed(StreamHandle handle, std::string_view bytes) {
    return feed(handle, {reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
}

MatchStatus RuleMatcher::close(StreamHandle handle) {
    if (handle.slot == StreamHandle::kNoRules)
        return status_;
    Slot* s = slot_of(handle);
    if (!s)
        return fail(MatchStatus::bad_handle);
    s->in_use = false;
    --open_;
    if (status_ != MatchStatus::ok) {
        // The scratch may be unusable: drop the stream without matching.
        hs_close_stream(s->stream, nullptr, nullptr, nullptr);
        s->stream = nullptr;
        return status_;
    }
    // Reports end-of-data matches and rewinds the stream for reuse.
    if (hs_reset_stream(s->stream, 0, scratch_.get(), on_match, s) != HS_SUCCESS) {
        hs_close_stream(s->stream, nullptr, nullptr, nullptr);
        s->stream = nullptr;
        return fail(MatchStatus::engine_error);
    }
    return status_;
}

MatchStatus RuleMatcher::scan_header(PartId part, std::string_view name, std::string_view value) {
    if (status_ != MatchStatus::ok || !set_.find_database(TargetKind::header, name))
        return status_;
    StreamHandle h = open(part, TargetKind::header, name);
    feed(h, value);
    return close(h);
}

void RuleMatcher::reset() {
    for (auto& s : slots_) {
        if (s.in_use && s.stream) {
            // Rewind without reporting; a failure just closes the stream.
            if (hs_reset_stream(s.stream, 0, nullptr, nullptr, nullptr) != HS_SUCCESS) {
                hs_close_stream(s.stream, nullptr, nullptr, nullptr);
                s.stream = nullptr;
            }
        }
        s.in_use = false;
    }
    open_ = 0;
    for (const auto& m : matches_)
        seen_[m.rule] = 0;
    matches_.clear();
    status_ = MatchStatus::ok;
    if (!scratch_.fit(set_))
        status_ = MatchStatus::scratch_error;
}

} // namespace smtpgw::rules
