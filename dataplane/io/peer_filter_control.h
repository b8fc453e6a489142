// peer_filter_control.h: the peer filter's control side: list sources,
// run-time and dynamic (TTL) entries, compiling and publishing the table,
// and the `peer-filter` / `show peer-filter` commands.
//
// Purpose: everything slow about the peer filter happens here, on the main
// lcore: reading list files (plain CIDR, Spamhaus DROP/EDROP, rbldnsd
// ip4set/ip6tset), keeping each source's prefixes, building a new
// filter::PeerTable from all of them and publishing it RCU-style
// (Dataplane::publish_peer_table), so the fast path never pauses. Dynamic
// entries (added with a TTL, by an administrator or later by other parts of
// the gateway) are written to a state file and read back at start, so they
// survive a restart.
// Error contract: every command returns a one-line reason on refusal and
// leaves the running table as it was; a list file with bad lines loads its
// good lines and reports each bad one as FILE:LINE: reason, and a file
// with no good line replaces nothing.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "command_table.h"
#include "filter/peer_dynamic.h"
#include "filter/peer_table.h"
#include "io/dataplane.h"
#include "running_config.h"

namespace smtpgw::io {

class PeerFilterControl final : public control::ConfigSection {
  public:
    // `state_file`: where dynamic entries persist ("" keeps them in memory
    // only); `default_action`: what listed peers get unless their list says.
    PeerFilterControl(Dataplane& dp, std::string state_file, std::size_t max_entries,
                      filter::ListedAction default_action);

    // Reads the state file (dynamic entries still in date) and publishes.
    std::string start();
    // Expires dynamic entries whose time has come (call a few times a second).
    void tick();

    void register_commands(control::CommandTable& table);

    // The operations behind the commands (also used by tests and, later,
    // by other parts of the gateway to list a peer).
    control::CommandResult add(const std::string& prefix, filter::PeerListKind kind);
    control::CommandResult del(const std::string& prefix);
    control::CommandResult block(const std::string& prefix, std::uint64_t seconds);
    control::CommandResult load(const std::string& path, filter::PeerListKind kind,
                                std::optional<filter::ListedAction> action = std::nullopt);
    control::CommandResult unload(const std::string& path);
    control::CommandResult test(const std::string& address) const;
    // `list`: "" for the default, "runtime", "dynamic" or a loaded file.
    control::CommandResult set_action(filter::ListedAction action, const std::string& list);
    std::string show() const;

    // The running configuration's peer-filter part: loaded files, run-time
    // entries, per-list actions (dynamic entries are state, kept in the
    // state file). clear_config() forgets them and publishes the table
    // that is left (dynamic entries only).
    // SYNs refused per list, by the list's name (runtime, dynamic, a file):
    // for the metrics endpoint.
    std::vector<std::pair<std::string, std::uint64_t>> refused_per_list() const;

    std::vector<std::string> config_lines() const override;
    void clear_config() override;

  private:
    struct Entry {
        filter::PeerPrefix prefix;
        std::string text;   // as the administrator wrote it, normalised
        std::string source; // "runtime", "dynamic" or the file path
        std::string tag;    // SBL reference or rbldnsd value, if any
    };
    struct FileSource {
        filter::PeerListId id = 0;
        filter::PeerListKind kind;
        std::vector<Entry> entries;
        std::size_t bad_lines = 0;
        std::string format;
    };
    // Compiles every source into a new table and publishes it. Error
    // contract: on refusal (too many entries) the running table stays.
    std::string rebuild();
    void save_dynamic() const;
    void for_each_entry(const std::function<void(const Entry&)>& visit) const;
    std::string list_name(filter::PeerListId id) const;
    filter::ListedAction action_of(filter::PeerListId id) const {
        return list_action_[id].value_or(default_action_);
    }
    std::uint64_t refused_by(filter::PeerListId id) const; // since the id was given out
    // Ids of the lists that always exist; files take the others.
    static constexpr filter::PeerListId kRuntimeList = 1, kDynamicList = 2, kFirstFileList = 3;

    Dataplane& dp_;
    std::string state_file_;
    std::size_t max_entries_;
    std::map<std::string, Entry> runtime_;    // by normalised prefix
    filter::DynamicPeers dynamic_;            // blacklist entries with an expiry
    std::map<std::string, FileSource> files_; // by path
    filter::ListedAction default_action_;
    std::array<std::optional<filter::ListedAction>, filter::kMaxPeerLists + 1> list_action_{};
    // Per-list counters keep counting across id reuse: a new list starts
    // from the value its id had.
    std::array<std::uint64_t, filter::kMaxPeerLists + 1> refused_base_{};
    // Figures of the last rebuild, for `show peer-filter`.
    std::uint64_t last_build_us_ = 0, last_swap_wait_us_ = 0;
    std::size_t last_entries_ = 0;
    std::size_t auto_listed_ = 0; // peers listed for going over a limit
};

} // namespace smtpgw::io
