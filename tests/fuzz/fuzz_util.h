// fuzz_util.h: what the libFuzzer targets share: a cursor over the fuzzer's
// bytes that hands out small decisions (split points, chunk sizes) and the
// rest as data, and a check that aborts (so libFuzzer records a crash) when
// a property fails. Targets never print; a failure is a crash with a reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

namespace smtpgw::fuzz {

// Aborts with `what` when `ok` is false: the property the target asserts.
inline void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "property violated: %s\n", what);
        std::abort();
    }
}

class Input {
  public:
    Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    // One byte of decision (0 when exhausted).
    std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
    // The rest, as bytes.
    std::span<const std::uint8_t> rest() const { return {data_ + pos_, size_ - pos_}; }
    std::string_view rest_text() const {
        return {reinterpret_cast<const char*>(data_ + pos_), size_ - pos_};
    }

  private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

// Chunk sizes from a seed byte: 1..64 octets, or everything at once (0),
// so splits at every boundary get explored.
inline std::size_t chunk_size(std::uint8_t seed, std::size_t left) {
    if (seed == 0)
        return left;
    std::size_t n = (seed & 63u) + 1;
    return n < left ? n : left;
}

} // namespace smtpgw::fuzz
