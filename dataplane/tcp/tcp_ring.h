// tcp_ring.h: a fixed-capacity byte ring for TCP send and receive buffers.
//
// Purpose: the send buffer keeps bytes from SND.UNA until they are
// acknowledged; the receive buffer keeps in-order bytes until the
// application reads them, and its free space is the window we advertise.
// Out-of-order bytes (RFC 9293 3.10.7.4 seventh) are stored in that free
// space at their offset beyond the in-order bytes (write_at) and become part
// of the contents once the hole before them fills (commit).
// Security: the capacity is fixed at construction (a TcpSettings value), the
// only allocation; writes beyond it are refused, never grown. release()
// frees the storage for good (a TCB in TIME-WAIT needs no buffers). Views
// returned by peek() are valid until the next write(), write_at(), consume()
// or release().
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

namespace smtpgw::tcp {

// Up to two contiguous pieces of ring bytes (the second after a wrap).
struct RingView {
    std::span<const std::uint8_t> first;
    std::span<const std::uint8_t> second;
    std::size_t size() const { return first.size() + second.size(); }
    // Copies the view to `out`; returns the bytes copied (min of both sizes).
    std::size_t copy_to(std::span<std::uint8_t> out) const {
        std::size_t a = std::min(first.size(), out.size());
        if (a > 0)
            std::memcpy(out.data(), first.data(), a);
        std::size_t b = std::min(second.size(), out.size() - a);
        if (b > 0)
            std::memcpy(out.data() + a, second.data(), b);
        return a + b;
    }
};

class ByteRing {
  public:
    // Capacities are TCP buffer sizes: below 2^31 (RFC 7323 2.3 bounds windows to 2^30).
    // Storage is allocated on the first write, not here: an idle
    // connection holds none (see trim()).
    explicit ByteRing(std::size_t capacity) : cap_(static_cast<std::uint32_t>(capacity)) {}

    std::size_t capacity() const { return cap_; }
    // Bytes of storage held now (0 until the first write and after trim()).
    std::size_t allocated() const { return buf_ ? cap_ : 0; }
    std::size_t size() const { return size_; }
    std::size_t free() const { return cap_ - size_; }
    bool empty() const { return size_ == 0; }

    // Appends as much of `data` as fits; returns the bytes taken.
    std::size_t write(std::span<const std::uint8_t> data) {
        std::size_t n = write_at(0, data);
        commit(n);
        return n;
    }

    // Copies `data` into the free space, `offset` bytes past the end of the
    // contents, without making it part of the contents (see commit()).
    // Clipped to the free space; returns the bytes copied.
    std::size_t write_at(std::size_t offset, std::span<const std::uint8_t> data) {
        if (offset >= free() || data.empty())
            return 0;
        if (!buf_) // the only allocation: on first use, the fixed capacity
            buf_ = std::make_unique_for_overwrite<std::uint8_t[]>(cap_);
        std::size_t n = std::min(data.size(), free() - offset);
        std::size_t pos = (head_ + size_ + offset) % cap_;
        std::size_t a = std::min(n, cap_ - pos);
        if (a > 0)
            std::memcpy(buf_.get() + pos, data.data(), a);
        if (n > a)
            std::memcpy(buf_.get(), data.data() + a, n - a);
        return n;
    }

    // Makes the next `n` bytes of free space (written by write_at) part of
    // the contents, clipped to the free space.
    void commit(std::size_t n) { size_ += static_cast<std::uint32_t>(std::min(n, free())); }

    // Bytes [offset, offset + len) counted from the oldest, clipped to size().
    RingView peek(std::size_t offset, std::size_t len) const {
        if (offset >= size_)
            return {};
        len = std::min(len, size_ - offset);
        std::size_t start = (head_ + offset) % cap_;
        std::size_t a = std::min(len, cap_ - start);
        RingView v;
        v.first = std::span<const std::uint8_t>(buf_.get() + start, a);
        if (len > a)
            v.second = std::span<const std::uint8_t>(buf_.get(), len - a);
        return v;
    }

    // Drops the `n` oldest bytes (clipped to size()).
    void consume(std::size_t n) {
        n = std::min<std::size_t>(n, size_);
        if (n == 0)
            return;
        // head_ is not reset when the ring empties: bytes written by
        // write_at() sit at fixed positions relative to the end.
        head_ = static_cast<std::uint32_t>((head_ + n) % cap_);
        size_ -= static_cast<std::uint32_t>(n);
    }

    // Copies up to out.size() oldest bytes to `out` and drops them.
    std::size_t read(std::span<std::uint8_t> out) {
        std::size_t n = peek(0, out.size()).copy_to(out);
        consume(n);
        return n;
    }

    // Drops the contents (and anything written by write_at()).
    void clear() {
        head_ = 0;
        size_ = 0;
    }

    // Frees the storage while the ring is empty; the next write allocates it
    // again. Contract: nothing written by write_at() is pending (the caller
    // holds no out-of-order ranges), since it would be lost.
    void trim() {
        if (size_ != 0)
            return;
        buf_.reset();
        head_ = 0;
    }

    // Frees the storage: the ring is empty with capacity 0 from now on.
    void release() {
        buf_.reset();
        cap_ = head_ = size_ = 0;
    }

  private:
    std::unique_ptr<std::uint8_t[]> buf_;
    std::uint32_t cap_ = 0;
    std::uint32_t head_ = 0;
    std::uint32_t size_ = 0;
};

} // namespace smtpgw::tcp
