// scan_bench.cc: content scanning throughput (issue 7), in one run:
//  * the Hyperscan stage (content::MessageScan without the antivirus: MIME
//    decoding and every rule target's stream) against raw Hyperscan
//    streaming the same message bytes through every database of the same
//    rule set, in the same 4 KiB pieces a TCP receive hands over;
//  * MIME decoding alone;
//  * libclamav on the decoded parts, in this process and through one
//    confined worker process (smtpgw-avscan, what the daemon runs); the
//    parts are also written to a folder for clamscan (tests/bench/
//    scan_clamscan.sh) to scan with the same database in the same run;
//  * the workers' resident memory before, at the peak of, and after a
//    reload of two workers one at a time, and the shared-engine reload
//    (two engines in one process) for reference.
// The corpus is generated (fixed seed): text in quoted-printable, HTML,
// base64 attachments (binary and text), some nested in forwarded messages.
// Prints figures; --check only verifies that every message was scanned.
#include <hs/hs.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "av/av_engine.h"
#include "av/av_worker.h"
#include "content/message_scan.h"
#include "rules/rule_database.h"
#include "rules/rule_matcher.h"

using namespace smtpgw;

namespace {

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::uint64_t rss_kb() {
    return av::process_rss_kb(getpid());
}

const char* kWords[] = {"the",      "report", "meeting", "quarterly", "invoice", "attached",
                        "please",   "review", "budget",  "schedule",  "project", "customer",
                        "delivery", "thanks", "regards", "update",    "numbers", "tomorrow"};

std::string words(std::mt19937& rng, std::size_t bytes) {
    std::string s;
    while (s.size() < bytes) {
        s += kWords[rng() % (sizeof kWords / sizeof kWords[0])];
        s += s.size() % 70 < 8 ? "\r\n" : " ";
    }
    return s + "\r\n";
}

std::string base64(const std::string& in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t line = 0;
    for (std::size_t i = 0; i < in.size(); i += 3) {
        unsigned v = static_cast<unsigned char>(in[i]) << 16;
        if (i + 1 < in.size())
            v |= static_cast<unsigned char>(in[i + 1]) << 8;
        if (i + 2 < in.size())
            v |= static_cast<unsigned char>(in[i + 2]);
        out += t[v >> 18 & 63];
        out += t[v >> 12 & 63];
        out += i + 1 < in.size() ? t[v >> 6 & 63] : '=';
        out += i + 2 < in.size() ? t[v & 63] : '=';
        if ((line += 4) >= 76)
            out += "\r\n", line = 0;
    }
    return out + "\r\n";
}

std::string quoted_printable(const std::string& in) {
    std::string out;
    std::size_t col = 0;
    for (char c : in) {
        if (c == '\r' || c == '\n') {
            out += c;
            col = 0;
            continue;
        }
        if (col >= 72)
            out += "=\r\n", col = 0;
        if (c == '=') {
            out += "=3D";
            col += 3;
        } else {
            out += c;
            ++col;
        }
    }
    return out;
}

struct Corpus {
    std::vector<std::string> messages;
    std::uint64_t bytes = 0;
};

Corpus make_corpus(std::size_t count) {
    std::mt19937 rng(7);
    Corpus c;
    for (std::size_t i = 0; i < count; ++i) {
        std::string m = "From: sender" + std::to_string(i) +
                        "@example.org\r\nTo: bob@example.com\r\nSubject: " + words(rng, 40) +
                        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m" +
                        std::to_string(i) + "\"\r\n\r\n";
        std::string b = "--m" + std::to_string(i) + "\r\n";
        m += b +
             "Content-Type: text/plain; charset=utf-8\r\n"
             "Content-Transfer-Encoding: quoted-printable\r\n\r\n" +
             quoted_printable(words(rng, 2000 + rng() % 6000));
        m += b + "Content-Type: text/html\r\n\r\n<html><body><p>" + words(rng, 3000) +
             "</p></body></html>\r\n";
        std::size_t att = 4000 + rng() % 60000;
        std::string blob(att, '\0');
        for (auto& ch : blob)
            ch = static_cast<char>(i % 3 == 0 ? rng() : kWords[rng() % 18][0]);
        m += b + "Content-Type: application/octet-stream; name=\"file" + std::to_string(i) +
             ".dat\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64(blob);
        if (i % 4 == 0) // a forwarded message with its own attachment
            m += b +
                 "Content-Type: message/rfc822\r\n\r\nSubject: fwd\r\nContent-Type: "
                 "multipart/mixed; boundary=\"f\"\r\n\r\n--f\r\nContent-Type: text/plain\r\n\r\n" +
                 words(rng, 1500) +
                 "--f\r\nContent-Type: application/pdf; name=\"x.pdf\"\r\n"
                 "Content-Transfer-Encoding: base64\r\n\r\n" +
                 base64("%PDF-1.4 " + words(rng, 8000)) + "--f--\r\n";
        m += "--m" + std::to_string(i) + "--\r\n";
        c.bytes += m.size();
        c.messages.push_back(std::move(m));
    }
    return c;
}

constexpr std::size_t kPiece = 4096;

int on_match(unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) {
    ++*static_cast<std::uint64_t*>(ctx);
    return 0;
}

// Raw Hyperscan: every database streams every message whole.
double raw_hyperscan(const rules::RuleSet& set, const Corpus& c, std::uint64_t& matches) {
    hs_scratch* scratch = nullptr;
    hs_clone_scratch(set.prototype_scratch(), &scratch);
    double t0 = now_s();
    for (const auto& m : c.messages)
        for (const auto& db : set.databases()) {
            hs_stream_t* s = nullptr;
            hs_open_stream(db.db, 0, &s);
            for (std::size_t off = 0; off < m.size(); off += kPiece)
                hs_scan_stream(s, m.data() + off,
                               static_cast<unsigned>(std::min(kPiece, m.size() - off)), 0, scratch,
                               on_match, &matches);
            hs_close_stream(s, scratch, on_match, &matches);
        }
    double t = now_s() - t0;
    hs_free_scratch(scratch);
    return t;
}

// The streams MessageScan feeds for one message, recorded from the decoder:
// each (target, header name) stream with its pieces as they came.
struct Stream {
    rules::TargetKind target;
    std::string header;
    std::uint32_t part = 0;
    std::vector<std::string> pieces;
};

struct RecordingSink final : mime::MimeSink {
    std::vector<Stream>* out = nullptr;
    std::vector<std::int64_t> body_stream; // per part: index into *out, or -1
    const rules::RuleSet* set = nullptr;
    void on_part_begin(const mime::PartInfo& p) override {
        if (body_stream.size() <= p.index)
            body_stream.resize(p.index + 1, -1);
        if (p.kind == mime::PartKind::message)
            return;
        body_stream[p.index] = static_cast<std::int64_t>(out->size());
        out->push_back({p.attachment ? rules::TargetKind::attachment : rules::TargetKind::text,
                        "",
                        p.index,
                        {}});
    }
    void on_header_bytes(std::uint32_t part, std::span<const std::uint8_t> raw) override {
        out->push_back(
            {rules::TargetKind::raw_headers, "", part, {std::string(raw.begin(), raw.end())}});
    }
    void on_header_field(std::uint32_t part, std::string_view name,
                         std::string_view value) override {
        if (set->find_database(rules::TargetKind::header, name))
            out->push_back(
                {rules::TargetKind::header, std::string(name), part, {std::string(value)}});
    }
    void on_body_bytes(std::uint32_t part, std::span<const std::uint8_t> b) override {
        if (part < body_stream.size() && body_stream[part] >= 0)
            (*out)[static_cast<std::size_t>(body_stream[part])].pieces.emplace_back(b.begin(),
                                                                                    b.end());
    }
    void on_part_end(std::uint32_t) override {}
};

struct NullSink final : mime::MimeSink {
    std::uint64_t bytes = 0;
    void on_part_begin(const mime::PartInfo&) override {}
    void on_body_bytes(std::uint32_t, std::span<const std::uint8_t> b) override {
        bytes += b.size();
    }
    void on_part_end(std::uint32_t) override {}
};

} // namespace

