// Hone's one call into BLIS: a strided f32 product on a thread count of the caller's, with
// the kernels Hone picks (see src/fused/blis.rs for why). Compiled against the header of the
// library it links, so the runtime struct below always has that library's layout.
#include <stdlib.h>
#include <blis.h>

// BLIS's own set-up of its AVX-512 configuration (weak, so that a BLIS built without that
// configuration links too and keeps its own choice).
extern void bli_cntx_init_skx(cntx_t* cntx) __attribute__((weak));

static cntx_t skx_context;
static cntx_t* chosen_context = NULL;

// Call once before any product. With `avx512` set and no BLIS_ARCH_TYPE in the environment,
// the products run on BLIS's AVX-512 kernels (its `skx` configuration) even where BLIS's own
// detection does not know the CPU's model. Returns the configuration's name.
const char* hone_blis_init(int avx512) {
    bli_init();
    arch_t own = bli_arch_query_id();
    if (avx512 && own != BLIS_ARCH_SKX && getenv("BLIS_ARCH_TYPE") == NULL &&
        bli_cntx_init_skx != NULL) {
        bli_cntx_init_skx(&skx_context);
        chosen_context = &skx_context;
        return bli_arch_string(BLIS_ARCH_SKX);
    }
    return bli_arch_string(own);
}

// c = beta·c + alpha·a·b, each matrix by its row and column strides; beta 0 never reads c. On
// the calling thread: Hone splits a product over its own threads (src/fused/blis.rs), and a
// BLIS_NUM_THREADS in the environment must not start more.
void hone_blis_sgemm(long m, long n, long k, float alpha, const float* a, long rsa, long csa,
                     const float* b, long rsb, long csb, float beta, float* c, long rsc,
                     long csc) {
    rntm_t runtime = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(1, &runtime);
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &alpha, (float*)a, rsa, csa,
                 (float*)b, rsb, csb, &beta, c, rsc, csc, chosen_context, &runtime);
}
