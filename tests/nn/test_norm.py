"""genlab.nn.GroupNorm: the same numbers and gradients as torch's, with channels-last strides kept, by the native
kernel and by the torch fallback."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.nn import native
from genlab.nn.norm import GroupNorm, _kernel


@pytest.fixture
def no_native(monkeypatch):
    """The torch fallback paths (what runs where the kernel cannot be built)."""
    monkeypatch.setenv("GENLAB_NATIVE", "0")


def test_channels_last_input_gives_torchs_values_and_gradients_and_keeps_its_layout():
    torch.manual_seed(0)
    ours, ref = GroupNorm(4, 8), nn.GroupNorm(4, 8)
    with torch.no_grad():
        ours.weight.normal_(), ours.bias.normal_()
    ref.load_state_dict(ours.state_dict())  # the same parameter names: checkpoints load either way
    x = torch.randn(3, 8, 5, 6).bfloat16().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    x_ref = x.detach().clone().requires_grad_(True)
    y, y_ref = ours(x), ref(x_ref)
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    torch.testing.assert_close(y, y_ref)
    g = torch.randn_like(y)
    y.backward(g), y_ref.backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad)


def test_contiguous_inputs_take_torchs_path_unchanged_and_channels_last_ones_the_kernel():
    norm = GroupNorm(2, 4)
    x = torch.randn(2, 4, 3, 3)
    assert torch.equal(norm(x), nn.functional.group_norm(x, 2, norm.weight, norm.bias, norm.eps))
    assert norm(x).is_contiguous()
    x_cl = x.contiguous(memory_format=torch.channels_last)
    assert norm(x_cl).grad_fn.name() == "_NativeGroupNormBackward"


def test_fp32_channels_last_without_the_kernel_takes_torchs_path(no_native):
    x_cl = torch.randn(2, 4, 3, 3).contiguous(memory_format=torch.channels_last)
    assert GroupNorm(2, 4)(x_cl).grad_fn.name() == "NativeGroupNormBackward0"  # torch's kernel is the faster


def test_the_gradient_of_a_channels_last_input_is_channels_last():
    norm = GroupNorm(2, 4)
    x = torch.randn(2, 4, 3, 3).bfloat16().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    norm(x).float().square().sum().backward()
    assert x.grad.is_contiguous(memory_format=torch.channels_last) and not x.grad.is_contiguous()


def test_gradients_agree_with_torch_under_bf16_autocast():
    torch.manual_seed(1)
    ours, ref = GroupNorm(4, 8), nn.GroupNorm(4, 8)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, 8, 4, 4).bfloat16().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    x_ref = x.detach().clone().requires_grad_(True)
    with torch.autocast("cpu", torch.bfloat16):
        y, y_ref = ours(x), ref(x_ref)
    assert y.dtype == y_ref.dtype == torch.bfloat16
    torch.testing.assert_close(y, y_ref)
    y.float().sum().backward(), y_ref.float().sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(ours.bias.grad, ref.bias.grad)


def test_the_fallback_keeps_torchs_values_and_layout(no_native):
    torch.manual_seed(0)
    ours, ref = GroupNorm(4, 8, act="silu"), nn.GroupNorm(4, 8)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(3, 8, 5, 6).bfloat16().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    y = ours(x)
    assert y.grad_fn.name() == "SiluBackward0" and y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y, nn.functional.silu(ref(x)))


def test_the_custom_autograd_path_matches_autograds_gradients_in_double_precision():
    from genlab.nn.norm import _ChannelsLastGroupNorm

    torch.manual_seed(2)
    x = torch.randn(2, 6, 3, 4, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    w, b = torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    args = [t.requires_grad_(True) for t in (x, w, b)]
    assert torch.autograd.gradcheck(lambda x, w, b: _ChannelsLastGroupNorm.apply(x, w, b, 3, 1e-5), args)
    torch.testing.assert_close(_ChannelsLastGroupNorm.apply(x, w, b, 3, 1e-5), nn.functional.group_norm(x, 3, w, b))


def _reference(x, norm, act):
    """torch's GroupNorm (+ SiLU) in float64, with its gradients for the upstream gradient g."""
    xr = x.detach().double().requires_grad_(True)
    w, b = (p.detach().double().requires_grad_(True) for p in (norm.weight, norm.bias))
    y = nn.functional.group_norm(xr, norm.num_groups, w, b, norm.eps)
    return xr, w, b, nn.functional.silu(y) if act == "silu" else y


