// mime_decoder_test.cc: the streaming MIME decoder (mime/mime_decoder.h):
// message structures (simple, multipart at depth, message/rfc822, encodings,
// uuencode in text, RFC 2047/2231 file names), each evasion it must see
// through or flag (duplicate headers, conflicting and prefix boundaries,
// missing close delimiters, limits), input split at every offset and one
// octet at a time, random input and decoding bombs.
#include "mime/mime_decoder.h"

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <CppUTest/TestHarness.h>

using namespace smtpgw::mime;

namespace {

// Non-printable octets, CR and LF as escapes, so outlines compare as text.
std::string escape(std::string_view s) {
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '\r')
            out += "\\r";
        else if (c == '\n')
            out += "\\n";
        else if (c == '\\')
            out += "\\\\";
        else if (c < 0x20 || c >= 0x7f)
            out += std::string("\\x") + hex[c >> 4] + hex[c & 15];
        else
            out += ch;
    }
    return out;
}

// Records every event and checks the sink contract as it goes.
struct Recorder : MimeSink {
    std::vector<PartInfo> parts;
    std::map<std::uint32_t, std::string> headers, bodies;
    std::map<std::uint32_t, bool> open;
    std::vector<std::string> fields; // "part name: value"
    std::string events;              // "b0 b1 e1 e0"
    bool ok = true;
    std::string error;

    void fail(const std::string& why) {
        if (ok)
            error = why;
        ok = false;
    }
    void on_part_begin(const PartInfo& p) override {
        if (p.index != parts.size())
            fail("part index out of order");
        if (p.parent != kNoParent && !open[p.parent])
            fail("parent not open");
        parts.push_back(p);
        open[p.index] = true;
        events += "b" + std::to_string(p.index) + " ";
    }
    void on_header_bytes(std::uint32_t part, std::span<const std::uint8_t> raw) override {
        if (!open[part] || headers.count(part) || bodies.count(part))
            fail("header bytes out of order");
        headers[part].assign(reinterpret_cast<const char*>(raw.data()), raw.size());
    }
    void on_header_field(std::uint32_t part, std::string_view name,
                         std::string_view value) override {
        if (!open[part] || bodies.count(part))
            fail("header field out of order");
        fields.push_back(std::to_string(part) + " " + std::string(name) + ": " +
                         std::string(value));
    }
    void on_body_bytes(std::uint32_t part, std::span<const std::uint8_t> b) override {
        if (!open[part])
            fail("body of a part not open");
        if (b.empty())
            fail("empty body span");
        bodies[part].append(reinterpret_cast<const char*>(b.data()), b.size());
    }
    void on_part_end(std::uint32_t part) override {
        if (!open[part])
            fail("end of a part not open");
        for (const auto& p : parts)
            if (p.parent == part && open[p.index])
                fail("parent ended before its child");
        open[part] = false;
        events += "e" + std::to_string(part) + " ";
    }
};

struct Result {
    Recorder rec;
    MimeSummary summary;
};

Result decode_msg(std::string_view in, const std::vector<std::size_t>& cuts,
                  const MimeLimits& limits = {}) {
    Result r;
    MimeDecoder d(r.rec, limits);
    std::size_t pos = 0;
    for (std::size_t cut : cuts) {
        d.feed(in.substr(pos, cut - pos));
        pos = cut;
    }
    d.feed(in.substr(pos));
    r.summary = d.finish();
    for (const auto& [part, is_open] : r.rec.open)
        if (is_open)
            r.rec.fail("part " + std::to_string(part) + " never ended");
    return r;
}

// Named non-zero counters and limits of a summary, e.g.
// "duplicate_cte=1 limit:parts".
std::string anomalies(const MimeSummary& s) {
    std::string out;
    const auto add = [&](const char* name, std::uint64_t v) {
        if (v)
            out += std::string(out.empty() ? "" : " ") + name + "=" + std::to_string(v);
    };
    const MimeAnomalies& a = s.anomalies;
    add("duplicate_content_type", a.duplicate_content_type);
    add("duplicate_cte", a.duplicate_cte);
    add("duplicate_disposition", a.duplicate_disposition);
    add("conflicting_boundary", a.conflicting_boundary);
    add("conflicting_filename", a.conflicting_filename);
    add("missing_boundary", a.missing_boundary);
    add("reused_boundary", a.reused_boundary);
    add("missing_final_boundary", a.missing_final_boundary);
    add("near_boundary_lines", a.near_boundary_lines);
    add("bad_content_type", a.bad_content_type);
    add("unknown_cte", a.unknown_cte);
    add("encoded_composite", a.encoded_composite);
    add("header_line_too_long", a.header_line_too_long);
    add("header_block_too_long", a.header_block_too_long);
    add("boundary_too_long", a.boundary_too_long);
    add("nested_past_limit", a.nested_past_limit);
    add("parts_past_limit", a.parts_past_limit);
    add("bad_base64_chars", a.bad_base64_chars);
    add("base64_after_padding", a.base64_after_padding);
    add("base64_truncated", a.base64_truncated);
    add("bad_qp_escapes", a.bad_qp_escapes);
    add("uuencode_missing_end", a.uuencode_missing_end);
    add("uuencode_bad_lines", a.uuencode_bad_lines);
    add("malformed_lines", a.header.malformed_lines);
    add("malformed_params", a.header.malformed_params);
    add("duplicate_params", a.header.duplicate_params);
    add("bad_rfc2231", a.header.bad_rfc2231);
    add("bad_encoded_words", a.header.bad_encoded_words);
    add("mixed_charsets", a.header.mixed_charsets);
    for (MimeLimit l :
         {MimeLimit::depth, MimeLimit::parts, MimeLimit::header_block, MimeLimit::header_line,
          MimeLimit::boundary_length, MimeLimit::decoded_bytes})
        if (s.exceeded(l))
            out += std::string(out.empty() ? "" : " ") + "limit:" + limit_name(l);
    return out;
}

