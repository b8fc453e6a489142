// av_worker_channel.h: the shared-memory channel between the daemon and one
// antivirus worker process (smtpgw-avscan).
//
// Purpose: a part to scan is large (up to a message) and the worker must not
// be able to reach anything but this channel, so the octets travel through a
// shared memory region (a memfd both map) and only doorbells travel on a
// SOCK_SEQPACKET socketpair:
//   worker -> daemon, while loading: "note <progress>" (any number)
//   worker -> daemon, once:  "ready <signatures> <load_ms> <its confinement>"
//                            or "fail <why>" (then it exits)
//   daemon -> worker:        8 octets, the request's sequence number
//   worker -> daemon:        8 octets, the same number when the result is in place
// One request is in flight per worker (the daemon's scanner thread waits for
// it), so the region holds one request and one response.
// Security: the worker is untrusted once it has read a hostile file: the
// daemon checks every field it reads back (sequence, verdict, lengths) and
// treats anything out of range as an error verdict, never as "clean".
#pragma once

#include <cstddef>
#include <cstdint>

namespace smtpgw::av {

inline constexpr std::uint64_t kChannelMagic = 0x736d747067772d61ull; // "smtpgw-a"
inline constexpr std::size_t kChannelHeaderBytes = 4096;              // then the part's octets
inline constexpr int kWorkerSocketFd = 3; // the worker's end of the socketpair
inline constexpr int kWorkerMemoryFd = 4; // the memfd

struct ChannelHeader {
    std::uint64_t magic;
    std::uint64_t capacity; // octets after the header
    // Request (daemon writes, then rings).
    std::uint64_t request_seq;
    std::uint64_t data_len;
    std::uint32_t name_len;
    char name[256];
    // Response (worker writes, then rings).
    std::uint64_t response_seq;
    std::uint32_t verdict; // AvVerdict
    std::uint64_t scanned_bytes;
    std::uint32_t text_len;
    char text[1024]; // the virus name or the error
};
static_assert(sizeof(ChannelHeader) <= kChannelHeaderBytes);

} // namespace smtpgw::av
