"""A network made ready for inference on the CPU (:func:`cpu_inference_network`): batch norm folded
into the convolution before it, instance norm and the ReLU after it computed in one pass for
channels-last memory (:class:`ChannelsLastInstanceNorm`), channels-last memory for the whole network
(unless it holds a norm torch only runs well in NCHW), and batches run in sub-batches small enough
to stay in the CPU's caches.

Measured on the demo scene (docs/benchmarks.md, "CPU inference copy";
``scripts/bench/bench_cpu_inference.py``, a shared 2-core AVX2 machine): predict end to end against
db0d4e0, before this copy and the faster Refined Lee filter, 1.58-1.90x with the demo's batch-norm
model and 1.64-1.77x with an instance-norm network of its architecture (one or two threads, quiet
and loaded machine), the same class on every pixel; the copy against the network as it is, same
code: 1.69x and 2.57x on the model alone. Where it comes from: channels-last max pooling (4.6x less
time than NCHW in predict), the folded batch norms, and for instance norm the channels-last pass
(torch's own instance norm is slower in channels-last memory than in NCHW, which kept such networks
in NCHW before). The convolutions themselves run near what one AVX2 core gives (about 40 GFLOP/s) in
either layout.
Part of what the sub-batches save is allocation: a 512-window pass of the demo encoder allocates
32 MiB activation tensors (512 x 16 x 32 x 32 floats), which glibc serves with a fresh mmap,
page-faulting their memory afresh in every pass, until a freed large block has raised its adaptive
mmap threshold (at most 32 MiB); that is why the network as it is ran slower with ``--speckle-filter
none`` than with the filter, whose large temporaries raise the threshold early. 64-window passes
hardly ever fault.
The outputs equal the unmodified network's within float rounding (tests/train/test_cpu_inference.py).

Not tried: TorchScript freezing with ``optimize_for_inference`` (within 10-15 % of this copy in one
noisy measurement), ``torch.compile`` (its start-up cost would count in every predict run),
bfloat16 (the measured CPU has AVX2 but neither AVX512-BF16 nor AMX).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = [
    "CPU_SUB_BATCH",
    "ChannelsLastInstanceNorm",
    "CpuInference",
    "channels_last_instance_norm",
    "cpu_inference_network",
    "fold_batch_norm",
]

#: Windows per forward pass on the CPU: the activations of 64 windows of the demo encoder (4 MiB a
#: tensor in its first stage) stay in the caches, those of 512 (32 MiB) do not. Measured (docs/
#: benchmarks.md): 16-128 within 12 % of each other for batch norm, 64 and 128 the fastest for
#: instance norm, 512 clearly slower for both.
CPU_SUB_BATCH = 64


def _foldable(bn: nn.BatchNorm2d) -> bool:
    return bn.track_running_stats and bn.running_mean is not None and bn.running_var is not None


def fold_batch_norm(network: nn.Module) -> nn.Module:
    """``network`` (in eval mode, not changed) with every ``Conv2d`` directly followed by a
    ``BatchNorm2d`` with running statistics, inside an ``nn.Sequential``, replaced by one
    convolution with the norm folded into its weights and bias (the norm becomes ``Identity``,
    so indices and state-dict names of the other layers stay). Other modules are kept as they are."""
    net = copy.deepcopy(network).eval()
    for module in list(net.modules()):
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (first, conv), (second, bn) in zip(children, children[1:]):
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and _foldable(bn):
                setattr(module, first, fuse_conv_bn_eval(conv, bn))
                setattr(module, second, nn.Identity())
    return net


class ChannelsLastInstanceNorm(nn.Module):
    """Instance norm over (B, C, H, W) input, optionally followed by ReLU, for channels-last memory:
    the statistics are a two-pass mean and biased variance over the H x W positions of each window
    and channel, computed on the (B, H*W, C) view that channels-last memory makes contiguous, then
    one in-place scale, shift and ReLU. Same result as ``nn.InstanceNorm2d`` (without running
    statistics) and ``nn.ReLU`` within float rounding; torch's own instance norm is slower in
    channels-last memory than in NCHW, and the convolutions around it are faster in channels-last
    (docs/benchmarks.md, "CPU inference copy")."""

    weight: torch.Tensor | None
    bias: torch.Tensor | None

    def __init__(self, norm: nn.InstanceNorm2d, relu: bool):
        super().__init__()
        self.register_buffer("weight", None if norm.weight is None else norm.weight.detach().clone())
        self.register_buffer("bias", None if norm.bias is None else norm.bias.detach().clone())
        self.eps = float(norm.eps)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        v = x.permute(0, 2, 3, 1).reshape(b, h * w, c)  # a view when x is channels-last
        d = v - v.mean(1, keepdim=True)
        scale = torch.rsqrt((d * d).mean(1, keepdim=True) + self.eps)
        if self.weight is not None:
            scale = scale * self.weight.to(d.dtype)
        d.mul_(scale)
        if self.bias is not None:
            d.add_(self.bias.to(d.dtype))
        if self.relu:
            d.relu_()
        return d.view(b, h, w, c).permute(0, 3, 1, 2)


def _plain_instance_norm(module: nn.Module) -> bool:
    """An ``nn.InstanceNorm2d`` that normalises by each window's own statistics in eval mode."""
    return isinstance(module, nn.InstanceNorm2d) and not (module.track_running_stats and module.running_mean is not None)


