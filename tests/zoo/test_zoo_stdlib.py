"""The standard library of blocks (archspec/stdlib, `use "std/NAME"`), usable from any spec."""

import pytest

import archspec
from archspec.lang.load import stdlib_dir


def spec(body: str, uses: str) -> str:
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    return f'use "std/{uses}"\nnetwork t:\n{lines}\n'


def test_every_library_file_loads():
    names = sorted(p.stem for p in stdlib_dir().glob("*.arch"))
    assert {"densenet", "fire", "inception", "resnet", "se", "separable"} <= set(names)
    for name in names:
        s = archspec.load("t", text=f'use "std/{name}"\nnetwork t:\n    input 3x8x8\n')
        assert s.source.blocks, name


def test_inception_module():
    a = archspec.analyze(archspec.load("t", text=spec("input 192x28x28\ninception(64, 96, 128, 16, 32, 32)",
                                                      "inception")))
    assert a.outputs == {"out": (256, 28, 28)}
    # GoogLeNet's 3a: 1×1 64; 1×1 96 → 3×3 128; 1×1 16 → 5×5 32; pool → 1×1 32 (with biases)
    assert a.totals.params == (192 * 64 + 64) + (192 * 96 + 96 + 96 * 128 * 9 + 128) + \
        (192 * 16 + 16 + 16 * 32 * 25 + 32) + (192 * 32 + 32)


def test_se_gate():
    a = archspec.analyze(archspec.load("t", text=spec("input 64x8x8\nsqueeze_excite(16)", "se")))
    assert a.outputs == {"out": (64, 8, 8)}
    assert a.totals.params == 64 * 4 + 4 + 4 * 64 + 64


def test_separable_and_fire():
    a = archspec.analyze(archspec.load("t", text=spec("input 32x10x10\nsepconv(64, stride=2)", "separable")))
    assert a.outputs == {"out": (64, 5, 5)}
    assert a.totals.params == 9 * 32 + 32 * 64
    b = archspec.analyze(archspec.load("t", text=spec("input 96x54x54\nfire(16, 64, 64)", "fire")))
    assert b.outputs == {"out": (128, 54, 54)}


@pytest.mark.parametrize(("call", "out"), [("basic(64)", (64, 8, 8)), ("basic(128, 2)", (128, 4, 4)),
                                           ("bottleneck(64)", (256, 8, 8)), ("bottleneck(64, 2, se=16)", (256, 4, 4))])
def test_residual_blocks(call, out):
    a = archspec.analyze(archspec.load("t", text=spec(f"input 64x8x8\n{call}", "resnet")))
    assert a.outputs == {"out": out}


def test_dense_layer_and_transition():
    a = archspec.analyze(archspec.load("t", text=spec("input 64x8x8\ndense_block(3)\ntransition()", "densenet")))
    assert a.outputs == {"out": (80, 4, 4)}  # 64 + 3·32 = 160 maps, halved


def test_unknown_library_file_lists_the_library():
    from archspec.diagnostics import SpecError

    with pytest.raises(SpecError) as e:
        archspec.load("t", text='use "std/nope"\nnetwork t:\n    input 3\n')
    assert "std/resnet" in str(e.value.diagnostic.expected)
