// rule_database.cc: Hyperscan compilation of rule files and the database
// cache (contracts in rule_database.h).
#include "rules/rule_database.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <utility>

#include <hs/hs.h>

namespace smtpgw::rules {

// ---------------------------------------------------------------- SHA-256

namespace {

constexpr std::uint32_t kSha256K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

std::uint32_t rotr(std::uint32_t x, int n) {
    return (x >> n) | (x << (32 - n));
}

void sha256_block(std::uint32_t h[8], const std::uint8_t* p) {
    std::uint32_t w[64];
    for (int i = 0; i < 16; ++i)
        w[i] = std::uint32_t{p[4 * i]} << 24 | std::uint32_t{p[4 * i + 1]} << 16 |
               std::uint32_t{p[4 * i + 2]} << 8 | std::uint32_t{p[4 * i + 3]};
    for (int i = 16; i < 64; ++i) {
        std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; ++i) {
        std::uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                           kSha256K[i] + w[i];
        std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

} // namespace

std::array<std::uint8_t, 32> sha256(std::span<const std::uint8_t> data) {
    std::uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                          0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    std::size_t full = data.size() / 64 * 64;
    for (std::size_t i = 0; i < full; i += 64)
        sha256_block(h, data.data() + i);
    std::uint8_t tail[128] = {};
    std::size_t rest = data.size() - full;
    if (rest)
        std::memcpy(tail, data.data() + full, rest);
    tail[rest] = 0x80;
    std::size_t tail_len = rest < 56 ? 64 : 128;
    std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
    for (int i = 0; i < 8; ++i)
        tail[tail_len - 1 - i] = static_cast<std::uint8_t>(bits >> (8 * i));
    for (std::size_t i = 0; i < tail_len; i += 64)
        sha256_block(h, tail + i);
    std::array<std::uint8_t, 32> out{};
    for (int i = 0; i < 8; ++i)
        for (int j = 0; j < 4; ++j)
            out[4 * i + j] = static_cast<std::uint8_t>(h[i] >> (24 - 8 * j));
    return out;
}

// ---------------------------------------------------------------- RuleSet

namespace {

std::atomic<std::uint64_t> g_next_serial{1};

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equal_caseless(std::string_view lower_name, std::string_view name) {
    if (lower_name.size() != name.size())
        return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if (lower_name[i] != lower(name[i]))
            return false;
    return true;
}

unsigned hs_flags(unsigned flags) {
    unsigned f = HS_FLAG_SINGLEMATCH;
    if (flags & kCaseless)
        f |= HS_FLAG_CASELESS;
    if (flags & kDotall)
        f |= HS_FLAG_DOTALL;
    if (flags & kMultiline)
        f |= HS_FLAG_MULTILINE;
    if (flags & kUtf8)
        f |= HS_FLAG_UTF8 | HS_FLAG_UCP;
    return f;
}

// Little-endian writer and bounds-checked reader for the cache file.
struct Writer {
    std::string out;
    void u8(std::uint8_t v) { out += static_cast<char>(v); }
    void u32(std::uint32_t v) {
        for (int i = 0; i < 4; ++i)
            out += static_cast<char>(v >> (8 * i));
    }
    void u64(std::uint64_t v) {
        for (int i = 0; i < 8; ++i)
            out += static_cast<char>(v >> (8 * i));
    }
    void bytes(std::string_view s) { out += s; }
    void str(std::string_view s) {
        u32(static_cast<std::uint32_t>(s.size()));
        bytes(s);
    }
};

struct Reader {
    std::string_view in;
    bool ok = true;
    std::uint64_t uint(int n) {
        if (in.size() < static_cast<std::size_t>(n)) {
            ok = false;
            return 0;
        }
        std::uint64_t v = 0;
        for (int i = 0; i < n; ++i)
            v |= std::uint64_t{static_cast<std::uint8_t>(in[i])} << (8 * i);
        in.remove_prefix(n);
        return v;
    }
    std::string_view bytes(std::uint64_t n) {
        if (in.size() < n) {
            ok = false;
            return {};
        }
        std::string_view s = in.substr(0, n);
        in.remove_prefix(n);
        return s;
    }
};

constexpr std::string_view kCacheMagic = "SMTPGWRC";

std::span<const std::uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// The rules of one database, as indexes into the rule vector.
struct Group {
    TargetKind target;
    std::string header_name;
    std::vector<std::uint32_t> rules;
};

// Fixed kinds in enum order, then header names sorted: the same rules give
// the same layout, which the cache relies on.
std::vector<Group> group_rules(const std::vector<Rule>& rules) {
    std::vector<Group> groups;
    for (std::size_t k = 0; k < kTargetKinds; ++k) {
        auto kind = static_cast<TargetKind>(k);
        if (kind == TargetKind::header)
            continue;
        Group g{kind, {}, {}};
        for (std::uint32_t i = 0; i < rules.size(); ++i)
            if (rules[i].target == kind)
                g.rules.push_back(i);
        if (!g.rules.empty())
            groups.push_back(std::move(g));
    }
    std::map<std::string, std::vector<std::uint32_t>> headers;
    for (std::uint32_t i = 0; i < rules.size(); ++i)
        if (rules[i].target == TargetKind::header)
            headers[rules[i].header_name].push_back(i);
    for (auto& [name, idx] : headers)
        groups.push_back(Group{TargetKind::header, name, std::move(idx)});
    return groups;
}

std::array<std::uint8_t, 32> cache_key(const std::vector<Rule>& rules) {
    Writer w;
    w.bytes(kCacheMagic);
    w.u32(kCacheFormatVersion);
    w.str(hs_version());
    hs_platform_info_t platform{};
    if (hs_populate_platform(&platform) == HS_SUCCESS) {
        w.u32(platform.tune);
        w.u64(platform.cpu_features);
    }
    w.u32(static_cast<std::uint32_t>(rules.size()));
    for (const auto& r : rules) {
        w.u8(static_cast<std::uint8_t>(r.target));
        w.str(r.header_name);
        w.u32(hs_flags(r.flags));
        w.str(r.pattern);
    }
    return sha256(as_bytes(w.out));
}

std::string hex(std::span<const std::uint8_t> bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    for (auto b : bytes) {
        s += digits[b >> 4];
        s += digits[b & 15];
    }
    return s;
}

std::string errno_text(const char* what) {
    return std::string(what) + ": " + std::strerror(errno);
}

// Reads a whole file of at most kMaxCacheBytes; nullopt and `why` on failure.
std::optional<std::string> read_file(const std::string& path, std::string& why) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        why = errno == ENOENT ? std::string() : errno_text("cannot open");
        return std::nullopt;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<std::uint64_t>(st.st_size) > kMaxCacheBytes) {
        ::close(fd);
        why = "not a regular file of at most " + std::to_string(kMaxCacheBytes) + " bytes";
        return std::nullopt;
    }
    std::string data(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < data.size()) {
        ssize_t n = ::read(fd, data.data() + got, data.size() - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            why = n < 0 ? errno_text("cannot read") : "file shrank while read";
            ::close(fd);
            return std::nullopt;
        }
        got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    return data;
}

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// Temporary file, fsync, rename, fsync of the directory: a crash leaves the
// old cache or the new one, never half of one. Returns the reason on failure.
std::optional<std::string> write_file_atomically(const std::string& path, std::string_view data) {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno_text(("cannot create " + tmp).c_str());
    if (!write_all(fd, data) || ::fsync(fd) != 0) {
        auto why = errno_text(("cannot write " + tmp).c_str());
        ::close(fd);
        ::unlink(tmp.c_str());
        return why;
    }
    if (::close(fd) != 0) {
        auto why = errno_text(("cannot close " + tmp).c_str());
        ::unlink(tmp.c_str());
        return why;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        auto why = errno_text(("cannot rename " + tmp).c_str());
        ::unlink(tmp.c_str());
        return why;
    }
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd); // the rename is durable too; failure only risks a recompile
        ::close(dfd);
    }
    return std::nullopt;
}

} // namespace

