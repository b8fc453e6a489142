// tls_context.cc: building TLS configurations (see tls_context.h).
#include "tls/tls_context.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace smtpgw::tls {

namespace {

// Where each SSL_CTX keeps a pointer back to its TlsContext (the ticket and
// SNI callbacks need the keys and the groups).
int context_index() {
    static int index = [] {
        return SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    }();
    return index;
}

int version_number(const std::string& v) {
    if (v == "1.2")
        return TLS1_2_VERSION;
    if (v == "1.3")
        return TLS1_3_VERSION;
    return 0;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// RFC 6125 6.4.3: "*.example.com" matches one label, never the bare domain.
bool name_matches(const std::string& pattern, const std::string& name) {
    if (pattern == name)
        return true;
    if (pattern.size() > 2 && pattern.starts_with("*.")) {
        auto dot = name.find('.');
        return dot != std::string::npos && dot > 0 && name.substr(dot) == pattern.substr(1);
    }
    return false;
}

// The DNS names a certificate answers for: its subjectAltName entries, or
// its common name when it has none (older self-signed certificates).
std::vector<std::string> certificate_names(X509* cert) {
    std::vector<std::string> names;
    auto* sans =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (sans) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
            const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
            if (g->type != GEN_DNS)
                continue;
            const unsigned char* p = ASN1_STRING_get0_data(g->d.dNSName);
            int n = ASN1_STRING_length(g->d.dNSName);
            names.push_back(
                lower(std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))));
        }
        GENERAL_NAMES_free(sans);
    }
    if (names.empty()) {
        char cn[256];
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) >
            0)
            names.push_back(lower(cn));
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}

std::variant<std::vector<std::string>, std::string> names_of_file(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (!f)
        return path + ": " + std::strerror(errno);
    X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    if (!cert)
        return path + ": not a PEM certificate (" + take_openssl_errors() + ")";
    auto names = certificate_names(cert);
    X509_free(cert);
    return names;
}

int on_server_name(SSL* ssl, int*, void* arg) {
    const auto* c = static_cast<const TlsContext*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name)
        return SSL_TLSEXT_ERR_NOACK;
    if (SSL_CTX* group = c->context_for_name(name); group && group != SSL_get_SSL_CTX(ssl))
        SSL_set_SSL_CTX(ssl, group);
    return SSL_TLSEXT_ERR_OK; // an unknown name gets the default certificate
}

bool set_ticket_mac(EVP_MAC_CTX* hctx, const TicketKey& k) {
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(
        OSSL_MAC_PARAM_KEY, const_cast<std::uint8_t*>(k.hmac.data()), k.hmac.size());
    params[1] =
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0);
    params[2] = OSSL_PARAM_construct_end();
    return EVP_MAC_CTX_set_params(hctx, params) == 1;
}

// RFC 5077 4: tickets sealed with our keys. Returns 1 (use), 2 (use and
// issue a new ticket: made with the previous key), 0 (unknown key: full
// handshake), -1 (error).
int on_ticket(SSL* ssl, unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cctx,
              EVP_MAC_CTX* hctx, int enc) {
    const auto* c =
        static_cast<const TlsContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), context_index()));
    if (!c)
        return -1;
    if (enc) {
        const TicketKey& k = c->current_ticket_key();
        std::memcpy(key_name, k.name.data(), k.name.size());
        if (RAND_bytes(iv, 16) != 1 ||
            EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, k.aes.data(), iv) != 1 ||
            !set_ticket_mac(hctx, k))
            return -1;
        return 1;
    }
    const TicketKey* k = c->ticket_key(key_name);
    if (!k)
        return 0;
    if (!set_ticket_mac(hctx, *k) ||
        EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, k->aes.data(), iv) != 1)
        return -1;
    return k == &c->current_ticket_key() ? 1 : 2;
}

bool fresh_key(TicketKey& k) {
    return RAND_bytes(k.name.data(), static_cast<int>(k.name.size())) == 1 &&
           RAND_bytes(k.aes.data(), static_cast<int>(k.aes.size())) == 1 &&
           RAND_bytes(k.hmac.data(), static_cast<int>(k.hmac.size())) == 1;
}

// Options every context shares.
void harden(SSL_CTX* ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE
#ifdef SSL_OP_NO_CLIENT_RENEGOTIATION
                                 | SSL_OP_NO_CLIENT_RENEGOTIATION
#endif
    );
    // Idle connections give their read/write buffers back (34 KiB each).
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_RELEASE_BUFFERS);
}

} // namespace

std::string take_openssl_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty())
            out += "; ";
        out += buf;
    }
    return out.empty() ? "no detail from OpenSSL" : out;
}

TlsContext::~TlsContext() {
    for (SSL_CTX* g : groups_)
        SSL_CTX_free(g);
}

SSL* TlsContext::new_ssl() const {
    if (groups_.empty())
        return nullptr;
    SSL* ssl = SSL_new(groups_.front());
    if (ssl && !server_) {
        const TlsClientSettings& c = client_settings_;
        if (!c.verify_name.empty()) {
            SSL_set_tlsext_host_name(ssl, c.verify_name.c_str());
            if (c.mode == LanTlsMode::required)
                SSL_set1_host(ssl, c.verify_name.c_str());
        }
    }
    return ssl;
}

