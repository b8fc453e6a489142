// peer_filter_control.cc: sources, rebuilds and commands of the peer filter
// (see peer_filter_control.h).
#include "io/peer_filter_control.h"

#include <algorithm>
#include <bitset>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "filter/peer_list_parser.h"
#include "io/worker.h"
#include "progress.h"

namespace smtpgw::io {

using control::CommandArgs;
using control::CommandResult;
using filter::PeerListKind;
using filter::PeerPrefix;

namespace {

constexpr std::size_t kMaxListFileBytes = 512u << 20; // a list file, read whole: bounded
constexpr std::uint64_t kMaxTtlSeconds = 365ull * 24 * 3600;

std::string kind_name(PeerListKind k) {
    return k == PeerListKind::black ? "black" : "white";
}

std::optional<PeerListKind> parse_kind(const std::string& s) {
    if (s == "black")
        return PeerListKind::black;
    if (s == "white")
        return PeerListKind::white;
    return std::nullopt;
}

std::optional<filter::ListedAction> parse_action(const std::string& s) {
    if (s == "drop")
        return filter::ListedAction::drop;
    if (s == "rst")
        return filter::ListedAction::reset;
    return std::nullopt;
}

bool covers(const PeerPrefix& p, const net::Ipv6Addr& a) {
    if (a.is_v4_mapped() == p.is_v6)
        return false;
    return p.is_v6 ? p.v6.contains(a) : p.v4.contains(net::v4_unmapped(a));
}

} // namespace

PeerFilterControl::PeerFilterControl(Dataplane& dp, std::string state_file, std::size_t max_entries,
                                     filter::ListedAction default_action)
    : dp_(dp), state_file_(std::move(state_file)), max_entries_(max_entries), dynamic_(max_entries),
      default_action_(default_action) {}

std::string PeerFilterControl::list_name(filter::PeerListId id) const {
    if (id == kRuntimeList)
        return "runtime";
    if (id == kDynamicList)
        return "dynamic";
    for (const auto& [path, f] : files_)
        if (f.id == id)
            return path;
    return "list " + std::to_string(id);
}

std::uint64_t PeerFilterControl::refused_by(filter::PeerListId id) const {
    std::uint64_t total = 0;
    for (const auto& w : dp_.workers())
        total += w->filter_lists.refused[id].read();
    return total - refused_base_[id];
}

std::vector<std::pair<std::string, std::uint64_t>> PeerFilterControl::refused_per_list() const {
    std::vector<std::pair<std::string, std::uint64_t>> out{{"runtime", refused_by(kRuntimeList)},
                                                           {"dynamic", refused_by(kDynamicList)}};
    for (const auto& [path, f] : files_)
        out.emplace_back(path, refused_by(f.id));
    return out;
}

void PeerFilterControl::for_each_entry(const std::function<void(const Entry&)>& visit) const {
    for (const auto& [k, e] : runtime_)
        visit(e);
    for (const auto& [k, d] : dynamic_.entries()) {
        Entry e{d.prefix, k, "dynamic", {}};
        e.prefix.list = kDynamicList;
        visit(e);
    }
    for (const auto& [path, f] : files_)
        for (const auto& e : f.entries)
            visit(e);
}

std::string PeerFilterControl::rebuild() {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<PeerPrefix> prefixes;
    for_each_entry([&](const Entry& e) { prefixes.push_back(e.prefix); });
    std::array<filter::ListedAction, filter::kMaxPeerLists + 1> actions{};
    for (std::size_t id = 1; id < actions.size(); ++id)
        actions[id] = action_of(static_cast<filter::PeerListId>(id));
    auto table = std::make_unique<filter::PeerTable>();
    if (auto why = table->build(prefixes, max_entries_, actions); !why.empty())
        return why;
    last_build_us_ = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count());
    last_entries_ = prefixes.size();
    control::report_progress("table of " + std::to_string(prefixes.size()) + " entries built in " +
                             std::to_string(last_build_us_ / 1000) +
                             " ms; publishing (every lcore passes a quiescent state)");
    last_swap_wait_us_ = dp_.publish_peer_table(std::move(table));
    return {};
}

namespace {
std::uint64_t unix_now() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}
} // namespace

std::string PeerFilterControl::start() {
    if (!state_file_.empty()) {
        std::ifstream in(state_file_);
        std::stringstream text;
        text << in.rdbuf();
        std::size_t skipped = 0;
        dynamic_.parse(text.str(), unix_now(), skipped);
    }
    return rebuild();
}

