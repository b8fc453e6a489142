// tls_stream_test.cc: unit tests of dataplane/tls/tls_stream.{h,cc} and
// tls_context: our server stream against a real OpenSSL client over memory
// (handshake, data both ways byte-exact, records cut at every size,
// resumption by ticket across a reload and a rotation, SNI and RSA/ECDSA
// choice, a renegotiation attempt, garbage instead of a ClientHello, the
// input bound) and our client stream against our server (verification).
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <string>
#include <vector>

#include "test_certificates.h"
#include "tls/tls_context.h"
#include "tls/tls_stream.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw::tls;
using smtpgw::tls::testing::KeyType;
using smtpgw::tls::testing::TestCertificates;

namespace {

std::span<const std::uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// A TLS client written by OpenSSL's authors, not us: SSL over memory BIOs.
struct RawClient {
    SSL_CTX* ctx = nullptr;
    SSL* ssl = nullptr;
    BIO *in = nullptr, *out = nullptr;
    explicit RawClient(int max_version = 0, const char* sni = nullptr,
                       const char* sigalgs = nullptr, SSL_SESSION* resume = nullptr) {
        ctx = SSL_CTX_new(TLS_client_method());
        if (max_version)
            SSL_CTX_set_max_proto_version(ctx, max_version);
        if (sigalgs)
            SSL_CTX_set1_sigalgs_list(ctx, sigalgs);
        ssl = SSL_new(ctx);
        in = BIO_new(BIO_s_mem());
        out = BIO_new(BIO_s_mem());
        BIO_set_mem_eof_return(in, -1);
        SSL_set_bio(ssl, in, out);
        if (sni)
            SSL_set_tlsext_host_name(ssl, sni);
        if (resume)
            SSL_set_session(ssl, resume);
        SSL_set_connect_state(ssl);
    }
    ~RawClient() {
        // A clean close: OpenSSL forgets sessions of connections that were
        // not shut down (they cannot be resumed).
        SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(ssl);
        SSL_CTX_free(ctx);
    }
    std::string take_output() {
        std::string s;
        char buf[4096];
        for (int n; (n = BIO_read(out, buf, sizeof buf)) > 0;)
            s.append(buf, static_cast<std::size_t>(n));
        return s;
    }
    void give(const std::string& records) {
        if (!records.empty())
            BIO_write(in, records.data(), static_cast<int>(records.size()));
    }
    std::string read_all() {
        std::string s;
        char buf[4096];
        for (int n; (n = SSL_read(ssl, buf, sizeof buf)) > 0;)
            s.append(buf, static_cast<std::size_t>(n));
        return s;
    }
    std::string peer_names() {
        X509* cert = SSL_get1_peer_certificate(ssl);
        if (!cert)
            return "";
        char cn[256] = "";
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
        std::string key =
            EVP_PKEY_get_base_id(X509_get0_pubkey(cert)) == EVP_PKEY_EC ? "ec" : "rsa";
        X509_free(cert);
        return std::string(cn) + "/" + key;
    }
};

// Moves records both ways until nothing moves; `chunk` cuts what the server
// is fed into pieces of that size (0: whole).
void shuttle(RawClient& c, TlsStream& s, std::size_t chunk = 0) {
    for (int round = 0; round < 100; ++round) {
        SSL_do_handshake(c.ssl);
        std::string to_server = c.take_output();
        std::size_t off = 0;
        while (off < to_server.size()) {
            std::size_t n =
                chunk ? std::min(chunk, to_server.size() - off) : to_server.size() - off;
            std::size_t took = s.feed(bytes(std::string_view(to_server).substr(off, n)));
            off += took;
            if (took == 0)
                break;
        }
        std::string to_client(s.pending_output());
        s.consume_output(to_client.size());
        c.give(to_client);
        if (to_server.empty() && to_client.empty())
            return;
    }
}

std::shared_ptr<const TlsContext> server_context(const TlsServerSettings& settings,
                                                 const TlsContext* previous = nullptr) {
    auto r = TlsContext::make_server(settings, previous);
    if (auto* why = std::get_if<std::string>(&r))
        FAIL(why->c_str());
    return std::get<std::shared_ptr<const TlsContext>>(r);
}

struct Rig {
    TestCertificates certs;
    TlsServerSettings settings;
    Rig() {
        auto [crt, key] = certs.make("mx", KeyType::ecdsa, {"mx.example.com"});
        settings.certificates.push_back({crt, key});
    }
};

} // namespace

TEST_GROUP(TlsStream){void teardown() override{ERR_clear_error();
}
}
;

