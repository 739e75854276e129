"""Render a morph from a soundmorph export package with numpy alone (no soundmorph, no librosa).

    soundmorph export model exported --format onnx
    python examples/export_numpy.py exported 0 3 --alpha 0.3 --out between.wav

The decoder runs in onnxruntime (an ``.onnx`` package) or in ``torch.jit.load`` (a TorchScript
``.pt`` package); the phase is rebuilt by fast Griffin-Lim written in numpy, and the WAV is written by
the standard library. A clip-level engine: one call decodes a whole clip, not a stream. What soundmorph
adds on top (the sources' detail from their files, whole bars at a chosen tempo, PGHI) is not here.
"""

from __future__ import annotations

import argparse
import json
import wave
from pathlib import Path

import numpy as np


def load_decoder(folder: Path, settings: dict):
    """A function latents [n, latent] float32 -> magnitudes [n, freq, frames]."""
    path = folder / settings["files"]["decoder"]
    if settings["format"] == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda z: session.run(None, {settings["inputs"]["decoder"]: z})[0]
    import torch

    module = torch.jit.load(str(path), map_location="cpu")
    return lambda z: module(torch.from_numpy(z)).detach().numpy()


def hann(n: int) -> np.ndarray:
    """Periodic Hann window [n]."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)


def stft(x: np.ndarray, n_fft: int, hop: int, window: np.ndarray) -> np.ndarray:
    """Centred STFT [freq, frames] of x [samples] (zero padding of n_fft // 2 at both ends)."""
    padded = np.pad(x, n_fft // 2)
    frames = 1 + (len(padded) - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    return np.fft.rfft(padded[index] * window, axis=1).T


def istft(spec: np.ndarray, n_fft: int, hop: int, window: np.ndarray, length: int) -> np.ndarray:
    """Inverse of :func:`stft` by windowed overlap-add, cut to ``length`` samples."""
    frames = np.fft.irfft(spec.T, n=n_fft, axis=1) * window
    total = n_fft + hop * (len(frames) - 1)
    out = np.zeros(total)
    norm = np.zeros(total)
    for k, frame in enumerate(frames):
        out[k * hop : k * hop + n_fft] += frame
        norm[k * hop : k * hop + n_fft] += window**2
    out /= np.maximum(norm, 1e-8)
    return out[n_fft // 2 : n_fft // 2 + length]


def griffin_lim(mag: np.ndarray, settings: dict, *, n_iter: int = 64, momentum: float = 0.99) -> np.ndarray:
    """Audio [samples] whose STFT magnitude approaches ``mag`` [freq, frames] (fast Griffin-Lim)."""
    s = settings["stft"]
    n_fft, hop = s["n_fft"], s["hop_length"]
    window = np.zeros(n_fft, np.float32)
    start = (n_fft - s["win_length"]) // 2
    window[start : start + s["win_length"]] = hann(s["win_length"])
    length = settings["clip"]["samples"]
    rng = np.random.default_rng(0)
    angles = np.exp(2j * np.pi * rng.random(mag.shape))
    previous = np.zeros_like(angles)
    for _ in range(n_iter):
        rebuilt = stft(istft(mag * angles, n_fft, hop, window, length), n_fft, hop, window)
        accelerated = rebuilt + momentum * (rebuilt - previous)
        previous = rebuilt
        angles = accelerated / np.maximum(np.abs(accelerated), 1e-8)
    return istft(mag * angles, n_fft, hop, window, length)


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """16-bit mono WAV, scaled down only if it would clip."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    pcm = (audio / max(peak, 1.0) * 32767).round().astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("package", type=Path, help="a folder written by 'soundmorph export'")
    parser.add_argument("a", type=int, help="library index of A (as export.json's names)")
    parser.add_argument("b", type=int, help="library index of B")
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--iterations", type=int, default=64)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    settings = json.loads((args.package / "export.json").read_text())
    latents = np.load(args.package / settings["files"]["latents"])
    decode = load_decoder(args.package, settings)
    z = ((1 - args.alpha) * latents[args.a] + args.alpha * latents[args.b])[None].astype(np.float32)
    magnitude = decode(z)[0]
    audio = griffin_lim(magnitude, settings, n_iter=args.iterations)
    write_wav(args.out, audio, settings["stft"]["sample_rate"])
    names = settings["names"]
    print(f"{args.out}: {names[args.a]} -> {names[args.b]} at {args.alpha:g}, {len(audio)} samples")


if __name__ == "__main__":
    main()
