// fuzz_mime_decoder.cc: the streaming MIME decoder (scanners/mime) fed any
// message in pieces of fuzzer-chosen sizes. Properties: every part that
// begins ends, after its children and in order; body bytes only come for an
// open part; input_bytes counts every octet; decoded octets stay within the
// limit; the summary's part count matches the events.
#include <vector>

#include "fuzz_util.h"
#include "mime/mime_decoder.h"

using namespace smtpgw;

namespace {

struct CheckingSink final : mime::MimeSink {
    std::vector<std::uint32_t> open;
    std::vector<bool> ended;
    std::uint64_t body_bytes = 0;
    std::uint32_t begun = 0;

    bool is_open(std::uint32_t part) const {
        for (auto p : open)
            if (p == part)
                return true;
        return false;
    }
    void on_part_begin(const mime::PartInfo& part) override {
        fuzz::require(part.index == begun, "parts are numbered in the order they begin");
        fuzz::require(part.parent == mime::kNoParent || is_open(part.parent),
                      "a part's parent is open when it begins");
        ++begun;
        ended.push_back(false);
        open.push_back(part.index);
    }
    void on_header_bytes(std::uint32_t part, std::span<const std::uint8_t>) override {
        fuzz::require(is_open(part), "header bytes for an open part");
    }
    void on_body_bytes(std::uint32_t part, std::span<const std::uint8_t> b) override {
        fuzz::require(is_open(part), "body bytes for an open part");
        body_bytes += b.size();
    }
    void on_part_end(std::uint32_t part) override {
        fuzz::require(is_open(part) && !ended[part], "a part ends once, while open");
        ended[part] = true;
        std::erase(open, part);
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Input in(data, size);
    std::uint8_t split = in.byte();
    mime::MimeLimits limits;
    limits.max_depth = 8;
    limits.max_parts = 64;
    limits.max_decoded_bytes = 1 << 20;
    CheckingSink sink;
    mime::MimeDecoder d(sink, limits);
    auto bytes = in.rest();
    for (std::size_t off = 0; off < bytes.size();) {
        std::size_t n = fuzz::chunk_size(split, bytes.size() - off);
        d.feed(bytes.subspan(off, n));
        off += n;
        split = static_cast<std::uint8_t>(split * 31 + 7);
    }
    const mime::MimeSummary& s = d.finish();
    fuzz::require(sink.open.empty(), "finish() ends every open part");
    fuzz::require(s.input_bytes == bytes.size(), "every input octet is counted");
    fuzz::require(s.parts == sink.begun, "the summary counts the parts begun");
    fuzz::require(s.decoded_bytes == sink.body_bytes, "the summary counts the body octets");
    fuzz::require(s.decoded_bytes <= limits.max_decoded_bytes + mime::MimeDecoder::kOutBatch,
                  "decoded octets stay within the limit");
    return 0;
}
