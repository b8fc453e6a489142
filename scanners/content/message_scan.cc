// message_scan.cc: one message's content scan (see message_scan.h).
#include "content/message_scan.h"

#include <algorithm>

namespace smtpgw::content {

using rules::StreamHandle;
using rules::TargetKind;

std::string_view disposition_name(Disposition d) {
    switch (d) {
    case Disposition::accept:
        return "accept";
    case Disposition::tag:
        return "tag";
    case Disposition::reject:
        return "reject";
    case Disposition::tempfail:
        return "tempfail";
    }
    return "?";
}

std::optional<Disposition> parse_disposition(std::string_view text) {
    for (auto d :
         {Disposition::accept, Disposition::tag, Disposition::reject, Disposition::tempfail})
        if (text == disposition_name(d))
            return d;
    return std::nullopt;
}

// One part open in the decoder: its body stream and, for the antivirus,
// the index of its AvPart (or none).
struct MessageScan::PartState {
    StreamHandle body{};
    bool body_open = false;
    bool attachment = false;
    std::int64_t av = -1;
    std::string name;
};

MessageScan::MessageScan(std::shared_ptr<const rules::RuleSet> rules, rules::RuleScratch& scratch,
                         const ScanSettings& settings)
    : settings_(settings), rules_(std::move(rules)), decoder_(*this, settings.mime) {
    if (rules_) {
        matcher_ =
            std::make_unique<rules::RuleMatcher>(*rules_, scratch, settings.max_open_streams);
        raw_body_ = matcher_->open(0, TargetKind::raw_body);
        raw_body_open_ = true;
    }
}

MessageScan::~MessageScan() = default;

MessageScan::PartState* MessageScan::state(std::uint32_t part) {
    return part < parts_.size() ? &parts_[part] : nullptr;
}

// RFC 5322 2.1: the body starts after the first empty line. Bare LF line
// ends are tolerated as the decoder tolerates them.
void MessageScan::feed_raw_body(std::span<const std::uint8_t> bytes) {
    if (!matcher_)
        return;
    std::size_t start = 0;
    if (!in_body_) {
        for (; start < bytes.size() && !in_body_; ++start) {
            std::uint8_t c = bytes[start];
            if (c == '\n')
                in_body_ = eol_run_ != 0, eol_run_ = 1;
            else if (c == '\r' && eol_run_ == 1)
                eol_run_ = 2;
            else
                eol_run_ = 0;
        }
        if (!in_body_)
            return;
    }
    if (start < bytes.size())
        matcher_->feed(raw_body_, bytes.subspan(start));
}

void MessageScan::feed(std::span<const std::uint8_t> bytes) {
    if (finished_)
        return;
    // The first octet of a message is a header line: a leading empty line
    // would be an empty header block.
    if (!in_body_ && eol_run_ == 0 && decoder_.summary().input_bytes == 0)
        eol_run_ = 1;
    feed_raw_body(bytes);
    decoder_.feed(bytes);
}

void MessageScan::on_part_begin(const mime::PartInfo& part) {
    if (parts_.size() <= part.index)
        parts_.resize(part.index + 1);
    PartState& s = parts_[part.index];
    s = PartState{};
    s.attachment = part.attachment;
    s.name = part.filename.empty() ? "part-" + std::to_string(part.index) : part.filename;
    if (matcher_ && part.kind != mime::PartKind::message) {
        s.body =
            matcher_->open(part.index, part.attachment ? TargetKind::attachment : TargetKind::text);
        s.body_open = true;
    }
}

void MessageScan::on_header_bytes(std::uint32_t part, std::span<const std::uint8_t> raw) {
    if (!matcher_)
        return;
    StreamHandle h = matcher_->open(part, TargetKind::raw_headers);
    matcher_->feed(h, raw);
    matcher_->close(h);
}

void MessageScan::on_header_field(std::uint32_t part, std::string_view name,
                                  std::string_view value) {
    if (!matcher_ || !rules_->find_database(TargetKind::header, name))
        return;
    // RFC 2047: a rule reads what the recipient's client shows.
    if (value.find("=?") != std::string_view::npos) {
        mime::HeaderIssues issues;
        mime::DecodedText d = mime::decode_encoded_words(value, &issues);
        matcher_->scan_header(part, name, d.bytes);
    } else {
        matcher_->scan_header(part, name, value);
    }
}

void MessageScan::on_body_bytes(std::uint32_t part, std::span<const std::uint8_t> bytes) {
    PartState* s = state(part);
    if (!s)
        return;
    if (s->body_open)
        matcher_->feed(s->body, bytes);
    if (!settings_.antivirus || bytes.empty())
        return;
    if (s->av < 0) {
        if (av_parts_.size() >= settings_.av_max_parts) {
            av_over_budget_ = true;
            return;
        }
        s->av = static_cast<std::int64_t>(av_parts_.size());
        av_parts_.push_back(AvPart{part, s->name, {}});
    }
    AvPart& av = av_parts_[static_cast<std::size_t>(s->av)];
    if (av.bytes.size() + bytes.size() > settings_.av_max_part_bytes ||
        av_bytes_ + bytes.size() > settings_.av_max_message_bytes) {
        av_over_budget_ = true; // the part cannot be scanned whole: never clean
        return;
    }
    av.bytes.insert(av.bytes.end(), bytes.begin(), bytes.end());
    av_bytes_ += bytes.size();
}

void MessageScan::on_part_end(std::uint32_t part) {
    PartState* s = state(part);
    if (s && s->body_open) {
        matcher_->close(s->body);
        s->body_open = false;
    }
}

ScanOutcome MessageScan::finish() {
    ScanOutcome out;
    if (finished_)
        return out;
    finished_ = true;
    out.mime = decoder_.finish(); // ends the open parts: their streams close
    if (matcher_) {
        if (raw_body_open_)
            matcher_->close(raw_body_);
        out.rules_status = matcher_->status();
        out.rules = rules::decide(*rules_, matcher_->matches(), settings_.verdict);
    }
    out.av_parts = std::move(av_parts_);
    out.av_over_budget = av_over_budget_;
    return out;
}

namespace {

MessageVerdict tempfail(std::string reason, std::string text) {
    MessageVerdict v;
    v.action = Disposition::tempfail;
    v.code = 451;
    v.enhanced = "4.3.0";
    v.text = std::move(text);
    v.reason = std::move(reason);
    return v;
}

// A configured disposition for a failed or limited scan.
MessageVerdict configured(Disposition d, std::string reason, const std::string& what) {
    MessageVerdict v;
    v.reason = std::move(reason);
    switch (d) {
    case Disposition::reject:
        v.action = Disposition::reject;
        v.code = 554;
        v.enhanced = "5.6.0"; // RFC 3463: other or undefined media error
        v.text = "Message refused: " + what;
        break;
    case Disposition::tempfail: {
        std::string r = std::move(v.reason);
        v = tempfail(std::move(r), what + ", try again later");
        break;
    }
    case Disposition::tag:
        v.action = Disposition::tag;
        v.header = std::string(rules::kVerdictHeaderName) + ": unscanned; " + v.reason;
        break;
    case Disposition::accept:
        break;
    }
    return v;
}

// "550 5.7.1 text" -> code, enhanced, text.
void split_reply(std::string_view line, MessageVerdict& v) {
    v.code = static_cast<std::uint16_t>(
        line.size() >= 3 ? (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0') : 550);
    line.remove_prefix(std::min<std::size_t>(4, line.size()));
    auto sp = line.find(' ');
    v.enhanced = std::string(line.substr(0, sp));
    v.text = sp == std::string_view::npos ? std::string() : std::string(line.substr(sp + 1));
}

} // namespace

MessageVerdict decide(const ScanOutcome& outcome, const ScanSettings& settings,
                      const rules::RuleSet* rules) {
    MessageVerdict v;
    if (rules)
        for (auto i : outcome.rules.rules)
            v.rule_ids.push_back(rules->rules()[i].id);
    if (outcome.rules.action == rules::VerdictAction::reject) {
        v.action = Disposition::reject;
        split_reply(outcome.rules.reply, v);
        v.reason = outcome.rules.deciding_rule && rules
                       ? "rule=" + rules->rules()[*outcome.rules.deciding_rule].id
                       : "score=" + std::to_string(outcome.rules.score);
        return v;
    }
    if (outcome.mime.limit_exceeded()) {
        std::string which;
        for (unsigned b = 0; b < 32; ++b)
            if (outcome.mime.limits_exceeded & (1u << b)) {
                which = mime::limit_name(static_cast<mime::MimeLimit>(b));
                break;
            }
        MessageVerdict l = configured(settings.on_mime_limit, "mime-limit=" + which,
                                      "MIME structure past the " + which + " limit");
        if (l.action != Disposition::accept) {
            l.rule_ids = v.rule_ids;
            return l;
        }
    }
    if (outcome.rules_status != rules::MatchStatus::ok) {
        std::string why(rules::status_name(outcome.rules_status));
        MessageVerdict e = configured(settings.on_scan_error, "scan-error=" + why,
                                      "content scan failed (" + why + ")");
        if (e.action != Disposition::accept) {
            e.rule_ids = v.rule_ids;
            return e;
        }
    }
    if (outcome.rules.action == rules::VerdictAction::tag) {
        v.action = Disposition::tag;
        v.header = outcome.rules.tag_header;
        v.reason = "tagged";
    }
    return v;
}

MessageVerdict add_antivirus(MessageVerdict before, std::span<const av::AvResult> results,
                             bool over_budget, const ScanSettings& settings) {
    if (before.action == Disposition::reject || before.action == Disposition::tempfail)
        return before;
    for (const auto& r : results)
        if (r.verdict == av::AvVerdict::infected) {
            MessageVerdict v;
            v.action = Disposition::reject;
            v.code = 554;
            v.enhanced = "5.7.1"; // RFC 3463: delivery not authorized, message refused
            v.text = "Message rejected: virus found (" + r.name + ")";
            v.reason = "virus=" + r.name;
            v.virus = true;
            v.rule_ids = before.rule_ids;
            return v;
        }
    std::string error;
    if (over_budget)
        error = "a part is past the antivirus size limits";
    for (const auto& r : results)
        if (r.verdict == av::AvVerdict::error && error.empty())
            error = "antivirus error: " + r.name;
    if (error.empty())
        return before;
    MessageVerdict e = configured(settings.on_av_error, "av-error", error);
    if (e.action == Disposition::accept)
        return before;
    e.rule_ids = before.rule_ids;
    if (e.action == Disposition::tag && before.action == Disposition::tag)
        e.header = before.header + "; unscanned";
    return e;
}

} // namespace smtpgw::content
