// tls_bench.cc: TLS handshakes per second of server CPU through the
// gateway's code path (tls::TlsContext + tls::TlsStream, exactly what an
// lcore runs after STARTTLS) against a plain OpenSSL server object with
// OpenSSL's defaults on the same certificate, in the same run, full and
// resumed (ticket). Both run over memory BIOs against the same OpenSSL
// client, one thread; only the server side's cycles are counted, so the
// ratio is the cost of our wrapper and policy. (scripts/bench tls adds
// `openssl s_server` + `s_time` over loopback as the outside baseline.)
//
//   smtpgw-bench-tls --cert FILE --key FILE [--handshakes N] [--check]
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <x86intrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tls/tls_context.h"
#include "tls/tls_stream.h"

using namespace smtpgw;

namespace {

double tsc_hz() {
    auto t0 = std::chrono::steady_clock::now();
    std::uint64_t c0 = __rdtsc();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(200)) {
    }
    std::uint64_t c1 = __rdtsc();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return static_cast<double>(c1 - c0) / s;
}

struct Client {
    SSL* ssl;
    BIO *in, *out;
    explicit Client(SSL_CTX* ctx, SSL_SESSION* resume) {
        ssl = SSL_new(ctx);
        in = BIO_new(BIO_s_mem());
        out = BIO_new(BIO_s_mem());
        BIO_set_mem_eof_return(in, -1);
        SSL_set_bio(ssl, in, out);
        if (resume)
            SSL_set_session(ssl, resume);
        SSL_set_connect_state(ssl);
    }
    ~Client() {
        SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(ssl);
    }
    std::string take() {
        std::string s;
        char buf[8192];
        for (int n; (n = BIO_read(out, buf, sizeof buf)) > 0;)
            s.append(buf, static_cast<std::size_t>(n));
        return s;
    }
};

// The server under test: ours or plain OpenSSL, same shape.
struct Ours {
    tls::TlsStream s;
    explicit Ours(std::shared_ptr<const tls::TlsContext> c) : s(std::move(c)) {}
    void feed(const std::string& r) {
        s.feed(std::span(reinterpret_cast<const std::uint8_t*>(r.data()), r.size()));
    }
    std::string take() {
        std::string o(s.pending_output());
        s.consume_output(o.size());
        return o;
    }
    bool done() const { return s.handshake_done(); }
    bool resumed() const { return s.resumed(); }
};

struct Plain {
    SSL* ssl;
    BIO *in, *out;
    explicit Plain(SSL_CTX* ctx) {
        ssl = SSL_new(ctx);
        in = BIO_new(BIO_s_mem());
        out = BIO_new(BIO_s_mem());
        BIO_set_mem_eof_return(in, -1);
        SSL_set_bio(ssl, in, out);
        SSL_set_accept_state(ssl);
    }
    ~Plain() { SSL_free(ssl); }
    void feed(const std::string& r) {
        BIO_write(in, r.data(), static_cast<int>(r.size()));
        SSL_do_handshake(ssl);
    }
    std::string take() {
        std::string s;
        char buf[8192];
        for (int n; (n = BIO_read(out, buf, sizeof buf)) > 0;)
            s.append(buf, static_cast<std::size_t>(n));
        return s;
    }
    bool done() const { return SSL_is_init_finished(ssl); }
    bool resumed() const { return SSL_session_reused(ssl) == 1; }
};

struct Result {
    double per_second = 0; // handshakes per second of server CPU
    std::size_t completed = 0, resumed = 0;
};

// Runs `n` handshakes; `resume`: offer the first one's session each time.
template <typename MakeServer>
Result run(SSL_CTX* client_ctx, MakeServer make, std::size_t n, bool resume, double hz) {
    Result r;
    SSL_SESSION* session = nullptr;
    std::uint64_t server_cycles = 0;
    for (std::size_t i = 0; i < n + 1; ++i) {
        Client c(client_ctx, resume ? session : nullptr);
        auto server = make();
        std::uint64_t cycles = 0;
        for (int round = 0; round < 10; ++round) {
            SSL_do_handshake(c.ssl);
            std::string to_server = c.take();
            std::uint64_t t0 = __rdtsc();
            if (!to_server.empty())
                server->feed(to_server);
            std::string to_client = server->take();
            cycles += __rdtsc() - t0;
            if (!to_client.empty())
                BIO_write(c.in, to_client.data(), static_cast<int>(to_client.size()));
            if (to_server.empty() && to_client.empty())
                break;
        }
        // The client reads the TLS 1.3 ticket that follows the handshake.
        char sink[64];
        SSL_read(c.ssl, sink, sizeof sink);
        if (i == 0) { // warm-up, and the session to resume
            session = SSL_get1_session(c.ssl);
            continue;
        }
        server_cycles += cycles;
        r.completed += server->done();
        r.resumed += server->resumed();
    }
    SSL_SESSION_free(session);
    r.per_second = static_cast<double>(n) / (static_cast<double>(server_cycles) / hz);
    return r;
}

} // namespace

int main(int argc, char** argv) {
    std::string cert, key;
    std::size_t n = 2000;
    bool check = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--cert" && i + 1 < argc)
            cert = argv[++i];
        else if (a == "--key" && i + 1 < argc)
            key = argv[++i];
        else if (a == "--handshakes" && i + 1 < argc)
            n = std::strtoull(argv[++i], nullptr, 10);
        else if (a == "--check")
            check = true;
        else {
            std::fprintf(stderr, "usage: %s --cert FILE --key FILE [--handshakes N] [--check]\n", argv[0]);
            return 2;
        }
    }
    tls::TlsServerSettings settings;
    settings.certificates.push_back({cert, key});
    auto made = tls::TlsContext::make_server(settings);
    if (auto* why = std::get_if<std::string>(&made)) {
        std::fprintf(stderr, "context: %s\n", why->c_str());
        return 1;
    }
    auto ours = std::get<std::shared_ptr<const tls::TlsContext>>(made);
    // Plain OpenSSL, as `openssl s_server` sets it up: defaults, the certificate.
    SSL_CTX* plain = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate_chain_file(plain, cert.c_str());
    SSL_CTX_use_PrivateKey_file(plain, key.c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_set_num_tickets(plain, 1);
    const double hz = tsc_hz();
    int status = 0;
    std::printf("TLS handshakes per second of server CPU, %zu each, one core, memory BIOs:\n", n);
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        SSL_CTX* client = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(client, version);
        SSL_CTX_set_max_proto_version(client, version);
        for (bool resume : {false, true}) {
            Result a = run(client, [&] { return std::make_unique<Ours>(ours); }, n, resume, hz);
            Result b = run(client, [&] { return std::make_unique<Plain>(plain); }, n, resume, hz);
            std::printf("  %s %-8s smtpgw %8.0f/s   plain OpenSSL %8.0f/s   ratio %.2f   (resumed %zu/%zu)\n",
                        version == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2", resume ? "resumed" : "full",
                        a.per_second, b.per_second, a.per_second / b.per_second, a.resumed, n);
            if (check && (a.completed != n || (resume && a.resumed != n))) {
                std::fprintf(stderr, "check failed: %zu of %zu completed, %zu resumed\n", a.completed, n,
                             a.resumed);
                status = 1;
            }
        }
        SSL_CTX_free(client);
    }
    SSL_CTX_free(plain);
    return status;
}