// One line per part: "#index<parent type [name=...] [att] {body}".
std::string outline(const Result& r) {
    std::string out;
    for (const auto& p : r.rec.parts) {
        out += '#';
        out += std::to_string(p.index);
        if (p.parent != kNoParent) {
            out += '<';
            out += std::to_string(p.parent);
        }
        out += ' ';
        out += p.content_type;
        if (!p.filename.empty())
            out += " name=" + escape(p.filename);
        if (p.attachment)
            out += " att";
        auto it = r.rec.bodies.find(p.index);
        out += " {" + escape(it == r.rec.bodies.end() ? "" : it->second) + "}\n";
    }
    return out;
}

// Everything observable, for split comparisons.
std::string dump(const Result& r) {
    std::string out = outline(r) + r.rec.events + "\n";
    for (const auto& p : r.rec.parts)
        out += std::to_string(p.index) + " d" + std::to_string(p.depth) + " k" +
               std::to_string(static_cast<int>(p.kind)) + " cs=" + p.charset +
               " fcs=" + p.filename_charset + " disp=" + p.disposition +
               " enc=" + transfer_encoding_name(p.encoding) + " subj=" + escape(p.subject) +
               " scs=" + p.subject_charset + "\n";
    for (const auto& [part, h] : r.rec.headers)
        out += std::to_string(part) + " H{" + escape(h) + "}\n";
    for (const auto& f : r.rec.fields)
        out += "F " + escape(f) + "\n";
    const MimeSummary& s = r.summary;
    out += "parts=" + std::to_string(s.parts) + " depth=" + std::to_string(s.max_depth) +
           " uu=" + std::to_string(s.uuencoded_parts) + " in=" + std::to_string(s.input_bytes) +
           " hdr=" + std::to_string(s.header_bytes) + " dec=" + std::to_string(s.decoded_bytes) +
           " " + anomalies(s) + "\n";
    if (!r.rec.ok)
        out += "SINK CONTRACT BROKEN: " + r.rec.error + "\n";
    return out;
}

// "\n" line ends to CRLF (test messages are written with "\n").
std::string crlf(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '\n')
            out += '\r';
        out += c;
    }
    return out;
}

// `n` multiparts nested in each other, the innermost holding a text part.
std::string nested(int n) {
    std::string head, tail;
    for (int i = 0; i < n; ++i) {
        const std::string b = 'b' + std::to_string(i);
        head += "Content-Type: multipart/mixed; boundary=";
        head += b;
        head += "\n\n--";
        head += b;
        head += '\n';
        std::string t = "\n--";
        t += b;
        t += "--";
        t += tail;
        tail = std::move(t);
    }
    return head + "Content-Type: text/plain\n\ndeep" + tail + "\n";
}

// A multipart/mixed with `n` text parts.
std::string many_parts(int n) {
    std::string s = "Content-Type: multipart/mixed; boundary=p\n\n";
    for (int i = 0; i < n; ++i)
        s += "--p\nContent-Type: text/plain\n\npart " + std::to_string(i) + "\n";
    return s + "--p--\n";
}

const char* const kUuBlock = "begin 644 evil.exe\n"
                             "M35J0``,````$````__]U=2!P87EL;V%D.B!T:&ES(&ES('1H92!H:61D96X@\n"
                             "M9FEL92!C;VYT96YT+\"!L;VYG97(@=&AA;B!O;F4@;&EN92!O9B!U=65N8V]D\n"
                             "\"92$`\n"
                             "`\n"
                             "end\n";
const char* const kUuPayloadEscaped =
    "MZ\\x90\\x00\\x03\\x00\\x00\\x00\\x04\\x00\\x00\\x00\\xff\\xffuu payload: this is the hidden "
    "file content, longer than one line of uuencode!";

MimeLimits limits_with(void (*set)(MimeLimits&)) {
    MimeLimits l;
    set(l);
    return l;
}

struct Case {
    const char* name;
    std::string input; // "\n" line ends, made CRLF unless bare_lf
    std::string outline;
    std::string anomalies;
    MimeLimits limits = {};
    bool bare_lf = false;
};