void PeerFilterControl::save_dynamic() const {
    if (state_file_.empty())
        return;
    std::error_code ec; // a missing directory is made; a failure only loses persistence
    std::filesystem::create_directories(std::filesystem::path(state_file_).parent_path(), ec);
    std::string tmp = state_file_ + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << dynamic_.serialize();
    }
    std::rename(tmp.c_str(), state_file_.c_str()); // atomic: a crash leaves the old or the new file
}

void PeerFilterControl::tick() {
    std::uint64_t now = unix_now();
    bool changed = dynamic_.expire(now) != 0;
    // Peers the lcores refused for a limit, listed for auto_list_seconds(),
    // and senders of a virus, for virus_auto_list_seconds() (0: not listed).
    for (const auto& req : dp_.take_auto_list_requests()) {
        std::uint32_t secs = req.virus ? dp_.virus_auto_list_seconds() : dp_.auto_list_seconds();
        if (secs == 0)
            continue;
        const net::Ipv6Prefix& agg = req.prefix;
        filter::PeerPrefix p;
        if (agg.addr.is_v4_mapped()) {
            p.v4 = net::Ipv4Prefix{net::v4_unmapped(agg.addr),
                                   static_cast<std::uint8_t>(agg.length - 96)};
        } else {
            p.is_v6 = true;
            p.v6 = agg;
        }
        if (dynamic_.entries().count(filter::peer_prefix_text(p)) == 0 &&
            dynamic_.add(p, now + secs)) {
            changed = true;
            ++auto_listed_;
        }
    }
    if (changed) {
        save_dynamic();
        rebuild();
    }
}

CommandResult PeerFilterControl::add(const std::string& text, PeerListKind kind) {
    auto p = filter::parse_peer_prefix(text);
    if (!p)
        return CommandResult::failure("'" + text + "' is not an IPv4 or IPv6 address or prefix");
    p->kind = kind;
    p->list = kRuntimeList;
    std::string key = filter::peer_prefix_text(*p);
    auto previous = runtime_.find(key);
    std::optional<Entry> old;
    if (previous != runtime_.end())
        old = previous->second;
    runtime_[key] = Entry{*p, key, "runtime", {}};
    if (auto why = rebuild(); !why.empty()) {
        if (old)
            runtime_[key] = *old;
        else
            runtime_.erase(key);
        return CommandResult::failure(why);
    }
    return CommandResult::success(key + " added to the " + kind_name(kind) + "list\n");
}

CommandResult PeerFilterControl::del(const std::string& text) {
    auto p = filter::parse_peer_prefix(text);
    if (!p)
        return CommandResult::failure("'" + text + "' is not an IPv4 or IPv6 address or prefix");
    std::string key = filter::peer_prefix_text(*p);
    std::size_t n = runtime_.erase(key) + (dynamic_.remove(key) ? 1 : 0);
    if (n == 0)
        return CommandResult::failure(key + " is not a run-time or dynamic entry");
    save_dynamic();
    rebuild();
    return CommandResult::success(key + " removed\n");
}

CommandResult PeerFilterControl::block(const std::string& text, std::uint64_t seconds) {
    auto p = filter::parse_peer_prefix(text);
    if (!p)
        return CommandResult::failure("'" + text + "' is not an IPv4 or IPv6 address or prefix");
    if (seconds == 0 || seconds > kMaxTtlSeconds)
        return CommandResult::failure("SECONDS must be 1.." + std::to_string(kMaxTtlSeconds));
    std::string key = filter::peer_prefix_text(*p);
    if (!dynamic_.add(*p, unix_now() + seconds))
        return CommandResult::failure("the dynamic table is full (peer_filter.max_entries)");
    if (auto why = rebuild(); !why.empty()) {
        dynamic_.remove(key);
        return CommandResult::failure(why);
    }
    save_dynamic();
    return CommandResult::success(key + " blacklisted for " + std::to_string(seconds) + " s\n");
}

