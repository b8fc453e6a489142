// mime_header.cc: header fields, Content-Type/-Disposition/-Transfer-Encoding
// values, RFC 2231 parameters and RFC 2047 encoded-words.
#include "mime/mime_header.h"

#include "mime/mime_transfer.h"

#include <algorithm>
#include <array>

namespace smtpgw::mime {

namespace {

bool is_blank(char c) {
    return c == ' ' || c == '\t';
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_space(s.back()))
        s.remove_suffix(1);
    return s;
}

// RFC 2045 5.1 token characters: CHAR except SPACE, CTLs and tspecials.
constexpr std::array<bool, 256> make_token_table() {
    std::array<bool, 256> t{};
    for (int c = 0x21; c < 0x7f; ++c)
        t[static_cast<std::size_t>(c)] = true;
    for (char c : std::string_view("()<>@,;:\\\"/[]?="))
        t[static_cast<unsigned char>(c)] = false;
    return t;
}
constexpr auto kToken = make_token_table();

bool is_token_char(char c) {
    return kToken[static_cast<unsigned char>(c)];
}

// RFC 5322 3.2.2: skips blanks, line ends and (nested) comments.
void skip_cfws(std::string_view s, std::size_t* pos) {
    std::size_t i = *pos;
    while (i < s.size()) {
        if (is_space(s[i])) {
            ++i;
        } else if (s[i] == '(') {
            std::size_t depth = 0;
            while (i < s.size()) {
                const char c = s[i++];
                if (c == '\\' && i < s.size()) {
                    ++i;
                } else if (c == '(') {
                    if (++depth > kMaxCommentDepth)
                        break;
                } else if (c == ')') {
                    if (--depth == 0)
                        break;
                }
            }
        } else {
            break;
        }
    }
    *pos = i;
}

std::string_view read_token(std::string_view s, std::size_t* pos) {
    const std::size_t start = *pos;
    std::size_t i = start;
    while (i < s.size() && is_token_char(s[i]))
        ++i;
    *pos = i;
    return s.substr(start, i - start);
}

// One parameter as written, before RFC 2231 assembly.
struct RawParam {
    std::string base;  // lower case name without "*..."
    int section = -1;  // N of name*N, -1 for name or name*
    bool ext = false;  // a trailing "*": charset'lang'%XX syntax
    std::string value; // unquoted
};

// RFC 2231 3: "%XX" to octets; a bad escape stays literal and is counted.
void percent_decode(std::string_view s, std::string* out, HeaderIssues* issues) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() &&
            hex_value(static_cast<unsigned char>(s[i + 1])) >= 0 &&
            hex_value(static_cast<unsigned char>(s[i + 2])) >= 0) {
            out->push_back(
                static_cast<char>((hex_value(static_cast<unsigned char>(s[i + 1])) << 4) |
                                  hex_value(static_cast<unsigned char>(s[i + 2]))));
            i += 2;
        } else {
            if (s[i] == '%')
                ++issues->bad_rfc2231;
            out->push_back(s[i]);
        }
    }
}

// RFC 2231 4: charset'language'value of an extended first section.
void split_extended(std::string_view s, MimeParam* p, HeaderIssues* issues) {
    const std::size_t q1 = s.find('\'');
    const std::size_t q2 = q1 == std::string_view::npos ? q1 : s.find('\'', q1 + 1);
    if (q2 == std::string_view::npos) {
        ++issues->bad_rfc2231;
        percent_decode(s, &p->value, issues);
        return;
    }
    p->charset = to_lower(s.substr(0, q1));
    percent_decode(s.substr(q2 + 1), &p->value, issues);
}

// The value after "=": a quoted-string, or (tolerantly) everything up to
// the next ";" less trailing blanks and a trailing comment, since clients
// accept unquoted file names with blanks.
std::string read_value(std::string_view s, std::size_t* pos, HeaderIssues* issues) {
    std::size_t i = *pos;
    while (i < s.size() && is_space(s[i]))
        ++i;
    std::string v;
    if (i < s.size() && s[i] == '"') {
        ++i;
        bool closed = false;
        while (i < s.size()) {
            const char c = s[i++];
            if (c == '\\' && i < s.size()) {
                v.push_back(s[i++]);
            } else if (c == '"') {
                closed = true;
                break;
            } else {
                v.push_back(c);
            }
        }
        if (!closed)
            ++issues->malformed_params;
        while (i < s.size() && s[i] != ';') // comments or junk after the quotes
            ++i;
    } else {
        const std::size_t start = i;
        while (i < s.size() && s[i] != ';')
            ++i;
        std::string_view raw = trim(s.substr(start, i - start));
        for (std::size_t k = 1; k < raw.size(); ++k) {
            if (raw[k] == '(' && is_blank(raw[k - 1])) {
                raw = trim(raw.substr(0, k));
                break;
            }
        }
        v.assign(raw);
    }
    *pos = i;
    return v;
}