std::vector<Case> cases() {
    std::vector<Case> c;
    c.push_back({"simple text", "From: a@example.com\nSubject: hi\n\nHello\nWorld\n",
                 "#0 text/plain {Hello\\r\\nWorld\\r\\n}\n", ""});
    c.push_back({"empty message", "", "#0 text/plain {}\n", ""});
    c.push_back({"headers only, no blank line", "Subject: x\nFrom: y", "#0 text/plain {}\n", ""});
    c.push_back({"no headers", "\nbody only\n", "#0 text/plain {body only\\r\\n}\n", ""});
    c.push_back({"multipart/mixed with a base64 attachment",
                 "MIME-Version: 1.0\n"
                 "Content-Type: multipart/mixed; boundary=\"XX\"\n"
                 "\n"
                 "preamble\n"
                 "--XX\n"
                 "Content-Type: text/plain; charset=UTF-8\n"
                 "\n"
                 "Hi there\n"
                 "--XX\n"
                 "Content-Type: application/octet-stream; name=\"a.bin\"\n"
                 "Content-Disposition: attachment; filename=\"a.bin\"\n"
                 "Content-Transfer-Encoding: base64\n"
                 "\n"
                 "SGVsbG8g\n"
                 "d29ybGQ=\n"
                 "--XX--\n"
                 "epilogue\n",
                 "#0 multipart/mixed {preambleepilogue\\r\\n}\n"
                 "#1<0 text/plain {Hi there}\n"
                 "#2<0 application/octet-stream name=a.bin att {Hello world}\n",
                 ""});
    c.push_back({"nested multipart/alternative inside multipart/mixed",
                 "Content-Type: multipart/mixed; boundary=outer\n"
                 "\n"
                 "--outer\n"
                 "Content-Type: multipart/alternative; boundary=inner\n"
                 "\n"
                 "--inner\n"
                 "Content-Type: text/plain\n"
                 "\n"
                 "plain\n"
                 "--inner\n"
                 "Content-Type: text/html\n"
                 "\n"
                 "<b>html</b>\n"
                 "--inner--\n"
                 "--outer\n"
                 "Content-Type: application/pdf; name=x.pdf\n"
                 "Content-Transfer-Encoding: base64\n"
                 "\n"
                 "JVBERi0=\n"
                 "--outer--\n",
                 "#0 multipart/mixed {}\n"
                 "#1<0 multipart/alternative {}\n"
                 "#2<1 text/plain {plain}\n"
                 "#3<1 text/html {<b>html</b>}\n"
                 "#4<0 application/pdf name=x.pdf att {%PDF-}\n",
                 ""});
    c.push_back({"message/rfc822 inside",
                 "Content-Type: multipart/mixed; boundary=b1\n"
                 "\n"
                 "--b1\n"
                 "Content-Type: text/plain\n"
                 "\n"
                 "see attached\n"
                 "--b1\n"
                 "Content-Type: message/rfc822\n"
                 "\n"
                 "From: x@example.com\n"
                 "Subject: =?UTF-8?B?SGVsbG8=?=\n"
                 "Content-Type: multipart/mixed; boundary=b2\n"
                 "\n"
                 "--b2\n"
                 "Content-Type: text/plain\n"
                 "\n"
                 "inner body\n"
                 "--b2--\n"
                 "--b1--\n",
                 "#0 multipart/mixed {}\n"
                 "#1<0 text/plain {see attached}\n"
                 "#2<0 message/rfc822 {}\n"
                 "#3<2 multipart/mixed {}\n"
                 "#4<3 text/plain {inner body}\n",
                 ""});
    c.push_back({"quoted-printable body",
                 "Content-Type: text/plain; charset=iso-8859-1\n"
                 "Content-Transfer-Encoding: quoted-printable\n"
                 "\n"
                 "caf=E9 soft=\n"
                 "line=3D  \n"
                 "end\n",
                 "#0 text/plain {caf\\xe9 softline=\\r\\nend\\r\\n}\n", ""});
    c.push_back({"quoted-printable invalid escapes",
                 "Content-Type: multipart/mixed; boundary=q\n\n--q\n"
                 "Content-Transfer-Encoding: quoted-printable\n\n"
                 "a=ZZb=4\n"
                 "--q--\n",
                 "#0 multipart/mixed {}\n#1<0 text/plain {a=ZZb=4}\n", "bad_qp_escapes=2"});
    c.push_back({"uuencode in a text part",
                 std::string("Subject: files\n\nHere is the file\n") + kUuBlock + "bye\n",
                 std::string("#0 text/plain {Here is the file\\r\\n") + escape(crlf(kUuBlock)) +
                     "bye\\r\\n}\n#1<0 application/octet-stream "
                     "name=evil.exe att {" +
                     kUuPayloadEscaped + "}\n",
                 ""});
    c.push_back({"uuencode without end in a multipart text part",
                 "Content-Type: multipart/mixed; boundary=u\n\n--u\n\n"
                 "begin 600 a.txt\n#86)C\n--u--\n",
                 "#0 multipart/mixed {}\n#1<0 text/plain {begin 600 a.txt\\r\\n#86)C}\n"
                 "#2<1 application/octet-stream name=a.txt att {abc}\n",
                 "uuencode_missing_end=1"});
    c.push_back(
        {"x-uuencode transfer encoding",
         std::string("Content-Type: application/octet-stream; name=f.exe\n"
                     "Content-Transfer-Encoding: x-uuencode\n\n") +
             kUuBlock,
         std::string("#0 application/octet-stream name=f.exe att {") + kUuPayloadEscaped + "}\n",
         ""});
    c.push_back({"RFC 2047 B file name",
                 "Content-Type: application/pdf\n"
                 "Content-Disposition: attachment; filename=\"=?UTF-8?B?w6lsw6h2ZS5wZGY=?=\"\n"
                 "\n"
                 "x",
                 "#0 application/pdf name=\\xc3\\xa9l\\xc3\\xa8ve.pdf att {x}\n", ""});
    c.push_back({"RFC 2047 Q name in Content-Type",
                 "Content-Type: application/msword; name=\"=?ISO-8859-1?Q?r=E9sum=E9.doc?=\"\n"
                 "\n"
                 "x",
                 "#0 application/msword name=r\\xe9sum\\xe9.doc att {x}\n", ""});
    c.push_back({"RFC 2231 filename*",
                 "Content-Type: text/plain\n"
                 "Content-Disposition: attachment;\n"
                 " filename*0*=UTF-8''%E2%82%AC%20rates;\n"
                 " filename*1=\".txt\"\n"
                 "\n"
                 "x",
                 "#0 text/plain name=\\xe2\\x82\\xac rates.txt att {x}\n", ""});
    c.push_back({"duplicate Content-Transfer-Encoding: the first wins",
                 "Content-Type: application/octet-stream\n"
                 "Content-Transfer-Encoding: base64\n"
                 "Content-Transfer-Encoding: quoted-printable\n"
                 "\n"
                 "SGk=\n",
                 "#0 application/octet-stream att {Hi}\n", "duplicate_cte=1"});
    c.push_back({"conflicting boundary in two Content-Type fields",
                 "Content-Type: multipart/mixed; boundary=aaa\n"
                 "Content-Type: multipart/mixed; boundary=bbb\n"
                 "\n"
                 "--bbb\n"
                 "Content-Type: text/plain\n"
                 "\n"
                 "hidden\n"
                 "--aaa\n"
                 "Content-Type: text/plain\n"
                 "\n"
                 "visible\n"
                 "--aaa--\n",
                 "#0 multipart/mixed {--bbb\\r\\nContent-Type: text/plain\\r\\n\\r\\nhidden}\n"
                 "#1<0 text/plain {visible}\n",
                 "duplicate_content_type=1 conflicting_boundary=1"});
    c.push_back({"conflicting boundary parameters in one field",
                 "Content-Type: multipart/mixed; boundary=aaa; boundary=bbb\n"
                 "\n"
                 "--aaa\n\nx\n--aaa--\n",
                 "#0 multipart/mixed {}\n#1<0 text/plain {x}\n",
                 "conflicting_boundary=1 duplicate_params=1"});
    c.push_back({"boundary that is a prefix of the inner one",
                 "Content-Type: multipart/mixed; boundary=\"abc\"\n"
                 "\n"
                 "--abc\n"
                 "Content-Type: multipart/alternative; boundary=\"abcdef\"\n"
                 "\n"
                 "--abcdef\n"
                 "\n"
                 "one\n"
                 "--abcdef\n"
                 "\n"
                 "two\n"
                 "--abcdef--\n"
                 "--abc\n"
                 "\n"
                 "three\n"
                 "--abc--\n",
                 "#0 multipart/mixed {}\n#1<0 multipart/alternative {}\n"
                 "#2<1 text/plain {one}\n#3<1 text/plain {two}\n#4<0 text/plain {three}\n",
                 ""});
    c.push_back({"outer close delimiter equal to the inner delimiter: innermost wins",
                 "Content-Type: multipart/mixed; boundary=\"x\"\n"
                 "\n"
                 "--x\n"
                 "Content-Type: multipart/mixed; boundary=\"x--\"\n"
                 "\n"
                 "--x--\n"
                 "\n"
                 "inner\n"
                 "--x----\n"
                 "--x--\n",
                 "#0 multipart/mixed {}\n#1<0 multipart/mixed {}\n#2<1 text/plain {inner}\n", ""});
    c.push_back({"missing final boundary",
                 "Content-Type: multipart/mixed; boundary=q\n"
                 "\n"
                 "--q\n"
                 "Content-Type: text/plain\n"
                 "\n"
                 "text without end\n",
                 "#0 multipart/mixed {}\n#1<0 text/plain {text without end\\r\\n}\n",
                 "missing_final_boundary=1"});
    c.push_back({"missing inner close recovered by the outer boundary",
                 "Content-Type: multipart/mixed; boundary=out\n"
                 "\n"
                 "--out\n"
                 "Content-Type: multipart/alternative; boundary=in\n"
                 "\n"
                 "--in\n"
                 "\n"
                 "a\n"
                 "--out\n"
                 "\n"
                 "b\n"
                 "--out--\n",
                 "#0 multipart/mixed {}\n#1<0 multipart/alternative {}\n#2<1 text/plain {a}\n"
                 "#3<0 text/plain {b}\n",
                 "missing_final_boundary=1"});
    c.push_back({"boundary never found: the body is the multipart's own text",
                 "Content-Type: multipart/mixed; boundary=zzz\n\nsome text\n--zz\n",
                 "#0 multipart/mixed {some text\\r\\n--zz\\r\\n}\n", "missing_final_boundary=1"});
    c.push_back({"near-boundary lines are data and counted",
                 "Content-Type: multipart/mixed; boundary=nb\n\n--nb\n\nx\n--nbX\n--nb --\n"
                 "--nb--\n",
                 "#0 multipart/mixed {}\n#1<0 text/plain {x\\r\\n--nbX\\r\\n--nb --}\n",
                 "near_boundary_lines=2"});
    c.push_back(
        {"transport padding after boundaries",
         "Content-Type: multipart/mixed; boundary=tp\n\n--tp \t \nContent-Type: text/plain\n"
         "\nbody\n--tp-- \n",
         "#0 multipart/mixed {}\n#1<0 text/plain {body}\n", ""});
    c.push_back({"boundary inside part headers ends the part",
                 "Content-Type: multipart/mixed; boundary=h\n\n--h\nContent-Type: text/html\n--h\n"
                 "\nsecond\n--h--\n",
                 "#0 multipart/mixed {}\n#1<0 text/html {}\n#2<0 text/plain {second}\n", ""});
    c.push_back({"multipart without boundary is a leaf",
                 "Content-Type: multipart/mixed\n\n--x\n\ny\n",
                 "#0 multipart/mixed att {--x\\r\\n\\r\\ny\\r\\n}\n", "missing_boundary=1"});
    c.push_back({"boundary reused by a child",
                 "Content-Type: multipart/mixed; boundary=r\n\n--r\n"
                 "Content-Type: multipart/mixed; boundary=r\n\n--r\n\nx\n--r--\n--r--\n",
                 "#0 multipart/mixed {}\n#1<0 multipart/mixed {}\n#2<1 text/plain {x}\n",
                 "reused_boundary=1"});
    c.push_back({"multipart/digest parts default to message/rfc822",
                 "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nbody1\n"
                 "--d--\n",
                 "#0 multipart/digest {}\n#1<0 message/rfc822 {}\n#2<1 text/plain {body1}\n", ""});
    c.push_back({"base64-encoded message/rfc822 is scanned as an attachment",
                 "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
                 "U3ViamVjdDogeA0KDQpoaQ==\n",
                 "#0 message/rfc822 att {Subject: x\\r\\n\\r\\nhi}\n", "encoded_composite=1"});
    c.push_back({"unknown transfer encoding passes through",
                 "Content-Transfer-Encoding: x-gzip64\n\nH4sI\n", "#0 text/plain {H4sI\\r\\n}\n",
                 "unknown_cte=1"});
    c.push_back({"invalid Content-Type falls back to text/plain", "Content-Type: garbage\n\nx",
                 "#0 text/plain {x}\n", "bad_content_type=1"});
    c.push_back(
        {"base64 with junk and no padding",
         "Content-Type: image/png\nContent-Transfer-Encoding: base64\n\nSGV*sbG8g\nd29ybGQ\n",
         "#0 image/png att {Hello world}\n", "bad_base64_chars=1"});
    c.push_back({"base64 data after padding is still decoded",
                 "Content-Type: image/png\nContent-Transfer-Encoding: base64\n\nSGk=\nTVo=\n",
                 "#0 image/png att {HiMZ}\n", "base64_after_padding=1"});
    c.push_back({"conflicting file names",
                 "Content-Type: application/octet-stream; name=\"a.txt\"\n"
                 "Content-Disposition: attachment; filename=\"a.exe\"\n\nx",
                 "#0 application/octet-stream name=a.exe att {x}\n", "conflicting_filename=1"});
    c.push_back({"bare LF line ends",
                 "Content-Type: multipart/mixed; boundary=lf\n\n--lf\nContent-Type: text/plain\n\n"
                 "line1\nline2\n--lf\nContent-Transfer-Encoding: base64\n\nSGk=\n--lf--\n",
                 "#0 multipart/mixed {}\n#1<0 text/plain {line1\\nline2}\n#2<0 text/plain {Hi}\n",
                 "",
                 {},
                 true});
    c.push_back({"depth past the limit: the deepest multipart is a raw leaf", nested(4),
                 "#0 multipart/mixed {}\n#1<0 multipart/mixed {}\n#2<1 multipart/mixed {}\n"
                 "#3<2 multipart/mixed att {--b3\\r\\nContent-Type: text/plain\\r\\n\\r\\ndeep"
                 "\\r\\n--b3--}\n",
                 "nested_past_limit=1 limit:depth",
                 limits_with([](MimeLimits& l) { l.max_depth = 3; })});
    c.push_back({"depth at the limit is fine", nested(3),
                 "#0 multipart/mixed {}\n#1<0 multipart/mixed {}\n#2<1 multipart/mixed {}\n"
                 "#3<2 text/plain {deep}\n",
                 "", limits_with([](MimeLimits& l) { l.max_depth = 3; })});
    c.push_back({"parts past the limit stop the decoder", many_parts(5),
                 "#0 multipart/mixed {}\n#1<0 text/plain {part 0}\n#2<0 text/plain {part 1}\n",
                 "parts_past_limit=1 limit:parts",
                 limits_with([](MimeLimits& l) { l.max_parts = 3; })});
    c.push_back({"header line too long is cut",
                 "X-Long: " + std::string(40, 'a') + "\nContent-Type: text/html\n\nx",
                 "#0 text/html {x}\n", "header_line_too_long=1 limit:header-line",
                 limits_with([](MimeLimits& l) { l.max_header_line_bytes = 30; })});
    c.push_back({"header block too long is cut",
                 "Content-Type: text/html\nX-A: 1234567890\nX-B: 1234567890\n\nx",
                 "#0 text/html {x}\n", "header_block_too_long=1 limit:header-block",
                 limits_with([](MimeLimits& l) { l.max_header_block_bytes = 40; })});
    c.push_back({"boundary too long makes the multipart a leaf",
                 "Content-Type: multipart/mixed; boundary=" + std::string(20, 'b') + "\n\nx\n",
                 "#0 multipart/mixed att {x\\r\\n}\n", "boundary_too_long=1 limit:boundary-length",
                 limits_with([](MimeLimits& l) { l.max_boundary_bytes = 10; })});
    c.push_back({"decoded bytes past the budget stop the decoder",
                 "Content-Type: multipart/mixed; boundary=d\n\n--d\n\n0123456789\n--d\n\nabcdef\n"
                 "--d--\n",
                 "#0 multipart/mixed {}\n#1<0 text/plain {0123456789}\n#2<0 text/plain {ab}\n",
                 "limit:decoded-bytes",
                 limits_with([](MimeLimits& l) { l.max_decoded_bytes = 12; })});
    c.push_back({"decoded budget counts uuencode output in order",
                 std::string("\n") + "begin 644 a\n#86)C\n`\nend\ntail text\n",
                 "#0 text/plain {begin 644 a\\r\\n#86)C\\r\\n}\n"
                 "#1<0 application/octet-stream name=a att {ab}\n",
                 "limit:decoded-bytes",
                 limits_with([](MimeLimits& l) { l.max_decoded_bytes = 22; })});
    return c;
}

