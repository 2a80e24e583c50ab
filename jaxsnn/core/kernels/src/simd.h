// Instruction-set multiversioning for the hot loops.
//
// Wheels must run on any x86-64 CPU, so the library is compiled for the baseline (SSE2) and never
// with -march=native. JAXSNN_SIMD_CLONES additionally compiles a function for x86-64-v3 (AVX2,
// FMA) and x86-64-v4 (AVX-512) and lets the dynamic loader pick the best one for the running CPU
// (GNU ifunc); `flatten` inlines the function's callees into each clone so the inner loops get
// the wide vectors too. Results do not depend on the clone: the compiler never contracts a*b+c
// (-ffp-contract=off), the few explicit std::fma calls (vec.h) round identically whether done
// by the v3/v4 instruction or by libm in the baseline clone, and no reduction is reassociated.
// Elsewhere (other CPUs, compilers, macOS) the macro is empty.
#pragma once

#if defined(__x86_64__) && defined(__ELF__) && defined(__has_attribute)
#if __has_attribute(target_clones) && __has_attribute(flatten)
#define JAXSNN_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), flatten))
#endif
#endif
#ifndef JAXSNN_SIMD_CLONES
#define JAXSNN_SIMD_CLONES
#endif
