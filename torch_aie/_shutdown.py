"""A clean interpreter exit after a backward pass on aie.

The autograd engine runs the backward of every non-CPU device on a device worker
thread ("pt_autograd_<index>"), aie included. torch.autograd.backward stashes a Python
object (a contextvars.Context) in the thread-local state that each GraphTask copies,
and the worker drops its reference to a finished GraphTask only after the caller has
been told the backward is done. If the caller's next act is to exit, the worker's
release of that Python object needs the GIL while Py_FinalizeEx runs; CPython then
ends the worker with pthread_exit, whose forced unwind through a noexcept destructor
calls std::terminate: "terminate called without an active exception", exit code 134.
(An upstream PyTorch race, pytorch/pytorch#117762; CPU-only backward runs on the
calling thread and never meets it.)

The fix: an atexit handler (atexit runs before finalization starts) sends one more,
Python-free GraphTask through the worker and waits for it. The worker handles its
tasks one at a time, so by the time that task completes it has released every earlier
GraphTask, while the GIL was free for it. The drain's own tensors are kept alive for
good, so the worker's late release of the drain GraphTask never touches Python.
"""
from __future__ import annotations

import atexit
import ctypes
import os

import torch

_THREAD_PREFIX = "pt_autograd_"
_registered = False


def _autograd_device_threads_running() -> bool:
    """Whether the engine has started device worker threads (True if undecidable)."""
    tasks = "/proc/self/task"
    try:
        names = []
        for tid in os.listdir(tasks):
            with open(os.path.join(tasks, tid, "comm")) as f:
                names.append(f.read().strip())
    except OSError:
        return True
    return any(name.startswith(_THREAD_PREFIX) for name in names)


def _immortal(obj):
    # Never freed, so no thread ever has to take the GIL to release it.
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))
    return obj


def drain_autograd_worker() -> None:
    """Runs a backward through the aie worker thread without any Python state in its
    thread-locals, returning once the worker has let go of every earlier GraphTask."""
    if not _autograd_device_threads_running():
        return
    x = _immortal(torch.zeros((), device="aie", requires_grad=True))
    with torch.enable_grad():
        # A view: its forward and backward have aie kernels, so the drain needs no CPU
        # fallback (which fallback mode "raise" would refuse).
        y = _immortal(x.view(()))
    grad = _immortal(torch.ones((), device="aie"))
    # The engine directly, not torch.autograd.backward: that would stash a Context again.
    torch.autograd.Variable._execution_engine.run_backward(
        (y,), (grad,), False, False, (), True, True
    )
    _immortal(x.grad)


def register() -> None:
    global _registered
    if not _registered:
        atexit.register(drain_autograd_worker)
        _registered = True