// The message of a case, with the line ends it is to be fed with.
std::string input_of(const Case& c) {
    return c.bare_lf ? c.input : crlf(c.input);
}

} // namespace

TEST_GROUP(MimeDecoder){};

TEST(MimeDecoder, CasesTable) {
    for (const Case& c : cases()) {
        const Result r = decode_msg(input_of(c), {}, c.limits);
        STRCMP_EQUAL_TEXT(c.outline.c_str(), outline(r).c_str(), c.name);
        STRCMP_EQUAL_TEXT(c.anomalies.c_str(), anomalies(r.summary).c_str(), c.name);
        CHECK_TRUE_TEXT(r.rec.ok, (std::string(c.name) + ": " + r.rec.error).c_str());
        CHECK_EQUAL_TEXT(r.rec.parts.size(), r.summary.parts, c.name);
        CHECK_EQUAL_TEXT(input_of(c).size(), r.summary.input_bytes, c.name);
        std::uint64_t body_bytes = 0;
        for (const auto& [part, b] : r.rec.bodies)
            body_bytes += b.size();
        CHECK_EQUAL_TEXT(body_bytes, r.summary.decoded_bytes, c.name);
    }
}

TEST(MimeDecoder, EverySplitGivesTheSameEvents) {
    for (const Case& c : cases()) {
        const std::string in = input_of(c);
        const std::string whole = dump(decode_msg(in, {}, c.limits));
        for (std::size_t cut = 0; cut <= in.size(); ++cut) {
            const std::string split = dump(decode_msg(in, {cut}, c.limits));
            if (split != whole) {
                STRCMP_EQUAL_TEXT(whole.c_str(), split.c_str(),
                                  (std::string(c.name) + " cut at " + std::to_string(cut)).c_str());
            }
        }
        std::vector<std::size_t> every;
        for (std::size_t i = 1; i < in.size(); ++i)
            every.push_back(i);
        STRCMP_EQUAL_TEXT(whole.c_str(), dump(decode_msg(in, every, c.limits)).c_str(),
                          (std::string(c.name) + " one octet at a time").c_str());
    }
}

