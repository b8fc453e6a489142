// mailbox.cc: control <-> worker rings (see header).
#include "io/mailbox.h"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ring.h>

namespace smtpgw::io {

std::string Mailbox::create(unsigned lcore_id) {
    std::string base = "smtpgw_mbox" + std::to_string(lcore_id);
    // Single producer, single consumer each way: the control thread and one lcore.
    requests_ =
        rte_ring_create((base + "_req").c_str(), 16, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    replies_ =
        rte_ring_create((base + "_rsp").c_str(), 16, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!requests_ || !replies_)
        return "mailbox rings for lcore " + std::to_string(lcore_id) + ": " +
               rte_strerror(rte_errno);
    return {};
}

void Mailbox::destroy() {
    rte_ring_free(requests_);
    rte_ring_free(replies_);
    requests_ = replies_ = nullptr;
}

void Mailbox::forget(void* late) {
    for (auto it = abandoned_.begin(); it != abandoned_.end(); ++it) {
        if (it->get() == late) {
            abandoned_.erase(it);
            return;
        }
    }
}

void Mailbox::drain_late_replies() {
    void* late = nullptr;
    while (rte_ring_dequeue(replies_, &late) == 0)
        forget(late);
}

std::unique_ptr<ControlRequest> Mailbox::call(std::unique_ptr<ControlRequest> req,
                                              unsigned timeout_ms) {
    drain_late_replies();
    if (rte_ring_enqueue(requests_, req.get()) != 0)
        return nullptr;
    std::uint64_t deadline = rte_get_timer_cycles() + rte_get_timer_hz() * timeout_ms / 1000;
    while (rte_get_timer_cycles() < deadline) {
        void* got = nullptr;
        if (rte_ring_dequeue(replies_, &got) == 0) {
            if (got == req.get())
                return req;
            forget(got); // a late answer to an earlier, abandoned request
            continue;
        }
        rte_delay_us_sleep(100);
    }
    abandoned_.push_back(std::move(req));
    return nullptr;
}

ControlRequest* Mailbox::poll() {
    void* req = nullptr;
    if (rte_ring_dequeue(requests_, &req) != 0)
        return nullptr;
    return static_cast<ControlRequest*>(req);
}

void Mailbox::reply(ControlRequest* req) {
    rte_ring_enqueue(replies_, req);
}

} // namespace smtpgw::io
