"""Exact instructions per inference of the aot engine on QEMU mps2-an386 (Cortex-M4F), vs TFLM.

For every zoo model: generate the aot C, build the bare-metal bench firmware twice (the kernels'
Cortex-M DSP paths, and their portable C paths with -DTINYML_NO_DSP), run each on
qemu-system-arm with the counting TCG plugin (tinyml.profile.icount) and print the instructions
per inference, the ratio to TFLM's reference-kernel count on the same machine (TFLM_INSNS, from
issue 9: TFLM -O2, GCC 12.2, instructions per Invoke()), instructions per MAC, and whether the
outputs are byte-identical to the TFLM host interpreter's for the same random inputs.

    .venv/bin/python bench/qemu_icount.py [--models ic_resnet8 ...] [--samples 2] [--layers]
        [--json out.json] [--write-doc docs/benchmarks.md]

--layers adds a per-layer table (instructions, MACs, MACs per instruction) of each model.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinyml import zoo  # noqa: E402
from tinyml.codegen.aot.planner import spec_for  # noqa: E402
from tinyml.model.analysis import op_macs  # noqa: E402
from tinyml.model.reference import run_reference  # noqa: E402
from tinyml.model.tflite import parse  # noqa: E402
from tinyml.profile.icount import measure  # noqa: E402

# TFLM reference kernels, instructions per Invoke() on QEMU mps2-an386 (issue 9).
TFLM_INSNS = {"sine": 4_942, "digits_cnn": 182_874, "kws_dscnn": 43_000_000, "vww_mobilenet": 100_300_000,
              "ic_resnet8": 107_300_000, "ad_autoencoder": 1_690_000}
CONV = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def random_inputs(model, n: int, seed: int = 0) -> np.ndarray:
    t = model.input_tensors()[0]
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=(n, *t.shape[1:]), dtype=np.int8)


def layer_macs(model) -> list[int]:
    """MACs of each layer the aot engine runs (alias ops such as RESHAPE run nothing)."""
    return [op_macs(model, op)[0] for op in model.operators if not spec_for(model, op).alias]


def bench_model(name: str, samples: int, cache: Path, layers: bool) -> dict:
    data = zoo.quantized(name, cache)
    model = parse(data)
    x = random_inputs(model, samples)
    want = run_reference(data, x)
    row: dict = {"model": name, "tflm_insns": TFLM_INSNS[name]}
    macs = layer_macs(model)
    row["macs"] = sum(macs)
    for variant, dsp in (("dsp", True), ("portable", False)):
        m = measure(model, x, dsp=dsp, layers=layers, name=name)
        row[variant] = {"insns": m.per_inference, "exact": bool(np.array_equal(m.outputs, want)),
                        "repeatable": len(set(m.per_inference)) == 1}
        if layers:
            row[variant]["layers"] = [{"op": op, "insns": n} for op, n in m.layers]
    return row


def render(rows: list[dict]) -> str:
    out = ["| model | MACs | TFLM insns | aot portable C | ratio | insns/MAC | aot DSP | ratio | insns/MAC "
           "| bit-exact |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        p, d = r["portable"]["insns"][0], r["dsp"]["insns"][0]
        exact = "yes" if r["portable"]["exact"] and r["dsp"]["exact"] else "**NO**"
        out.append(f"| {r['model']} | {r['macs']:,} | {r['tflm_insns']:,} | {p:,} | {p / r['tflm_insns']:.3f} | "
                   f"{p / max(r['macs'], 1):.2f} | {d:,} | {d / r['tflm_insns']:.3f} | {d / max(r['macs'], 1):.2f} | "
                   f"{exact} |")
    return "\n".join(out)


def render_layers(r: dict, model_macs: list[int]) -> str:
    out = [f"{r['model']}:", "| # | op | MACs | portable insns | DSP insns | MACs/insn (DSP) |",
           "|---:|---|---:|---:|---:|---:|"]
    for i, (lp, ld) in enumerate(zip(r["portable"]["layers"], r["dsp"]["layers"], strict=True)):
        macs = model_macs[i] if i < len(model_macs) else 0
        out.append(f"| {i} | {ld['op']} | {macs:,} | {lp['insns']:,} | {ld['insns']:,} | "
                   f"{macs / max(ld['insns'], 1):.2f} |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=zoo.names())
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=zoo.default_cache_dir())
    ap.add_argument("--layers", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--write-doc", type=Path)
    args = ap.parse_args()
    rows = []
    for name in args.models:
        r = bench_model(name, args.samples, args.cache, args.layers)
        rows.append(r)
        print(f"{name}: portable {r['portable']['insns']} dsp {r['dsp']['insns']} "
              f"exact {r['portable']['exact']}/{r['dsp']['exact']}", file=sys.stderr, flush=True)
    table = render(rows)
    print(table)
    if args.layers:
        for r in rows:
            macs = [m for m in layer_macs(parse(zoo.quantized(r["model"], args.cache)))]
            print()
            print(render_layers(r, macs))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    if args.write_doc:
        doc = args.write_doc.read_text()
        block = f"<!-- qemu_icount:begin -->\n{table}\n<!-- qemu_icount:end -->"
        doc = re.sub(r"<!-- qemu_icount:begin -->.*?<!-- qemu_icount:end -->", block, doc, flags=re.S)
        args.write_doc.write_text(doc)
    return 0 if all(r["portable"]["exact"] and r["dsp"]["exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
