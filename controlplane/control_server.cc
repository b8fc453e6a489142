// control_server.cc: Unix socket control endpoint (see header).
#include "control_server.h"

#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "daemon_log.h"
#include "progress.h"

namespace smtpgw::control {

bool is_admin(unsigned uid, unsigned gid) {
    if (uid == 0)
        return true;
    struct group* g = getgrnam(std::string(kAdminGroup).c_str());
    if (!g)
        return false;
    if (gid == g->gr_gid)
        return true;
    struct passwd* pw = getpwuid(uid);
    if (!pw)
        return false;
    for (char** m = g->gr_mem; m && *m; ++m)
        if (std::strcmp(*m, pw->pw_name) == 0)
            return true;
    return false;
}

ControlServer::ControlServer(std::string path, const CommandTable& table)
    : path_(std::move(path)), table_(table) {}

ControlServer::~ControlServer() {
    for (auto& c : clients_)
        close(c.fd);
    if (listen_fd_ >= 0) {
        close(listen_fd_);
        unlink(path_.c_str());
    }
}

std::string ControlServer::start() {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path_.size() >= sizeof sa.sun_path)
        return "control socket path too long: " + path_;
    std::memcpy(sa.sun_path, path_.c_str(), path_.size() + 1);
    auto slash = path_.rfind('/');
    if (slash != std::string::npos && slash > 0) {
        std::string dir = path_.substr(0, slash);
        if (mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST)
            return "cannot create " + dir + ": " + std::strerror(errno);
    }
    unlink(path_.c_str()); // a stale socket from a crashed daemon
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listen_fd_ < 0)
        return std::string("socket: ") + std::strerror(errno);
    mode_t old = umask(0117);
    int rc = bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    umask(old);
    if (rc != 0)
        return "bind " + path_ + ": " + std::strerror(errno);
    if (struct group* g = getgrnam(std::string(kAdminGroup).c_str())) {
        if (chown(path_.c_str(), 0, g->gr_gid) == 0 && slash != std::string::npos)
            (void)chown(path_.substr(0, slash).c_str(), 0, g->gr_gid);
    }
    chmod(path_.c_str(), 0660);
    if (listen(listen_fd_, 16) != 0)
        return std::string("listen: ") + std::strerror(errno);
    return {};
}

void ControlServer::accept_client() {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        clients_.size() >= kMaxClients) {
        close(fd);
        return;
    }
    Client c{fd, static_cast<unsigned>(cred.uid), cred.pid,
             is_admin(static_cast<unsigned>(cred.uid), static_cast<unsigned>(cred.gid)),
             FrameDecoder{false}, {}};
    if (!c.admitted) {
        log_line(LogLevel::warn, "control: refused uid=" + std::to_string(c.uid) +
                                     " pid=" + std::to_string(c.pid) + " (not root or " +
                                     std::string(kAdminGroup) + ")");
        std::string msg = encode_response(false, "permission denied: not root or in group " +
                                                     std::string(kAdminGroup));
        (void)!write(fd, msg.data(), msg.size());
        close(fd);
        return;
    }
    clients_.push_back(std::move(c));
}

bool ControlServer::serve(Client& c) {
    char buf[4096];
    while (true) {
        ssize_t n = read(c.fd, buf, sizeof buf);
        if (n == 0)
            return false;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            return false;
        }
        c.decoder.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    }
    while (auto frame = c.decoder.next()) {
        std::string_view req = frame->payload;
        if (req.starts_with(kCompletePrefix)) {
            std::string out;
            for (auto& cand : table_.complete(req.substr(kCompletePrefix.size())))
                out += cand + "\n";
            c.out += encode_response(true, out);
            continue;
        }
        // Progress notes go out while the command runs (a best-effort write
        // now; what the socket cannot take waits in c.out with the answer).
        struct ClientProgress final : ProgressSink {
            Client& c;
            explicit ClientProgress(Client& client) : c(client) {}
            void note(std::string_view text) override {
                c.out += encode_progress(text);
                ssize_t n = write(c.fd, c.out.data(), c.out.size());
                if (n > 0)
                    c.out.erase(0, static_cast<std::size_t>(n));
            }
        } progress(c);
        ProgressScope scope(&progress);
        CommandResult r = table_.execute(req);
        // Who changed what, when: every command at info, refusals at warn.
        log_line(r.ok ? LogLevel::info : LogLevel::warn,
                 "control: uid=" + std::to_string(c.uid) + " pid=" + std::to_string(c.pid) +
                     " cmd=\"" + std::string(req.substr(0, 200)) + "\" result=" +
                     (r.ok ? "ok" : "err"));
        c.out += encode_response(r.ok, r.text);
    }
    if (c.decoder.failed())
        return false;
    while (!c.out.empty()) {
        ssize_t n = write(c.fd, c.out.data(), c.out.size());
        if (n <= 0) {
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                break;
            return false;
        }
        c.out.erase(0, static_cast<std::size_t>(n));
    }
    return true;
}

void ControlServer::poll_once(int timeout_ms) {
    std::vector<pollfd> fds;
    fds.push_back({listen_fd_, POLLIN, 0});
    for (auto& c : clients_)
        fds.push_back({c.fd, static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
    if (::poll(fds.data(), fds.size(), timeout_ms) <= 0)
        return;
    std::vector<Client> keep;
    for (std::size_t i = 0; i < clients_.size(); ++i) {
        auto& c = clients_[i];
        if (fds[i + 1].revents && !serve(c)) {
            close(c.fd);
            continue;
        }
        keep.push_back(std::move(c));
    }
    clients_ = std::move(keep);
    if (fds[0].revents & POLLIN)
        accept_client();
}

} // namespace smtpgw::control