TEST(MimeDecoder, PartInfoFields) {
    const std::string in = crlf("Subject: =?ISO-8859-1?Q?caf=E9?= news\n"
                                "Content-Type: multipart/mixed; boundary=i\n"
                                "\n"
                                "--i\n"
                                "Content-Type: text/plain; charset=\"UTF-8\"\n"
                                "Content-Disposition: inline\n"
                                "\n"
                                "t\n"
                                "--i\n"
                                "Content-Type: text/plain\n"
                                "Content-Disposition: attachment; filename*=utf-8''%C3%A9.txt\n"
                                "Content-Transfer-Encoding: Quoted-Printable\n"
                                "\n"
                                "q\n"
                                "--i--\n");
    const Result r = decode_msg(in, {});
    CHECK_EQUAL(3u, r.rec.parts.size());
    const PartInfo& m = r.rec.parts[0];
    CHECK_TRUE(m.kind == PartKind::multipart);
    CHECK_EQUAL(kNoParent, m.parent);
    CHECK_TRUE(m.subject == "caf\xe9 news");
    STRCMP_EQUAL("iso-8859-1", m.subject_charset.c_str());
    CHECK_FALSE(m.attachment);
    const PartInfo& t = r.rec.parts[1];
    STRCMP_EQUAL("utf-8", t.charset.c_str());
    STRCMP_EQUAL("inline", t.disposition.c_str());
    CHECK_EQUAL(1u, t.depth);
    CHECK_FALSE(t.attachment);
    CHECK_TRUE(t.subject.empty()); // parts are not messages
    const PartInfo& a = r.rec.parts[2];
    CHECK_TRUE(a.filename == "\xc3\xa9.txt");
    STRCMP_EQUAL("utf-8", a.filename_charset.c_str());
    STRCMP_EQUAL("attachment", a.disposition.c_str());
    CHECK_TRUE(a.encoding == TransferEncoding::quoted_printable);
    CHECK_TRUE(a.attachment);
    STRCMP_EQUAL("b0 b1 e1 b2 e2 e0 ", r.rec.events.c_str());
}

