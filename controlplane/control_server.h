// control_server.h: the daemon's control endpoint, a Unix stream socket.
//
// Purpose: run commands from smtpgw-cli (and any admin tool) against the
// command table, on the main lcore, never on a fast-path core.
// Security: the socket is mode 0660, owned by root and the admin group
// (`smtpgw-admin` when it exists); each connection is authenticated again by
// its peer credentials (SO_PEERCRED): only uid 0 or members of the admin
// group are served, others get one refusal and are closed. Every command is
// logged with who ran it. Frames are bounded (control_protocol.h); at most
// kMaxClients connections are served at once.
#pragma once

#include <string>
#include <vector>

#include "command_table.h"
#include "control_protocol.h"

namespace smtpgw::control {

inline constexpr std::string_view kAdminGroup = "smtpgw-admin";

class ControlServer {
  public:
    // Error contract: start() returns an empty string on success, else the
    // reason (path too long, bind failed ...); the server is then unusable.
    ControlServer(std::string path, const CommandTable& table);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    std::string start();
    // Serves ready sockets, waiting at most timeout_ms. Never blocks longer.
    void poll_once(int timeout_ms);

    static constexpr std::size_t kMaxClients = 16; // an admin tool, a console, a monitor or two

  private:
    struct Client {
        int fd;
        unsigned uid;
        int pid;
        bool admitted;
        FrameDecoder decoder{false};
        std::string out;
    };
    void accept_client();
    bool serve(Client& c); // false: close it

    std::string path_;
    const CommandTable& table_;
    int listen_fd_ = -1;
    std::vector<Client> clients_;
};

// True when `uid` is root or a member of the admin group.
bool is_admin(unsigned uid, unsigned gid);

} // namespace smtpgw::control
