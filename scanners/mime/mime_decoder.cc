// mime_decoder.cc: the streaming MIME decoder.
//
// Structure: a stack of open entities (the message, multiparts, a
// message/rfc822 and its nested message, the current leaf). The top one is
// either collecting its header block (line by line) or receiving body
// bytes. While any multipart is open, body bytes are cut into lines so
// boundary lines can be recognised; the line end before a line that might
// be a boundary is held back, because RFC 2046 5.1.1 gives it to the
// boundary. With no multipart open, body bytes go straight through.
#include "mime/mime_decoder.h"

#include <algorithm>
#include <cstring>

namespace smtpgw::mime {

const char* limit_name(MimeLimit l) {
    switch (l) {
    case MimeLimit::depth:
        return "depth";
    case MimeLimit::parts:
        return "parts";
    case MimeLimit::header_block:
        return "header-block";
    case MimeLimit::header_line:
        return "header-line";
    case MimeLimit::boundary_length:
        return "boundary-length";
    case MimeLimit::decoded_bytes:
        return "decoded-bytes";
    }
    return "unknown";
}

namespace {

// Where the input goes next.
enum class Lex : std::uint8_t {
    header,     // a header line of the top entity
    body_fast,  // body, no multipart open: everything is data
    body_mid,   // body, inside a line
    line_start, // body, at a line start, the previous line end held back
    candidate,  // body, a line starting with "-" being collected
    discard,    // stopped by a limit
};

struct Entity {
    std::uint32_t part = 0; // valid once begun
    std::uint32_t parent = kNoParent;
    std::uint32_t depth = 0;
    bool begun = false;
    bool is_message = false;    // the message or a message/rfc822 body
    bool digest_parent = false; // RFC 2046 5.1.5: default type message/rfc822
    bool digest = false;        // multipart/digest
    bool boundary_open = false; // multipart whose close delimiter is not seen
    bool text = false;          // text/* leaf: uuencode is looked for
    PartKind kind = PartKind::leaf;
    TransferEncoding encoding = TransferEncoding::seven_bit;
    std::string boundary;
};

// Decoded-data slice: bounds the scratch buffer the decoders write to.
constexpr std::size_t kSlice = 16 * 1024;
constexpr std::size_t kDecRoom = kSlice + QpDecoder::kMaxPendingSpace + 2 + UuDecoder::kMaxLine;

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

} // namespace

struct MimeDecoder::Impl {
    Impl(MimeSink& s, const MimeLimits& l) : sink(s), limits(l) {
        dec.resize(kDecRoom);
        out.resize(kOutBatch);
        stack.reserve(limits.max_depth + 2);
        cand_cap = 2 + limits.max_boundary_bytes + 2 + limits.max_transport_padding + 1;
        reset();
    }

    void reset();
    void feed(const std::uint8_t* p, const std::uint8_t* end);
    void finish();

    // Lexer steps: each consumes from p and returns the new position.
    const std::uint8_t* lex_header(const std::uint8_t* p, const std::uint8_t* end);
    const std::uint8_t* lex_body_mid(const std::uint8_t* p, const std::uint8_t* end);
    const std::uint8_t* lex_candidate(const std::uint8_t* p, const std::uint8_t* end);

    void header_line(bool final_line);
    void end_headers();
    void begin_part(std::size_t level);
    void end_top();
    int match_boundary(std::string_view line, bool* close);
    void boundary(std::size_t level, bool close);
    void push_child(std::size_t parent_level);
    void body_lexer_start() {
        pending_eol_n = 0;
        lex = open_boundaries > 0 ? Lex::line_start : Lex::body_fast;
    }

