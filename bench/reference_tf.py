"""The seed notebook's model in TensorFlow, timed: run by ``bench.reference`` with the Python of a
separate environment that has TensorFlow (never a dependency of soundmorph, never imported by it).

Standalone on purpose: it imports only TensorFlow/Keras, numpy, soundfile, soxr and librosa (the
notebook's Griffin-Lim), so it runs where soundmorph and torch are not installed. It prints one JSON
object on its last line.

The model is the reference as ``SPEC.md`` states it, layer by layer with Keras' own layers: Conv2D
over the whole frequency axis, strided time convolutions (37, 4), a Dense head to a full-covariance
Gaussian (16 means + 136 lower-triangular scale entries, the diagonal through softplus + 1e-5 as
TFP's ``FillScaleTriL``), KL weight 0.001, the mirrored Conv2DTranspose decoder with a ReLU output,
Adam (Keras' default learning rate 1e-3), loss = MSE + 0.001 KL, batch 16, the whole data set as one
dense array. The posterior is written in plain TensorFlow ops (TensorFlow Probability does not
install beside Keras 3); the KL is the closed form, as soundmorph's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

SAMPLE_RATE = 22_050  # Hz
N_FFT = 2048
HOP = 512
LATENT = 16
CHANNELS = 256
STRIDES = (37, 4)  # 148 frames -> 4 -> 1
KL_WEIGHT = 1e-3
BATCH = 16
GL_ITER = 32
AUDIO_EXTENSIONS = {".wav", ".flac", ".aif", ".aiff", ".ogg"}


def read(path: Path, samples: int) -> np.ndarray:
    """Mono float32 at :data:`SAMPLE_RATE`, cut or zero-padded to ``samples``."""
    import soundfile
    import soxr

    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE).astype(np.float32)
    out = np.zeros(samples, dtype=np.float32)
    out[: min(samples, len(mono))] = mono[:samples]
    return out


def magnitudes(clips: np.ndarray) -> np.ndarray:
    """|STFT| [clips, 1025, frames, 1] (centred, zero padding, periodic Hann 2048, hop 512)."""
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    padded = np.pad(clips, ((0, 0), (N_FFT // 2, N_FFT // 2)))
    frames = 1 + (padded.shape[1] - N_FFT) // HOP
    index = np.arange(N_FFT)[None, :] + HOP * np.arange(frames)[:, None]
    spectrum = np.fft.rfft(padded[:, index] * window, axis=-1)  # [clips, frames, 1025]
    return np.abs(spectrum).transpose(0, 2, 1)[..., None].astype(np.float32)


def build(n_freq: int, n_frames: int, form: str):  # type: ignore[no-untyped-def]
    """(encoder, decoder) Keras models. ``form`` "conv": the notebook's Conv2D / Conv2DTranspose
    layers; "dense": the same function with every convolution written as the Dense layer it is (a
    kernel spanning the whole frequency axis, or exactly its stride along time), as soundmorph's
    ``paper`` computes it (per-channel instead of per-position biases in the decoder's time steps:
    the same cost)."""
    import keras
    from keras import layers

    s1, s2 = STRIDES
    if form == "dense":
        encoder = keras.Sequential(
            [
                keras.Input((n_freq, n_frames, 1)),
                layers.Reshape((n_freq, n_frames)),
                layers.Permute((2, 1)),  # [frames, freq]
                layers.Dense(CHANNELS, activation="relu"),
                layers.Reshape((s2, s1 * CHANNELS)),
                layers.Dense(CHANNELS, activation="relu"),
                layers.Flatten(),
                layers.Dense(CHANNELS, activation="relu"),
                layers.Dense(LATENT + LATENT * (LATENT + 1) // 2),
            ],
            name="encoder",
        )
        decoder = keras.Sequential(
            [
                keras.Input((LATENT,)),
                layers.Dense(CHANNELS, activation="relu"),
                layers.Dense(s2 * CHANNELS, activation="relu"),
                layers.Reshape((s2, CHANNELS)),
                layers.Dense(s1 * CHANNELS, activation="relu"),
                layers.Reshape((s2 * s1, CHANNELS)),
                layers.Dense(n_freq, activation="relu"),
                layers.Permute((2, 1)),
                layers.Reshape((n_freq, n_frames, 1)),
            ],
            name="decoder",
        )
        return encoder, decoder
    encoder = keras.Sequential(
        [
            keras.Input((n_freq, n_frames, 1)),
            layers.Conv2D(CHANNELS, (n_freq, 1), padding="valid", activation="relu"),
            layers.Conv2D(CHANNELS, (1, s1), strides=(1, s1), activation="relu"),
            layers.Conv2D(CHANNELS, (1, s2), strides=(1, s2), activation="relu"),
            layers.Flatten(),
            layers.Dense(LATENT + LATENT * (LATENT + 1) // 2),
        ],
        name="encoder",
    )
    decoder = keras.Sequential(
        [
            keras.Input((LATENT,)),
            layers.Dense(CHANNELS, activation="relu"),
            layers.Reshape((1, 1, CHANNELS)),
            layers.Conv2DTranspose(CHANNELS, (1, s2), strides=(1, s2), activation="relu"),
            layers.Conv2DTranspose(CHANNELS, (1, s1), strides=(1, s1), activation="relu"),
            layers.Conv2DTranspose(1, (n_freq, 1), padding="valid", activation="relu"),
        ],
        name="decoder",
    )
    return encoder, decoder


def posterior(params):  # type: ignore[no-untyped-def]
    """(mean [b, 16], scale_tril [b, 16, 16]) of the encoder's outputs, TFP's FillScaleTriL."""
    import tensorflow as tf

    k = LATENT
    mean, raw = params[:, :k], params[:, k:]
    rows, cols = np.tril_indices(k)
    slot = np.zeros((k, k), dtype=np.int64)
    slot[rows, cols] = 1 + np.arange(len(rows))  # 0: a zero above the diagonal
    padded = tf.concat([tf.zeros_like(raw[:, :1]), raw], axis=1)
    tril = tf.reshape(tf.gather(padded, slot.reshape(-1), axis=1), (-1, k, k))
    diag = tf.nn.softplus(tf.linalg.diag_part(tril)) + 1e-5
    return mean, tf.linalg.set_diag(tril, diag)


def kl(mean, tril):  # type: ignore[no-untyped-def]
    import tensorflow as tf

    trace = tf.reduce_sum(tf.square(tril), axis=(1, 2))
    log_det = 2.0 * tf.reduce_sum(tf.math.log(tf.linalg.diag_part(tril)), axis=1)
    return 0.5 * (trace + tf.reduce_sum(tf.square(mean), axis=1) - LATENT - log_det)


def make_vae(encoder, decoder):  # type: ignore[no-untyped-def]
    import keras
    import tensorflow as tf

    class VAE(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.encoder, self.decoder = encoder, decoder

        def train_step(self, data):  # type: ignore[no-untyped-def]
            x = data[0] if isinstance(data, tuple) else data
            with tf.GradientTape() as tape:
                mean, tril = posterior(self.encoder(x, training=True))
                eps = tf.random.normal(tf.shape(mean))
                z = mean + tf.linalg.matvec(tril, eps)
                recon = self.decoder(z, training=True)
                loss = tf.reduce_mean(tf.square(x - recon)) + KL_WEIGHT * tf.reduce_mean(kl(mean, tril))
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
            return {"loss": loss}

    return VAE()


def elapsed_ms(fn) -> float:  # type: ignore[no-untyped-def]
    """Wall time of one call of ``fn`` in ms."""
    tic = time.perf_counter()
    fn()
    return 1000 * (time.perf_counter() - tic)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--samples", type=int, required=True, help="clip length (148 frames)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--morphs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--form", choices=["conv", "dense"], default="conv")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tic = time.perf_counter()
    import keras
    import librosa
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import_seconds = time.perf_counter() - tic
    paths = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    x = magnitudes(np.stack([read(p, args.samples) for p in paths]))
    n_freq, n_frames = x.shape[1], x.shape[2]
    keras.utils.set_random_seed(0)
    encoder, decoder = build(n_freq, n_frames, args.form)
    vae = make_vae(encoder, decoder)
    vae.compile(optimizer=keras.optimizers.Adam())
    epochs: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):  # type: ignore[no-untyped-def]
            self.tic = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):  # type: ignore[no-untyped-def]
            epochs.append(time.perf_counter() - self.tic)

    tic = time.perf_counter()
    vae.fit(x, epochs=args.epochs, batch_size=BATCH, shuffle=True, verbose=0, callbacks=[Timer()])
    fit_seconds = time.perf_counter() - tic

    pair = x[:2]

    def morph() -> np.ndarray:  # encode 2, lerp at 0.5, decode, Griffin-Lim 32 (librosa, as the notebook)
        mean, _ = posterior(encoder(pair, training=False))
        z = 0.5 * mean[0] + 0.5 * mean[1]
        mag = decoder(z[None], training=False).numpy()[0, :, :, 0]
        return librosa.griffinlim(mag, n_iter=GL_ITER, hop_length=HOP, win_length=N_FFT, n_fft=N_FFT)

    def decode_only() -> np.ndarray:
        mean, _ = posterior(encoder(pair, training=False))
        return decoder((0.5 * mean[0] + 0.5 * mean[1])[None], training=False).numpy()

    def timed(fn, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
        for _ in range(2):  # warm-up
            fn()
        return [elapsed_ms(fn) for _ in range(repeats)]

    mag = decoder(posterior(encoder(pair[:1], training=False))[0], training=False).numpy()[0, :, :, 0]
    record = {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "librosa": librosa.__version__,
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
        "threads": args.threads,
        "form": args.form,
        "clips": len(paths),
        "shape": list(x.shape[1:]),
        "parameters": int(encoder.count_params() + decoder.count_params()),
        "import_seconds": import_seconds,
        "fit_seconds": fit_seconds,
        "epoch_seconds": epochs,
        "morph_ms": timed(morph, args.morphs),
        "encode_decode_ms": timed(decode_only, args.morphs),
        "griffin_lim_ms": timed(
            lambda: librosa.griffinlim(mag, n_iter=GL_ITER, hop_length=HOP, win_length=N_FFT, n_fft=N_FFT),
            args.morphs,
        ),
        "python": sys.version.split()[0],
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
