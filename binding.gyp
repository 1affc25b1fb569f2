{
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
      "xcode_settings": {"GCC_ENABLE_CPP_EXCEPTIONS": "YES", "CLANG_CXX_LANGUAGE_STANDARD": "c++17"}
      # ---- CUDA backend (native/cuda): the CUDA helper adds an nvcc action and
      # ---- libarclight_cuda.a + cudart_static here, guarded on nvcc being present.
      # ---- Files in native/cuda are not compiled by this target until then.
    }
  ]
}
