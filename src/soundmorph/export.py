"""A model folder as files other programs run without soundmorph: ONNX or TorchScript.

An export package is a folder of

* ``decoder.onnx`` / ``decoder.pt``: latents ``z`` [batch, latent] -> magnitudes [batch, freq, frames]
  (non-negative, linear amplitude), the model's input scaling, normalisation and colour inside;
* ``encoder.onnx`` / ``encoder.pt``: magnitudes [batch, freq, frames] of clips on the model's grid ->
  posterior means [batch, latent];
* ``latents.npy``: the library's latents [sounds, latent] (float32), in the order of ``export.json``'s
  ``names``;
* ``export.json``: the STFT (rate, n_fft, hop, window), grid and clip settings, the names, the files.

It is a clip-level morph engine for embedding: a morph is ``decoder((1 - a) z_i + a z_j)`` followed
by any phase reconstruction (``examples/export_numpy.py`` does Griffin-Lim in numpy). It is not a
streaming real-time model: one call decodes a whole clip. The sources' detail that
:meth:`soundmorph.api.SoundModel.morph` adds from the original files, the tempo of a loop's bars
and soundmorph's phase methods stay in soundmorph.
"""

from __future__ import annotations

import io
import json
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch
from torch import nn

from soundmorph import __version__, files
from soundmorph.errors import SoundmorphError
from soundmorph.session import SoundModel, load

