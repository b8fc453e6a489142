// mime_decoder.h: the streaming, sans-I/O MIME decoder (bytes in, parts out).
//
// Purpose: turn a message (the DATA content after dot-unstuffing, CRLF line
// ends; bare LF tolerated) fed in pieces of any size into events for the
// content scanners: each part's beginning (type, charset, file name,
// encoding, attachment or text), its raw header block and header fields,
// its transfer-decoded body in pieces, its end, and a summary with anomaly
// counters and the limits passed. Nothing is buffered beyond one header
// block, one line and a 64 KiB output batch: a part is never held whole.
// RFCs: 5322 2.2 (header fields, 2.2.3 folding); 2045 (5 Content-Type, 6
// Content-Transfer-Encoding: 6.7 quoted-printable, 6.8 base64); 2046 5.1
// (multipart: 5.1.1 boundary delimiters, transport padding, close
// delimiter, preamble and epilogue; 5.1.5 digest defaults), 5.2.1
// (message/rfc822); 2183 (Content-Disposition); 2231 (parameter
// continuations and charsets); 2047 (encoded-words); uuencode inside text.
//
// Parts: numbered 0, 1, ... in the order their on_part_begin is emitted
// (0 is the message). The message and every message/rfc822 body are
// messages (kind message when they hold one, else their own kind); a
// multipart's children follow their parent. A multipart's preamble and
// epilogue are not parts: they are the multipart part's own body bytes,
// raw (a client that does not see the boundary shows them; they must be
// scanned). A message/rfc822 part has no body bytes: its body is the
// nested message (part index + 1), parsed like the top one. A uuencoded
// file found in a text part ("begin 644 name" ... "end", the classic
// evasion) is a synthetic attachment part (kind uuencoded) whose parent is
// the text part, open while the text part is; the text part still gets
// every decoded byte. Several parts are open at once (ancestors, and a
// text part with its uuencoded child): events carry the part index, so a
// scanner keeps one stream per part and target (raw headers, decoded
// text, decoded attachment).
//
// Security: the decoder reads hostile input and must see what any client
// might show, so it is tolerant and counts every tolerance (MimeAnomalies).
//  * Boundaries (RFC 2046 5.1.1): a line "--" boundary [LWSP], or
//    "--" boundary "--" [LWSP], matched exactly against every open
//    multipart, innermost first: a boundary that is a prefix of another
//    cannot cut the longer one, and an outer boundary closes the inner
//    multiparts whose close delimiter is missing (counted). Lines that
//    start with an open delimiter but do not match one are counted.
//  * Duplicates (Content-Type, Content-Transfer-Encoding,
//    Content-Disposition, parameters): the first wins, counted; another
//    boundary or file name in a duplicate is counted as conflicting.
//  * Composite types (multipart, message/rfc822) with an encoding other
//    than 7bit/8bit/binary are not parsed as composite: the body is a leaf
//    decoded per its encoding (counted), so an encoded message is still
//    scanned as an attachment.
//  * Limits (MimeLimits): each is named with its reason; passing one sets
//    its bit in MimeSummary::limits_exceeded and the summary never looks
//    clean: the caller applies its configured verdict (reject by default).
//    What stops: past max_parts or max_decoded_bytes the decoder emits
//    nothing more (open parts are ended); a part nested past max_depth,
//    or with a boundary past max_boundary_bytes, is a leaf whose raw body
//    is emitted; a header block past max_header_block_bytes or a line past
//    max_header_line_bytes is cut there (the rest of the block is read
//    and dropped).
// The library does no I/O, allocation only at construction and for header
// blocks and part infos, no clock, no logging, no exceptions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mime/mime_header.h"
#include "mime/mime_transfer.h"

