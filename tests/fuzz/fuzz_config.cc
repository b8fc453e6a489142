// fuzz_config.cc: the administrator's input: the command tokenizer
// (controlplane/command_table) and the board profile parser
// (board/board_profile), which also reads every `set KEY VALUE`. Properties:
// tokens never hold more octets than the line; a refused board names
// FILE:LINE; an accepted board passes validate_board() and every setting it
// renders is accepted again by apply_setting() (the round trip that
// `config save` relies on).
#include "board_profile.h"
#include "command_table.h"
#include "fuzz_util.h"

using namespace smtpgw;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string error;
    if (auto tokens = control::tokenize(text, &error)) {
        std::size_t total = 0;
        for (const auto& t : *tokens)
            total += t.size();
        fuzz::require(total <= text.size(), "tokens come from the line");
    }
    auto parsed = board::parse_board_profile(text, "fuzz.conf");
    if (auto* err = std::get_if<board::BoardError>(&parsed)) {
        fuzz::require(err->message.starts_with("fuzz.conf:"), "a refusal names FILE:LINE");
        return 0;
    }
    auto& b = std::get<board::BoardProfile>(parsed);
    fuzz::require(board::validate_board(b).empty(), "an accepted board is valid");
    for (const auto& key : board::setting_keys()) {
        std::string value = board::setting_value(b, key);
        if (value.empty())
            continue; // unset optional keys render empty
        board::BoardProfile copy = b;
        std::string why = board::apply_setting(copy, key, value);
        fuzz::require(why.empty(), "a rendered setting is accepted again");
    }
    return 0;
}
