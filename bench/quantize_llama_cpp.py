"""Quantizes a GGUF file with llama.cpp's own quantizer (`llama_model_quantize`, through
llama-cpp-python), as `llama-quantize` would: a Q4_K_M file is the mix desktop users download
(Q4_K for most matrices, Q6_K for the output and half of `attn_v` / `ffn_down`, and other
types where a row is not a multiple of 256), which `hone model to-gguf` does not write.

    python bench/quantize_llama_cpp.py IN.gguf OUT.gguf [FTYPE]   # FTYPE: q4_k_m (default)
"""

import ctypes
import sys

import llama_cpp

FTYPES = {
    "q4_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M,
    "q5_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_K_M,
    "q6_k": llama_cpp.LLAMA_FTYPE_MOSTLY_Q6_K,
}


def main() -> None:
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    source, out = sys.argv[1], sys.argv[2]
    name = sys.argv[3] if len(sys.argv) == 4 else "q4_k_m"
    if name not in FTYPES:
        sys.exit(f"unknown type {name!r}; expected one of {', '.join(FTYPES)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[name]
    rc = llama_cpp.llama_model_quantize(source.encode(), out.encode(), ctypes.byref(params))
    if rc != 0:
        sys.exit(f"llama.cpp could not quantize {source} (code {rc})")


if __name__ == "__main__":
    main()