@pytest.mark.parametrize("act", ["none", "silu"])
@pytest.mark.parametrize("groups,channels", [(2, 4), (3, 12), (8, 8)])
def test_the_kernel_matches_torch_in_fp32_values_and_every_gradient(act, groups, channels):
    torch.manual_seed(3)
    norm = GroupNorm(groups, channels, act=act)
    with torch.no_grad():
        norm.weight.normal_(), norm.bias.normal_()
    x = (torch.randn(3, channels, 5, 7) * 2 + 0.5).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    y = norm(x)
    assert y.grad_fn.name() == "_NativeGroupNormBackward"
    assert y.is_contiguous(memory_format=torch.channels_last) and y.dtype == torch.float32
    g = torch.randn_like(y)
    y.backward(g)
    xr, w, b, yr = _reference(x, norm, act)
    yr.backward(g.double())
    torch.testing.assert_close(y.double(), yr, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x.grad.double(), xr.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(norm.weight.grad.double(), w.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(norm.bias.grad.double(), b.grad, rtol=1e-4, atol=1e-5)
    assert x.grad.is_contiguous(memory_format=torch.channels_last)


def test_the_kernel_in_bf16_is_as_close_to_float64_as_torchs_own_bf16_path():
    torch.manual_seed(4)
    norm = GroupNorm(32, 96, act="silu")
    with torch.no_grad():
        norm.weight.normal_(), norm.bias.normal_()
    x = (torch.randn(4, 96, 9, 9) + 3).bfloat16().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    g = torch.randn(4, 96, 9, 9).bfloat16().contiguous(memory_format=torch.channels_last)
    xr, w, b, yr = _reference(x, norm, "silu")
    yr.backward(g.double())
    y = norm(x)
    y.backward(g)
    ref = nn.GroupNorm(32, 96)
    ref.load_state_dict(norm.state_dict())
    xt = x.detach().clone().requires_grad_(True)
    yt = nn.functional.silu(ref(xt))
    yt.backward(g)
    assert y.dtype == torch.bfloat16 and x.grad.dtype == torch.bfloat16
    for ours, torchs, exact in ((y, yt, yr), (x.grad, xt.grad, xr.grad), (norm.weight.grad, ref.weight.grad, w.grad)):
        scale = exact.abs().max()
        assert (ours.double() - exact).abs().max() / scale <= 1.5 * (torchs.double() - exact).abs().max() / scale + 1e-3


def test_a_large_mean_does_not_cancel_the_variance():
    norm = GroupNorm(2, 4)
    x = (1000 + 0.01 * torch.randn(2, 4, 6, 6)).contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(norm(x).double(), nn.functional.group_norm(x.double(), 2), rtol=1e-3, atol=1e-3)


def test_the_kernel_gives_the_same_bits_with_any_number_of_threads():
    norm = GroupNorm(4, 8, act="silu")
    x = torch.randn(6, 8, 7, 7).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    before = torch.get_num_threads()
    outs = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            x.grad = None
            y = norm(x)
            y.square().sum().backward()
            outs.append((y.detach().clone(), x.grad.clone()))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


def test_inference_mode_runs_the_kernel():
    norm = GroupNorm(2, 4, act="silu")
    x = torch.randn(2, 4, 3, 3).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        y = norm(x)
    torch.testing.assert_close(y, nn.functional.silu(nn.functional.group_norm(x, 2, norm.weight, norm.bias)))


def test_an_unknown_activation_is_a_one_line_error():
    with pytest.raises(ValueError, match="act must be one of"):
        GroupNorm(2, 4, act="relu")


def test_the_kernel_is_built_once_into_the_cache_and_reused(tmp_path):
    first = native.build("group_norm_nhwc", tmp_path)
    stamp = first.stat().st_mtime_ns
    assert native.build("group_norm_nhwc", tmp_path) == first and first.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary file left behind
    assert _kernel() is not None


def test_the_kernel_is_built_for_the_instruction_set_torchs_kernels_use(tmp_path, monkeypatch):
    # an AVX2 capability (an AVX2-only CPU, or ATEN_CPU_CAPABILITY=avx2 on a larger one) builds for AVX2 and FMA, in a
    # cache entry of its own; the build runs in a child process, where torch reads the capability at start
    import subprocess
    import sys

    from tests.child_env import child_env

    if not native.X86:
        assert native.isa_flags() == ("-march=native",)
        return
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert native.isa_flags() == ("-march=x86-64-v3", "-mtune=native")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert native.isa_flags()[0] == "-march=native"
    code = (
        "import torch; from genlab.nn import native; from genlab.nn.norm import GroupNorm;"
        "assert torch.backends.cpu.get_cpu_capability() == 'AVX2', torch.backends.cpu.get_cpu_capability();"
        "assert native.isa_flags()[0] == '-march=x86-64-v3';"
        "x = torch.randn(3, 8, 5, 5).contiguous(memory_format=torch.channels_last);"
        "m = GroupNorm(4, 8, act='silu'); y = m(x);"
        "assert y.grad_fn.name() == '_NativeGroupNormBackward';"
        "ref = torch.nn.functional.silu(torch.nn.functional.group_norm(x.contiguous(), 4, m.weight, m.bias));"
        "torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5); print(native.build('group_norm_nhwc').name)")
    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        return  # a CPU without AVX2: the capability cannot be raised to it
    avx2 = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=child_env(ATEN_CPU_CAPABILITY="avx2", GENLAB_CACHE=str(tmp_path)))
    assert avx2.returncode == 0, avx2.stderr[-2000:]
    built = avx2.stdout.split()[-1]
    assert (tmp_path / "kernels" / built).exists()


def test_without_a_compiler_the_kernel_is_none_with_one_warning_and_the_norm_still_works(monkeypatch):
    monkeypatch.setattr(native, "compiler", lambda: None)
    monkeypatch.setattr(native, "_loaded", {})
    with pytest.raises(RuntimeError, match="no C.. compiler on PATH"):
        native.build("group_norm_nhwc")
    with pytest.warns(RuntimeWarning, match="native group_norm_nhwc kernel is unavailable"):
        assert native.load("group_norm_nhwc") is None
    x = torch.randn(2, 4, 3, 3).contiguous(memory_format=torch.channels_last)
    assert GroupNorm(2, 4)(x).grad_fn.name() == "NativeGroupNormBackward0"


def test_under_torch_compile_the_norm_is_traced_without_graph_breaks():
    norm = GroupNorm(2, 4, act="silu")
    x = torch.randn(2, 4, 3, 3).contiguous(memory_format=torch.channels_last)
    explained = torch._dynamo.explain(norm)(x)
    assert explained.graph_break_count == 0 and explained.graph_count == 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_nan_input_stays_non_finite_in_its_group_and_only_there(dtype):
    """The kernel is built with fast math; a NaN must still show (the trainer stops on a non-finite loss)."""
    x = torch.randn(2, 4, 3, 3).to(dtype).contiguous(memory_format=torch.channels_last)
    x[0, 1, 1, 1] = float("nan")
    y = GroupNorm(2, 4, act="silu")(x)
    assert not torch.isfinite(y[0, :2]).any() and torch.isfinite(y[0, 2:]).all() and torch.isfinite(y[1]).all()


def test_a_second_derivative_through_the_kernel_is_an_error_not_a_silent_zero():
    norm = GroupNorm(2, 4, act="silu")
    x = torch.randn(2, 4, 3, 3).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    (g,) = torch.autograd.grad(norm(x).square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|differentiate twice"):
        g.sum().backward()
