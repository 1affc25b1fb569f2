{
  "variables": {"arclight_cuda%": "<!(bash -c '(command -v nvcc >/dev/null 2>&1 || test -x /usr/local/cuda/bin/nvcc) && echo 1 || echo 0')"},
  "targets": [
    {
      "target_name": "arclight",
      "sources": [
        "<!@(node -p \"['native/src','native/io'].flatMap(d=>require('fs').existsSync(d)?require('fs').readdirSync(d).filter(f=>f.endsWith('.cpp')).sort().map(f=>d+'/'+f):[]).join(' ')\")"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=x86-64-v2", "-fopenmp", "-fexceptions", "-frtti"],
      "ldflags": ["-fopenmp"],
      # libdl: native/src/blas.cpp dlopens a tuned BLAS (OpenBLAS/BLIS) at load time when one is installed.
      "libraries": ["-ldl"],
      "xcode_settings": {"GCC_ENABLE_CPP_EXCEPTIONS": "YES", "CLANG_CXX_LANGUAGE_STANDARD": "c++17"},
      # CUDA kernels (native/cuda) are compiled by nvcc into a static library and linked with a static
      # cudart, so the addon loads on machines without a GPU; `-- -Darclight_cuda=0` turns it off.
      "conditions": [["arclight_cuda==1", {
        "defines": ["ARCLIGHT_WITH_CUDA=1"],
        "include_dirs": ["native/cuda"],
        "actions": [{
          "action_name": "build_libarclight_cuda",
          "inputs": ["<!@(ls native/cuda/*.cuh native/cuda/*.cu native/cuda/*.cpp native/cuda/*.h native/cuda/build.sh native/src/*.h)"],
          "outputs": ["<(PRODUCT_DIR)/cuda/libarclight_cuda.a"],
          "action": ["env", "ARCLIGHT_CUDA_BUILD=<(PRODUCT_DIR)/cuda", "bash", "native/cuda/build.sh", "lib"]
        }],
        "libraries": ["<(PRODUCT_DIR)/cuda/libarclight_cuda.a", "-L/usr/local/cuda/lib64", "-lcudart_static", "-ldl", "-lrt", "-lpthread"]
      }]]
    }
  ]
}