struct RuleSetBuilder {
    std::shared_ptr<RuleSet> set{new RuleSet};

    const std::vector<Rule>& init(const std::vector<Rule>& rules) {
        set->rules_ = rules;
        set->hits_ = std::make_unique<std::atomic<std::uint64_t>[]>(rules.size());
        set->key_ = cache_key(set->rules_);
        return set->rules_;
    }

    // hs_alloc_scratch for every database, and the stream/database sizes.
    std::optional<std::string> finish() {
        for (auto& d : set->databases_) {
            hs_error_t e = hs_alloc_scratch(d.db, &set->prototype_);
            if (e != HS_SUCCESS)
                return "hs_alloc_scratch failed (" + std::to_string(e) + ")";
            std::size_t n = 0;
            if (hs_stream_size(d.db, &n) == HS_SUCCESS)
                d.stream_bytes = n;
            if (hs_database_size(d.db, &n) == HS_SUCCESS)
                d.database_bytes = n;
        }
        set->serial_ = g_next_serial.fetch_add(1, std::memory_order_relaxed);
        return std::nullopt;
    }

    // Compiles each group; on errors, returns them as FILE:LINE lines.
    std::vector<std::string> compile(const std::vector<Group>& groups, std::string_view file) {
        std::vector<std::string> errors;
        const auto& rules = set->rules_;
        for (const auto& g : groups) {
            std::vector<const char*> exprs;
            std::vector<unsigned> flags;
            std::vector<unsigned> ids;
            for (auto i : g.rules) {
                exprs.push_back(rules[i].pattern.c_str());
                flags.push_back(hs_flags(rules[i].flags));
                ids.push_back(i);
            }
            hs_database_t* db = nullptr;
            hs_compile_error_t* err = nullptr;
            hs_error_t e = hs_compile_multi(exprs.data(), flags.data(), ids.data(),
                                            static_cast<unsigned>(exprs.size()), HS_MODE_STREAM,
                                            nullptr, &db, &err);
            if (e != HS_SUCCESS) {
                std::string msg = err && err->message ? err->message : "compile failed";
                if (err && err->expression >= 0 &&
                    static_cast<std::size_t>(err->expression) < g.rules.size()) {
                    const Rule& r = rules[g.rules[static_cast<std::size_t>(err->expression)]];
                    errors.push_back(describe(
                        {r.line, "rule " + r.id + " pattern " + pattern_text(r) + ": " + msg},
                        file));
                } else {
                    errors.push_back(describe(
                        {0, "target " + target_name(rules[g.rules[0]]) + ": " + msg}, file));
                }
                hs_free_compile_error(err);
                continue;
            }
            hs_free_compile_error(err);
            set->databases_.push_back(RuleDatabase{g.target, g.header_name, db, 0, 0,
                                                   static_cast<std::uint32_t>(g.rules.size())});
        }
        return errors;
    }