TEST(TlsStream, AHandshakeCompletesAndDataCrossesBothWaysByteExact) {
    Rig rig;
    auto ctx = server_context(rig.settings);
    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        TlsStream server(ctx);
        RawClient client(version);
        shuttle(client, server);
        CHECK_TRUE(server.handshake_done());
        STRCMP_EQUAL(version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2", server.protocol().c_str());
        CHECK_FALSE(server.cipher().empty());
        // Client to server: an SMTP command line.
        SSL_write(client.ssl, "EHLO client.example.org\r\n", 25);
        shuttle(client, server);
        std::uint8_t buf[256];
        std::size_t n = server.read(buf);
        STRCMP_EQUAL("EHLO client.example.org\r\n",
                     std::string(reinterpret_cast<char*>(buf), n).c_str());
        // Server to client: a reply, all of it.
        std::string reply(40000, 'r');
        std::size_t sent = 0;
        while (sent < reply.size()) {
            std::size_t w = server.write(bytes(std::string_view(reply).substr(sent)));
            CHECK_TRUE(w > 0);
            sent += w;
        }
        shuttle(client, server);
        CHECK_EQUAL(reply.size(), client.read_all().size());
    }
}

TEST(TlsStream, RecordsCutIntoAnySizeGiveTheSameSession) {
    Rig rig;
    auto ctx = server_context(rig.settings);
    for (std::size_t chunk : {1u, 2u, 5u, 7u, 64u, 1000u}) {
        TlsStream server(ctx);
        RawClient client;
        shuttle(client, server, chunk);
        CHECK_TRUE_TEXT(server.handshake_done(), std::to_string(chunk).c_str());
        SSL_write(client.ssl, "QUIT\r\n", 6);
        shuttle(client, server, chunk);
        std::uint8_t buf[16];
        std::size_t n = server.read(buf);
        CHECK_EQUAL(6u, n);
    }
}

TEST(TlsStream, NothingIsWrittenBeforeTheHandshake) {
    Rig rig;
    TlsStream server(server_context(rig.settings));
    CHECK_EQUAL(0u, server.write(bytes("250 early\r\n")));
    CHECK_FALSE(server.failed());
}

TEST(TlsStream, GarbageInsteadOfAClientHelloFailsWithAReason) {
    Rig rig;
    auto ctx = server_context(rig.settings);
    using namespace std::string_literals;
    const std::string inputs[] = {
        "EHLO client.example.org\r\n"s,          // plaintext after the 220
        "\x16\x03\x01\x00\x04\x63\x00\x00\x00"s, // handshake type 99
        "\x17\x03\x03\x00\x10xxxxxxxxxxxxxxxx"s, // application data first
        "\x80\x80\x80\x80\x80\x80"s,             // an SSLv2-style header
    };
    for (const auto& in : inputs) {
        TlsStream server(ctx);
        server.feed(bytes(in));
        std::uint8_t buf[16];
        server.read(buf);
        CHECK_TRUE_TEXT(server.failed(), in.c_str());
        CHECK_TRUE_TEXT(server.error().find("handshake") != std::string::npos,
                        server.error().c_str());
        CHECK_EQUAL(0u, server.feed(bytes("more")));
    }
}

TEST(TlsStream, BufferedInputIsBounded) {
    Rig rig;
    TlsStream server(server_context(rig.settings));
    // A record header announcing 16 KiB, then its body trickling: OpenSSL
    // waits for the whole record; we never hold more than the bound.
    std::string big = std::string("\x16\x03\x01\x40\x00", 5) + std::string(200000, 'A');
    std::size_t took = server.feed(bytes(big));
    CHECK_TRUE(took <= kMaxBufferedInput);
}

TEST(TlsStream, ATicketResumesAcrossAReloadAndOneRotationButNotTwo) {
    Rig rig;
    auto first = server_context(rig.settings);
    SSL_SESSION* ticket = nullptr;
    {
        TlsStream server(first);
        RawClient client(TLS1_2_VERSION);
        shuttle(client, server);
        CHECK_TRUE(server.handshake_done());
        CHECK_FALSE(server.resumed());
        ticket = SSL_get1_session(client.ssl);
        CHECK_TRUE(ticket != nullptr);
        CHECK_EQUAL(1, SSL_SESSION_has_ticket(ticket));
    }
    auto resumes = [&](const std::shared_ptr<const TlsContext>& ctx) {
        TlsStream server(ctx);
        RawClient client(TLS1_2_VERSION, nullptr, nullptr, ticket);
        shuttle(client, server);
        CHECK_TRUE(server.handshake_done());
        return server.resumed();
    };
    CHECK_TRUE(resumes(first));
    auto reloaded = server_context(rig.settings, first.get()); // a certificate reload
    CHECK_TRUE(resumes(reloaded));
    auto rotated =
        std::get<std::shared_ptr<const TlsContext>>(TlsContext::rotate_tickets(*reloaded));
    CHECK_FALSE(resumes(rotated)); // the first key is two rotations old
    SSL_SESSION_free(ticket);
}

