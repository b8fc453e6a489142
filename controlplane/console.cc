// console.cc: interactive console (see console.h).
#include "console.h"

#include <editline/readline.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace smtpgw::control {

namespace {

ControlClient* g_client = nullptr;
std::vector<std::string> g_candidates;

std::vector<std::string> ask_completions(const std::string& line) {
    std::vector<std::string> out;
    auto f = g_client->request(std::string(kCompletePrefix) + line);
    if (!f || !f->ok)
        return out;
    std::size_t start = 0;
    while (start < f->payload.size()) {
        auto nl = f->payload.find('\n', start);
        if (nl == std::string::npos)
            nl = f->payload.size();
        if (nl > start)
            out.push_back(f->payload.substr(start, nl - start));
        start = nl + 1;
    }
    return out;
}

char* candidate_generator(const char*, int state) {
    static std::size_t index;
    if (state == 0)
        index = 0;
    if (index < g_candidates.size())
        return strdup(g_candidates[index++].c_str());
    return nullptr;
}

char** complete_line(const char* text, int, int end) {
    std::string line(rl_line_buffer, static_cast<std::size_t>(end));
    g_candidates = ask_completions(line);
    rl_attempted_completion_over = 1; // never fall back to file names
    if (g_candidates.empty())
        return nullptr;
    return rl_completion_matches(text, candidate_generator);
}

// '?' anywhere on the line: help for what comes next, in place, without
// Enter (as on a router); the line stays as typed. "show ?" lists the words
// after show, "sh?" the words starting with sh.
int help_in_place(int, int) {
    std::string line(rl_line_buffer, static_cast<std::size_t>(std::max(rl_point, 0)));
    auto f = g_client->request(line + "?");
    std::fputs("?\n", stdout);
    if (!f)
        std::printf("%% connection to the gateway lost\n");
    else
        std::fputs(f->ok ? f->payload.c_str() : ("% " + f->payload + "\n").c_str(), stdout);
    std::fflush(stdout);
    rl_on_new_line();
    rl_forced_update_display();
    return 0;
}

int terminal_columns() {
    winsize ws{};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
        return std::min<int>(ws.ws_col, 200);
    return 80;
}

int terminal_rows() {
    winsize ws{};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 2)
        return ws.ws_row;
    return 24; // a serial line does not know its size: assume a VT100
}

// Waits for one key without echo: space/Enter go on, q stops.
bool more_prompt() {
    std::fputs("--More-- (space: next page, q: quit)", stdout);
    std::fflush(stdout);
    termios old{}, raw{};
    tcgetattr(STDIN_FILENO, &old);
    raw = old;
    raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    char c = 'q';
    if (read(STDIN_FILENO, &c, 1) != 1)
        c = 'q';
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::fputs("\r                                      \r", stdout);
    return c != 'q' && c != 'Q';
}

void print_paged(const std::string& text) {
    if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)) {
        std::fputs(text.c_str(), stdout);
        return;
    }
    auto pages = paginate(text, terminal_rows());
    for (std::size_t i = 0; i < pages.size(); ++i) {
        std::fputs(pages[i].c_str(), stdout);
        if (i + 1 < pages.size() && !more_prompt())
            break;
    }
    std::fflush(stdout);
}

} // namespace

int run_monitor(ControlClient& client) {
    bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    termios old{}, raw{};
    if (tty) {
        tcgetattr(STDIN_FILENO, &old);
        raw = old;
        raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO | ISIG));
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    int status = 0;
    while (true) {
        auto f = client.request("show monitor " + std::to_string(terminal_columns()));
        if (!f || !f->ok) {
            std::printf("%% %s\n", f ? f->payload.c_str() : client.error().c_str());
            status = 1;
            break;
        }
        if (!tty) {
            std::fputs(f->payload.c_str(), stdout);
            break;
        }
        std::fputs("\x1b[H\x1b[J", stdout); // home, clear: VT100
        std::fputs(f->payload.c_str(), stdout);
        std::fflush(stdout);
        pollfd p{STDIN_FILENO, POLLIN, 0};
        if (poll(&p, 1, 1000) > 0) {
            char c = 0;
            if (read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q' || c == 3 || c == 27))
                break;
        }
    }
    if (tty)
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::fflush(stdout);
    return status;
}

std::vector<std::string> paginate(const std::string& text, int rows) {
    std::vector<std::string> pages;
    int per_page = rows > 2 ? rows - 1 : 1;
    std::string cur;
    int lines = 0;
    for (char c : text) {
        cur += c;
        if (c == '\n' && ++lines == per_page) {
            pages.push_back(std::move(cur));
            cur.clear();
            lines = 0;
        }
    }
    if (!cur.empty())
        pages.push_back(std::move(cur));
    return pages;
}

int run_console(ControlClient& client) {
    g_client = &client;
    client.set_progress_handler([](const std::string& note) {
        std::printf("  ... %s\n", note.c_str());
        std::fflush(stdout);
    });
    char host[256] = "smtpgw";
    gethostname(host, sizeof host - 1);
    std::string prompt = std::string(host) + "> ";
    rl_readline_name = "smtpgw";
    rl_attempted_completion_function = complete_line;
    rl_initialize();
    rl_add_defun("smtpgw-help", help_in_place, '?');
    std::string history_file;
    if (const char* home = std::getenv("HOME")) {
        history_file = std::string(home) + "/.smtpgw_history";
        read_history(history_file.c_str());
    }
    stifle_history(1000);
    std::printf("smtpgw console: 'help' lists commands, '?' lists what comes next, TAB "
                "completes, 'monitor' is the live view, 'exit' leaves.\n");
    int status = 0;
    while (true) {
        char* raw = readline(prompt.c_str());
        if (!raw) {
            std::fputs("\n", stdout);
            break;
        }
        std::string line(raw);
        std::free(raw);
        auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos)
            continue;
        add_history(line.c_str());
        std::string word = line.substr(first, line.find_first_of(" \t", first) - first);
        if (word == "exit" || word == "quit" || word == "logout")
            break;
        if (word == "monitor") {
            if (run_monitor(client) != 0)
                status = 1;
            continue;
        }
        auto f = client.request(line);
        if (!f) {
            std::fprintf(stderr, "%% connection to the gateway lost: %s\n",
                         client.error().c_str());
            status = 1;
            break;
        }
        if (f->ok) {
            print_paged(f->payload);
        } else {
            std::printf("%% %s\n", f->payload.c_str());
        }
    }
    if (!history_file.empty())
        write_history(history_file.c_str());
    return status;
}

} // namespace smtpgw::control