// Reads "; name=value" pairs from `pos` and assembles them (RFC 2231).
std::vector<MimeParam> parse_params(std::string_view s, std::size_t pos, HeaderIssues* issues) {
    std::vector<RawParam> raw;
    while (pos < s.size()) {
        skip_cfws(s, &pos);
        if (pos >= s.size())
            break;
        if (s[pos] == ';') {
            ++pos;
            continue;
        }
        const std::size_t start = pos;
        while (pos < s.size() && s[pos] != '=' && s[pos] != ';')
            ++pos;
        const std::string_view attr = trim(s.substr(start, pos - start));
        if (pos >= s.size() || s[pos] == ';' || attr.empty()) {
            // "=value" with no name: skip to the next ';' so the loop always advances.
            ++issues->malformed_params;
            while (pos < s.size() && s[pos] != ';')
                ++pos;
            continue;
        }
        ++pos; // "="
        std::string value = read_value(s, &pos, issues);
        if (raw.size() >= kMaxParams) {
            ++issues->malformed_params;
            continue;
        }
        RawParam r;
        const std::size_t star = attr.find('*');
        r.base = to_lower(attr.substr(0, star));
        if (star != std::string_view::npos) {
            std::string_view rest = attr.substr(star + 1);
            if (!rest.empty() && rest.back() == '*') {
                r.ext = true;
                rest.remove_suffix(1);
            } else if (rest.empty()) {
                r.ext = true; // name*=
            }
            if (!rest.empty()) {
                // RFC 2231 3: a section number; at most 4 digits are read, so
                // a hostile "name*99999999999=" cannot overflow (found by fuzzing).
                int n = 0;
                bool digits = rest.size() <= 4;
                for (char c : rest) {
                    if (!digits || c < '0' || c > '9') {
                        digits = false;
                        break;
                    }
                    n = n * 10 + (c - '0');
                }
                if (!digits) {
                    ++issues->malformed_params;
                    continue;
                }
                r.section = n;
            }
        }
        r.value = std::move(value);
        raw.push_back(std::move(r));
    }

    std::vector<MimeParam> out;
    std::vector<bool> used(raw.size(), false);
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (used[i])
            continue;
        const std::string& base = raw[i].base;
        const RawParam* plain = nullptr;
        const RawParam* single = nullptr;
        std::vector<const RawParam*> sections;
        bool conflicting = false;
        for (std::size_t k = i; k < raw.size(); ++k) {
            if (raw[k].base != base)
                continue;
            used[k] = true;
            const RawParam& r = raw[k];
            if (r.section >= 0) {
                if (static_cast<std::size_t>(r.section) >= kMaxSections) {
                    ++issues->bad_rfc2231;
                    continue;
                }
                sections.push_back(&r);
                continue;
            }
            const RawParam*& slot = r.ext ? single : plain;
            if (slot) {
                ++issues->duplicate_params;
                conflicting |= slot->value != r.value;
            } else {
                slot = &r;
            }
        }
        MimeParam p;
        p.name = base;
        p.conflicting = conflicting;
        if (!sections.empty()) {
            // RFC 2231 3: sections in numeric order from 0; a gap ends them.
            std::stable_sort(
                sections.begin(), sections.end(),
                [](const RawParam* a, const RawParam* b) { return a->section < b->section; });
            p.extended = true;
            int expect = 0;
            for (const RawParam* r : sections) {
                if (r->section < expect) {
                    ++issues->bad_rfc2231; // the same section twice: first wins
                    p.conflicting = true;
                    continue;
                }
                if (r->section > expect) {
                    ++issues->bad_rfc2231; // a missing section
                    break;
                }
                if (r->ext && r->section == 0)
                    split_extended(r->value, &p, issues);
                else if (r->ext)
                    percent_decode(r->value, &p.value, issues);
                else
                    p.value += r->value;
                ++expect;
            }
            if (expect == 0 && plain) { // no section 0: fall back on name=
                p.extended = false;
                p.value = plain->value;
            }
        } else if (single) {
            p.extended = true;
            split_extended(single->value, &p, issues);
        } else if (plain) {
            p.value = plain->value;
        } else {
            continue; // only sections past kMaxSections (counted): no usable value (found by
                      // fuzzing)
        }
        out.push_back(std::move(p));
    }
    return out;
}