TEST(MimeDecoder, HeaderBytesAndFieldsAreEmitted) {
    const std::string in = crlf("Subject: a\n b\nX-Spam: yes\n\nbody");
    const Result r = decode_msg(in, {});
    CHECK_TRUE(r.rec.headers.at(0) == "Subject: a\r\n b\r\nX-Spam: yes\r\n");
    CHECK_EQUAL(2u, r.rec.fields.size());
    STRCMP_EQUAL("0 Subject: a b", r.rec.fields[0].c_str());
    STRCMP_EQUAL("0 X-Spam: yes", r.rec.fields[1].c_str());
    CHECK_EQUAL(r.rec.headers.at(0).size(), r.summary.header_bytes);
}

TEST(MimeDecoder, ResetStartsANewMessage) {
    Recorder rec;
    MimeDecoder d(rec);
    d.feed(crlf("Content-Type: multipart/mixed; boundary=z\n\n--z\n\nfirst"));
    d.reset();
    d.feed(crlf("\nsecond\n"));
    const MimeSummary& s = d.finish();
    CHECK_EQUAL(1u, s.parts);
    CHECK_TRUE(rec.bodies.at(rec.parts.back().index) == "second\r\n");
    // finish() is idempotent and later input is ignored.
    d.feed("more");
    CHECK_EQUAL(1u, d.finish().parts);
}

