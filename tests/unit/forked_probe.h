// forked_probe.h: runs a check in a forked child and returns the text it
// wrote back. For tests of what a process can no longer do once it has
// confined itself or dropped privileges (irreversible for the test runner).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>

namespace smtpgw::test {

// `body` runs in the child; its result comes back through a pipe ("" if the
// child dies first). The parent waits for the child.
inline std::string in_forked_child(const std::function<std::string()>& body) {
    int out[2];
    if (pipe(out) != 0)
        return "pipe failed";
    pid_t pid = fork();
    if (pid == 0) {
        close(out[0]);
        std::string text = body();
        (void)!write(out[1], text.data(), text.size());
        _exit(0);
    }
    close(out[1]);
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = read(out[0], buf, sizeof(buf))) > 0)
        text.append(buf, static_cast<std::size_t>(n));
    close(out[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return text;
}

} // namespace smtpgw::test
