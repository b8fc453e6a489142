// tls_stream.h: one TLS connection as a sans-I/O byte transformer: the
// peer's records in, plaintext out; plaintext in, records out. OpenSSL runs
// on memory BIOs: it never sees a socket, a clock or a thread.
//
// Purpose: the SMTP engine puts one of these between its TCP stream and its
// session after STARTTLS (RFC 3207), on the lcore that owns the connection;
// toward the LAN server it plays the client. The owner moves bytes:
//   feed(records from TCP) -> read(plaintext) -> session
//   session output -> write(plaintext) -> pending_output() -> TCP
// Security: input is bounded: feed() takes at most kMaxBufferedInput bytes
// OpenSSL has not consumed yet (a huge ClientHello or a flood cannot grow
// memory: the TCP window closes instead); any protocol error, a
// renegotiation attempt or garbage instead of a ClientHello puts the stream
// in failed() with OpenSSL's reason and the connection must be aborted (the
// alert, if any, is in pending_output()). A handshake that never completes
// is the caller's timer's business (the SMTP idle timer).
// Error contract: no method throws; after failed() every call is a no-op.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "tls/tls_context.h"

typedef struct bio_st BIO;

namespace smtpgw::tls {

// Ciphertext OpenSSL has not processed yet, at most: two full records.
inline constexpr std::size_t kMaxBufferedInput = 2 * (16384 + 2048);

class TlsStream {
  public:
    // Server or client by the context's side. Error: failed() at once when
    // OpenSSL cannot make the connection object (out of memory).
    explicit TlsStream(std::shared_ptr<const TlsContext> context);
    ~TlsStream();
    TlsStream(const TlsStream&) = delete;
    TlsStream& operator=(const TlsStream&) = delete;

    // Records from the peer; returns how many octets were taken (less than
    // offered when kMaxBufferedInput is reached: offer the rest later).
    std::size_t feed(std::span<const std::uint8_t> records);
    // The peer's plaintext, up to out.size(); 0 when none is ready.
    std::size_t read(std::span<std::uint8_t> out);
    // Plaintext to send; returns how many octets were taken (0 before the
    // handshake is done: keep it and offer it again).
    std::size_t write(std::span<const std::uint8_t> plain);
    // Records to send to the peer, in order; consume_output() what was sent.
    std::string_view pending_output() const { return std::string_view(out_).substr(out_off_); }
    void consume_output(std::size_t n);
    // A close_notify alert for the peer (then close the connection).
    void shutdown();

    bool handshake_done() const { return established_; }
    bool failed() const { return !error_.empty(); }
    const std::string& error() const { return error_; }
    // The peer sent close_notify.
    bool peer_closed() const { return peer_closed_; }

    // For logs and the Received header, once established.
    std::string protocol() const; // "TLSv1.3"
    std::string cipher() const;   // "TLS_AES_256_GCM_SHA384"
    bool resumed() const;
    // The certificate check of a client stream (empty when not checked or passed).
    std::string verify_error() const;

  private:
    void advance();        // runs the handshake or reads records as far as they go
    void collect_output(); // moves OpenSSL's records into out_
    void fail(std::string why);

    std::shared_ptr<const TlsContext> context_;
    SSL* ssl_ = nullptr;
    BIO* in_ = nullptr;      // records from the peer (OpenSSL reads here)
    BIO* out_bio_ = nullptr; // records for the peer (OpenSSL writes here)
    std::string out_;
    std::size_t out_off_ = 0;
    bool established_ = false;
    bool peer_closed_ = false;
    std::string error_;
};

} // namespace smtpgw::tls
