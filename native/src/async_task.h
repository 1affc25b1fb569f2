// Long calls on libuv's worker pool, returning promises: one worker type for every call, the state
// a JS policy object holds, and the one way a call on a policy is queued (under its lock, with the
// named adapter active). Every C++ exception becomes a rejected promise; nothing may abort the process.
#pragma once
#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "backend.h"

namespace arclight {
namespace napi {

// One model (on the backend chosen at creation) plus the lock that serializes the calls made on it.
struct PolicyState {
  std::unique_ptr<Backend> model;
  std::string deviceNote;  // why the requested device is not the one running, "" when it is
  std::mutex mu;
  std::atomic<bool> cancel{false};
};

class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Done = std::function<Napi::Value(Napi::Env)>;
  PromiseWorker(Napi::Env env, std::function<void()> work, Done done)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        done_(std::move(done)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      work_();
    } catch (const Cancelled&) {
      SetError("ARCLIGHT_CANCELLED: the call was cancelled");
    } catch (const std::bad_alloc&) { SetError("not enough memory for this call"); } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) { SetError("unknown native error"); }
  }
  void OnOK() override {
    try {
      deferred_.Resolve(done_(Env()));
    } catch (const Napi::Error& e) { deferred_.Reject(e.Value()); } catch (const std::exception& e) {
      deferred_.Reject(Napi::Error::New(Env(), e.what()).Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<void()> work_;
  Done done_;
};

inline Napi::Value resolve_undefined(Napi::Env env) { return env.Undefined(); }

// Runs work() on the pool; done(env) builds what the promise resolves to.
inline Napi::Promise queue_task(Napi::Env env, std::function<void()> work,
                                PromiseWorker::Done done = resolve_undefined) {
  auto* w = new PromiseWorker(env, std::move(work), std::move(done));
  w->Queue();
  return w->Promise();
}

// A call on one policy: work(backend) runs on the pool under the policy's lock, with `adapter`
// active first (empty: leave the active adapter as it is). The cancel flag is cleared here, on
// the JS thread, before queueing, so an abort while the job waits is kept.
template <class Work>
Napi::Promise policy_task(Napi::Env env, std::shared_ptr<PolicyState> st, const std::string& adapter, Work work,
                          PromiseWorker::Done done = resolve_undefined) {
  st->cancel = false;
  return queue_task(
      env,
      [st, adapter, work] {
        std::lock_guard<std::mutex> lk(st->mu);
        if (!st->model) throw std::runtime_error("policy was disposed");
        if (!adapter.empty()) st->model->useAdapter(adapter);
        work(*st->model);
      },
      std::move(done));
}

}  // namespace napi
}  // namespace arclight