TEST(MimeDecoder, LargeBase64AttachmentIsStreamedInBatches) {
    // 1 MiB of data: body spans are bounded by the batch, never the part.
    std::string data(1 << 20, '\0');
    std::mt19937 rng(3);
    for (char& c : data)
        c = static_cast<char>(rng());
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string b64;
    for (std::size_t i = 0; i < data.size(); i += 3) {
        std::uint32_t v = static_cast<std::uint8_t>(data[i]) << 16;
        v |= i + 1 < data.size() ? static_cast<std::uint8_t>(data[i + 1]) << 8 : 0;
        v |= i + 2 < data.size() ? static_cast<std::uint8_t>(data[i + 2]) : 0;
        b64 += alphabet[(v >> 18) & 63];
        b64 += alphabet[(v >> 12) & 63];
        b64 += i + 1 < data.size() ? alphabet[(v >> 6) & 63] : '=';
        b64 += i + 2 < data.size() ? alphabet[v & 63] : '=';
        if (i % 57 == 54)
            b64 += "\r\n";
    }
    struct MaxSpan : Recorder {
        std::size_t max_span = 0;
        void on_body_bytes(std::uint32_t part, std::span<const std::uint8_t> b) override {
            max_span = std::max(max_span, b.size());
            Recorder::on_body_bytes(part, b);
        }
    } rec;
    const std::string msg = "Content-Type: multipart/mixed; boundary=L\r\n\r\n--L\r\n"
                            "Content-Type: application/zip\r\n"
                            "Content-Transfer-Encoding: base64\r\n\r\n" +
                            b64 + "\r\n--L--\r\n";
    MimeDecoder d(rec);
    for (std::size_t pos = 0; pos < msg.size(); pos += 65536)
        d.feed(std::string_view(msg).substr(pos, 65536));
    const MimeSummary& s = d.finish();
    CHECK_TRUE(rec.ok);
    CHECK_TRUE(rec.bodies.at(1) == data);
    CHECK_TRUE(rec.max_span <= MimeDecoder::kOutBatch);
    CHECK_EQUAL(0u, s.anomalies.bad_base64_chars);
    CHECK_FALSE(s.limit_exceeded());
}