int main(int argc, char** argv) {
    std::size_t count = 2000;
    std::string rules_path = SMTPGW_DEFAULT_RULES, av_dir = SMTPGW_AV_SIGNATURES, parts_dir;
    bool check = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--messages" && i + 1 < argc)
            count = std::stoul(argv[++i]);
        else if (a == "--rules" && i + 1 < argc)
            rules_path = argv[++i];
        else if (a == "--av" && i + 1 < argc)
            av_dir = argv[++i];
        else if (a == "--write-parts" && i + 1 < argc)
            parts_dir = argv[++i];
        else if (a == "--check")
            check = true;
        else {
            std::fprintf(stderr,
                         "usage: smtpgw-bench-scan [--messages N] [--rules FILE] [--av DIR] "
                         "[--write-parts DIR] [--check]\n");
            return 2;
        }
    }
    auto loaded = rules::load_rule_set(rules_path);
    if (auto* errors = std::get_if<std::vector<std::string>>(&loaded)) {
        std::fprintf(stderr, "rules: %s\n", errors->front().c_str());
        return 1;
    }
    auto set = std::get<std::shared_ptr<const rules::RuleSet>>(loaded);
    Corpus corpus = make_corpus(count);
    double mb = static_cast<double>(corpus.bytes) / 1e6;
    std::printf("corpus: %zu messages, %.1f MB (QP text, HTML, base64 attachments, forwards); "
                "rules %s (%zu rules, %zu databases)\n",
                count, mb, rules_path.c_str(), set->rules().size(), set->databases().size());

    // MIME decoding alone.
    NullSink sink;
    double t0 = now_s();
    for (const auto& m : corpus.messages) {
        mime::MimeDecoder d(sink);
        for (std::size_t off = 0; off < m.size(); off += kPiece)
            d.feed(std::string_view(m).substr(off, kPiece));
        d.finish();
    }
    double t_mime = now_s() - t0;

    // Raw Hyperscan, then the stage, then raw again (the best of two).
    std::uint64_t raw_matches = 0;
    double t_raw = raw_hyperscan(*set, corpus, raw_matches);
    content::ScanSettings settings;
    settings.antivirus = true; // keep the parts, as the gateway does
    rules::RuleScratch scratch;
    std::uint64_t scanned = 0, parts = 0;
    std::vector<content::AvPart> all_parts;
    t0 = now_s();
    for (const auto& m : corpus.messages) {
        content::MessageScan scan(set, scratch, settings);
        for (std::size_t off = 0; off < m.size(); off += kPiece)
            scan.feed(std::string_view(m).substr(off, kPiece));
        content::ScanOutcome o = scan.finish();
        content::MessageVerdict v = content::decide(o, settings, set.get());
        scanned += v.action != content::Disposition::tempfail;
        parts += o.av_parts.size();
        if (all_parts.size() < 4000)
            for (auto& p : o.av_parts)
                all_parts.push_back(std::move(p));
    }
    double t_stage = now_s() - t0;
    std::uint64_t raw2 = 0;
    t_raw = std::min(t_raw, raw_hyperscan(*set, corpus, raw2));
    std::printf("MIME decode alone:            %8.1f MB/s\n", mb / t_mime);
    std::printf("raw Hyperscan, whole messages through all %zu dbs: %8.1f MB/s\n",
                set->databases().size(), mb / t_raw);
    std::printf("MessageScan end to end (MIME + rules + parts kept): %8.1f MB/s (%.2f of that)\n",
                mb / t_stage, t_raw / t_stage);

    // The matcher alone against raw Hyperscan over exactly the same streams
    // (the targets' bytes as MIME decoding produced them, in the same
    // pieces): the stage's own cost beyond Hyperscan.
    std::vector<std::vector<Stream>> recorded(corpus.messages.size());
    std::uint64_t stream_bytes = 0;
    for (std::size_t i = 0; i < corpus.messages.size(); ++i) {
        const std::string& m = corpus.messages[i];
        RecordingSink rec;
        rec.out = &recorded[i];
        rec.set = set.get();
        mime::MimeDecoder d(rec);
        for (std::size_t off = 0; off < m.size(); off += kPiece)
            d.feed(std::string_view(m).substr(off, kPiece));
        d.finish();
        // The raw body: the message after its header, in the same pieces.
        std::size_t body = m.find("\r\n\r\n");
        Stream raw{rules::TargetKind::raw_body, "", 0, {}};
        for (std::size_t off = body + 4; off < m.size(); off += kPiece)
            raw.pieces.push_back(m.substr(off, kPiece));
        recorded[i].push_back(std::move(raw));
        for (const auto& st : recorded[i])
            if (set->find_database(st.target, st.header))
                for (const auto& p : st.pieces)
                    stream_bytes += p.size();
    }
    auto matcher_pass = [&] {
        double start = now_s();
        for (const auto& streams : recorded) {
            rules::RuleMatcher mm(*set, scratch);
            for (const auto& st : streams) {
                auto h = mm.open(st.part, st.target, st.header);
                for (const auto& p : st.pieces)
                    mm.feed(h, p);
                mm.close(h);
            }
        }
        return now_s() - start;
    };
    auto raw_pass = [&](std::uint64_t& n) {
        hs_scratch* hs = nullptr;
        hs_clone_scratch(set->prototype_scratch(), &hs);
        double start = now_s();
        for (const auto& streams : recorded)
            for (const auto& st : streams) {
                auto db = set->find_database(st.target, st.header);
                if (!db)
                    continue;
                hs_stream_t* h = nullptr;
                hs_open_stream(set->databases()[*db].db, 0, &h);
                for (const auto& p : st.pieces)
                    hs_scan_stream(h, p.data(), static_cast<unsigned>(p.size()), 0, hs, on_match,
                                   &n);
                hs_close_stream(h, hs, on_match, &n);
            }
        double t = now_s() - start;
        hs_free_scratch(hs);
        return t;
    };
    std::uint64_t n1 = 0, n2 = 0;
    double t_hs_raw = raw_pass(n1);
    double t_matcher = matcher_pass();
    t_hs_raw = std::min(t_hs_raw, raw_pass(n2));
    t_matcher = std::min(t_matcher, matcher_pass());
    double smb = static_cast<double>(stream_bytes) / 1e6;
    std::printf("same target streams (%.1f MB): raw Hyperscan %8.1f MB/s, smtpgw matcher %8.1f "
                "MB/s, ratio %.2f\n",
                smb, smb / t_hs_raw, smb / t_matcher, t_hs_raw / t_matcher);

    // The antivirus on the decoded parts: libclamav in this process (the
    // engine alone), then through one confined worker process (what the
    // daemon runs: the shared-memory channel and the sandbox included).
    auto engine_r = av::AvEngine::load(av_dir);
    if (auto* why = std::get_if<std::string>(&engine_r)) {
        std::fprintf(stderr, "antivirus: %s\n", why->c_str());
        return 1;
    }
    auto engine = std::get<std::shared_ptr<const av::AvEngine>>(engine_r);
    std::uint64_t av_bytes = 0, infected = 0;
    t0 = now_s();
    for (const auto& p : all_parts) {
        auto r = engine->scan(p.bytes, p.name);
        av_bytes += p.bytes.size();
        infected += r.verdict == av::AvVerdict::infected;
    }
    double t_engine = now_s() - t0;
    std::string av_scratch = "/tmp/smtpgw-bench-av-" + std::to_string(getpid());
    auto worker_config = [&](int i) {
        av::AvWorkerConfig c;
        c.executable = av::default_worker_executable();
        c.db_dir = av_dir;
        c.sandbox.user = "smtpgw-av";
        c.sandbox.scratch_dir = av_scratch + "/w" + std::to_string(i);
        c.limits.max_file_bytes = 32u << 20;
        return c;
    };
    av::AvWorker workers[2];
    for (int i = 0; i < 2; ++i)
        if (auto why = workers[i].start(worker_config(i)); !why.empty()) {
            std::fprintf(stderr, "antivirus worker: %s\n", why.c_str());
            return 1;
        }
    std::uint64_t worker_errors = 0;
    t0 = now_s();
    for (const auto& p : all_parts) {
        auto r = workers[0].scan(p.bytes, p.name);
        infected += r.verdict == av::AvVerdict::infected;
        worker_errors += r.verdict == av::AvVerdict::error;
    }
    double t_av = now_s() - t0;
    std::printf("libclamav in this process:     %8.1f MB/s (%zu parts, %.1f MB, %.1f ms)\n",
                static_cast<double>(av_bytes) / 1e6 / t_engine, all_parts.size(),
                static_cast<double>(av_bytes) / 1e6, t_engine * 1000);
    std::printf("one confined worker process:   %8.1f MB/s (%.1f ms; ratio to in-process %.2f)\n",
                static_cast<double>(av_bytes) / 1e6 / t_av, t_av * 1000, t_engine / t_av);
    if (!parts_dir.empty()) {
        std::filesystem::create_directories(parts_dir);
        for (std::size_t i = 0; i < all_parts.size(); ++i) {
            std::ofstream f(parts_dir + "/part-" + std::to_string(i), std::ios::binary);
            f.write(reinterpret_cast<const char*>(all_parts[i].bytes.data()),
                    static_cast<std::streamsize>(all_parts[i].bytes.size()));
        }
        std::printf("AVSCAN_MS %.1f\n", t_av * 1000);
    }

    // Reload, the daemon's way with two workers (AvScanners::reload): one
    // at a time, the old process ended before the new one loads; the
    // workers' resident memory sampled every 2 ms throughout.
    auto workers_kb = [&] {
        return av::process_rss_kb(workers[0].pid()) + av::process_rss_kb(workers[1].pid());
    };
    std::uint64_t w_before = workers_kb(), w_peak = w_before;
    std::atomic<bool> sampling{true};
    std::thread sampler([&] {
        while (sampling) {
            w_peak = std::max(w_peak, workers_kb());
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    });
    t0 = now_s();
    for (int i = 0; i < 2; ++i) {
        workers[i].stop();
        if (auto why = workers[i].start(worker_config(i)); !why.empty()) {
            std::fprintf(stderr, "antivirus worker reload: %s\n", why.c_str());
            sampling = false;
            sampler.join();
            return 1;
        }
    }
    double t_reload = now_s() - t0;
    sampling = false;
    sampler.join();
    std::uint64_t w_after = workers_kb();
    std::printf(
        "antivirus reload, 2 workers one at a time: workers' RSS %llu kB before, %llu kB at "
        "the peak, %llu kB after (peak %.2fx the steady state; %.1f ms)\n",
        static_cast<unsigned long long>(w_before), static_cast<unsigned long long>(w_peak),
        static_cast<unsigned long long>(w_after),
        static_cast<double>(w_peak) / static_cast<double>(w_before), t_reload * 1000);
    for (auto& w : workers)
        w.stop();
    std::filesystem::remove_all(av_scratch);
    // For comparison, the shared-engine way (ClamAV's own): a second engine
    // loads while the first serves, in one process.
    std::uint64_t before = rss_kb();
    auto second = av::AvEngine::load(av_dir);
    std::uint64_t peak = rss_kb();
    engine.reset();
    second = std::string("freed");
    std::uint64_t after = rss_kb();
    std::printf("shared-engine reload (reference): RSS %llu kB before, %llu kB with two engines, "
                "%llu kB after\n",
                static_cast<unsigned long long>(before), static_cast<unsigned long long>(peak),
                static_cast<unsigned long long>(after));
    if (check && worker_errors != 0) {
        std::fprintf(stderr, "check failed: %llu worker errors\n",
                     static_cast<unsigned long long>(worker_errors));
        return 1;
    }
    if (check && (scanned != count || parts == 0 || infected != 0)) {
        std::fprintf(stderr, "check failed: %llu of %zu scanned, %llu parts, %llu infected\n",
                     static_cast<unsigned long long>(scanned), count,
                     static_cast<unsigned long long>(parts),
                     static_cast<unsigned long long>(infected));
        return 1;
    }
    return 0;
}