Format = Literal["onnx", "torchscript"]
FORMATS: tuple[Format, ...] = ("onnx", "torchscript")
SUFFIX: dict[Format, str] = {"onnx": ".onnx", "torchscript": ".pt"}
MANIFEST = "export.json"
LATENTS = "latents.npy"
EXPORT_VERSION = 1  # of export.json's layout
ONNX_OPSET = 17


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export` wrote."""

    folder: Path
    format: Format
    files: list[Path]


class DecoderGraph(nn.Module):
    """Latents [batch, latent] -> magnitudes [batch, freq, frames]: the model's whole decode."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode(z)  # type: ignore[operator]


class EncoderGraph(nn.Module):
    """Magnitudes [batch, freq, frames] -> posterior means [batch, latent]."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, mag: torch.Tensor) -> torch.Tensor:
        return self.model.encode(mag).mode()  # type: ignore[operator]


def settings(model: SoundModel, fmt: Format) -> dict[str, Any]:
    """The JSON that travels with the graphs: everything needed to turn magnitudes into audio."""
    a = model.preset.audio
    tempo = model.preset.tempo
    suffix = SUFFIX[fmt]
    return {
        "format": fmt,
        "export_version": EXPORT_VERSION,
        "soundmorph_version": __version__,
        "preset": model.preset.name,
        "files": {
            "decoder": f"decoder{suffix}",
            "encoder": f"encoder{suffix}",
            "latents": LATENTS,
        },
        "inputs": {"decoder": "z", "encoder": "magnitude"},
        "outputs": {"decoder": "magnitude", "encoder": "z"},
        "latent_size": model.latent_size,
        "stft": {
            "sample_rate": a.sample_rate,
            "n_fft": a.n_fft,
            "hop_length": a.hop_length,
            "win_length": a.win_length,
            "window": "hann (periodic)",
            "center": True,
            "pad_mode": "constant",
            "n_freq": a.n_freq,
            "magnitude": "linear amplitude |STFT|",
        },
        "clip": {"samples": a.clip_samples, "frames": model.info.n_frames},
        "grid": {"mode": tempo.mode, "bpm": tempo.bpm, "bars": tempo.bars},
        "phase": {"method": model.render_options.method, "n_iter": model.render_options.n_iter},
        "names": list(model.names),
        "splits": list(model.splits),
    }


def _onnx_bytes(graph: nn.Module, example: torch.Tensor, names: tuple[str, str]) -> bytes:
    """``graph`` as ONNX (opset :data:`ONNX_OPSET`) with a dynamic batch axis."""
    with tempfile.TemporaryDirectory(prefix="soundmorph-onnx-") as folder:
        path = Path(folder) / "graph.onnx"
        _onnx_write(graph, example, names, path)
        return path.read_bytes()


def _onnx_write(graph: nn.Module, example: torch.Tensor, names: tuple[str, str], path: Path) -> None:
    try:
        torch.onnx.export(
            graph,
            (example,),
            path,
            input_names=[names[0]],
            output_names=[names[1]],
            dynamic_axes={names[0]: {0: "batch"}, names[1]: {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    except (ImportError, torch.onnx.OnnxExporterError) as error:
        if isinstance(error, torch.onnx.OnnxExporterError) and "not installed" not in str(error):
            raise SoundmorphError(f"the ONNX export failed: {' '.join(str(error).split())[:200]}") from None
        raise SoundmorphError(
            "ONNX export needs the onnx package (pip install 'soundmorph[export]' or pip install onnx); "
            "--format torchscript needs nothing more"
        ) from None


def _torchscript_bytes(graph: nn.Module, example: torch.Tensor) -> bytes:
    """``graph`` traced on ``example`` as a TorchScript archive (``torch.jit.load`` reads it)."""
    # frozen: the weights become constants, so outputs do not require grad and need no torch.no_grad()
    traced = torch.jit.freeze(torch.jit.trace(graph, (example,), check_trace=False))
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    return buffer.getvalue()


def _check_folder(out: Path, *, force: bool) -> None:
    """Refuse an existing file, a non-empty folder without ``force``, and with ``force`` a folder
    that holds no export package (a ``export.json`` soundmorph wrote)."""
    if str(out) == "":
        raise SoundmorphError("the output folder is empty; name a folder")
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise SoundmorphError(f"{out}: exists and is not a folder")
    if not out.exists() or not any(out.iterdir()):
        return
    if not force:
        raise SoundmorphError(f"{out}: exists and is not empty (use --force to replace an export)")
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or "export_version" not in manifest:
        raise SoundmorphError(f"{out}: not a soundmorph export folder; --force replaces only one")


def export(
    model: SoundModel | str | Path, out: str | Path, *, format: str = "onnx", force: bool = False
) -> ExportResult:
    """Write ``model``'s decoder, encoder, library latents and settings to the folder ``out``.

    Parameters
    ----------
    model : SoundModel or path
        A loaded model (:func:`soundmorph.api.load`) or a model folder; it is exported from the CPU
        in float32.
    out : path
        A new or empty folder (or, with ``force``, an earlier export package, whose files are replaced).
    format : {"onnx", "torchscript"}
        ONNX (opset 17; needs the ``onnx`` package to write) or a traced TorchScript archive.

    Raises
    ------
    SoundmorphError
        An unknown format, an output that exists (without ``force``), a graph that cannot be written.
    """
    if format not in FORMATS:
        raise SoundmorphError(f"unknown export format {format!r}; choose one of: {', '.join(FORMATS)}")
    fmt = cast(Format, format)
    out = Path(out)
    _check_folder(out, force=force)
    if not isinstance(model, SoundModel):
        model = load(model, device="cpu")
    network = model.model
    device = network.device
    network.to("cpu").eval()
    try:
        a = model.preset.audio
        z = model.latents[:2].float() if len(model.latents) >= 2 else torch.zeros(2, model.latent_size)
        mag = torch.rand(2, a.n_freq, model.info.n_frames, generator=torch.Generator().manual_seed(0))
        decoder, encoder = DecoderGraph(network).eval(), EncoderGraph(network).eval()
        with torch.no_grad(), warnings.catch_warnings():
            # the tracer warns about the shape checks in decode: the shapes are fixed by the model
            warnings.simplefilter("ignore")
            if fmt == "onnx":
                graphs = [
                    _onnx_bytes(decoder, z, ("z", "magnitude")),
                    _onnx_bytes(encoder, mag, ("magnitude", "z")),
                ]
            else:
                graphs = [_torchscript_bytes(decoder, z), _torchscript_bytes(encoder, mag)]
    finally:
        network.to(device)
    latents = io.BytesIO()
    np.save(latents, model.latents.float().cpu().numpy().astype(np.float32), allow_pickle=False)
    manifest = settings(model, fmt)
    names = manifest["files"]
    written = [
        files.atomic_write_bytes(out / names["decoder"], graphs[0]),
        files.atomic_write_bytes(out / names["encoder"], graphs[1]),
        files.atomic_write_bytes(out / LATENTS, latents.getvalue()),
        files.atomic_write_json(out / MANIFEST, manifest),  # last: a folder with it is complete
    ]
    return ExportResult(out, fmt, written)