TEST(MimeDecoder, DecodingBombsHitLimits) {
    // Deep nesting with the default limits.
    {
        const Result r = decode_msg(crlf(nested(200)), {});
        CHECK_TRUE(r.summary.exceeded(MimeLimit::depth));
        CHECK_EQUAL(MimeLimits{}.max_depth, r.summary.max_depth);
        CHECK_TRUE(r.rec.ok);
    }
    // Deep message/rfc822 nesting.
    {
        std::string m;
        for (int i = 0; i < 100; ++i)
            m += "Content-Type: message/rfc822\r\n\r\n";
        m += "\r\nbottom\r\n";
        const Result r = decode_msg(m, {});
        CHECK_TRUE(r.summary.exceeded(MimeLimit::depth));
        CHECK_EQUAL(MimeLimits{}.max_depth + 1, r.summary.parts);
        CHECK_TRUE(r.rec.ok);
    }
    // Many parts with the default limits.
    {
        const Result r = decode_msg(crlf(many_parts(5000)), {});
        CHECK_TRUE(r.summary.exceeded(MimeLimit::parts));
        CHECK_EQUAL(MimeLimits{}.max_parts, r.summary.parts);
        CHECK_EQUAL(1u, r.summary.anomalies.parts_past_limit);
        CHECK_TRUE(r.rec.ok);
    }
    // Many uuencoded files in one text part.
    {
        std::string m = "\r\n";
        for (int i = 0; i < 50; ++i)
            m += "begin 644 f\r\n#86)C\r\n`\r\nend\r\n";
        MimeLimits l;
        l.max_parts = 10;
        const Result r = decode_msg(m, {}, l);
        CHECK_TRUE(r.summary.exceeded(MimeLimit::parts));
        CHECK_EQUAL(10u, r.summary.parts);
        CHECK_EQUAL(9u, r.summary.uuencoded_parts);
        CHECK_TRUE(r.rec.ok);
    }
}

TEST(MimeDecoder, RandomInputNeverBreaksTheContract) {
    std::mt19937 rng(4242);
    const char* fragments[] = {
        "--a\r\n",
        "--a--\r\n",
        "--b\r\n",
        "\r\n",
        "\n",
        "\r",
        "-",
        "--",
        "Content-Type: multipart/mixed; boundary=a\r\n",
        "Content-Type: multipart/alternative; boundary=b\r\n",
        "Content-Type: message/rfc822\r\n",
        "Content-Transfer-Encoding: base64\r\n",
        "Content-Transfer-Encoding: quoted-printable\r\n",
        "SGVsbG8=",
        "=3D=\r\n",
        "=Z",
        "begin 644 x\r\n",
        "#86)C\r\n",
        "`\r\nend\r\n",
        "text ",
        " \t",
        "Content-Disposition: attachment; filename*0*=UTF-8''%41; filename*1=b\r\n",
    };
    MimeLimits l;
    l.max_depth = 6;
    l.max_parts = 40;
    l.max_header_block_bytes = 300;
    l.max_header_line_bytes = 100;
    l.max_decoded_bytes = 2000;
    for (int round = 0; round < 400; ++round) {
        std::string in;
        const int pieces = static_cast<int>(rng() % 60);
        for (int i = 0; i < pieces; ++i) {
            if (rng() % 5 == 0) {
                for (int k = static_cast<int>(rng() % 8); k > 0; --k)
                    in += static_cast<char>(rng());
            } else {
                in += fragments[rng() % (sizeof(fragments) / sizeof(fragments[0]))];
            }
        }
        const Result whole = decode_msg(in, {}, l);
        CHECK_TRUE_TEXT(whole.rec.ok, whole.rec.error.c_str());
        CHECK_TRUE(whole.summary.parts <= l.max_parts);
        CHECK_TRUE(whole.summary.max_depth <= l.max_depth);
        CHECK_TRUE(whole.summary.decoded_bytes <= l.max_decoded_bytes);
        for (const auto& [part, h] : whole.rec.headers)
            CHECK_TRUE(h.size() <= l.max_header_block_bytes);
        // Random splits give the same events.
        std::vector<std::size_t> cuts;
        for (std::size_t pos = 0; pos < in.size();) {
            pos += 1 + rng() % 7;
            if (pos < in.size())
                cuts.push_back(pos);
        }
        const std::string a = dump(whole);
        const std::string b = dump(decode_msg(in, cuts, l));
        if (a != b)
            STRCMP_EQUAL_TEXT(a.c_str(), b.c_str(), escape(in).c_str());
    }
    // Pure random octets.
    for (int round = 0; round < 200; ++round) {
        std::string in(static_cast<std::size_t>(rng() % 2000), '\0');
        for (char& c : in)
            c = static_cast<char>(rng());
        const Result r = decode_msg(in, {in.size() / 2}, l);
        CHECK_TRUE(r.rec.ok);
        CHECK_EQUAL(in.size(), r.summary.input_bytes);
    }
}
