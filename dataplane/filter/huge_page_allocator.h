// huge_page_allocator.h: a std::allocator for large lookup tables, backed by
// transparent huge pages where the kernel offers them.
//
// Purpose: the peer table's /24 words (64 MiB) and bitmaps are read at
// random addresses on every SYN. With 4 KiB pages each lookup is also a TLB
// miss and a page walk, which cost more than the lookup itself (measured by
// `scripts/bench filter`). Blocks of 2 MiB or more are mapped 2 MiB aligned
// and advised MADV_HUGEPAGE (THP "madvise" mode, Debian's default), so the
// whole table needs a few dozen TLB entries. No hugetlbfs reservation is
// needed, and where THP is off the kernel simply keeps 4 KiB pages.
// Smaller blocks come from operator new.
// Error contract: allocate() throws std::bad_alloc like std::allocator; it is
// only called while a table is built, off the fast path.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>

namespace smtpgw::filter {

template <typename T>
struct HugePageAllocator {
    using value_type = T;
    static constexpr std::size_t kHugePage = std::size_t{2} << 20;

    HugePageAllocator() = default;
    template <typename U>
    HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

    T* allocate(std::size_t n) {
        if (n > SIZE_MAX / sizeof(T))
            throw std::bad_alloc();
        std::size_t bytes = n * sizeof(T);
        if (bytes < kHugePage)
            return static_cast<T*>(::operator new (bytes, std::align_val_t{alignof(T)}));
        // Map one huge page more, then trim to a 2 MiB-aligned start: THP only
        // backs aligned 2 MiB ranges.
        std::size_t mapped = round_up(bytes) + kHugePage;
        void* raw =
            mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED)
            throw std::bad_alloc();
        auto base = reinterpret_cast<std::uintptr_t>(raw);
        auto aligned = (base + kHugePage - 1) & ~(kHugePage - 1);
        if (aligned != base)
            munmap(raw, aligned - base);
        std::size_t tail = base + mapped - (aligned + round_up(bytes));
        if (tail != 0)
            munmap(reinterpret_cast<void*>(aligned + round_up(bytes)), tail);
        madvise(reinterpret_cast<void*>(aligned), round_up(bytes), MADV_HUGEPAGE); // advice only
        return reinterpret_cast<T*>(aligned);
    }

    void deallocate(T* p, std::size_t n) noexcept {
        std::size_t bytes = n * sizeof(T);
        if (bytes < kHugePage)
            ::operator delete (p, std::align_val_t{alignof(T)});
        else
            munmap(p, round_up(bytes));
    }

    template <typename U>
    bool operator==(const HugePageAllocator<U>&) const noexcept {
        return true;
    }

  private:
    static std::size_t round_up(std::size_t bytes) {
        return (bytes + kHugePage - 1) & ~(kHugePage - 1);
    }
};

} // namespace smtpgw::filter