    std::string serialize() const {
        Writer w;
        w.bytes(kCacheMagic);
        w.u32(kCacheFormatVersion);
        w.bytes({reinterpret_cast<const char*>(set->key_.data()), set->key_.size()});
        w.u32(static_cast<std::uint32_t>(set->databases_.size()));
        for (const auto& d : set->databases_) {
            char* bytes = nullptr;
            std::size_t len = 0;
            if (hs_serialize_database(d.db, &bytes, &len) != HS_SUCCESS)
                return {};
            w.u8(static_cast<std::uint8_t>(d.target));
            w.str(d.header_name);
            w.u32(d.rules);
            w.u64(len);
            w.bytes({bytes, len});
            std::free(bytes); // hs_serialize_database uses the misc allocator: malloc
        }
        auto sum = sha256(as_bytes(w.out));
        w.bytes({reinterpret_cast<const char*>(sum.data()), sum.size()});
        return std::move(w.out);
    }

    // Loads the databases from cache bytes; the reason when unusable.
    std::optional<std::string> deserialize(std::string_view data,
                                           const std::vector<Group>& groups) {
        constexpr std::size_t kSum = 32;
        if (data.size() < kCacheMagic.size() + 4 + 32 + 4 + kSum)
            return "truncated";
        auto body = data.substr(0, data.size() - kSum);
        auto sum = sha256(as_bytes(body));
        if (std::memcmp(sum.data(), data.data() + body.size(), kSum) != 0)
            return "bad checksum";
        Reader r{body};
        if (r.bytes(kCacheMagic.size()) != kCacheMagic)
            return "bad magic";
        if (r.uint(4) != kCacheFormatVersion)
            return "other format version";
        if (std::memcmp(r.bytes(32).data(), set->key_.data(), 32) != 0)
            return "key mismatch (rules, Hyperscan version or CPU changed)";
        if (r.uint(4) != groups.size())
            return "database count mismatch";
        for (const auto& g : groups) {
            auto target = r.uint(1);
            auto name = r.bytes(r.uint(4));
            auto count = r.uint(4);
            auto blob = r.bytes(r.uint(8));
            if (!r.ok)
                return "truncated";
            if (target != static_cast<std::uint8_t>(g.target) || name != g.header_name ||
                count != g.rules.size())
                return "database layout mismatch";
            hs_database_t* db = nullptr;
            hs_error_t e = hs_deserialize_database(blob.data(), blob.size(), &db);
            if (e != HS_SUCCESS)
                return "hs_deserialize_database failed (" + std::to_string(e) + ")";
            set->databases_.push_back(
                RuleDatabase{g.target, g.header_name, db, 0, 0, static_cast<std::uint32_t>(count)});
        }
        if (!r.in.empty())
            return "trailing bytes";
        return std::nullopt;
    }

