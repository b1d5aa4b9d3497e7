// What differs between compilers, in one place: GCC and Clang (Linux, macOS) on one side, MSVC
// (Windows) on the other. The rest of the engine uses these names, never a compiler's own.
//
// The MSVC branches are written from Microsoft's documentation and are untested here: CI builds
// with GCC and Clang only. MSVC compiles intrinsics of any instruction set without a target
// attribute, so the AVX2 and AVX-512 paths need none there; the run-time check below is what
// keeps them from running on a CPU (or an operating system) without them.
#pragma once

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#define NANOMLP_X86 1
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
#define NANOMLP_ARM64 1
#endif

#if defined(__GNUC__) || defined(__clang__)
#define NANOMLP_GNU_LIKE 1
#endif

// The x86 SIMD paths (gemm_avx2.cpp, gemm_avx512.cpp) compile where the compiler can target
// their instruction sets function by function: GCC and Clang through target attributes, MSVC
// always. Elsewhere they are empty and only the generic path (and NEON on AArch64) remains.
#if defined(NANOMLP_X86) && (defined(NANOMLP_GNU_LIKE) || defined(_MSC_VER))
#define NANOMLP_X86_SIMD 1
#endif

#if defined(NANOMLP_GNU_LIKE)
// A function compiled for the instruction sets in isa ("avx2,fma"), whatever the build's -m flags.
#define NANOMLP_TARGET_ISA(isa) __attribute__((target(isa)))
#define NANOMLP_ALWAYS_INLINE __attribute__((always_inline)) inline
#define NANOMLP_NOINLINE __attribute__((noinline))
#define NANOMLP_RESTRICT __restrict__
#define NANOMLP_LIKELY(x) __builtin_expect(!!(x), 1)
#define NANOMLP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#elif defined(_MSC_VER)
#define NANOMLP_TARGET_ISA(isa)
#define NANOMLP_ALWAYS_INLINE __forceinline
#define NANOMLP_NOINLINE __declspec(noinline)
#define NANOMLP_RESTRICT __restrict
#define NANOMLP_LIKELY(x) (x)
#define NANOMLP_UNLIKELY(x) (x)
#else
#define NANOMLP_TARGET_ISA(isa)
#define NANOMLP_ALWAYS_INLINE inline
#define NANOMLP_NOINLINE
#define NANOMLP_RESTRICT
#define NANOMLP_LIKELY(x) (x)
#define NANOMLP_UNLIKELY(x) (x)
#endif

#if defined(NANOMLP_X86) && defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#endif

namespace nanomlp::portable {

// What the CPU runs of the x86 SIMD paths, checked once. AVX-512 means avx512f, AVX2 means avx2
// and fma; either also needs the operating system to save the wider registers on a context
// switch, which GCC's and Clang's __builtin_cpu_supports check themselves and MSVC's branch
// checks through xgetbv.
struct X86Features {
  bool avx2_fma = false;
  bool avx512f = false;
};

inline X86Features x86_features() {
  X86Features f;
#if defined(NANOMLP_X86) && defined(NANOMLP_GNU_LIKE)
  __builtin_cpu_init();
  f.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
#elif defined(NANOMLP_X86) && defined(_MSC_VER)
  int r[4];
  __cpuid(r, 0);
  const int max_leaf = r[0];
  __cpuid(r, 1);
  const bool fma = (r[2] >> 12) & 1;
  const bool osxsave = (r[2] >> 27) & 1;
  const bool avx = (r[2] >> 28) & 1;
  if (!osxsave || !avx || max_leaf < 7) return f;
  // XCR0: bits 1 and 2 (SSE and AVX state) for YMM; 5, 6 and 7 (opmask, ZMM0-15 upper halves,
  // ZMM16-31) as well for ZMM.
  const unsigned long long xcr0 = _xgetbv(0);
  const bool ymm = (xcr0 & 0x6) == 0x6;
  const bool zmm = ymm && (xcr0 & 0xE0) == 0xE0;
  __cpuidex(r, 7, 0);
  f.avx2_fma = ymm && fma && ((r[1] >> 5) & 1);
  f.avx512f = zmm && ((r[1] >> 16) & 1);
#endif
  return f;
}

}  // namespace nanomlp::portable
