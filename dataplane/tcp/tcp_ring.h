// tcp_ring.h: a fixed-capacity byte ring for TCP send and receive buffers.
//
// Purpose: the send buffer keeps bytes from SND.UNA until they are
// acknowledged; the receive buffer keeps in-order bytes until the
// application reads them, and its free space is the window we advertise.
// Security: the capacity is fixed at construction (a TcpSettings value), the
// only allocation; writes beyond it are refused, never grown. Views returned
// by peek() are valid until the next write() or consume().
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

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
    explicit ByteRing(std::size_t capacity) : buf_(capacity) {}

    std::size_t capacity() const { return buf_.size(); }
    std::size_t size() const { return size_; }
    std::size_t free() const { return buf_.size() - size_; }
    bool empty() const { return size_ == 0; }

    // Appends as much of `data` as fits; returns the bytes taken.
    std::size_t write(std::span<const std::uint8_t> data) {
        std::size_t n = std::min(data.size(), free());
        std::size_t tail = (head_ + size_) % cap_or_one();
        std::size_t a = std::min(n, buf_.size() - tail);
        if (a > 0)
            std::memcpy(buf_.data() + tail, data.data(), a);
        if (n > a)
            std::memcpy(buf_.data(), data.data() + a, n - a);
        size_ += n;
        return n;
    }

    // Bytes [offset, offset + len) counted from the oldest, clipped to size().
    RingView peek(std::size_t offset, std::size_t len) const {
        if (offset >= size_)
            return {};
        len = std::min(len, size_ - offset);
        std::size_t start = (head_ + offset) % cap_or_one();
        std::size_t a = std::min(len, buf_.size() - start);
        RingView v;
        v.first = std::span<const std::uint8_t>(buf_.data() + start, a);
        if (len > a)
            v.second = std::span<const std::uint8_t>(buf_.data(), len - a);
        return v;
    }

    // Drops the `n` oldest bytes (clipped to size()).
    void consume(std::size_t n) {
        n = std::min(n, size_);
        head_ = (head_ + n) % cap_or_one();
        size_ -= n;
        if (size_ == 0)
            head_ = 0;
    }

    // Copies up to out.size() oldest bytes to `out` and drops them.
    std::size_t read(std::span<std::uint8_t> out) {
        std::size_t n = peek(0, out.size()).copy_to(out);
        consume(n);
        return n;
    }

    void clear() {
        head_ = 0;
        size_ = 0;
    }

  private:
    std::size_t cap_or_one() const { return buf_.empty() ? 1 : buf_.size(); }

    std::vector<std::uint8_t> buf_;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

} // namespace smtpgw::tcp
