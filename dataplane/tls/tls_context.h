// tls_context.h: TLS configurations built once, off the fast path, and
// shared read-only by every lcore: the server side of STARTTLS (port 25)
// and the client side toward the LAN server.
//
// Purpose: everything slow or fallible about TLS happens here, on the
// control thread: reading certificates and keys, checking that each key
// matches its certificate, the protocol and cipher policy, the session
// ticket keys. A TlsContext is immutable once built; a reload (new
// certificate, new policy, ticket key rotation) builds a new one and the
// lcores switch to it for new handshakes, while sessions already running
// keep theirs alive through their shared_ptr (no session is dropped).
// RFCs: 3207 (STARTTLS), 8446 (TLS 1.3), 5246 (TLS 1.2), 5077 (tickets),
// 6066 3 (SNI), 7525 (the cipher policy: ECDHE and AEAD only by default).
// Security: TLS 1.2 minimum by default; no renegotiation (a client-started
// renegotiation is refused: CVE-2009-3555 and CPU exhaustion); compression
// off (CRIME); tickets encrypted with AES-256-CBC + HMAC-SHA256 under keys
// of our own, current and previous, rotated by building a new context, so a
// stolen ticket key exposes at most two rotation periods. Certificates are
// chosen by SNI among the configured ones (RSA and ECDSA for the same names
// live in one group; OpenSSL picks by the client's signature algorithms).
// Error contract: make_*() return the context or a one-line reason naming
// the file; nothing is half-applied.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace smtpgw::tls {

struct CertificateFiles {
    std::string cert_file; // PEM: the certificate, then its chain
    std::string key_file;  // PEM: its private key (RSA or EC)
};

struct TlsServerSettings {
    std::vector<CertificateFiles> certificates; // the first group is the default
    std::string min_version = "1.2";            // "1.2" or "1.3"
    // TLS 1.2 cipher list (OpenSSL syntax); TLS 1.3 suites are OpenSSL's
    // defaults (all AEAD). Default: ECDHE with AEAD, RFC 7525 4.2.
    std::string ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20";
};

enum class LanTlsMode : std::uint8_t {
    never,         // plain SMTP to the LAN server
    opportunistic, // STARTTLS when offered; no certificate check (RFC 7435)
    required,      // STARTTLS or 4xx; the certificate must verify
};

struct TlsClientSettings {
    LanTlsMode mode = LanTlsMode::opportunistic;
    std::string ca_file;     // required: trust anchors (PEM)
    std::string verify_name; // required: the name the certificate must carry
    std::string min_version = "1.2";
};

// 16-byte name, 32-byte AES key, 32-byte HMAC key (RFC 5077 4 layout).
struct TicketKey {
    std::array<std::uint8_t, 16> name{};
    std::array<std::uint8_t, 32> aes{}, hmac{};
};

class TlsContext {
  public:
    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;

    // A server context from certificate files. `previous`: the context this
    // one replaces (its current ticket key stays valid as the previous one,
    // so tickets issued before a reload still resume); null for the first.
    static std::variant<std::shared_ptr<const TlsContext>, std::string>
    make_server(const TlsServerSettings& settings, const TlsContext* previous = nullptr);
    // A server context like `previous` with a fresh current ticket key.
    static std::variant<std::shared_ptr<const TlsContext>, std::string>
    rotate_tickets(const TlsContext& previous);
    static std::variant<std::shared_ptr<const TlsContext>, std::string>
    make_client(const TlsClientSettings& settings);

    bool is_server() const { return server_; }
    // A new SSL object for one connection (null when OpenSSL is out of
    // memory). The caller owns it (SSL_free).
    SSL* new_ssl() const;
    // Names the certificates answer for, per group (for `show tls`).
    const std::vector<std::vector<std::string>>& names() const { return names_; }
    const TlsServerSettings& server_settings() const { return server_settings_; }
    const TlsClientSettings& client_settings() const { return client_settings_; }

    // Internal (OpenSSL callbacks): the group for a server name, the keys.
    SSL_CTX* context_for_name(const char* name) const;
    const TicketKey& current_ticket_key() const { return current_; }
    const TicketKey* ticket_key(const std::uint8_t* name) const;

  private:
    TlsContext() = default;
    static std::variant<std::shared_ptr<const TlsContext>, std::string>
    build_server(const TlsServerSettings& settings, const TicketKey* previous);

    bool server_ = false;
    std::vector<SSL_CTX*> groups_; // server: one per distinct name set; client: one
    std::vector<std::vector<std::string>> names_;
    TlsServerSettings server_settings_;
    TlsClientSettings client_settings_;
    TicketKey current_{}, previous_{};
    bool has_previous_ = false;
};

// The text of OpenSSL's error queue (and clears it): for reasons.
std::string take_openssl_errors();

} // namespace smtpgw::tls