CommandResult PeerFilterControl::load(const std::string& path, PeerListKind kind,
                                      std::optional<filter::ListedAction> action) {
    // The size first: the file is read once, into a buffer of its own size.
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    std::ifstream in(path, std::ios::binary);
    if (ec || !in)
        return CommandResult::failure(path + ": cannot open");
    if (size > kMaxListFileBytes)
        return CommandResult::failure(path + ": larger than " +
                                      std::to_string(kMaxListFileBytes >> 20) + " MiB");
    std::string text(static_cast<std::size_t>(size), '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    control::report_progress(path + ": read " + std::to_string(text.size()) + " bytes, parsing");
    auto format = filter::detect_peer_list_format(text).value_or(filter::PeerListFormat::cidr);
    filter::PeerListParse parsed = filter::parse_peer_list(text, format, max_entries_);
    control::report_progress(path + ": " + std::to_string(parsed.entries.size()) + " entries, " +
                             std::to_string(parsed.bad_lines) + " bad lines; building the table");
    std::string report;
    for (const auto& e : parsed.errors)
        report += filter::describe(e, path) + "\n";
    if (parsed.entries.empty() && !parsed.errors.empty())
        return CommandResult::failure(report + path + ": no good line; the running table stays");
    FileSource src;
    if (auto it = files_.find(path); it != files_.end()) {
        src.id = it->second.id; // a reload keeps its list id and counters
    } else {
        std::bitset<filter::kMaxPeerLists + 1> used;
        for (const auto& [other, f] : files_)
            used.set(f.id);
        for (std::size_t id = kFirstFileList; id <= filter::kMaxPeerLists && src.id == 0; ++id)
            if (!used.test(id))
                src.id = static_cast<filter::PeerListId>(id);
        if (src.id == 0)
            return CommandResult::failure(
                path + ": too many list files loaded (at most " +
                std::to_string(filter::kMaxPeerLists - kFirstFileList + 1) + ")");
    }
    std::optional<filter::ListedAction> old_action = list_action_[src.id];
    bool new_id = files_.count(path) == 0;
    if (action)
        list_action_[src.id] = action;
    else if (new_id)
        list_action_[src.id].reset();
    src.kind = kind;
    src.bad_lines = parsed.bad_lines;
    src.format = std::string(filter::format_name(format));
    for (const auto& pe : parsed.entries) {
        PeerPrefix p;
        p.is_v6 = pe.is_v6;
        p.v4 = pe.v4;
        p.v6 = pe.v6;
        // An rbldnsd exclusion ("!addr") un-lists, as the whitelist does.
        p.kind = pe.exclude ? PeerListKind::white : kind;
        p.list = src.id;
        src.entries.push_back(Entry{p, filter::peer_prefix_text(p), path, pe.tag});
    }
    std::optional<FileSource> old;
    if (auto it = files_.find(path); it != files_.end())
        old = std::move(it->second);
    std::size_t count = src.entries.size();
    filter::PeerListId id = src.id;
    files_[path] = std::move(src);
    if (auto why = rebuild(); !why.empty()) {
        list_action_[id] = old_action;
        if (old)
            files_[path] = std::move(*old);
        else
            files_.erase(path);
        return CommandResult::failure(report + path + ": " + why + "; the running table stays");
    }
    if (new_id)
        refused_base_[id] += refused_by(id);
    char figures[160];
    std::snprintf(figures, sizeof figures,
                  "%s: %zu entries (%s, %s, listed peers get %s), %zu bad lines; built in %.1f ms, "
                  "swap waited %.1f ms\n",
                  path.c_str(), count, files_[path].format.c_str(), kind_name(kind).c_str(),
                  action_of(id) == filter::ListedAction::drop ? "nothing" : "RST", parsed.bad_lines,
                  static_cast<double>(last_build_us_) / 1000.0,
                  static_cast<double>(last_swap_wait_us_) / 1000.0);
    return CommandResult::success(report + figures);
}

CommandResult PeerFilterControl::unload(const std::string& path) {
    auto it = files_.find(path);
    if (it == files_.end())
        return CommandResult::failure(path + " is not loaded");
    list_action_[it->second.id].reset();
    files_.erase(it);
    rebuild();
    return CommandResult::success(path + " unloaded\n");
}

CommandResult PeerFilterControl::test(const std::string& text) const {
    std::optional<net::Ipv6Addr> addr;
    if (auto v4 = net::parse_ipv4(text))
        addr = net::v4_mapped(*v4);
    else
        addr = net::parse_ipv6(text);
    if (!addr)
        return CommandResult::failure("'" + text + "' is not an IPv4 or IPv6 address");
    const filter::PeerTable* t = dp_.peer_table();
    filter::PeerListId list = t ? t->lookup(*addr) : 0;
    // The administrator's question "which entry, which source?": the table
    // says which list decides; a slow scan of the sources finds every entry.
    std::string out = text + ": ";
    if (list != 0) {
        out += "LISTED by " + list_name(list) + ", gets ";
        out += action_of(list) == filter::ListedAction::drop ? "nothing (silent drop)" : "RST";
        out += "\n";
    } else {
        out += "not listed\n";
    }
    for_each_entry([&](const Entry& e) {
        if (!covers(e.prefix, *addr))
            return;
        out += "  " + kind_name(e.prefix.kind) + " " + e.text + " from " + e.source;
        if (!e.tag.empty())
            out += " (" + e.tag + ")";
        out += "\n";
    });
    return CommandResult::success(out);
}

std::string PeerFilterControl::show() const {
    std::vector<std::vector<std::string>> rows{
        {"list", "kind", "entries", "bad lines", "format", "action", "refused"}};
    auto action_text = [&](filter::PeerListId id) {
        return std::string(action_of(id) == filter::ListedAction::drop ? "drop" : "rst");
    };
    std::size_t rb = 0, rw = 0;
    for (const auto& [k, e] : runtime_)
        (e.prefix.kind == PeerListKind::black ? rb : rw)++;
    rows.push_back({"runtime", "black", std::to_string(rb), "", "", action_text(kRuntimeList),
                    std::to_string(refused_by(kRuntimeList))});
    rows.push_back({"runtime", "white", std::to_string(rw), "", "", "", ""});
    rows.push_back({"dynamic (TTL)", "black", std::to_string(dynamic_.size()), "", "",
                    action_text(kDynamicList), std::to_string(refused_by(kDynamicList))});
    for (const auto& [path, f] : files_)
        rows.push_back({path, kind_name(f.kind), std::to_string(f.entries.size()),
                        std::to_string(f.bad_lines), f.format,
                        f.kind == PeerListKind::black ? action_text(f.id) : "",
                        f.kind == PeerListKind::black ? std::to_string(refused_by(f.id)) : ""});
    std::string out = control::format_table(rows);
    char buf[256];
    const filter::PeerTable* t = dp_.peer_table();
    std::snprintf(buf, sizeof buf,
                  "table: %zu entries, %zu bytes, built in %.1f ms, swap waited %.3f ms; default "
                  "action: %s; auto-list %u s (%zu listed so far)\n",
                  last_entries_, t ? t->stats().bytes : std::size_t{0},
                  static_cast<double>(last_build_us_) / 1000.0,
                  static_cast<double>(last_swap_wait_us_) / 1000.0,
                  default_action_ == filter::ListedAction::drop ? "drop (nothing)" : "rst",
                  dp_.auto_list_seconds(), auto_listed_);
    out += buf;
    std::vector<std::vector<std::string>> ev;
    for (std::size_t i = 0; i < filter::kPeerFilterEventCount; ++i) {
        auto e = static_cast<filter::PeerFilterEvent>(i);
        std::uint64_t total = 0;
        for (const auto& w : dp_.workers())
            total += w->filter_events.read(e);
        const auto& info = filter::peer_filter_event_info(e);
        ev.push_back(
            {"  " + std::string(info.name), std::to_string(total), std::string(info.sentence)});
    }
    out += "decisions:\n" + control::format_table(ev);
    return out;
}

CommandResult PeerFilterControl::set_action(filter::ListedAction action, const std::string& list) {
    const char* what = action == filter::ListedAction::drop ? "nothing (silent drop)" : "RST";
    if (list.empty()) {
        default_action_ = action;
        rebuild();
        return CommandResult::success(std::string("listed peers get ") + what +
                                      " unless their list says otherwise\n");
    }
    filter::PeerListId id = 0;
    if (list == "runtime")
        id = kRuntimeList;
    else if (list == "dynamic")
        id = kDynamicList;
    else if (auto it = files_.find(list); it != files_.end())
        id = it->second.id;
    if (id == 0)
        return CommandResult::failure("LIST must be runtime, dynamic or a loaded file");
    list_action_[id] = action;
    rebuild();
    return CommandResult::success("peers listed by " + list + " get " + what + "\n");
}

std::vector<std::string> PeerFilterControl::config_lines() const {
    auto action_word = [](filter::ListedAction a) {
        return a == filter::ListedAction::drop ? "drop" : "rst";
    };
    auto kind_word = [](filter::PeerListKind k) {
        return k == filter::PeerListKind::black ? "black" : "white";
    };
    std::vector<std::string> lines;
    for (const auto& [path, f] : files_) {
        std::string line = "peer-filter load \"" + path + "\" " + kind_word(f.kind);
        if (list_action_[f.id])
            line += std::string(" ") + action_word(*list_action_[f.id]);
        lines.push_back(std::move(line));
    }
    for (const auto& [text, e] : runtime_)
        lines.push_back("peer-filter add " + text + " " + kind_word(e.prefix.kind));
    for (auto [id, name] : {std::pair{kRuntimeList, "runtime"}, std::pair{kDynamicList, "dynamic"}})
        if (list_action_[id])
            lines.push_back(std::string("peer-filter action ") + action_word(*list_action_[id]) +
                            " " + name);
    return lines;
}

void PeerFilterControl::clear_config() {
    files_.clear();
    runtime_.clear();
    for (auto& a : list_action_)
        a.reset();
    rebuild();
}

void PeerFilterControl::register_commands(control::CommandTable& table) {
    auto kinds = [] { return std::vector<std::string>{"black", "white"}; };
    auto actions = [] { return std::vector<std::string>{"drop", "rst"}; };
    table.add({"peer-filter add",
               "list a peer (address or prefix) until removed",
               {{"PREFIX", "198.18.0.66, 198.18.0.0/24, 2001:db8:bad::/48", {}},
                {"LIST", "black (default) or white", kinds}},
               true,
               [this](const CommandArgs& a) {
                   auto kind = a.size() > 1 ? parse_kind(a[1]) : PeerListKind::black;
                   if (!kind)
                       return CommandResult::failure("LIST must be black or white");
                   return add(a[0], *kind);
               }});
    table.add({"peer-filter del",
               "remove a run-time or dynamic entry",
               {{"PREFIX", "as added", {}}},
               false,
               [this](const CommandArgs& a) { return del(a[0]); }});
    table.add({"peer-filter block",
               "blacklist a peer for a while (kept across restarts)",
               {{"PREFIX", "address or prefix", {}}, {"SECONDS", "1..31536000", {}}},
               false,
               [this](const CommandArgs& a) {
                   char* end = nullptr;
                   unsigned long long s = std::strtoull(a[1].c_str(), &end, 10);
                   if (a[1].empty() || *end != '\0')
                       return CommandResult::failure("SECONDS must be a number");
                   return block(a[0], s);
               }});
    table.add(
        {"peer-filter load",
         "load a list file (CIDR, Spamhaus DROP/EDROP, rbldnsd ip4set/ip6tset); again to reload",
         {{"FILE", "absolute path", {}},
          {"LIST", "black (default) or white", kinds},
          {"ACTION", "drop or rst (default: the default action)", actions}},
         2,
         [this](const CommandArgs& a) {
             auto kind = a.size() > 1 ? parse_kind(a[1]) : PeerListKind::black;
             if (!kind)
                 return CommandResult::failure("LIST must be black or white");
             std::optional<filter::ListedAction> action;
             if (a.size() > 2) {
                 action = parse_action(a[2]);
                 if (!action)
                     return CommandResult::failure("ACTION must be drop or rst");
             }
             return load(a[0], *kind, action);
         }});
    table.add({"peer-filter unload",
               "drop a loaded list file's entries",
               {{"FILE", "as loaded", {}}},
               false,
               [this](const CommandArgs& a) { return unload(a[0]); }});
    table.add({"peer-filter test",
               "is this address listed, by which entries and sources?",
               {{"ADDRESS", "IPv4 or IPv6", {}}},
               false,
               [this](const CommandArgs& a) { return test(a[0]); }});
    table.add({"peer-filter action",
               "what a listed peer gets: drop (nothing) or rst; for one list, or the default",
               {{"ACTION", "drop or rst", actions},
                {"LIST", "runtime, dynamic or a loaded file (default: every other list)", {}}},
               true,
               [this](const CommandArgs& a) {
                   auto action = parse_action(a[0]);
                   if (!action)
                       return CommandResult::failure("ACTION must be drop or rst");
                   return set_action(*action, a.size() > 1 ? a[1] : std::string());
               }});
    table.add({"peer-filter auto-list",
               "list peers over a limit for SECONDS (0: off)",
               {{"SECONDS", "0..86400", {}}},
               false,
               [this](const CommandArgs& a) {
                   char* end = nullptr;
                   unsigned long s = std::strtoul(a[0].c_str(), &end, 10);
                   if (a[0].empty() || *end != '\0' || s > 86400)
                       return CommandResult::failure("SECONDS must be 0..86400");
                   dp_.set_auto_list_seconds(static_cast<std::uint32_t>(s));
                   return CommandResult::success(s == 0 ? std::string("auto-listing off\n")
                                                        : "peers over a limit are listed for " +
                                                              std::to_string(s) + " s\n");
               }});
    table.add({"show peer-filter",
               "list sources, table size and build time, decisions by reason",
               {},
               false,
               [this](const CommandArgs&) { return CommandResult::success(show()); }});
}

} // namespace smtpgw::io
