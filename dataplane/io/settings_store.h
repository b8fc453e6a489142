// settings_store.h: the settings behind `set KEY VALUE`: the board profile's
// run-time keys (board/board_profile.h), and what each one drives in the
// running gateway.
//
// Purpose: one place that knows, per key, whether a change applies at once
// (and how: a request to every lcore, the peer filter's control side) or at
// the next start (sizes fixed at start: tables, buffers, the listening port).
// Applied at once: tcp.idle_timeout_s (new connections), the smtp.* policy
// keys (new sessions), smtp.log_file, peer_filter.action and
// peer_filter.auto_list_s. Everything else is kept in the running
// configuration and takes effect at restart (`set` says so).
// Security: a value is checked by the board parser (same syntax, ranges and
// cross-key checks as a board file) before anything changes; a refused
// value changes nothing. Runs on the control thread only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "board_profile.h"
#include "io/dataplane.h"
#include "io/peer_filter_control.h"
#include "running_config.h"

namespace smtpgw::io {

class BoardSettings final : public control::SettingStore {
  public:
    // `base`: the board file as read (what no configuration line means);
    // `running`: base with the startup configuration's `set` lines applied
    // before the dataplane started.
    BoardSettings(board::BoardProfile base, board::BoardProfile running, Dataplane& dp,
                  PeerFilterControl& peer_filter);

    const board::BoardProfile& running() const { return running_; }

    std::vector<std::string> keys() const override { return board::setting_keys(); }
    std::string help(std::string_view key) const override;
    std::string value(std::string_view key) const override {
        return board::setting_value(running_, key);
    }
    std::string base_value(std::string_view key) const override {
        return board::setting_value(base_, key);
    }
    std::string check(std::string_view key, std::string_view value) const override;
    std::string set(std::string_view key, std::string_view value, bool* at_restart) override;

  private:
    board::BoardProfile base_, running_;
    Dataplane& dp_;
    PeerFilterControl& peer_filter_;
};

} // namespace smtpgw::io
