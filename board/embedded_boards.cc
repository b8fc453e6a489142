// embedded_boards.cc: profiles compiled into the binary (see CMakeLists.txt).
#include "board_profile.h"

namespace smtpgw::board {
extern const char kEmbedded_virtual[];

const char* embedded_board_text(std::string_view name) {
    if (name == "virtual")
        return kEmbedded_virtual;
    return nullptr;
}
} // namespace smtpgw::board
