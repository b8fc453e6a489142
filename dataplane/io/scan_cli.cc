// scan_cli.cc: the content-scanning commands (see scan_cli.h).
#include "io/scan_cli.h"

#include <cstdio>
#include <string>

#include "command_table.h"
#include "progress.h"

namespace smtpgw::io {

namespace {

std::string u64(std::uint64_t v) {
    return std::to_string(v);
}

std::string ms(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f ms", v);
    return b;
}

std::string_view cache_text(rules::CacheOutcome o) {
    switch (o) {
    case rules::CacheOutcome::not_used:
        return "not used";
    case rules::CacheOutcome::loaded:
        return "loaded from the cache";
    case rules::CacheOutcome::compiled_saved:
        return "compiled, cache written";
    case rules::CacheOutcome::compiled_unsaved:
        return "compiled, cache not written";
    }
    return "?";
}

// The scan counters of every lcore, summed.
std::string scan_counts(const Dataplane& dp) {
    std::uint64_t scanned = 0, rejected = 0, tagged = 0, tempfailed = 0, av_jobs = 0, busy = 0,
                  viruses = 0;
    for (const auto& w : dp.workers()) {
        const auto& c = w->smtp_counters;
        scanned += c.scanned.read();
        rejected += c.scan_rejected.read();
        tagged += c.scan_tagged.read();
        tempfailed += c.scan_tempfailed.read();
        av_jobs += c.av_jobs.read();
        busy += c.av_busy.read();
        viruses += c.viruses.read();
    }
    return control::format_table({{"  messages scanned", u64(scanned)},
                                  {"  rejected by content", u64(rejected)},
                                  {"  rejected for a virus", u64(viruses)},
                                  {"  tagged", u64(tagged)},
                                  {"  deferred (scan error, 451)", u64(tempfailed)},
                                  {"  sent to the antivirus", u64(av_jobs)},
                                  {"  antivirus queue full (451)", u64(busy)}});
}

std::string show_rules(const Dataplane& dp) {
    auto set = dp.rules();
    if (!set)
        return "no content rules (scan.rules_file, scan.enabled)\n" + scan_counts(dp);
    std::string out = "rules from " + dp.rules_path() + ": " + u64(set->rules().size()) +
                      " rules in " + u64(set->databases().size()) + " Hyperscan databases, " +
                      std::string(cache_text(dp.rules_report().outcome)) + " in " +
                      ms(dp.rules_load_ms()) + "\n  key " + set->key_hex().substr(0, 16) + "\n";
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"  id", "matched", "target", "action", "description (line)"});
    for (std::uint32_t i = 0; i < set->rules().size(); ++i) {
        const auto& r = set->rules()[i];
        rows.push_back({"  " + r.id, u64(set->matches(i)), rules::target_name(r),
                        rules::action_name(r), "\"" + r.description + "\" (" + u64(r.line) + ")"});
    }
    return out + control::format_table(rows) + scan_counts(dp);
}

std::string show_av(const Dataplane& dp) {
    const AvScanners& av = dp.av();
    if (!av.running())
        return "the antivirus is not running (scan.av_database, scan.enabled; starts at restart)\n";
    AvScannerStats s = av.stats();
    auto workers = av.workers();
    std::vector<std::vector<std::string>> rows = {
        {"  engine", "libclamav " + av::clamav_version() + ", in " + u64(workers.size()) +
                         " confined worker process(es)"},
        {"  confinement", av.confinement()},
        {"  queued", u64(av.queued())},
        {"  messages scanned", u64(s.jobs)},
        {"  parts scanned", u64(s.parts)},
        {"  bytes scanned", u64(s.bytes)},
        {"  parts infected", u64(s.infected)},
        {"  parts with errors", u64(s.errors)},
        {"  time scanning", ms(static_cast<double>(s.scan_us) / 1000.0)},
        {"  worker failures", u64(s.failures) + " (crashed or hung; their messages got 451)"},
        {"  worker restarts", u64(s.restarts)},
    };
    auto r = av.last_reload();
    if (r.peak_kb != 0)
        rows.push_back(
            {"  last reload",
             "workers' RSS " + u64(r.before_kb) + " kB before, " + u64(r.peak_kb) +
                 " kB at the peak, " + u64(r.after_kb) + " kB after, " + ms(r.load_ms) +
                 (r.one_at_a_time ? ", one worker at a time" : ", the new worker beside the old")});
    std::string out = "antivirus\n" + control::format_table(rows) + "workers\n";
    std::vector<std::vector<std::string>> wrows = {{"  #", "pid", "signatures", "loaded in",
                                                    "RSS kB", "restarts", "database",
                                                    "previous process"}};
    for (std::size_t i = 0; i < workers.size(); ++i) {
        const AvWorkerInfo& w = workers[i];
        wrows.push_back({"  " + u64(i), w.pid > 0 ? u64(static_cast<std::uint64_t>(w.pid)) : "down",
                         u64(w.signatures), ms(w.load_ms), u64(w.rss_kb), u64(w.restarts), w.db_dir,
                         w.last_exit.empty() ? "-" : w.last_exit});
    }
    return out + control::format_table(wrows);
}

} // namespace

void register_scan_commands(control::CommandTable& table, Dataplane& dp,
                            std::function<const board::BoardProfile&()> running) {
    table.add({"show rules",
               "content rules: each rule, where it applies, what it decided",
               {},
               0,
               [&dp](const control::CommandArgs&) {
                   return control::CommandResult::success(show_rules(dp));
               }});
    table.add({"rules reload",
               "compile scan.rules_file again and use it for the next messages (a bad file "
               "keeps the running rules)",
               {},
               0,
               [&dp, running](const control::CommandArgs&) {
                   if (auto why = dp.reload_rules(running()); !why.empty())
                       return control::CommandResult::failure(why + "\nthe running rules stay");
                   auto set = dp.rules();
                   return control::CommandResult::success(
                       "rules reloaded: " + u64(set ? set->rules().size() : 0) + " rules, " +
                       std::string(cache_text(dp.rules_report().outcome)) + " in " +
                       ms(dp.rules_load_ms()) + "\n");
               }});
    table.add({"show av",
               "antivirus: engine, signatures, scanner threads, scans, last reload",
               {},
               0,
               [&dp](const control::CommandArgs&) {
                   return control::CommandResult::success(show_av(dp));
               }});
    table.add({"av reload",
               "load the antivirus database again (worker by worker; scanning goes on meanwhile)",
               {},
               0,
               [&dp, running](const control::CommandArgs&) {
                   control::report_progress("loading the antivirus database from " +
                                            running().scan.av_database);
                   if (auto why = dp.reload_av(running()); !why.empty())
                       return control::CommandResult::failure(
                           why + "\nthe workers not replaced keep their database");
                   auto r = dp.av().last_reload();
                   auto workers = dp.av().workers();
                   return control::CommandResult::success(
                       "antivirus reloaded: " + u64(workers.size()) + " worker(s), " +
                       u64(workers.empty() ? 0 : workers.front().signatures) + " signatures in " +
                       ms(r.load_ms) + "; workers' RSS " + u64(r.before_kb) + " kB before, " +
                       u64(r.peak_kb) + " kB at the peak, " + u64(r.after_kb) + " kB after\n");
               }});
}

} // namespace smtpgw::io
