// peer_dynamic.cc: dynamic entries and their state file (see peer_dynamic.h).
#include "filter/peer_dynamic.h"

#include <algorithm>
#include <charconv>

namespace smtpgw::filter {

std::optional<PeerPrefix> parse_peer_prefix(std::string_view text) {
    std::string t(text);
    if (t.find('/') == std::string::npos)
        t += t.find(':') == std::string::npos ? "/32" : "/128";
    PeerPrefix p;
    if (auto v4 = net::parse_ipv4_prefix(t)) {
        p.v4 = v4->network();
        return p;
    }
    if (auto v6 = net::parse_ipv6_prefix(t)) {
        if (v6->addr.is_v4_mapped())
            return std::nullopt; // the IPv4 form is the one to use
        p.is_v6 = true;
        p.v6 = v6->network();
        return p;
    }
    return std::nullopt;
}

std::string peer_prefix_text(const PeerPrefix& p) {
    return p.is_v6 ? net::to_string(p.v6) : net::to_string(p.v4);
}

bool DynamicPeers::add(const PeerPrefix& p, std::uint64_t expires_s) {
    std::string key = peer_prefix_text(p);
    auto it = entries_.find(key);
    if (it == entries_.end() && entries_.size() >= max_entries_)
        return false;
    PeerPrefix black = p;
    black.kind = PeerListKind::black;
    entries_[key] = Entry{black, expires_s};
    return true;
}

bool DynamicPeers::remove(const std::string& key) { return entries_.erase(key) != 0; }

std::size_t DynamicPeers::expire(std::uint64_t now_s) {
    std::size_t n = 0;
    for (auto it = entries_.begin(); it != entries_.end();) {
        if (it->second.expires_s <= now_s) {
            it = entries_.erase(it);
            ++n;
        } else {
            ++it;
        }
    }
    return n;
}

std::string DynamicPeers::serialize() const {
    std::string out;
    for (const auto& [key, e] : entries_)
        out += key + " " + std::to_string(e.expires_s) + "\n";
    return out;
}

void DynamicPeers::parse(std::string_view text, std::uint64_t now_s, std::size_t& skipped) {
    skipped = 0;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (line.empty())
            continue;
        auto sp = line.find(' ');
        std::uint64_t expires = 0;
        std::optional<PeerPrefix> p;
        if (sp != std::string_view::npos) {
            std::string_view num = line.substr(sp + 1);
            auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), expires);
            if (ec == std::errc{} && ptr == num.data() + num.size())
                p = parse_peer_prefix(line.substr(0, sp));
        }
        if (!p || expires <= now_s || !add(*p, expires))
            ++skipped;
    }
}

} // namespace smtpgw::filter
