// dlopen-based BLAS discovery (see blas.h). ARCLIGHT_BLAS=off disables it,
// ARCLIGHT_BLAS=/path/libx.so picks a library; otherwise the usual Debian
// sonames are tried in order.
#include "blas.h"

#include <dlfcn.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <atomic>
#include <cstdlib>

namespace arclight {

namespace {

struct Loaded {
  SgemmFn sgemm = nullptr;
  BlasStatus status;
};

Loaded load() {
  Loaded l;
  const char* env = std::getenv("ARCLIGHT_BLAS");
  const std::string want = env ? env : "";
  if (want == "off" || want == "0" || want == "none") {
    l.status.reason = "disabled by ARCLIGHT_BLAS=" + want;
    return l;
  }
  // The OpenMP build of OpenBLAS first: it runs on libgomp's pool, the one the addon's own loops use.
  // The pthreads build keeps a second pool of spinning threads that fights OpenMP's for the cores
  // (measured on 2 cores: a GPT-2 L4 C256 training step took 4.3 s with it, 1.5 s with the OpenMP build).
  const char* defaults[] = {"/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0",
                            "libopenblas.so.0",
                            "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
                            "libblis.so.4",
                            "libopenblas.so",
                            "libcblas.so.3"};
  std::string tried;
  auto attempt = [&](const std::string& name) {
    void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      tried += (tried.empty() ? "" : ", ") + name;
      return false;
    }
    auto fn = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
    if (!fn) {
      tried += (tried.empty() ? "" : ", ") + name + " (no cblas_sgemm)";
      dlclose(h);
      return false;
    }
    // One thread count for both runtimes: OpenBLAS's own pool would otherwise size itself independently of
    // OMP_NUM_THREADS.
    using SetThreads = void (*)(int);
#ifdef _OPENMP
    if (auto set = reinterpret_cast<SetThreads>(dlsym(h, "openblas_set_num_threads"))) set(omp_get_max_threads());
#endif
    l.sgemm = fn;
    l.status.loaded = true;
    l.status.enabled = true;
    l.status.library = name;
    return true;
  };
  if (!want.empty() && want != "auto" && want != "on") {
    if (!attempt(want)) l.status.reason = "ARCLIGHT_BLAS=" + want + " could not be loaded with cblas_sgemm";
    return l;
  }
  for (const char* d : defaults)
    if (attempt(d)) return l;
  l.status.reason = "no BLAS library found (tried " + tried + "); run scripts/ensure-blas.sh to install OpenBLAS";
  return l;
}

Loaded& state() {
  static Loaded l = load();
  return l;
}

std::atomic<bool> g_enabled{true};

}  // namespace

SgemmFn blas_sgemm() {
  Loaded& l = state();
  return l.sgemm && g_enabled.load(std::memory_order_relaxed) ? l.sgemm : nullptr;
}

BlasStatus blas_status() {
  BlasStatus s = state().status;
  s.enabled = s.loaded && g_enabled.load();
  return s;
}

bool blas_enable(bool on) {
  g_enabled.store(on);
  return state().status.loaded;
}

}  // namespace arclight
