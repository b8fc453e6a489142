// tls_stream.cc: one TLS connection over memory BIOs (see tls_stream.h).
#include "tls/tls_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>

namespace smtpgw::tls {

namespace {

// A handshake starting on an established connection is a renegotiation
// (TLS 1.2) the context refuses anyway; noticing it here lets the owner
// abort and count it instead of carrying on with an alerted peer.
void on_info(const SSL* ssl, int where, int) {
    // TLS 1.3 has no renegotiation (its post-handshake messages are not one).
    if ((where & SSL_CB_HANDSHAKE_START) == 0 || SSL_version(ssl) >= TLS1_3_VERSION)
        return;
    auto* established = static_cast<bool*>(SSL_get_app_data(ssl));
    if (established && *established)
        *established = false; // see TlsStream::advance(): a second handshake
}

} // namespace

TlsStream::TlsStream(std::shared_ptr<const TlsContext> context) : context_(std::move(context)) {
    ERR_clear_error();
    ssl_ = context_ ? context_->new_ssl() : nullptr;
    in_ = BIO_new(BIO_s_mem());
    out_bio_ = BIO_new(BIO_s_mem());
    if (!ssl_ || !in_ || !out_bio_) {
        BIO_free(in_);
        BIO_free(out_bio_);
        in_ = out_bio_ = nullptr;
        fail("cannot make a TLS connection: " + take_openssl_errors());
        return;
    }
    // An empty input BIO means "more to come", never end of file.
    BIO_set_mem_eof_return(in_, -1);
    SSL_set_bio(ssl_, in_, out_bio_); // the SSL owns both from here
    SSL_set_app_data(ssl_, &established_);
    SSL_set_info_callback(ssl_, on_info);
    if (context_->is_server()) {
        SSL_set_accept_state(ssl_);
    } else {
        SSL_set_connect_state(ssl_);
        advance(); // the ClientHello
    }
}

TlsStream::~TlsStream() {
    if (ssl_)
        SSL_free(ssl_); // frees the BIOs too
}

void TlsStream::fail(std::string why) {
    if (error_.empty())
        error_ = why.empty() ? "TLS failed" : std::move(why);
}

void TlsStream::collect_output() {
    if (!out_bio_)
        return;
    if (out_off_ != 0 && out_off_ == out_.size()) {
        out_.clear();
        out_off_ = 0;
    }
    char buf[16384];
    for (int n; (n = BIO_read(out_bio_, buf, sizeof buf)) > 0;)
        out_.append(buf, static_cast<std::size_t>(n));
}

void TlsStream::advance() {
    if (failed() || !ssl_)
        return;
    bool was_established = established_;
    ERR_clear_error();
    if (!SSL_is_init_finished(ssl_) || !established_) {
        int r = SSL_do_handshake(ssl_);
        if (r == 1) {
            if (was_established && !established_) {
                // on_info cleared the flag: the peer started a second handshake.
                collect_output();
                fail("renegotiation refused");
                return;
            }
            established_ = true;
        } else {
            int e = SSL_get_error(ssl_, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                collect_output(); // the alert, for the peer
                std::string why = take_openssl_errors();
                if (!context_->is_server())
                    if (long v = SSL_get_verify_result(ssl_); v != X509_V_OK)
                        why = std::string("certificate: ") + X509_verify_cert_error_string(v);
                fail("handshake: " + why);
                return;
            }
        }
    }
    collect_output();
}

std::size_t TlsStream::feed(std::span<const std::uint8_t> records) {
    if (failed() || records.empty())
        return 0;
    std::size_t buffered = BIO_ctrl_pending(in_);
    std::size_t room = buffered < kMaxBufferedInput ? kMaxBufferedInput - buffered : 0;
    std::size_t n = std::min(room, records.size());
    if (n == 0)
        return 0;
    int w = BIO_write(in_, records.data(), static_cast<int>(n));
    if (w <= 0) {
        fail("cannot buffer TLS input");
        return 0;
    }
    if (!established_)
        advance();
    return static_cast<std::size_t>(w);
}

std::size_t TlsStream::read(std::span<std::uint8_t> out) {
    if (failed() || out.empty())
        return 0;
    if (!established_) {
        advance();
        if (!established_)
            return 0;
    }
    ERR_clear_error();
    bool was_established = established_;
    int r =
        SSL_read(ssl_, out.data(), static_cast<int>(std::min<std::size_t>(out.size(), 1 << 30)));
    if (was_established && !established_) {
        collect_output();
        fail("renegotiation refused");
        return 0;
    }
    if (r > 0) {
        collect_output(); // TLS 1.3 tickets and key updates ride along
        return static_cast<std::size_t>(r);
    }
    int e = SSL_get_error(ssl_, r);
    collect_output();
    if (e == SSL_ERROR_ZERO_RETURN)
        peer_closed_ = true;
    else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
        fail("read: " + take_openssl_errors());
    return 0;
}

std::size_t TlsStream::write(std::span<const std::uint8_t> plain) {
    if (failed() || !established_ || plain.empty())
        return 0;
    ERR_clear_error();
    int r = SSL_write(ssl_, plain.data(),
                      static_cast<int>(std::min<std::size_t>(plain.size(), 1 << 30)));
    collect_output();
    if (r > 0)
        return static_cast<std::size_t>(r);
    int e = SSL_get_error(ssl_, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
        fail("write: " + take_openssl_errors());
    return 0;
}

void TlsStream::consume_output(std::size_t n) {
    out_off_ = std::min(out_.size(), out_off_ + n);
    if (out_off_ == out_.size()) {
        out_.clear();
        out_off_ = 0;
    }
}

void TlsStream::shutdown() {
    if (!ssl_ || failed())
        return;
    ERR_clear_error();
    SSL_shutdown(ssl_);
    collect_output();
    ERR_clear_error();
}

std::string TlsStream::protocol() const {
    return ssl_ ? SSL_get_version(ssl_) : "";
}

std::string TlsStream::cipher() const {
    const char* c = ssl_ ? SSL_get_cipher_name(ssl_) : nullptr;
    return c ? c : "";
}

bool TlsStream::resumed() const {
    return ssl_ && SSL_session_reused(ssl_) == 1;
}

std::string TlsStream::verify_error() const {
    if (!ssl_ || context_->is_server())
        return {};
    long v = SSL_get_verify_result(ssl_);
    return v == X509_V_OK ? std::string() : X509_verify_cert_error_string(v);
}

} // namespace smtpgw::tls