    void data(const std::uint8_t* p, std::size_t n);
    void data(std::string_view s) {
        data(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
    }
    // The line end (CRLF or a bare LF) held until the next line is known.
    void hold_eol(bool crlf) {
        pending_eol[0] = crlf ? '\r' : '\n';
        pending_eol_n = crlf ? 2 : 1;
    }
    void flush_pending_eol() {
        if (pending_eol_n) {
            const std::uint8_t n = pending_eol_n;
            pending_eol_n = 0;
            data(pending_eol, n);
        }
    }
    void leaf_data(const std::uint8_t* p, std::size_t n);
    void leaf_finish();
    void text_out(const std::uint8_t* p, std::size_t n);
    void uu_line();
    void uu_begin(std::string_view name);
    void uu_end();
    void emit(std::uint32_t part, const std::uint8_t* p, std::size_t n);
    void flush_out();
    void halt(MimeLimit l);
    void set_limit(MimeLimit l) { summary.limits_exceeded |= limit_bit(l); }

    MimeSink& sink;
    const MimeLimits limits;
    MimeSummary summary;
    MimeAnomalies& anomalies = summary.anomalies;

    std::vector<Entity> stack;
    std::uint32_t open_boundaries = 0; // multiparts with boundary_open
    Lex lex = Lex::header;
    bool finished = false;
    bool halted = false;

    // Header collection (the top entity's).
    std::string hdr;
    std::string line;
    bool line_overflow = false;
    bool hdr_overflow = false;

    // Body lexer.
    std::uint8_t pending_eol[2] = {'\r', '\n'};
    std::uint8_t pending_eol_n = 0;
    bool pending_cr = false; // body_mid: the chunk ended on CR
    std::string cand;
    std::size_t cand_cap = 0;

    // The current leaf's decoder (one leaf is open at a time).
    Base64Decoder b64;
    QpDecoder qp;
    UuDecoder uu;
    std::vector<std::uint8_t> dec;

    // uuencode inside the current text leaf.
    std::string uu_buf;
    bool uu_overflow = false;
    bool uu_line_start = true;
    bool uu_collect = false;
    bool uu_block = false;
    bool uu_after_zero = false;
    std::uint32_t uu_part = 0;

    // Output batch (one part at a time).
    std::vector<std::uint8_t> out;
    std::size_t out_n = 0;
    std::uint32_t out_part = 0;

    PartInfo info;
    std::string scratch;
};

void MimeDecoder::Impl::reset() {
    summary = MimeSummary{};
    stack.clear();
    Entity root;
    root.is_message = true;
    stack.push_back(root);
    open_boundaries = 0;
    lex = Lex::header;
    finished = halted = false;
    hdr.clear();
    line.clear();
    line_overflow = hdr_overflow = false;
    pending_eol_n = 0;
    pending_cr = false;
    cand.clear();
    b64.reset();
    qp.reset();
    uu.reset();
    uu_buf.clear();
    uu_overflow = uu_collect = uu_block = uu_after_zero = false;
    uu_line_start = true;
    out_n = 0;
}

// ---------------------------------------------------------------- output

void MimeDecoder::Impl::flush_out() {
    if (out_n) {
        const std::size_t n = out_n;
        out_n = 0;
        sink.on_body_bytes(out_part, {out.data(), n});
    }
}

// Every body octet goes out here: the decoded-bytes budget is counted
// octet-exact, so the output is the same whatever the input split.
void MimeDecoder::Impl::emit(std::uint32_t part, const std::uint8_t* p, std::size_t n) {
    if (halted)
        return;
    const std::uint64_t room = limits.max_decoded_bytes - summary.decoded_bytes;
    const bool over = n > room;
    if (over)
        n = static_cast<std::size_t>(room);
    if (n) {
        if (out_n && out_part != part)
            flush_out();
        if (n >= kOutBatch / 2) {
            flush_out();
            sink.on_body_bytes(part, {p, n});
        } else {
            if (out_n + n > kOutBatch)
                flush_out();
            std::memcpy(out.data() + out_n, p, n);
            out_n += n;
            out_part = part;
        }
        summary.decoded_bytes += n;
    }
    if (over)
        halt(MimeLimit::decoded_bytes);
}

// A stopping limit: ends every open part (innermost first) and ignores the
// rest of the input.
void MimeDecoder::Impl::halt(MimeLimit l) {
    set_limit(l);
    if (halted)
        return;
    flush_out();
    halted = true;
    if (uu_block) {
        uu_block = false;
        sink.on_part_end(uu_part);
    }
    while (!stack.empty()) {
        if (stack.back().begun)
            sink.on_part_end(stack.back().part);
        stack.pop_back();
    }
    open_boundaries = 0;
    lex = Lex::discard;
}

// ---------------------------------------------------------------- body data

void MimeDecoder::Impl::data(const std::uint8_t* p, std::size_t n) {
    if (n == 0 || halted || stack.empty())
        return;
    const Entity& e = stack.back();
    if (e.kind == PartKind::multipart)
        emit(e.part, p, n); // preamble or epilogue, raw
    else
        leaf_data(p, n);
}

void MimeDecoder::Impl::leaf_data(const std::uint8_t* p, std::size_t n) {
    const TransferEncoding enc = stack.back().encoding;
    if (is_identity(enc) || enc == TransferEncoding::unknown) {
        text_out(p, n);
        return;
    }
    while (n > 0 && !halted) {
        const std::size_t take = std::min(n, kSlice);
        const std::span<const std::uint8_t> in(p, take);
        std::size_t k = 0;
        if (enc == TransferEncoding::base64)
            k = b64.decode(in, dec.data());
        else if (enc == TransferEncoding::quoted_printable)
            k = qp.decode(in, dec.data());
        else
            k = uu.decode(in, dec.data());
        text_out(dec.data(), k);
        p += take;
        n -= take;
    }
}

// The end of the leaf's body: what the decoder still holds, and the
// decoder's counts.
void MimeDecoder::Impl::leaf_finish() {
    const TransferEncoding enc = stack.back().encoding;
    std::size_t k = 0;
    if (enc == TransferEncoding::base64) {
        k = b64.finish(dec.data());
        anomalies.bad_base64_chars += b64.bad_chars();
        anomalies.base64_after_padding += b64.after_padding();
        anomalies.base64_truncated += b64.truncated();
        b64.reset();
    } else if (enc == TransferEncoding::quoted_printable) {
        k = qp.finish(dec.data());
        anomalies.bad_qp_escapes += qp.bad_escapes();
        qp.reset();
    } else if (enc == TransferEncoding::uuencode) {
        k = uu.finish(dec.data());
        anomalies.uuencode_bad_lines += uu.bad_lines();
        if (uu.missing_end() || !uu.saw_begin())
            ++anomalies.uuencode_missing_end;
        uu.reset();
    }
    text_out(dec.data(), k);
    if (halted || !stack.back().text)
        return;
    // A last line without a line end may still be "end" or data.
    if (uu_collect && !uu_line_start && !uu_buf.empty())
        uu_line();
    if (uu_block && !halted) {
        ++anomalies.uuencode_missing_end;
        uu_end();
    }
    uu_buf.clear();
    uu_overflow = uu_collect = uu_after_zero = false;
    uu_line_start = true;
}

// Decoded octets of the current leaf. In a text part, lines are watched
// for uuencode; text is emitted up to the end of each watched line before
// that line's uuencode output, so the order is the same for any split.
void MimeDecoder::Impl::text_out(const std::uint8_t* p, std::size_t n) {
    const Entity& e = stack.back();
    const std::uint32_t part = e.part;
    if (!e.text) {
        emit(part, p, n);
        return;
    }
    const std::uint8_t* const end = p + n;
    const std::uint8_t* run = p;
    while (p < end && !halted) {
        if (uu_line_start) {
            uu_collect = uu_block || *p == 'b';
            uu_line_start = false;
        }
        const auto* lf = static_cast<const std::uint8_t*>(
            std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
        const std::uint8_t* stop = lf ? lf : end;
        if (uu_collect && !uu_overflow) {
            const auto take = static_cast<std::size_t>(stop - p);
            if (uu_buf.size() + take > UuDecoder::kMaxLine)
                uu_overflow = true;
            else
                uu_buf.append(reinterpret_cast<const char*>(p), take);
        }
        if (!lf) {
            p = end;
            break;
        }
        p = lf + 1;
        if (uu_collect) {
            emit(part, run, static_cast<std::size_t>(p - run));
            run = p;
            if (halted)
                return;
            uu_line();
        }
        uu_line_start = true;
    }
    if (!halted)
        emit(part, run, static_cast<std::size_t>(end - run));
}

// One complete line of a text part that may be uuencode.
void MimeDecoder::Impl::uu_line() {
    std::string_view l(uu_buf);
    if (!l.empty() && l.back() == '\r')
        l.remove_suffix(1);
    const bool overflow = uu_overflow;
    bool check_begin = !uu_block;
    if (uu_block) {
        if (!overflow && is_uu_end(l)) {
            uu_end();
        } else if (uu_after_zero) {
            ++anomalies.uuencode_missing_end; // text after the data, no "end"
            uu_end();
            check_begin = true;
        } else {
            std::uint8_t buf[kMaxUuLineOutput];
            const int k = overflow ? -1 : decode_uu_line(l, buf);
            if (k < 0) {
                ++anomalies.uuencode_bad_lines;
                ++anomalies.uuencode_missing_end;
                uu_end();
                check_begin = true;
            } else if (k == 0) {
                uu_after_zero = true;
            } else {
                emit(uu_part, buf, static_cast<std::size_t>(k));
            }
        }
    }
    std::string_view name;
    if (check_begin && !halted && !overflow && parse_uu_begin(l, &name))
        uu_begin(name);
    uu_buf.clear();
    uu_overflow = false;
}

void MimeDecoder::Impl::uu_begin(std::string_view name) {
    const Entity& e = stack.back();
    if (e.depth + 1 > limits.max_depth) {
        ++anomalies.nested_past_limit;
        set_limit(MimeLimit::depth);
        return;
    }
    if (summary.parts >= limits.max_parts) {
        anomalies.parts_past_limit = 1;
        halt(MimeLimit::parts);
        return;
    }
    flush_out();
    info = PartInfo{};
    info.index = summary.parts++;
    info.parent = e.part;
    info.depth = e.depth + 1;
    info.kind = PartKind::uuencoded;
    info.content_type = "application/octet-stream";
    info.filename.assign(name);
    info.encoding = TransferEncoding::uuencode;
    info.attachment = true;
    summary.max_depth = std::max(summary.max_depth, info.depth);
    ++summary.uuencoded_parts;
    uu_part = info.index;
    uu_block = true;
    uu_after_zero = false;
    sink.on_part_begin(info);
}

void MimeDecoder::Impl::uu_end() {
    flush_out();
    uu_block = false;
    uu_after_zero = false;
    sink.on_part_end(uu_part);
}

// ---------------------------------------------------------------- structure

// RFC 2046 5.1.1: "--" boundary, or "--" boundary "--", then optional
// transport padding, matched exactly against the open boundaries,
// innermost first. Returns the stack level of the multipart, or -1.
int MimeDecoder::Impl::match_boundary(std::string_view l, bool* close) {
    while (!l.empty() && is_blank(l.back()))
        l.remove_suffix(1);
    if (l.size() < 3 || l[0] != '-' || l[1] != '-')
        return -1;
    l.remove_prefix(2);
    bool near = false;
    for (std::size_t i = stack.size(); i-- > 0;) {
        const Entity& e = stack[i];
        if (e.kind != PartKind::multipart || !e.boundary_open)
            continue;
        const std::string_view b(e.boundary);
        if (l.size() < b.size() || l.compare(0, b.size(), b) != 0)
            continue;
        if (l.size() == b.size()) {
            *close = false;
            return static_cast<int>(i);
        }
        if (l.size() == b.size() + 2 && l.substr(b.size()) == "--") {
            *close = true;
            return static_cast<int>(i);
        }
        near = true;
    }
    if (near)
        ++anomalies.near_boundary_lines;
    return -1;
}

// A delimiter of the multipart at stack `level`: the parts inside it end
// (an inner multipart still open misses its close delimiter), then a new
// child starts, or the epilogue does.
void MimeDecoder::Impl::boundary(std::size_t level, bool close) {
    pending_eol_n = 0; // RFC 2046 5.1.1: the line end before belongs to the delimiter
    while (stack.size() > level + 1 && !halted)
        end_top();
    if (halted)
        return;
    if (close) {
        stack[level].boundary_open = false;
        --open_boundaries;
        body_lexer_start();
    } else {
        push_child(level);
    }
}

void MimeDecoder::Impl::push_child(std::size_t parent_level) {
    Entity c;
    const Entity& p = stack[parent_level];
    c.parent = p.part;
    c.depth = p.depth + 1;
    c.is_message = p.kind == PartKind::message;
    c.digest_parent = p.digest;
    stack.push_back(std::move(c));
    hdr.clear();
    hdr_overflow = false;
    lex = Lex::header;
}

const std::uint8_t* MimeDecoder::Impl::lex_header(const std::uint8_t* p, const std::uint8_t* end) {
    const auto* lf =
        static_cast<const std::uint8_t*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    const std::uint8_t* stop = lf ? lf : end;
    const auto take = static_cast<std::size_t>(stop - p);
    // Room for the longest line and its CR.
    const std::size_t cap = limits.max_header_line_bytes + 1;
    if (line.size() + take > cap) {
        line.append(reinterpret_cast<const char*>(p), cap - line.size());
        line_overflow = true;
    } else {
        line.append(reinterpret_cast<const char*>(p), take);
    }
    if (!lf)
        return end;
    header_line(false);
    return lf + 1;
}

// A complete header line in `line` (final_line: the input ended without
// its line end).
void MimeDecoder::Impl::header_line(bool final_line) {
    std::string_view l(line);
    const bool crlf = !l.empty() && l.back() == '\r';
    if (crlf)
        l.remove_suffix(1);
    if (line_overflow && l.size() > limits.max_header_line_bytes)
        l = l.substr(0, limits.max_header_line_bytes);
    if (!line_overflow && l.empty()) {
        line.clear();
        end_headers();
        return;
    }
    if (!line_overflow && open_boundaries > 0) {
        bool close = false;
        const int level = match_boundary(l, &close);
        if (level >= 0) {
            // A delimiter inside the headers: the part has no body.
            line.clear();
            boundary(static_cast<std::size_t>(level), close);
            return;
        }
    }
    if (line_overflow) {
        ++anomalies.header_line_too_long;
        set_limit(MimeLimit::header_line);
    }
    const std::size_t eol = final_line ? 0 : (crlf ? 2 : 1);
    if (!hdr_overflow && hdr.size() + l.size() + eol <= limits.max_header_block_bytes) {
        hdr.append(l);
        hdr.append(crlf ? "\r\n" : "\n", eol);
    } else if (!hdr_overflow) {
        hdr_overflow = true;
        ++anomalies.header_block_too_long;
        set_limit(MimeLimit::header_block);
    }
    line.clear();
    line_overflow = false;
}

void MimeDecoder::Impl::end_headers() {
    const std::size_t level = stack.size() - 1;
    begin_part(level);
    if (halted)
        return;
    const Entity& e = stack[level];
    if (e.kind == PartKind::message)
        push_child(level);
    else
        body_lexer_start();
}

// Parses the header block of the entity at `level` and emits its begin,
// header bytes and fields; decides what its body is.
void MimeDecoder::Impl::begin_part(std::size_t level) {
    if (summary.parts >= limits.max_parts) {
        anomalies.parts_past_limit = 1;
        halt(MimeLimit::parts);
        return;
    }
    Entity& e = stack[level];
    HeaderIssues& hi = anomalies.header;

    MediaType ct;
    bool have_ct = false, have_cte = false, have_cd = false, have_subject = false;
    TransferEncoding enc = TransferEncoding::seven_bit;
    Disposition cd;
    DecodedText subject;
    {
        HeaderFieldReader reader(hdr);
        std::string_view name, raw;
        while (reader.next(&name, &raw, &hi)) {
            if (iequals(name, "content-type")) {
                unfold(raw, &scratch);
                if (!have_ct) {
                    ct = parse_content_type(scratch, &hi);
                    have_ct = true;
                    continue;
                }
                // Duplicates: the first wins (RFC 2045 has one field per part).
                ++anomalies.duplicate_content_type;
                const MediaType dup = parse_content_type(scratch, &hi);
                const MimeParam* b1 = ct.find("boundary");
                const MimeParam* b2 = dup.find("boundary");
                if (b2 && (!b1 || b1->value != b2->value))
                    ++anomalies.conflicting_boundary;
            } else if (iequals(name, "content-transfer-encoding")) {
                if (have_cte) {
                    ++anomalies.duplicate_cte;
                    continue;
                }
                unfold(raw, &scratch);
                enc = parse_transfer_encoding(scratch);
                have_cte = true;
            } else if (iequals(name, "content-disposition")) {
                unfold(raw, &scratch);
                if (!have_cd) {
                    cd = parse_content_disposition(scratch, &hi);
                    have_cd = true;
                    continue;
                }
                ++anomalies.duplicate_disposition;
                const Disposition dup = parse_content_disposition(scratch, &hi);
                const MimeParam* f1 = cd.find("filename");
                const MimeParam* f2 = dup.find("filename");
                if (f2 && (!f1 || f1->value != f2->value))
                    ++anomalies.conflicting_filename;
            } else if (e.is_message && !have_subject && iequals(name, "subject")) {
                unfold(raw, &scratch);
                subject = decode_encoded_words(scratch, &hi);
                have_subject = true;
            }
        }
    }

    info = PartInfo{};
    info.parent = e.parent;
    info.depth = e.depth;
    info.encoding = enc;
    if (enc == TransferEncoding::unknown)
        ++anomalies.unknown_cte;
    // RFC 2045 5.2 and RFC 2046 5.1.5: the default type.
    std::string type = e.digest_parent ? "message" : "text";
    std::string subtype = e.digest_parent ? "rfc822" : "plain";
    if (have_ct && !ct.valid)
        ++anomalies.bad_content_type;
    if (have_ct && ct.valid) {
        type = ct.type;
        subtype = ct.subtype;
    }
    info.content_type = type + "/" + subtype;
    if (const MimeParam* cs = ct.find("charset"))
        info.charset = to_lower(cs->value);
    info.disposition = cd.type;

    // The file name: Content-Disposition filename, else Content-Type name
    // (RFC 2231 values as given, others with encoded-words decoded).
    const auto decoded_name = [&](const MimeParam* p, std::string* bytes, std::string* cs) {
        if (p->extended) {
            *bytes = p->value;
            *cs = p->charset;
        } else {
            DecodedText d = decode_encoded_words(p->value, &hi);
            *bytes = std::move(d.bytes);
            *cs = std::move(d.charset);
        }
    };
    const MimeParam* fn = cd.find("filename");
    const MimeParam* nm = ct.find("name");
    if (fn) {
        decoded_name(fn, &info.filename, &info.filename_charset);
        if (fn->conflicting)
            ++anomalies.conflicting_filename;
    }
    if (nm) {
        std::string other, other_cs;
        decoded_name(nm, &other, &other_cs);
        if (!fn) {
            info.filename = std::move(other);
            info.filename_charset = std::move(other_cs);
        } else if (other != info.filename)
            ++anomalies.conflicting_filename; // clients differ on which they show
        if (nm->conflicting)
            ++anomalies.conflicting_filename;
    }
    if (e.is_message) {
        info.subject = std::move(subject.bytes);
        info.subject_charset = std::move(subject.charset);
    }

    // What the body is.
    PartKind kind = PartKind::leaf;
    const MimeParam* bp = ct.find("boundary");
    if (type == "multipart") {
        if (bp && bp->conflicting)
            ++anomalies.conflicting_boundary;
        if (!bp || bp->value.empty()) {
            ++anomalies.missing_boundary;
        } else if (bp->value.size() > limits.max_boundary_bytes) {
            ++anomalies.boundary_too_long;
            set_limit(MimeLimit::boundary_length);
        } else if (!is_identity(enc)) {
            ++anomalies.encoded_composite; // RFC 2045 6.4: only 7bit, 8bit, binary
        } else if (e.depth >= limits.max_depth) {
            ++anomalies.nested_past_limit;
            set_limit(MimeLimit::depth);
        } else {
            kind = PartKind::multipart;
        }
    } else if (type == "message" &&
               (subtype == "rfc822" || subtype == "global" || subtype == "news")) {
        if (!is_identity(enc)) {
            ++anomalies.encoded_composite;
        } else if (e.depth >= limits.max_depth) {
            ++anomalies.nested_past_limit;
            set_limit(MimeLimit::depth);
        } else {
            kind = PartKind::message;
        }
    }
    info.kind = kind;
    info.attachment = kind == PartKind::leaf &&
                      (cd.type == "attachment" || !info.filename.empty() || type != "text");

    e.kind = kind;
    e.encoding = enc;
    e.text = kind == PartKind::leaf && type == "text";
    e.digest = kind == PartKind::multipart && subtype == "digest";
    if (kind == PartKind::multipart) {
        for (const Entity& a : stack)
            if (a.kind == PartKind::multipart && a.boundary_open && a.boundary == bp->value)
                ++anomalies.reused_boundary;
        e.boundary = bp->value;
        e.boundary_open = true;
        ++open_boundaries;
    }
    info.index = summary.parts++;
    e.part = info.index;
    e.begun = true;
    summary.max_depth = std::max(summary.max_depth, e.depth);
    summary.header_bytes += hdr.size();

    flush_out();
    sink.on_part_begin(info);
    sink.on_header_bytes(e.part, {reinterpret_cast<const std::uint8_t*>(hdr.data()), hdr.size()});
    HeaderIssues ignored; // counted in the first pass
    HeaderFieldReader reader(hdr);
    std::string_view name, raw;
    while (reader.next(&name, &raw, &ignored)) {
        unfold(raw, &scratch);
        sink.on_header_field(e.part, name, scratch);
    }
    hdr.clear();
    hdr_overflow = false;
}

// Ends the top entity (begins it first if its headers were cut short).
void MimeDecoder::Impl::end_top() {
    Entity& e = stack.back();
    if (!e.begun) {
        // Headers without their blank line; a part with nothing at all is
        // not a part, except the message itself.
        if (!hdr.empty() || stack.size() == 1) {
            begin_part(stack.size() - 1);
            if (halted)
                return;
        }
        if (!stack.back().begun) {
            stack.pop_back();
            return;
        }
    }
    Entity& t = stack.back();
    if (t.kind == PartKind::leaf) {
        leaf_finish();
        if (halted)
            return;
    } else if (t.kind == PartKind::multipart && t.boundary_open) {
        ++anomalies.missing_final_boundary;
        t.boundary_open = false;
        --open_boundaries;
    }
    flush_out();
    const std::uint32_t part = t.part;
    stack.pop_back();
    sink.on_part_end(part);
}

// ---------------------------------------------------------------- body lexer

const std::uint8_t* MimeDecoder::Impl::lex_body_mid(const std::uint8_t* p,
                                                    const std::uint8_t* end) {
    if (pending_cr) {
        pending_cr = false;
        if (*p == '\n') {
            hold_eol(true);
            lex = Lex::line_start;
            return p + 1;
        }
        data(reinterpret_cast<const std::uint8_t*>("\r"), 1);
    }
    const auto* lf =
        static_cast<const std::uint8_t*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    if (lf) {
        const bool cr = lf > p && lf[-1] == '\r';
        data(p, static_cast<std::size_t>(lf - p) - (cr ? 1 : 0));
        // The line end is held until the next line is known not to be a
        // delimiter.
        hold_eol(cr);
        lex = Lex::line_start;
        return lf + 1;
    }
    const bool cr = end[-1] == '\r';
    data(p, static_cast<std::size_t>(end - p) - (cr ? 1 : 0));
    pending_cr = cr;
    return end;
}

const std::uint8_t* MimeDecoder::Impl::lex_candidate(const std::uint8_t* p,
                                                     const std::uint8_t* end) {
    const auto* lf =
        static_cast<const std::uint8_t*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    const std::uint8_t* stop = lf ? lf : end;
    const auto take = static_cast<std::size_t>(stop - p);
    if (cand.size() + take > cand_cap) {
        // Too long for a delimiter (with its padding): ordinary data.
        flush_pending_eol();
        data(cand);
        cand.clear();
        lex = Lex::body_mid;
        return p;
    }
    cand.append(reinterpret_cast<const char*>(p), take);
    if (!lf)
        return end;
    std::string_view l(cand);
    const bool cr = !l.empty() && l.back() == '\r';
    if (cr)
        l.remove_suffix(1);
    bool close = false;
    const int level = match_boundary(l, &close);
    if (level >= 0) {
        cand.clear();
        boundary(static_cast<std::size_t>(level), close);
        return lf + 1;
    }
    flush_pending_eol();
    data(l);
    cand.clear();
    hold_eol(cr);
    lex = Lex::line_start;
    return lf + 1;
}

void MimeDecoder::Impl::feed(const std::uint8_t* p, const std::uint8_t* end) {
    summary.input_bytes += static_cast<std::uint64_t>(end - p);
    if (finished || halted)
        return;
    while (p < end && !halted) {
        switch (lex) {
        case Lex::header:
            p = lex_header(p, end);
            break;
        case Lex::body_fast:
            data(p, static_cast<std::size_t>(end - p));
            p = end;
            break;
        case Lex::body_mid:
            p = lex_body_mid(p, end);
            break;
        case Lex::line_start:
            if (*p == '-') {
                cand.clear();
                lex = Lex::candidate;
            } else {
                flush_pending_eol();
                lex = Lex::body_mid;
            }
            break;
        case Lex::candidate:
            p = lex_candidate(p, end);
            break;
        case Lex::discard:
            p = end;
            break;
        }
    }
    flush_out();
}

void MimeDecoder::Impl::finish() {
    if (finished)
        return;
    finished = true;
    if (halted)
        return;
    switch (lex) {
    case Lex::header:
        if (!line.empty() || line_overflow)
            header_line(true);
        break;
    case Lex::body_mid:
        if (pending_cr) {
            pending_cr = false;
            data(reinterpret_cast<const std::uint8_t*>("\r"), 1);
        }
        break;
    case Lex::line_start:
        flush_pending_eol();
        break;
    case Lex::candidate:
        flush_pending_eol();
        data(cand);
        cand.clear();
        break;
    case Lex::body_fast:
    case Lex::discard:
        break;
    }
    while (!stack.empty() && !halted)
        end_top();
    flush_out();
}

// ---------------------------------------------------------------- public

MimeDecoder::MimeDecoder(MimeSink& sink, const MimeLimits& limits)
    : impl_(std::make_unique<Impl>(sink, limits)) {}

MimeDecoder::~MimeDecoder() = default;

void MimeDecoder::reset() {
    impl_->reset();
}

void MimeDecoder::feed(std::span<const std::uint8_t> data) {
    impl_->feed(data.data(), data.data() + data.size());
}

const MimeSummary& MimeDecoder::finish() {
    impl_->finish();
    return impl_->summary;
}

const MimeSummary& MimeDecoder::summary() const {
    return impl_->summary;
}

} // namespace smtpgw::mime
