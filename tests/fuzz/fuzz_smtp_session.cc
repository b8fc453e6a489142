// fuzz_smtp_session.cc: the RFC 5321 server session (dataplane/smtp/
// smtp_session) fed any byte stream in fuzzer-chosen pieces, pipelining
// included, with a LAN side that accepts or refuses each step as the
// fuzzer says, and timers firing. Properties: every octet it writes is part
// of a well-formed reply line ("ddd" then " " or "-", text, CRLF, at most
// 512 octets); it never asks for an answer while one is pending; it stops
// taking input once it wants to close; and the loop always settles.
#include <string>

#include "fuzz_util.h"
#include "smtp/smtp_session.h"

using namespace smtpgw;
using namespace smtpgw::smtp;

namespace {

void check_replies(std::string_view out, std::string& partial) {
    partial += out;
    std::size_t start = 0;
    for (;;) {
        std::size_t end = partial.find("\r\n", start);
        if (end == std::string::npos)
            break;
        std::string_view line(partial.data() + start, end - start);
        fuzz::require(line.size() >= 3 && line.size() + 2 <= kMaxReplyLineBytes,
                      "a reply line has a code and at most 512 octets");
        for (int i = 0; i < 3; ++i)
            fuzz::require(line[i] >= '0' && line[i] <= '9', "a reply starts with three digits");
        fuzz::require(line.size() == 3 || line[3] == ' ' || line[3] == '-',
                      "the code is followed by a space or a hyphen");
        for (char c : line)
            fuzz::require(c != '\r' && c != '\n' && c != '\0', "no CR, LF or NUL inside a reply");
        start = end + 2;
    }
    partial.erase(0, start);
    fuzz::require(partial.size() < kMaxReplyLineBytes, "no unterminated reply line");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Input in(data, size);
    std::uint8_t split = in.byte();
    std::uint8_t lan = in.byte(); // bits: which steps the LAN side refuses
    std::uint8_t knobs = in.byte();
    SessionConfig cfg;
    cfg.hostname = "mx.example.com";
    cfg.relay.domains = {"example.com"};
    cfg.mail_needs_answer = knobs & 1;
    cfg.rcpt_needs_answer = knobs & 2;
    cfg.bare_newline = knobs & 4 ? BareNewlinePolicy::normalize : BareNewlinePolicy::reject;
    cfg.tls_available = knobs & 8;
    cfg.max_message_bytes = 4096;
    std::uint64_t now = 1000;
    Session s(cfg, SessionPeer{"203.0.113.10", 1}, now);
    std::string partial;
    auto settle = [&] {
        for (int guard = 0; guard < 10000; ++guard) {
            bool again = false;
            Event e;
            while (s.poll_event(e)) {
                if (e.needs_answer) {
                    bool refuse = (lan >> (static_cast<unsigned>(e.kind) % 8)) & 1;
                    Reply r = e.kind == EventKind::data_start ? Reply{354, "", ""}
                              : refuse                        ? Reply{550, "5.1.1", "no"}
                                                              : Reply{250, "2.0.0", "ok"};
                    s.answer(r, now);
                    again = true;
                }
            }
            std::string_view out = s.pending_output();
            if (!out.empty()) {
                check_replies(out, partial);
                s.consume_output(out.size());
                again = true;
            }
            if (!again)
                return;
        }
        fuzz::require(false, "the session settles");
    };
    settle();
    auto bytes = in.rest();
    std::size_t off = 0;
    for (int guard = 0; off < bytes.size() && guard < 100000; ++guard) {
        if (s.wants_close())
            break;
        std::size_t n = fuzz::chunk_size(split, bytes.size() - off);
        split = static_cast<std::uint8_t>(split * 17 + 3);
        std::size_t used = s.on_input(bytes.subspan(off, n), now);
        fuzz::require(used <= n, "never consumes more than offered");
        off += used;
        now += split & 7;
        if (split & 0x80)
            s.on_timer(now);
        settle();
        if (used == 0 && s.input_room() == 0 && !s.wants_close()) {
            now += 600000; // nothing moves: let the timers close it
            s.on_timer(now);
            settle();
        }
    }
    s.on_peer_closed(now);
    settle();
    return 0;
}
