// peer_dynamic.h: dynamic peer-filter entries: blacklisted prefixes with an
// expiry, added at run time (by an administrator, later by other parts of
// the gateway) and kept across restarts in a small state file.
//
// Purpose: the pure half of dynamic entries: adding, expiring, and the
// state file's text format ("PREFIX EXPIRY_UNIX_SECONDS" per line). Time is
// an argument (Unix seconds), so expiry is tested with a fake clock; the
// control plane reads the wall clock and does the file I/O.
// Security: the state file is our own, but it is still read defensively:
// a bad or expired line is skipped and counted, never fatal; the number of
// entries is bounded by `max_entries`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "filter/peer_table.h"

namespace smtpgw::filter {

// "ADDRESS[/LEN]" for either family, host bits cleared; nullopt if invalid.
std::optional<PeerPrefix> parse_peer_prefix(std::string_view text);
// The canonical text of a prefix ("198.18.0.0/24", "2001:db8:bad::/48").
std::string peer_prefix_text(const PeerPrefix& p);

class DynamicPeers {
  public:
    explicit DynamicPeers(std::size_t max_entries) : max_entries_(max_entries) {}

    struct Entry {
        PeerPrefix prefix;
        std::uint64_t expires_s = 0; // Unix seconds
    };

    // Adds (or extends) a blacklist entry until `expires_s`. False when the
    // table is full (an existing entry can always be extended).
    bool add(const PeerPrefix& p, std::uint64_t expires_s);
    bool remove(const std::string& key);
    // Drops entries whose time has come at `now_s`; returns how many.
    std::size_t expire(std::uint64_t now_s);

    // The state file's text, and reading it back at `now_s`: expired and bad
    // lines are skipped (returned in `skipped`).
    std::string serialize() const;
    void parse(std::string_view text, std::uint64_t now_s, std::size_t& skipped);

    const std::map<std::string, Entry>& entries() const { return entries_; }
    std::size_t size() const { return entries_.size(); }

  private:
    std::size_t max_entries_;
    std::map<std::string, Entry> entries_; // by canonical prefix text
};

} // namespace smtpgw::filter
