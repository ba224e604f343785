// The fibers' context switch (context.h).
#include "context.h"

#include <cstdint>

#if !defined(__x86_64__)
#error "the SIMT emulator's context switch is written for x86-64 (tests/simt/context.cpp)"
#endif

// simt_switch(void** save_sp, void* load_sp): the six callee-saved registers and MXCSR /
// the x87 control word onto this stack, its pointer to *save_sp; then the same off the
// other stack, and `ret` into wherever it was switched out (or, the first time, into
// its entry function).
asm(R"(
  .pushsection .text
  .p2align 4
  .globl simt_switch
  .type simt_switch, @function
simt_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size simt_switch, .-simt_switch
  .popsection
)");

extern "C" void simt_switch(void** save_sp, void* load_sp);

namespace simt {

void context_make(Context& c, void* base, std::size_t bytes, void (*entry)()) {
  auto top = (reinterpret_cast<std::uintptr_t>(base) + bytes) & ~std::uintptr_t{15};
  auto* sp = reinterpret_cast<std::uint64_t*>(top);
  *--sp = 0;                                            // where entry's return address would be (it never returns)
  *--sp = reinterpret_cast<std::uint64_t>(entry);       // simt_switch's `ret` lands here: entry with rsp = 8 mod 16
  for (int r = 0; r < 6; ++r) *--sp = 0;                // rbp, rbx, r12-r15
  *--sp = 0x037Full << 32 | 0x1F80ull;                  // MXCSR and the x87 control word: their defaults
  c.sp = sp;
}

void context_switch(Context& from, const Context& to) { simt_switch(&from.sp, to.sp); }

}  // namespace simt