namespace smtpgw::mime {

inline constexpr std::uint32_t kNoParent = UINT32_MAX;

enum class PartKind : std::uint8_t {
    leaf,      // a body decoded per its Content-Transfer-Encoding
    multipart, // children follow; own body bytes are preamble + epilogue (raw)
    message,   // message/rfc822: the nested message is the next part
    uuencoded, // synthetic: a uuencoded file found in a text part
};

struct PartInfo {
    std::uint32_t index = 0;
    std::uint32_t parent = kNoParent; // kNoParent for the message
    std::uint32_t depth = 0;          // 0 for the message
    PartKind kind = PartKind::leaf;
    std::string content_type;     // "type/subtype", lower case (defaults applied)
    std::string charset;          // charset parameter, lower case ("" if none)
    std::string filename;         // decoded octets (RFC 2231/2047); "" if none
    std::string filename_charset; // charset of `filename` ("" if plain)
    std::string disposition;      // "inline", "attachment", ... or ""
    TransferEncoding encoding = TransferEncoding::seven_bit;
    // Scanner target: true for attachments (disposition attachment, a file
    // name, or a non-text leaf), false for text (text/* leaves without a
    // name, multipart preambles).
    bool attachment = false;
    // Messages (index 0 and nested message/rfc822) only: Subject with
    // encoded-words decoded, and their charset.
    std::string subject;
    std::string subject_charset;
};

// The sink of events. Calls for one part come in order: on_part_begin,
// on_header_bytes (once, not for uuencoded parts), on_header_field (each
// field, in order), on_body_bytes (any number), on_part_end. A child's
// events come between its parent's begin and end. Spans are valid only
// during the call. The callbacks must not call back into the decoder.
class MimeSink {
  public:
    virtual ~MimeSink() = default;
    virtual void on_part_begin(const PartInfo& part) = 0;
    // The header block as received (line ends included, the blank line
    // ending it not), cut at the header limits.
    virtual void on_header_bytes(std::uint32_t part, std::span<const std::uint8_t> raw) {
        (void)part;
        (void)raw;
    }
    // One field: the name as written and the value unfolded (RFC 5322
    // 2.2.3) and trimmed, encoded-words not decoded.
    virtual void on_header_field(std::uint32_t part, std::string_view name,
                                 std::string_view value) {
        (void)part;
        (void)name;
        (void)value;
    }
    virtual void on_body_bytes(std::uint32_t part, std::span<const std::uint8_t> bytes) = 0;
    virtual void on_part_end(std::uint32_t part) = 0;
};

// Every limit on hostile structure; a field with its reason.
struct MimeLimits {
    // Parts nested deeper are not parsed (their raw body is a leaf). Real
    // mail nests 3-5 levels, forwarded chains about 10; each level costs a
    // boundary check per line.
    std::uint32_t max_depth = 20;
    // Parts per message, synthetic ones included; then nothing more is
    // emitted. Real mail has well under 100; each part costs scanner streams.
    std::uint32_t max_parts = 1000;
    // A header block is kept whole to parse it; real ones are a few KB (a
    // long Received chain ~20 KB).
    std::size_t max_header_block_bytes = 64 * 1024;
    // RFC 5322 2.1.1: 998 octets per line; longer lines are cut (they are
    // mangled by relays anyway, and are a classic parser-confusion trick).
    std::size_t max_header_line_bytes = 998;
    // RFC 2046 5.1.1: 1 to 70 characters. The boundary line buffer is sized
    // from it; a longer boundary makes its multipart a leaf.
    std::size_t max_boundary_bytes = 70;
    // Blanks accepted after a boundary (RFC 2046 transport padding; real
    // mail has none or a few). A longer line is not a boundary.
    std::size_t max_transport_padding = 256;
    // Decoded body octets of all parts together (decoding-bomb guard:
    // uuencode adds a second copy, preambles count too); then nothing more
    // is emitted. Several times any accepted message size.
    std::uint64_t max_decoded_bytes = 256ull * 1024 * 1024;
};

enum class MimeLimit : std::uint8_t {
    depth,
    parts,
    header_block,
    header_line,
    boundary_length,
    decoded_bytes,
};
inline constexpr std::uint32_t limit_bit(MimeLimit l) {
    return 1u << static_cast<unsigned>(l);
}
const char* limit_name(MimeLimit l);

// Departures from the RFCs and evasion signs, each a count.
struct MimeAnomalies {
    std::uint32_t duplicate_content_type = 0; // first wins
    std::uint32_t duplicate_cte = 0;          // first wins
    std::uint32_t duplicate_disposition = 0;  // first wins
    std::uint32_t conflicting_boundary = 0;   // another boundary in a duplicate field or parameter
    std::uint32_t conflicting_filename = 0;   // filename and name (or duplicates) differ
    std::uint32_t missing_boundary = 0;       // multipart without a usable boundary
    std::uint32_t reused_boundary = 0;        // a boundary equal to an open ancestor's
    std::uint32_t missing_final_boundary = 0; // a multipart not closed by its close delimiter
    std::uint32_t near_boundary_lines = 0;    // "--boundary" + junk: not a delimiter
    std::uint32_t bad_content_type = 0;       // no valid type/subtype (text/plain assumed)
    std::uint32_t unknown_cte = 0;            // passed through as is
    std::uint32_t encoded_composite = 0;      // multipart/message with a non-identity CTE
    std::uint32_t header_line_too_long = 0;   // cut at max_header_line_bytes
    std::uint32_t header_block_too_long = 0;  // cut at max_header_block_bytes
    std::uint32_t boundary_too_long = 0;      // past max_boundary_bytes
    std::uint32_t nested_past_limit = 0;      // parts not parsed (max_depth)
    std::uint32_t parts_past_limit = 0;       // 1 when max_parts stopped the decoder
    std::uint64_t bad_base64_chars = 0;       // junk skipped
    std::uint64_t base64_after_padding = 0;   // data groups after "="
    std::uint32_t base64_truncated = 0;       // a dangling character at the end
    std::uint64_t bad_qp_escapes = 0;         // "=" not followed by hex or a line end
    std::uint32_t uuencode_missing_end = 0;   // a uuencoded file without "end"
    std::uint32_t uuencode_bad_lines = 0;     // a data line that is not uuencode
    HeaderIssues header;                      // header syntax (mime_header.h)

