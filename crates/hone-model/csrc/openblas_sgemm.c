// Hone's one call into OpenBLAS: a row-major f32 product on the calling thread, on the kernels
// Hone names (see src/fused/openblas.rs for why). Compiled against the header of the library it
// links.
#include <stdlib.h>
#include <cblas.h>

// OpenBLAS picks its kernels in a constructor of its own, by the CPU's model number, and a CPU
// it does not know (a cloud VM's "Intel Xeon Processor", a newer part) gets its SSE3 kernels
// (0.3.21: `Prescott`). Its documented override is OPENBLAS_CORETYPE, read by that
// constructor; this one runs first (a prioritised constructor precedes the default ones in a
// static link) and names the kernels the CPU's features can run, unless the user named some.
// OPENBLAS_NUM_THREADS=1 keeps OpenBLAS from starting a thread pool Hone never uses: Hone
// splits products over its own threads.
// Both variables are inherited by the processes Hone starts (tests start Python).
static const char* requested = NULL;

__attribute__((constructor(101))) static void hone_openblas_choose_kernels(void) {
    __builtin_cpu_init();
    if (getenv("OPENBLAS_CORETYPE") == NULL) {
        // What OpenBLAS's SkylakeX kernels use: AVX-512's F, DQ, BW and VL, with AVX2 and FMA.
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
            requested = "SkylakeX";
        } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
            requested = "Haswell";
        }
        if (requested != NULL) setenv("OPENBLAS_CORETYPE", requested, 0);
    }
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
}

// The kernels Hone asked OpenBLAS for; NULL where the user named them or the CPU has neither
// AVX-512 nor AVX2 (OpenBLAS's own choice).
const char* hone_openblas_requested(void) { return requested; }

// The kernels OpenBLAS runs on (`SkylakeX`, `Haswell`, …). Products run on the calling thread
// from here on, whatever OPENBLAS_NUM_THREADS says.
const char* hone_openblas_init(void) {
    openblas_set_num_threads(1);
    return openblas_get_corename();
}

// c = beta·c + alpha·op(a)·op(b), row-major, op(x) = xᵀ where `trans_x` is set; each matrix by
// its leading dimension. beta 0 never reads c (OpenBLAS zeroes it first).
void hone_openblas_sgemm(int m, int n, int k, float alpha, const float* a, int lda, int trans_a,
                         const float* b, int ldb, int trans_b, float beta, float* c, int ldc) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
