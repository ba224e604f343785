// The fibers' context switch (x86-64 System V): saves the callee-saved registers and
// the floating-point control words on the running stack and moves to another. glibc's
// swapcontext does the same plus two signal-mask system calls a switch, which were a
// quarter of the emulator's time; a fiber never changes its signal mask.
#pragma once

#include <cstddef>

namespace simt {

struct Context {
  void* sp = nullptr;  // the saved stack pointer of a context not running
};

// A context that starts `entry` (which must never return) on the stack [base, base + bytes).
void context_make(Context& c, void* base, std::size_t bytes, void (*entry)());
// Saves the running context in `from` and resumes `to`.
void context_switch(Context& from, const Context& to);

}  // namespace simt
