// smtp_commands.h: the SMTP command table, command-line parsing, and the
// ESMTP parameters of MAIL, RCPT and BDAT.
//
// Purpose: everything about one command line that does not depend on the
// session's state: which command it is, what the table says about it
// (Postfix smtpd's idea: per-command flags such as "allowed before TLS"),
// and whether its arguments are well formed. The session (smtp_session.h)
// applies the flags to its state.
// RFCs: 5321 4.1.1 (commands), 4.1.2 (Mail-parameters, esmtp-keyword,
// esmtp-value), 2920 3.1 (commands that end a pipelined group), 1870 3
// (SIZE=), 6152 2 (BODY=7BIT/8BITMIME), 6531 3.4 (SMTPUTF8), 3461 4.1-4.4
// (NOTIFY, ORCPT, RET, ENVID), 3461 4 and 6533 (xtext and utf-8 ORCPT),
// 3030 2 (BDAT chunk-size [LAST]), 3207 4 (STARTTLS).
// Security: a command line reaching here has passed the session's framing
// (CRLF only, bounded length); this module still refuses any control
// octet. Parameters are validated one by one, duplicates refused, and only
// those of extensions we offered are accepted (RFC 5321 4.1.2: others get
// 555); values have RFC bounds (ENVID 100, ORCPT 500 octets) and numbers
// are range-checked without overflow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace smtpgw::smtp {

enum class Command : std::uint8_t {
    helo,
    ehlo,
    mail,
    rcpt,
    data,
    bdat,
    rset,
    noop,
    quit,
    help,
    vrfy,
    expn,
    starttls,
    forbidden, // not SMTP at all (HTTP, proxy requests): answered and closed
    unknown,
};

// Flags of the command table.
enum CommandFlag : std::uint8_t {
    kAllowedBeforeTls = 1u << 0,  // usable while TLS is required but not yet active
    kAllowedBeforeHelo = 1u << 1, // usable before HELO/EHLO
    kAllowedInTransaction = 1u << 2,
    kEndsPipelineGroup = 1u << 3, // RFC 2920 3.1: must be the last command of a group
    kJunk = 1u << 4,              // counted against max_junk_commands (Postfix smtpd)
};

enum class ArgRule : std::uint8_t { none, optional, required };

struct CommandInfo {
    Command command;
    std::string_view verb; // upper case
    std::uint8_t flags;
    ArgRule args;
    std::string_view usage; // the text of its 501 5.5.4 syntax reply
};

// The table, one row per command in declaration order (forbidden and
// unknown have rows too, so command_info() is total).
std::span<const CommandInfo> command_table();
const CommandInfo& command_info(Command c);

// A command line split into verb and argument. `arg` is everything after
// the single SP that follows the verb (RFC 5321 4.1.1), possibly empty.
struct CommandLine {
    Command command = Command::unknown;
    std::string_view verb;
    std::string_view arg;
    bool has_arg = false; // a SP followed the verb
};

// Classifies `line` (no CRLF). The verb is matched case-insensitively
// (RFC 5321 2.4). A verb that does not start with a letter is `forbidden`
// (a TLS ClientHello or binary junk, as Postfix's "Bogus" rule).
CommandLine parse_command_line(std::string_view line);

// True when a command line (without its CRLF) holds no NUL, CR, LF or other
// control octet (including DEL). Octets >= 0x80 pass: they are legal in
// SMTPUTF8 paths, which the address parser checks.
bool command_line_octets_ok(std::string_view line);

// "FROM:" / "TO:" before a path. Returns what follows the keyword (spaces
// after the colon skipped: widespread and harmless), or nullopt when the
// keyword is missing.
std::optional<std::string_view> after_path_keyword(std::string_view arg, std::string_view keyword);

// What the EHLO reply offered; parameters of other extensions are refused.
struct ParamOffer {
    bool size = false;
    bool eight_bit_mime = false;
    bool smtputf8 = false;
    bool dsn = false;
};

enum class ParamError : std::uint8_t {
    none,
    syntax,       // 501 5.5.4: malformed, bad value, duplicate
    unrecognized, // 555 5.5.4 (RFC 5321 4.1.1.11): unknown or not offered
};

enum class BodyType : std::uint8_t { unspecified, seven_bit, eight_bit_mime };
enum class DsnRet : std::uint8_t { unspecified, full, hdrs };

struct MailParams {
    bool has_size = false;
    std::uint64_t size = 0; // RFC 1870 SIZE=, the client's estimate
    BodyType body = BodyType::unspecified;
    bool smtputf8 = false;
    DsnRet ret = DsnRet::unspecified;
    std::string envid; // RFC 3461 ENVID (xtext, as received)
};

enum DsnNotify : std::uint8_t {
    kNotifyNever = 1u << 0,
    kNotifySuccess = 1u << 1,
    kNotifyFailure = 1u << 2,
    kNotifyDelay = 1u << 3,
};

struct RcptParams {
    std::uint8_t notify = 0; // DsnNotify bits; 0 when absent
    std::string orcpt;       // RFC 3461 ORCPT value ("rfc822;..."), as received
};

// Parses the ESMTP parameters after a MAIL path: `text` is empty or starts
// with SP. `canonical` receives the parameters as received, joined by one
// SP (what the proxy passes on). On error, `out` is unspecified.
ParamError parse_mail_params(std::string_view text, const ParamOffer& offer, MailParams& out,
                             std::string& canonical);
// The same for RCPT. `utf8_transaction`: the MAIL had SMTPUTF8, which
// allows UTF-8 in ORCPT values (RFC 6533 3).
ParamError parse_rcpt_params(std::string_view text, const ParamOffer& offer, bool utf8_transaction,
                             RcptParams& out, std::string& canonical);

// RFC 3030 2: "BDAT" SP chunk-size [ SP end-marker ], chunk-size = 1*DIGIT,
// end-marker = "LAST" (case-insensitive). nullopt when malformed or when the
// size does not fit in 64 bits.
struct BdatArgs {
    std::uint64_t size = 0;
    bool last = false;
};
std::optional<BdatArgs> parse_bdat_args(std::string_view arg);

} // namespace smtpgw::smtp