const MimeParam* find_param(const std::vector<MimeParam>& params, std::string_view name) {
    for (const auto& p : params)
        if (p.name == name)
            return &p;
    return nullptr;
}

// An encoded-word at s[i] ("=?"): charset, encoding letter, text and the
// index after "?=". RFC 2047 2: no blanks inside a word.
bool read_encoded_word(std::string_view s, std::size_t i, std::string_view* charset, char* enc,
                       std::string_view* text, std::size_t* end) {
    std::size_t j = i + 2;
    const std::size_t cs = j;
    while (j < s.size() && s[j] != '?' && !is_space(s[j]))
        ++j;
    if (j >= s.size() || s[j] != '?' || j == cs)
        return false;
    *charset = s.substr(cs, j - cs);
    if (j + 2 >= s.size() || s[j + 2] != '?')
        return false;
    const char e = lower(s[j + 1]);
    if (e != 'b' && e != 'q')
        return false;
    *enc = e;
    j += 3;
    const std::size_t ts = j;
    while (j < s.size() && s[j] != '?' && !is_space(s[j]))
        ++j;
    if (j + 1 >= s.size() || s[j] != '?' || s[j + 1] != '=')
        return false;
    *text = s.substr(ts, j - ts);
    *end = j + 2;
    return true;
}

} // namespace

HeaderIssues& HeaderIssues::operator+=(const HeaderIssues& o) {
    malformed_lines += o.malformed_lines;
    malformed_params += o.malformed_params;
    duplicate_params += o.duplicate_params;
    bad_rfc2231 += o.bad_rfc2231;
    bad_encoded_words += o.bad_encoded_words;
    mixed_charsets += o.mixed_charsets;
    return *this;
}

std::string to_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        c = lower(c);
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

bool HeaderFieldReader::next(std::string_view* name, std::string_view* raw_value,
                             HeaderIssues* issues) {
    while (!rest_.empty()) {
        std::size_t eol = rest_.find('\n');
        std::size_t line_end = eol == std::string_view::npos ? rest_.size() : eol + 1;
        const std::string_view line = rest_.substr(0, line_end);
        if (is_blank(line[0]) || trim(line).empty()) {
            if (!trim(line).empty())
                ++issues->malformed_lines; // a continuation with no field
            rest_.remove_prefix(line_end);
            continue;
        }
        const std::size_t colon = line.find(':');
        std::string_view n =
            colon == std::string_view::npos ? std::string_view{} : line.substr(0, colon);
        while (!n.empty() && is_blank(n.back()))
            n.remove_suffix(1);
        bool ok = !n.empty();
        for (char c : n)
            ok = ok && static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
        // RFC 5322 2.2.3: the field goes on while lines start with a blank.
        while (line_end < rest_.size() && is_blank(rest_[line_end])) {
            eol = rest_.find('\n', line_end);
            line_end = eol == std::string_view::npos ? rest_.size() : eol + 1;
        }
        const std::string_view field = rest_.substr(0, line_end);
        rest_.remove_prefix(line_end);
        if (!ok) {
            ++issues->malformed_lines;
            continue;
        }
        *name = n;
        *raw_value = field.substr(colon + 1);
        return true;
    }
    return false;
}

void unfold(std::string_view raw_value, std::string* out) {
    out->clear();
    const std::string_view s = trim(raw_value);
    out->reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\n' || (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n'))
            continue;
        out->push_back(s[i]);
    }
}

const MimeParam* MediaType::find(std::string_view name) const {
    return find_param(params, name);
}

const MimeParam* Disposition::find(std::string_view name) const {
    return find_param(params, name);
}

