// fuzz_smtp_data.cc: the DATA decoder (dataplane/smtp/smtp_data_decoder)
// on any byte stream, both bare-newline policies, in fuzzer-chosen pieces.
// Properties: the output never holds a bare CR or LF and never ends
// mid-line; it is never longer than twice the input (a bare CR becomes
// CRLF); and the round trip holds: stuffing the output again (a "." before
// lines that start with ".", then ".\r\n") and decoding it gives the same
// message, finished exactly at the one end of data.
#include <string>

#include "fuzz_util.h"
#include "smtp/smtp_data_decoder.h"

using namespace smtpgw;

namespace {

struct Decoded {
    std::string out;
    std::size_t consumed = 0;
    bool finished = false;
    smtp::DataDefect defect = smtp::DataDefect::none;
};

Decoded decode(std::span<const std::uint8_t> in, smtp::BareNewlinePolicy policy,
               std::uint8_t split) {
    smtp::DataDecoderConfig cfg;
    cfg.bare_newline = policy;
    smtp::DataDecoder d(cfg);
    Decoded r;
    while (r.consumed < in.size() && !d.finished()) {
        std::size_t n = fuzz::chunk_size(split, in.size() - r.consumed);
        split = static_cast<std::uint8_t>(split * 13 + 5);
        auto res = d.decode(in.subspan(r.consumed, n), r.out, 1 << 20);
        r.consumed += res.consumed;
        fuzz::require(res.consumed > 0 || d.finished() || d.defect() != smtp::DataDefect::none,
                      "decode() makes progress with room");
        if (res.consumed == 0)
            break;
    }
    r.finished = d.finished();
    r.defect = d.defect();
    return r;
}

std::string stuff(const std::string& message) {
    std::string s;
    bool line_start = true;
    for (char c : message) {
        if (line_start && c == '.')
            s += '.';
        s += c;
        line_start = c == '\n';
    }
    return s + ".\r\n";
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Input in(data, size);
    std::uint8_t split = in.byte();
    auto bytes = in.rest();
    for (auto policy : {smtp::BareNewlinePolicy::reject, smtp::BareNewlinePolicy::normalize}) {
        Decoded r = decode(bytes, policy, split);
        if (r.defect != smtp::DataDefect::none)
            continue; // refused: nothing of it is ever forwarded
        fuzz::require(r.out.size() <= 2 * r.consumed, "output at most twice the input");
        for (std::size_t i = 0; i < r.out.size(); ++i) {
            if (r.out[i] == '\r')
                fuzz::require(i + 1 < r.out.size() && r.out[i + 1] == '\n', "no bare CR out");
            if (r.out[i] == '\n')
                fuzz::require(i > 0 && r.out[i - 1] == '\r', "no bare LF out");
        }
        if (!r.finished)
            continue;
        fuzz::require(r.out.empty() || r.out.ends_with("\r\n"), "a message ends with CRLF");
        std::string wire = stuff(r.out);
        Decoded again = decode({reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size()},
                               smtp::BareNewlinePolicy::reject, 0);
        fuzz::require(again.finished && again.consumed == wire.size(),
                      "re-stuffed text has exactly one end of data, at its end");
        fuzz::require(again.defect == smtp::DataDefect::none ||
                          again.defect == smtp::DataDefect::line_too_long,
                      "re-stuffed text decodes cleanly");
        if (again.defect == smtp::DataDefect::none)
            fuzz::require(again.out == r.out, "unstuff(stuff(x)) == x");
    }
    return 0;
}
