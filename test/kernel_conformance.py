"""The official Jupyter kernel conformance suite (jupyter_kernel_test) against the arclight kernel.

Run by test/kernel-conformance.test.ts with JUPYTER_PATH pointing at a temporary kernelspec.
"""
import unittest

import jupyter_kernel_test as jkt


class ArclightKernelTests(jkt.KernelTests):
    kernel_name = "arclight"
    language_name = "typescript"
    file_extension = ".ts"
    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("oops")'
    code_generate_error = 'throw new Error("boom")'
    code_execute_result = [{"code": "6 * 7", "result": "42"}, {"code": "'a' + 'b'", "result": "'ab'"}]
    code_display_data = [{"code": 'agl.display({ [Symbol.for("Jupyter.display")]() { return { "text/html": "<b>hi</b>", "text/plain": "hi" }; } })', "mime": "text/html"}]
    code_history_pattern = "6 *"
    supported_history_operations = ("tail", "range", "search")
    completion_samples = [{"text": "conso", "matches": ["console"]}]
    complete_code_samples = ["1 + 1", "const x = 1;"]
    incomplete_code_samples = ["function f() {", "const a = ["]
    code_inspect_sample = "Math.max"
    code_clear_output = "agl.clearOutput()"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # kernel_info is answered as soon as the sockets are up, before the compiler has loaded; the
        # suite's 10 s per-request limits are for requests, not for that first load on a busy machine.
        cls.kc.execute_interactive("0", timeout=180)
if __name__ == "__main__":
    unittest.main()