MediaType parse_content_type(std::string_view value, HeaderIssues* issues) {
    MediaType mt;
    std::size_t pos = 0;
    skip_cfws(value, &pos);
    const std::string_view type = read_token(value, &pos);
    skip_cfws(value, &pos);
    if (!type.empty() && pos < value.size() && value[pos] == '/') {
        ++pos;
        skip_cfws(value, &pos);
        const std::string_view subtype = read_token(value, &pos);
        if (!subtype.empty()) {
            mt.valid = true;
            mt.type = to_lower(type);
            mt.subtype = to_lower(subtype);
        }
    }
    const std::size_t semi = value.find(';', pos);
    if (semi != std::string_view::npos)
        mt.params = parse_params(value, semi, issues);
    return mt;
}

Disposition parse_content_disposition(std::string_view value, HeaderIssues* issues) {
    Disposition d;
    std::size_t pos = 0;
    skip_cfws(value, &pos);
    d.type = to_lower(read_token(value, &pos));
    const std::size_t semi = value.find(';', pos);
    if (semi != std::string_view::npos)
        d.params = parse_params(value, semi, issues);
    return d;
}

TransferEncoding parse_transfer_encoding(std::string_view value) {
    std::size_t pos = 0;
    skip_cfws(value, &pos);
    const std::string t = to_lower(read_token(value, &pos));
    if (t.empty() || t == "7bit")
        return TransferEncoding::seven_bit;
    if (t == "8bit")
        return TransferEncoding::eight_bit;
    if (t == "binary")
        return TransferEncoding::binary;
    if (t == "base64")
        return TransferEncoding::base64;
    if (t == "quoted-printable")
        return TransferEncoding::quoted_printable;
    if (t == "x-uuencode" || t == "x-uue" || t == "uuencode" || t == "uue")
        return TransferEncoding::uuencode;
    return TransferEncoding::unknown;
}

DecodedText decode_encoded_words(std::string_view s, HeaderIssues* issues) {
    DecodedText out;
    out.bytes.reserve(s.size());
    std::size_t prev_end = std::string_view::npos; // end of the last word in `s`
    std::size_t out_at_prev_end = 0;
    std::size_t i = 0;
    while (i < s.size()) {
        std::string_view charset, text;
        char enc = 0;
        std::size_t end = 0;
        if (s[i] != '=' || i + 1 >= s.size() || s[i + 1] != '?' ||
            !read_encoded_word(s, i, &charset, &enc, &text, &end)) {
            out.bytes.push_back(s[i++]);
            continue;
        }
        // RFC 2047 6.2: blanks between adjacent encoded-words are dropped.
        if (prev_end != std::string_view::npos && trim(s.substr(prev_end, i - prev_end)).empty())
            out.bytes.resize(out_at_prev_end);
        // RFC 2231 5: "charset*language".
        std::string cs = to_lower(charset.substr(0, charset.find('*')));
        if (!out.had_encoded_words)
            out.charset = cs;
        else if (cs != out.charset)
            ++issues->mixed_charsets;
        out.had_encoded_words = true;
        if (enc == 'b') {
            Base64Decoder b64;
            const std::size_t at = out.bytes.size();
            out.bytes.resize(at + Base64Decoder::max_output(text.size()) +
                             Base64Decoder::kMaxFinishOutput);
            auto* o = reinterpret_cast<std::uint8_t*>(out.bytes.data() + at);
            std::size_t n =
                b64.decode({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, o);
            n += b64.finish(o + n);
            out.bytes.resize(at + n);
            if (b64.bad_chars() || b64.truncated())
                ++issues->bad_encoded_words;
        } else {
            // RFC 2047 4.2: "_" is a space, "=XX" an octet.
            for (std::size_t k = 0; k < text.size(); ++k) {
                const char c = text[k];
                if (c == '_') {
                    out.bytes.push_back(' ');
                } else if (c == '=' && k + 2 < text.size() &&
                           hex_value(static_cast<unsigned char>(text[k + 1])) >= 0 &&
                           hex_value(static_cast<unsigned char>(text[k + 2])) >= 0) {
                    out.bytes.push_back(static_cast<char>(
                        (hex_value(static_cast<unsigned char>(text[k + 1])) << 4) |
                        hex_value(static_cast<unsigned char>(text[k + 2]))));
                    k += 2;
                } else {
                    if (c == '=')
                        ++issues->bad_encoded_words;
                    out.bytes.push_back(c);
                }
            }
        }
        prev_end = end;
        out_at_prev_end = out.bytes.size();
        i = end;
    }
    return out;
}

} // namespace smtpgw::mime
