// Cancellation of long calls: the flag a caller sets and the exception a backend throws when it
// sees it. Checked between layers, sequences and decoded tokens, so a call stops within one of them.
#pragma once
#include <atomic>
#include <stdexcept>

namespace arclight {

struct Cancelled : std::runtime_error {
  Cancelled() : std::runtime_error("cancelled") {}
};

// Relaxed: the flag only asks to stop; nothing else is published through it.
inline void check_cancel(const std::atomic<bool>* flag) {
  if (flag && flag->load(std::memory_order_relaxed)) throw Cancelled();
}

}  // namespace arclight