TEST(TlsStream, TheServerNameChoosesTheCertificateAndSignatureAlgorithmsTheKey) {
    Rig rig; // mx.example.com, ECDSA
    auto [rsa_crt, rsa_key] = rig.certs.make("mx-rsa", KeyType::rsa, {"mx.example.com"});
    auto [b_crt, b_key] = rig.certs.make("b", KeyType::rsa, {"b.example.net", "*.b.example.net"});
    rig.settings.certificates.push_back({rsa_crt, rsa_key});
    rig.settings.certificates.push_back({b_crt, b_key});
    auto ctx = server_context(rig.settings);
    CHECK_EQUAL(2u, ctx->names().size()); // two groups: mx (RSA + ECDSA), b
    struct Case {
        const char* sni;
        const char* sigalgs;
        const char* expect;
    };
    const Case cases[] = {
        {"mx.example.com", "ECDSA+SHA256", "mx.example.com/ec"},
        {"mx.example.com", "RSA-PSS+SHA256:RSA+SHA256", "mx.example.com/rsa"},
        {"b.example.net", nullptr, "b.example.net/rsa"},
        {"MAIL.B.example.net", nullptr, "b.example.net/rsa"},         // wildcard, any case
        {"unknown.example.org", "ECDSA+SHA256", "mx.example.com/ec"}, // the default
        {nullptr, "ECDSA+SHA256", "mx.example.com/ec"},
    };
    for (const auto& c : cases) {
        TlsStream server(ctx);
        RawClient client(TLS1_3_VERSION, c.sni, c.sigalgs);
        shuttle(client, server);
        CHECK_TRUE_TEXT(server.handshake_done(), c.expect);
        STRCMP_EQUAL_TEXT(c.expect, client.peer_names().c_str(), c.sni ? c.sni : "(no SNI)");
    }
}

TEST(TlsStream, ARenegotiationAttemptIsRefused) {
    Rig rig;
    TlsStream server(server_context(rig.settings));
    RawClient client(TLS1_2_VERSION);
    shuttle(client, server);
    CHECK_TRUE(server.handshake_done());
    SSL_renegotiate(client.ssl);
    SSL_do_handshake(client.ssl);
    shuttle(client, server);
    std::uint8_t buf[16];
    server.read(buf);
    shuttle(client, server);
    // Either we saw it start (and fail the stream), or OpenSSL answered the
    // no_renegotiation alert: never a second completed handshake.
    CHECK_TRUE(server.failed() || SSL_renegotiate_pending(client.ssl) == 1);
    CHECK_FALSE(SSL_renegotiate_pending(client.ssl) == 0 && !server.failed());
}

TEST(TlsStream, ContextsRefuseBadSettingsNamingTheFile) {
    TestCertificates certs;
    auto [crt, key] = certs.make("a", KeyType::rsa, {"a.example.com"});
    auto [crt2, key2] = certs.make("b", KeyType::ecdsa, {"b.example.com"});
    struct Case {
        TlsServerSettings s;
        const char* reason;
    };
    std::vector<Case> cases = {
        {{{}, "1.2", "ECDHE+AESGCM"}, "no certificate"},
        {{{{certs.path("missing.crt"), key}}, "1.2", "ECDHE+AESGCM"}, "missing.crt"},
        {{{{crt, key2}}, "1.2", "ECDHE+AESGCM"}, "does not match"},
        {{{{crt, certs.path("missing.key")}}, "1.2", "ECDHE+AESGCM"}, "missing.key"},
        {{{{crt, key}}, "1.1", "ECDHE+AESGCM"}, "1.2 or 1.3"},
        {{{{crt, key}}, "1.2", "NOSUCHCIPHER"}, "ciphers"},
        {{{{key, key}}, "1.2", "ECDHE+AESGCM"}, "not a PEM certificate"},
    };
    for (const auto& c : cases) {
        auto r = TlsContext::make_server(c.s);
        auto* why = std::get_if<std::string>(&r);
        CHECK_TRUE_TEXT(why != nullptr, c.reason);
        CHECK_TRUE_TEXT(why->find(c.reason) != std::string::npos, why->c_str());
    }
}

TEST(TlsStream, OurClientVerifiesTheLanServerWhenRequired) {
    Rig rig;
    auto server_ctx = server_context(rig.settings);
    struct Case {
        LanTlsMode mode;
        const char* name;
        bool ok;
    };
    const Case cases[] = {
        {LanTlsMode::required, "mx.example.com", true},
        {LanTlsMode::required, "other.example.com", false},
        {LanTlsMode::opportunistic, "other.example.com", true}, // encrypted, not checked
    };
    for (const auto& c : cases) {
        TlsClientSettings cs;
        cs.mode = c.mode;
        cs.ca_file = rig.settings.certificates[0].cert_file; // self-signed: its own anchor
        cs.verify_name = c.name;
        auto made = TlsContext::make_client(cs);
        auto client_ctx = std::get<std::shared_ptr<const TlsContext>>(made);
        TlsStream client(client_ctx), server(server_ctx);
        for (int round = 0; round < 20; ++round) {
            std::string a(client.pending_output()), b(server.pending_output());
            client.consume_output(a.size());
            server.consume_output(b.size());
            server.feed(bytes(a));
            client.feed(bytes(b));
            if (a.empty() && b.empty())
                break;
        }
        CHECK_EQUAL_TEXT(c.ok, client.handshake_done() && !client.failed(), c.name);
        if (!c.ok)
            CHECK_TRUE_TEXT(client.error().find("certificate") != std::string::npos,
                            client.error().c_str());
    }
    TlsClientSettings missing;
    missing.mode = LanTlsMode::required;
    CHECK_TRUE(std::holds_alternative<std::string>(TlsContext::make_client(missing)));
}
