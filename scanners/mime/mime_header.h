// mime_header.h: MIME header field parsing (one part's header block).
//
// Purpose: read a part's header block as received (lines with CRLF or bare
// LF) into fields, and the fields the MIME decoder acts on into values:
// the media type and its parameters, the transfer encoding, the
// disposition and file name, and encoded-word text (Subject, file names)
// as octets plus the charset they are in (no charset conversion here).
// RFCs: 5322 2.2 (fields, name ":" value), 2.2.3 (unfolding: a line end
// followed by SP/HT is removed), 3.2.2 (comments); 2045 5.1 (Content-Type,
// parameters, token and quoted-string), 6.1 (Content-Transfer-Encoding);
// 2183 (Content-Disposition, filename); 2231 3-4 (parameter value
// continuations name*0, name*1*, and charset'language'%XX values); 2047
// (encoded-words =?charset?B|Q?text?=, 6.2 blanks between adjacent words
// dropped, 4.2 Q "_" is a space); 2231 5 (charset*language in words).
// Security: the input is hostile. Parsing is linear, non-recursive (comment
// nesting is a counter), and bounded: at most kMaxParams parameters and
// kMaxSections continuations are kept. What real clients accept is
// accepted (unquoted values with blanks, encoded-words inside quoted file
// names, lower case hex) and every departure from the RFCs is counted in
// HeaderIssues for the caller's verdict. Nothing throws (memory exhaustion
// aside); nothing is logged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mime/mime_transfer.h"

namespace smtpgw::mime {

// Parameters kept per field; more are ignored (counted as duplicates' kin:
// malformed). Real fields carry under 10.
inline constexpr std::size_t kMaxParams = 64;
// RFC 2231 continuation sections kept per parameter (real file names use a
// handful); sections past it are ignored and counted.
inline constexpr std::size_t kMaxSections = 64;
// Comment nesting deeper than this ends the comment (RFC 5322 sets none).
inline constexpr std::size_t kMaxCommentDepth = 32;

// RFC departures seen while parsing; each is a count.
struct HeaderIssues {
    std::uint32_t malformed_lines = 0;   // not "name:" and not a continuation
    std::uint32_t malformed_params = 0;  // no "=", unterminated quotes, too many
    std::uint32_t duplicate_params = 0;  // the same parameter twice (first wins)
    std::uint32_t bad_rfc2231 = 0;       // missing/duplicate sections, bad %XX, no charset
    std::uint32_t bad_encoded_words = 0; // bad B/Q text in an encoded-word
    std::uint32_t mixed_charsets = 0;    // encoded-words in different charsets in one text

    bool operator==(const HeaderIssues&) const = default;
    HeaderIssues& operator+=(const HeaderIssues& o);
};

// Splits a header block into fields (RFC 5322 2.2). Lines that neither
// start a field nor continue one are skipped and counted. A name may be
// followed by blanks before ":" (obsolete syntax, RFC 5322 4.5.3).
class HeaderFieldReader {
  public:
    explicit HeaderFieldReader(std::string_view block) : rest_(block) {}
    // The next field: its name (as written) and its raw value (after ":",
    // folding and the final line end included). False at the end.
    bool next(std::string_view* name, std::string_view* raw_value, HeaderIssues* issues);

  private:
    std::string_view rest_;
};

// RFC 5322 2.2.3: the value unfolded (every CRLF or LF removed, also one
// not followed by a blank, which cannot occur inside a field), with
// leading and trailing blanks trimmed.
void unfold(std::string_view raw_value, std::string* out);

// ASCII lower case copy.
std::string to_lower(std::string_view s);
// Case-insensitive ASCII comparison.
bool iequals(std::string_view a, std::string_view b);

struct MimeParam {
    std::string name;      // lower case; without "*" and section numbers
    std::string value;     // unquoted; RFC 2231 sections joined and %XX decoded
    std::string charset;   // RFC 2231 charset (lower case), empty otherwise
    bool extended = false; // from RFC 2231 syntax (name* or name*N)
    // The same parameter was given again with another value (the first is
    // kept): clients disagree on which wins, so it is an evasion sign.
    bool conflicting = false;
};

struct MediaType {
    bool valid = false;  // "type/subtype" parsed (RFC 2045 5.2: else text/plain)
    std::string type;    // lower case
    std::string subtype; // lower case
    std::vector<MimeParam> params;
    // The parameter called `name` (lower case), or nullptr.
    const MimeParam* find(std::string_view name) const;
};

struct Disposition {
    std::string type; // lower case: "inline", "attachment", ... (may be empty)
    std::vector<MimeParam> params;
    const MimeParam* find(std::string_view name) const;
};

// Content-Type value (unfolded). On a bad type/subtype `valid` is false and
// the parameters are still read (a boundary after a typo still counts for
// clients that guess).
MediaType parse_content_type(std::string_view value, HeaderIssues* issues);
// Content-Disposition value (unfolded), RFC 2183.
Disposition parse_content_disposition(std::string_view value, HeaderIssues* issues);
// Content-Transfer-Encoding value (unfolded), RFC 2045 6.1; case and
// comments ignored. Empty means 7bit.
TransferEncoding parse_transfer_encoding(std::string_view value);

// Text with RFC 2047 encoded-words decoded to octets.
struct DecodedText {
    std::string bytes;   // decoded octets; text outside words as is
    std::string charset; // lower case charset of the first encoded-word ("" if none)
    bool had_encoded_words = false;
};
// Decodes the encoded-words in `text` (an unfolded Subject, or a parameter
// value: many clients put encoded-words inside quoted file names). Blanks
// between two adjacent words are dropped (RFC 2047 6.2); a malformed word
// is left as is.
DecodedText decode_encoded_words(std::string_view text, HeaderIssues* issues);

} // namespace smtpgw::mime
