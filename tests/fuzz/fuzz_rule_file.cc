// fuzz_rule_file.cc: the content-rule file parser (scanners/rules/
// rule_file) on any text. Properties: a file with any error yields no
// rules (it is refused whole); every error names a line of the file; every
// rule has an id, a non-empty pattern and a line inside the file.
#include "fuzz_util.h"
#include "rules/rule_file.h"

using namespace smtpgw;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::size_t lines = 1;
    for (char c : text)
        lines += c == '\n';
    rules::RuleFileParse p = rules::parse_rule_file(text);
    for (const auto& e : p.errors)
        fuzz::require(e.line <= lines, "errors name a line of the file (0: the whole file)");
    fuzz::require(p.errors.empty() || p.rules.empty() || p.bad_lines != 0,
                  "errors come with bad lines");
    for (const auto& r : p.rules) {
        fuzz::require(!r.id.empty() && !r.pattern.empty(), "a rule has an id and a pattern");
        fuzz::require(r.line >= 1 && r.line <= lines, "a rule names its line");
    }
    return 0;
}
