"""PyTorch's device-backend autoload entry point (setup.py, group "torch.backends"):
`import torch` imports torch_aie, whose import registers everything. Disabled with
TORCH_DEVICE_BACKEND_AUTOLOAD=0.

A module of its own, not an attribute of the package: when the user imports torch_aie
first, its `import torch` runs this entry point while torch_aie is still initialising,
and importing a submodule of a partially initialised package works where looking up
an attribute on it does not.
"""


def load() -> None:
    import torch_aie  # noqa: F401  (the partially initialised package when torch_aie imports torch)