def channels_last_instance_norm(network: nn.Module) -> nn.Module:
    """``network`` (changed in place and returned) with every instance norm that uses each window's
    own statistics, inside an ``nn.Sequential``, replaced by :class:`ChannelsLastInstanceNorm`,
    which also takes over a ``ReLU`` right after it (that ReLU becomes ``Identity``)."""
    for module in list(network.modules()):
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for i, (name, child) in enumerate(children):
            if not _plain_instance_norm(child):
                continue
            follows = children[i + 1] if i + 1 < len(children) else None
            relu = follows is not None and isinstance(follows[1], nn.ReLU)
            setattr(module, name, ChannelsLastInstanceNorm(child, relu))  # type: ignore[arg-type]
            if relu and follows is not None:
                setattr(module, follows[0], nn.Identity())
    return network


def _channels_last_pays(network: nn.Module) -> bool:
    """Channels-last memory pays for convolutions, pooling, folded batch norms and
    :class:`ChannelsLastInstanceNorm`; torch's instance, group and layer norms are slower in it than
    in NCHW (docs/benchmarks.md), so networks that still hold one stay NCHW."""
    return not any(isinstance(m, (nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm)) for m in network.modules())


class CpuInference(nn.Module):
    """``network`` run on (B, C, H, W) input in sub-batches of ``sub_batch`` windows, in
    channels-last memory when ``channels_last``; the logits are concatenated in order."""

    def __init__(self, network: nn.Module, sub_batch: int = CPU_SUB_BATCH, channels_last: bool = False):
        super().__init__()
        self.network = network.to(memory_format=torch.channels_last) if channels_last else network  # type: ignore[call-overload]
        self.sub_batch = max(1, int(sub_batch))
        self.channels_last = channels_last
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 0:  # no windows: the network's own (0, K) answer
            return self.network(x)
        outs = []
        for i in range(0, x.shape[0], self.sub_batch):
            xb = x[i : i + self.sub_batch]
            if self.channels_last and xb.dim() == 4:
                xb = xb.contiguous(memory_format=torch.channels_last)
            outs.append(self.network(xb))
        return outs[0] if len(outs) == 1 else torch.cat(outs)


def cpu_inference_network(network: nn.Module, sub_batch: int = CPU_SUB_BATCH) -> CpuInference:
    """An inference-only copy of ``network`` for the CPU (``network`` itself is not changed):
    batch norm folded (:func:`fold_batch_norm`), instance norm (+ ReLU) computed for channels-last
    memory (:func:`channels_last_instance_norm`), channels-last memory where it pays, sub-batches of
    ``sub_batch`` windows. Same logits as ``network`` in eval mode within float rounding."""
    folded = channels_last_instance_norm(fold_batch_norm(network))
    for p in folded.parameters():
        p.requires_grad_(False)
    return CpuInference(folded, sub_batch, channels_last=_channels_last_pays(folded))