SSL_CTX* TlsContext::context_for_name(const char* name) const {
    std::string n = lower(name);
    for (std::size_t i = 0; i < names_.size(); ++i)
        for (const auto& pattern : names_[i])
            if (name_matches(pattern, n))
                return groups_[i];
    return nullptr;
}

const TicketKey* TlsContext::ticket_key(const std::uint8_t* name) const {
    if (std::memcmp(name, current_.name.data(), current_.name.size()) == 0)
        return &current_;
    if (has_previous_ && std::memcmp(name, previous_.name.data(), previous_.name.size()) == 0)
        return &previous_;
    return nullptr;
}

std::variant<std::shared_ptr<const TlsContext>, std::string>
TlsContext::make_server(const TlsServerSettings& settings, const TlsContext* previous) {
    return build_server(settings, previous ? &previous->current_ : nullptr);
}

std::variant<std::shared_ptr<const TlsContext>, std::string>
TlsContext::rotate_tickets(const TlsContext& previous) {
    return build_server(previous.server_settings_, &previous.current_);
}

std::variant<std::shared_ptr<const TlsContext>, std::string>
TlsContext::build_server(const TlsServerSettings& settings, const TicketKey* previous) {
    if (settings.certificates.empty())
        return std::string("no certificate configured");
    int version = version_number(settings.min_version);
    if (version == 0)
        return "TLS minimum version must be 1.2 or 1.3, not '" + settings.min_version + "'";
    std::shared_ptr<TlsContext> c(new TlsContext);
    c->server_ = true;
    c->server_settings_ = settings;
    if (!fresh_key(c->current_))
        return std::string("no randomness for the ticket key");
    if (previous) {
        c->previous_ = *previous;
        c->has_previous_ = true;
    }
    ERR_clear_error();
    for (const auto& files : settings.certificates) {
        auto names = names_of_file(files.cert_file);
        if (auto* why = std::get_if<std::string>(&names))
            return *why;
        auto& list = std::get<std::vector<std::string>>(names);
        // Certificates for the same names share a group (RSA and ECDSA).
        std::size_t g = 0;
        while (g < c->names_.size() && c->names_[g] != list)
            ++g;
        if (g == c->names_.size()) {
            SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
            if (!ctx)
                return "TLS context: " + take_openssl_errors();
            c->groups_.push_back(ctx);
            c->names_.push_back(list);
            harden(ctx);
            SSL_CTX_set_min_proto_version(ctx, version);
            if (SSL_CTX_set_cipher_list(ctx, settings.ciphers.c_str()) != 1)
                return "TLS 1.2 ciphers '" + settings.ciphers + "': " + take_openssl_errors();
            // Resumption by tickets only (no per-lcore session cache to share).
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
            SSL_CTX_set_num_tickets(ctx, 1);
            static const unsigned char kSessionContext[] = "smtpgw";
            SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
            SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket);
            SSL_CTX_set_tlsext_servername_callback(ctx, on_server_name);
            SSL_CTX_set_tlsext_servername_arg(ctx, c.get());
            SSL_CTX_set_ex_data(ctx, context_index(), c.get());
        }
        SSL_CTX* ctx = c->groups_[g];
        if (SSL_CTX_use_certificate_chain_file(ctx, files.cert_file.c_str()) != 1)
            return files.cert_file + ": " + take_openssl_errors();
        if (SSL_CTX_use_PrivateKey_file(ctx, files.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
            return files.key_file + ": " + take_openssl_errors();
        if (SSL_CTX_check_private_key(ctx) != 1)
            return files.key_file + ": the key does not match " + files.cert_file;
    }
    return std::shared_ptr<const TlsContext>(std::move(c));
}

std::variant<std::shared_ptr<const TlsContext>, std::string>
TlsContext::make_client(const TlsClientSettings& settings) {
    int version = version_number(settings.min_version);
    if (version == 0)
        return "TLS minimum version must be 1.2 or 1.3, not '" + settings.min_version + "'";
    if (settings.mode == LanTlsMode::required &&
        (settings.ca_file.empty() || settings.verify_name.empty()))
        return std::string("TLS toward the LAN server is required: it needs a CA file and a name");
    std::shared_ptr<TlsContext> c(new TlsContext);
    c->client_settings_ = settings;
    ERR_clear_error();
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return "TLS context: " + take_openssl_errors();
    c->groups_.push_back(ctx);
    harden(ctx);
    SSL_CTX_set_min_proto_version(ctx, version);
    if (settings.mode == LanTlsMode::required) {
        if (SSL_CTX_load_verify_locations(ctx, settings.ca_file.c_str(), nullptr) != 1)
            return settings.ca_file + ": " + take_openssl_errors();
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    }
    return std::shared_ptr<const TlsContext>(std::move(c));
}

} // namespace smtpgw::tls