    void drop_databases() {
        for (auto& d : set->databases_)
            hs_free_database(d.db);
        set->databases_.clear();
    }
};

RuleSet::~RuleSet() {
    for (auto& d : databases_)
        hs_free_database(d.db);
    hs_free_scratch(prototype_);
}

std::optional<std::uint32_t> RuleSet::find_rule(std::string_view id) const {
    for (std::uint32_t i = 0; i < rules_.size(); ++i)
        if (rules_[i].id == id)
            return i;
    return std::nullopt;
}

std::optional<std::uint32_t> RuleSet::find_database(TargetKind target,
                                                    std::string_view header_name) const {
    for (std::uint32_t i = 0; i < databases_.size(); ++i) {
        const auto& d = databases_[i];
        if (d.target != target)
            continue;
        if (target != TargetKind::header || equal_caseless(d.header_name, header_name))
            return i;
    }
    return std::nullopt;
}

std::string RuleSet::key_hex() const {
    return hex(key_);
}

RuleSetResult compile_rule_set(const RuleFileParse& parse, std::string_view file_name,
                               const std::string& cache_path, CacheReport* report) {
    CacheReport local;
    CacheReport& rep = report ? *report : local;
    rep = {};
    if (!parse.ok()) {
        std::vector<std::string> errors;
        for (const auto& e : parse.errors)
            errors.push_back(describe(e, file_name));
        if (errors.empty())
            errors.push_back(describe({0, "bad rule file"}, file_name));
        return errors;
    }
    if (hs_valid_platform() != HS_SUCCESS)
        return std::vector<std::string>{
            describe({0, "this CPU cannot run Hyperscan (SSSE3 missing)"}, file_name)};

    RuleSetBuilder b;
    auto groups = group_rules(b.init(parse.rules));

    if (!cache_path.empty()) {
        std::string why;
        if (auto data = read_file(cache_path, why)) {
            if (auto bad = b.deserialize(*data, groups)) {
                b.drop_databases();
                rep.note = "cache " + cache_path + " ignored: " + *bad;
            } else if (auto fail = b.finish()) {
                b.drop_databases();
                rep.note = "cache " + cache_path + " ignored: " + *fail;
            } else {
                rep.outcome = CacheOutcome::loaded;
                return std::shared_ptr<const RuleSet>(std::move(b.set));
            }
        } else if (!why.empty()) {
            rep.note = "cache " + cache_path + " ignored: " + why;
        }
    }

    auto errors = b.compile(groups, file_name);
    if (!errors.empty())
        return errors;
    if (auto fail = b.finish())
        return std::vector<std::string>{describe({0, *fail}, file_name)};

    if (cache_path.empty()) {
        rep.outcome = CacheOutcome::not_used;
    } else {
        std::string bytes = b.serialize();
        std::optional<std::string> why;
        if (bytes.empty())
            why = "hs_serialize_database failed";
        else
            why = write_file_atomically(cache_path, bytes);
        if (why) {
            rep.outcome = CacheOutcome::compiled_unsaved;
            rep.note += (rep.note.empty() ? "" : "; ") + *why;
        } else {
            rep.outcome = CacheOutcome::compiled_saved;
        }
    }
    return std::shared_ptr<const RuleSet>(std::move(b.set));
}

RuleSetResult load_rule_set(const std::string& rules_path, const std::string& cache_path,
                            CacheReport* report) {
    return compile_rule_set(read_rule_file(rules_path), rules_path, cache_path, report);
}

} // namespace smtpgw::rules