    bool operator==(const MimeAnomalies&) const = default;
};

struct MimeSummary {
    std::uint32_t parts = 0;     // on_part_begin calls
    std::uint32_t max_depth = 0; // deepest part
    std::uint32_t uuencoded_parts = 0;
    std::uint64_t input_bytes = 0;
    std::uint64_t header_bytes = 0;    // header block octets emitted
    std::uint64_t decoded_bytes = 0;   // body octets emitted, all parts
    std::uint32_t limits_exceeded = 0; // limit_bit() of each limit passed
    MimeAnomalies anomalies;

    bool limit_exceeded() const { return limits_exceeded != 0; }
    bool exceeded(MimeLimit l) const { return (limits_exceeded & limit_bit(l)) != 0; }
    bool operator==(const MimeSummary&) const = default;
};

class MimeDecoder {
  public:
    // Output batches: body bytes of one part are handed over in spans of
    // up to this many octets (larger decoded slices go out directly).
    static constexpr std::size_t kOutBatch = 64 * 1024;

    explicit MimeDecoder(MimeSink& sink, const MimeLimits& limits = {});
    ~MimeDecoder();
    MimeDecoder(const MimeDecoder&) = delete;
    MimeDecoder& operator=(const MimeDecoder&) = delete;

    // Ready for a new message (limits kept).
    void reset();
    // The next piece of the message, any size. Ignored after finish() or
    // once a stopping limit was passed (input_bytes still counts it).
    void feed(std::span<const std::uint8_t> data);
    void feed(std::string_view data) {
        feed({reinterpret_cast<const std::uint8_t*>(data.data()), data.size()});
    }
    // The end of the message: flushes the decoders, ends open parts (a
    // multipart still open counts as missing its final boundary), and
    // returns the summary. Further calls return the same summary.
    const MimeSummary& finish();
    // The counts so far (final after finish()).
    const MimeSummary& summary() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace smtpgw::mime
