"""The model folder: save/load round trips, and loads that refuse broken folders with one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from soundmorph.audio.tempo import Tempo
from soundmorph.config import Preset, get_preset
from soundmorph.errors import ModelFolderError, SoundmorphError
from soundmorph.models import MODELS, SpectrogramVAE, build_model, latent_size
from soundmorph.training import checkpoint


def build(preset: Preset, seed: int = 0) -> SpectrogramVAE:
    torch.manual_seed(seed)
    a = preset.audio
    model = build_model(preset.model, n_freq=a.n_freq, n_frames=a.clip_frames)
    mags = torch.rand(4, a.n_freq, a.clip_frames, generator=torch.Generator().manual_seed(seed))
    model.init_from_data(mags)  # non-trivial buffers, which must travel with the weights
    return model.eval()


@pytest.fixture
def preset(tiny_preset: Callable[..., Preset]) -> Preset:
    return tiny_preset()


@pytest.fixture
def saved(tmp_path: Path, preset: Preset) -> tuple[Path, SpectrogramVAE]:
    """A model folder holding a freshly initialised tiny model, and that model."""
    model = build(preset)
    folder = tmp_path / "model"
    checkpoint.save_model(folder, model, preset)
    return folder, model


def assert_refused(folder: Path, file: str | None) -> str:
    """Loading ``folder`` raises a one-line ModelFolderError naming ``file``; returns the message."""
    with pytest.raises(ModelFolderError) as caught:
        checkpoint.load_model(folder)
    message = str(caught.value)
    assert "\n" not in message
    assert str(folder / file if file else folder) in message
    return message


def edit_config(folder: Path, edit: Callable[[dict], None]) -> None:
    path = folder / checkpoint.CONFIG_FILE
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


# --- round trips --------------------------------------------------------------------------------


def test_save_load_round_trip_gives_identical_outputs(saved: tuple[Path, SpectrogramVAE]) -> None:
    folder, model = saved
    loaded, info = checkpoint.load_model(folder)
    a = info.preset.audio
    mags = torch.rand(3, a.n_freq, a.clip_frames, generator=torch.Generator().manual_seed(5))
    size = latent_size(info.preset.model, info.n_frames)
    z = torch.randn(3, size, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        assert torch.equal(loaded.encode(mags).mean, model.encode(mags).mean)
        assert torch.equal(loaded.encode(mags).scale_tril, model.encode(mags).scale_tril)
        assert torch.equal(loaded.decode(z), model.decode(z))
    assert not loaded.training


def test_save_load_round_trip_keeps_every_tensor(saved: tuple[Path, SpectrogramVAE]) -> None:
    folder, model = saved
    loaded, _ = checkpoint.load_model(folder)
    expected = model.state_dict()
    assert set(loaded.state_dict()) == set(expected)
    for name, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, expected[name]), name


def test_config_records_the_settings_and_geometry(saved: tuple[Path, SpectrogramVAE], preset: Preset) -> None:
    folder, model = saved
    config = json.loads((folder / checkpoint.CONFIG_FILE).read_text())
    assert config["format_version"] == checkpoint.FORMAT_VERSION
    assert config["class"] == type(model).__name__ == MODELS[preset.model.latent].__name__
    assert (config["n_freq"], config["n_frames"]) == (model.n_freq, model.n_frames)
    info = checkpoint.read_info(folder)
    assert info.preset == preset
    assert (info.n_freq, info.n_frames) == (preset.audio.n_freq, preset.audio.clip_frames)


def test_saving_leaves_no_temporary_files(saved: tuple[Path, SpectrogramVAE]) -> None:
    folder, _ = saved
    assert sorted(p.name for p in folder.iterdir()) == [checkpoint.CONFIG_FILE, checkpoint.WEIGHTS_FILE]


def test_saving_again_replaces_the_weights(saved: tuple[Path, SpectrogramVAE], preset: Preset) -> None:
    folder, _ = saved
    other = build(preset, seed=1)
    checkpoint.save_model(folder, other, preset)
    loaded, _ = checkpoint.load_model(folder)
    for name, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, other.state_dict()[name]), name


def test_trained_model_folder_loads(tiny_model) -> None:
    model, info = checkpoint.load_model(tiny_model.folder)
    assert info.preset == checkpoint.read_info(tiny_model.folder).preset
    assert (model.n_freq, model.n_frames) == (info.n_freq, info.n_frames)
    library = checkpoint.load_library(tiny_model.folder)
    assert len(library.entries) == len(tiny_model.result.library)


def train_state(model: SpectrogramVAE, preset: Preset, *, best: bool = True) -> checkpoint.TrainState:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.decode(torch.randn(2, latent_size(preset.model, preset.audio.clip_frames))).mean().backward()
    optimizer.step()  # the optimizer now has moments to save
    rows = [{"epoch": e, "loss": 1.0 / e, "holdout_loss": None} for e in (1, 2, 3)]
    return checkpoint.TrainState(
        epoch=3,
        best=0.5,
        best_epoch=2,
        weights=model.state_dict(),
        best_weights={k: v + 1 for k, v in model.state_dict().items()} if best else None,
        optimizer=optimizer.state_dict(),
        history=rows,
        preset=preset.to_dict(),
    )


def test_train_state_round_trip(tmp_path: Path, preset: Preset) -> None:
    model = build(preset)
    state = train_state(model, preset)
    checkpoint.save_train_state(tmp_path, state)
    assert checkpoint.has_train_state(tmp_path)
    assert [p.name for p in (tmp_path / checkpoint.TRAIN_DIR).iterdir()] == [checkpoint.TRAIN_STATE_FILE]

    loaded = checkpoint.load_train_state(tmp_path, build(preset, seed=1), preset)
    assert (loaded.epoch, loaded.best, loaded.best_epoch) == (3, 0.5, 2)
    assert loaded.history == state.history
    for group, expected in ((loaded.weights, state.weights), (loaded.best_weights, state.best_weights)):
        assert group is not None and expected is not None
        assert group.keys() == expected.keys()
        assert all(torch.equal(group[k], expected[k]) for k in expected)
    fresh = build(preset, seed=1)
    optimizer = torch.optim.Adam(fresh.parameters(), lr=1e-3)
    optimizer.load_state_dict(loaded.optimizer)
    saved_moments, loaded_moments = state.optimizer["state"], optimizer.state_dict()["state"]
    assert saved_moments.keys() == loaded_moments.keys()
    for index, slots in saved_moments.items():
        for slot, value in slots.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(loaded_moments[index][slot]))


def test_state_writer_writes_in_the_background_what_it_was_handed(tmp_path: Path, preset: Preset) -> None:
    model = build(preset)
    state = train_state(model, preset)
    copied = checkpoint.copy_optimizer_state(state.optimizer)
    live = state.optimizer["state"]
    state.optimizer = copied
    for slots in live.values():  # training goes on: the live moments change in place
        for value in slots.values():
            value.add_(1.0)
    done: list[int] = []
    writer = checkpoint.StateWriter(tmp_path)
    writer.submit(state, then=lambda: done.append(writer.written))
    writer.wait()
    assert done == [3] and writer.written == 3
    loaded = checkpoint.load_train_state(tmp_path, build(preset, seed=1), preset)
    for index, slots in copied["state"].items():
        for slot, value in slots.items():
            assert torch.equal(loaded.optimizer["state"][index][slot], torch.as_tensor(value))
            assert not torch.equal(loaded.optimizer["state"][index][slot], torch.as_tensor(live[index][slot]))


def test_state_writer_raises_a_failed_write_at_the_next_call(tmp_path: Path, preset: Preset) -> None:
    (tmp_path / checkpoint.TRAIN_DIR).write_text("a file where the folder goes")
    writer = checkpoint.StateWriter(tmp_path)
    writer.submit(train_state(build(preset), preset))
    with pytest.raises(SoundmorphError, match="not a folder"):
        writer.wait()
    writer.wait()  # raised once
    assert writer.written == -1


def test_train_state_without_separate_best_weights(tmp_path: Path, preset: Preset) -> None:
    model = build(preset)
    checkpoint.save_train_state(tmp_path, train_state(model, preset, best=False))
    assert checkpoint.load_train_state(tmp_path, model, preset).best_weights is None


def test_train_state_of_other_settings_is_refused(tmp_path: Path, preset: Preset) -> None:
    model = build(preset)
    checkpoint.save_train_state(tmp_path, train_state(model, preset))
    other = preset.replace(train={"learning_rate": 0.5, "epochs": 99})
    with pytest.raises(ModelFolderError, match="other settings"):
        checkpoint.load_train_state(tmp_path, model, other)
    checkpoint.load_train_state(tmp_path, model, preset.replace(train={"epochs": 99}))  # epochs may change


@pytest.mark.parametrize("cut", [0, 7, 100, -1000])
def test_truncated_train_state_is_refused_with_one_line(tmp_path: Path, preset: Preset, cut: int) -> None:
    model = build(preset)
    checkpoint.save_train_state(tmp_path, train_state(model, preset))
    path = tmp_path / checkpoint.TRAIN_DIR / checkpoint.TRAIN_STATE_FILE
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(ModelFolderError, match=checkpoint.TRAIN_STATE_FILE) as error:
        checkpoint.load_train_state(tmp_path, model, preset)
    assert "\n" not in str(error.value)


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / checkpoint.TRAIN_DIR).mkdir()
    stale = [tmp_path / ".model.safetensors.abc123.tmp", tmp_path / "train" / ".state.safetensors.x.tmp"]
    kept = [tmp_path / "notes.tmp", tmp_path / "model.safetensors", tmp_path / ".hidden"]
    for path in stale + kept:
        path.write_bytes(b"x")
    assert sorted(checkpoint.remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert all(path.exists() for path in kept)


def test_no_train_state_in_a_plain_model_folder(saved: tuple[Path, SpectrogramVAE]) -> None:
    assert not checkpoint.has_train_state(saved[0])


# --- refusals -----------------------------------------------------------------------------------


def test_refuses_a_missing_folder(tmp_path: Path) -> None:
    assert "no such model folder" in assert_refused(tmp_path / "nowhere", None)


def test_refuses_a_folder_without_config(saved: tuple[Path, SpectrogramVAE]) -> None:
    folder, _ = saved
    (folder / checkpoint.CONFIG_FILE).unlink()
    assert "missing" in assert_refused(folder, checkpoint.CONFIG_FILE)


def test_refuses_a_folder_without_weights(saved: tuple[Path, SpectrogramVAE]) -> None:
    folder, _ = saved
    (folder / checkpoint.WEIGHTS_FILE).unlink()
    assert "missing" in assert_refused(folder, checkpoint.WEIGHTS_FILE)


def test_refuses_an_unknown_format_version(saved: tuple[Path, SpectrogramVAE]) -> None:
    folder, _ = saved
    edit_config(folder, lambda c: c.update(format_version=checkpoint.FORMAT_VERSION + 1))
    assert "format version" in assert_refused(folder, checkpoint.CONFIG_FILE)


def test_refuses_an_unknown_model_class(saved: tuple[Path, SpectrogramVAE]) -> None:
    folder, _ = saved
    edit_config(folder, lambda c: c.update({"class": "Transformer"}))
    assert "Transformer" in assert_refused(folder, checkpoint.CONFIG_FILE)


@pytest.mark.parametrize("text", ["{not json", "", "\xff\xfe"], ids=["broken", "empty", "binary"])
def test_refuses_invalid_json(saved: tuple[Path, SpectrogramVAE], text: str) -> None:
    folder, _ = saved
    (folder / checkpoint.CONFIG_FILE).write_bytes(text.encode("latin-1"))
    assert "JSON" in assert_refused(folder, checkpoint.CONFIG_FILE)


def test_refuses_json_that_is_not_a_config(saved: tuple[Path, SpectrogramVAE]) -> None:
    folder, _ = saved
    (folder / checkpoint.CONFIG_FILE).write_text("[1, 2, 3]")
    assert_refused(folder, checkpoint.CONFIG_FILE)


def test_refuses_unknown_settings(saved: tuple[Path, SpectrogramVAE]) -> None:
    folder, _ = saved
    edit_config(folder, lambda c: c["preset"]["model"].update(colour="blue"))
    assert "colour" in assert_refused(folder, checkpoint.CONFIG_FILE)


def test_refuses_a_frame_count_that_contradicts_the_settings(saved: tuple[Path, SpectrogramVAE]) -> None:
    folder, _ = saved
    edit_config(folder, lambda c: c.update(n_frames=c["n_frames"] + 50))
    assert "geometry" in assert_refused(folder, checkpoint.CONFIG_FILE)


def test_refuses_weights_of_another_shape(tmp_path: Path, preset: Preset) -> None:
    preset = preset.replace(model=get_preset("linear").model)  # a global latent: weights fit one length
    folder = tmp_path / "model"
    checkpoint.save_model(folder, build(preset), preset)
    longer = preset.replace(audio={"clip_seconds": 2 * preset.audio.clip_seconds})

    def edit(config: dict) -> None:
        config["preset"]["audio"]["clip_seconds"] = longer.audio.clip_seconds
        config["n_frames"] = longer.audio.clip_frames

    edit_config(folder, edit)
    assert "shape" in assert_refused(folder, checkpoint.WEIGHTS_FILE)


def test_refuses_weights_with_missing_tensors(saved: tuple[Path, SpectrogramVAE]) -> None:
    folder, _ = saved
    tensors = load_file(folder / checkpoint.WEIGHTS_FILE)
    dropped = sorted(tensors)[0]
    del tensors[dropped]
    save_file(tensors, folder / checkpoint.WEIGHTS_FILE)
    assert dropped in assert_refused(folder, checkpoint.WEIGHTS_FILE)


@pytest.mark.parametrize("size", [0, 7, 4096])
def test_refuses_corrupted_weights(saved: tuple[Path, SpectrogramVAE], size: int) -> None:
    folder, _ = saved
    noise = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    (folder / checkpoint.WEIGHTS_FILE).write_bytes(noise)
    assert "safetensors" in assert_refused(folder, checkpoint.WEIGHTS_FILE)


def test_refuses_truncated_weights(saved: tuple[Path, SpectrogramVAE]) -> None:
    folder, _ = saved
    path = folder / checkpoint.WEIGHTS_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert_refused(folder, checkpoint.WEIGHTS_FILE)


# --- the library index --------------------------------------------------------------------------


def test_library_round_trip(tmp_path: Path) -> None:
    tempo = Tempo("loop", 128.0, 2, 0.03, 1.0, start=0.02, tail="wrap", source="name")
    library = checkpoint.LibraryIndex(
        Path("/sounds"),
        (
            checkpoint.LibraryEntry("a.wav", "train", tempo),
            checkpoint.LibraryEntry("b/c.wav", "holdout"),
        ),
        torch.tensor([[0.5, -1.0], [0.0, 2.0]]),
    )
    checkpoint.save_library(tmp_path, library)
    loaded = checkpoint.load_library(tmp_path)
    assert loaded == library and loaded != checkpoint.LibraryIndex(None)
    saved = json.loads((tmp_path / checkpoint.LIBRARY_FILE).read_text())
    assert saved["files"][1] == {"name": "b/c.wav", "split": "holdout"}  # latents in their own file
    assert saved["files"][0]["bpm"] == 128.0
    assert (saved["files"][0]["start"], saved["files"][0]["tail"]) == (0.02, "wrap")
    del saved["files"][0]["start"], saved["files"][0]["tail"], saved["files"][0]["source"]
    (tmp_path / checkpoint.LIBRARY_FILE).write_text(json.dumps(saved))  # as saved before loops had them
    older = checkpoint.load_library(tmp_path).entries[0].tempo
    assert older is not None and (older.start, older.tail, older.source) == (0.0, "none", "audio")
    checkpoint.save_library(tmp_path, library)
    assert torch.equal(loaded.latents(2), torch.tensor([[0.5, -1.0], [0.0, 2.0]]))
    with pytest.raises(ValueError, match="latents of shape"):
        loaded.latents(3)


def test_a_library_with_latents_in_its_json_still_loads(tmp_path: Path) -> None:
    files = [{"name": "a.wav", "split": "train", "latent": [0.5, -1.0]}, {"name": "b.wav", "latent": [1, 2]}]
    (tmp_path / checkpoint.LIBRARY_FILE).write_text(json.dumps({"root": "/x", "files": files}))
    loaded = checkpoint.load_library(tmp_path)
    assert loaded.names == ["a.wav", "b.wav"] and loaded.splits == ["train", "train"]
    assert torch.equal(loaded.latents(2), torch.tensor([[0.5, -1.0], [1.0, 2.0]]))


def test_a_broken_latents_file_is_refused_with_its_name(tmp_path: Path) -> None:
    library = checkpoint.LibraryIndex(
        Path("/x"), (checkpoint.LibraryEntry("a.wav", "train"),), torch.ones(1, 3)
    )
    checkpoint.save_library(tmp_path, library)
    latents = tmp_path / checkpoint.LATENTS_FILE
    latents.write_bytes(latents.read_bytes()[:20])  # torn
    with pytest.raises(ModelFolderError, match=checkpoint.LATENTS_FILE):
        checkpoint.load_library(tmp_path)
    save_file({"latents": torch.ones(2, 3)}, str(latents))  # another library's rows
    with pytest.raises(ModelFolderError, match="1 library entries but 2 latents"):
        checkpoint.load_library(tmp_path)


def test_a_library_without_its_latents_is_refused(tmp_path: Path) -> None:
    (tmp_path / checkpoint.LIBRARY_FILE).write_text('{"root": "/x", "files": [{"name": "a.wav"}]}')
    with pytest.raises(ModelFolderError, match="1 library entries but 0 latents"):
        checkpoint.load_library(tmp_path)


def test_missing_library_is_empty(tmp_path: Path) -> None:
    assert checkpoint.load_library(tmp_path) == checkpoint.LibraryIndex(None)


@pytest.mark.parametrize(
    "text",
    [
        '{"root": "/x"}',
        "[]",
        "{oops",
        '{"root": null, "files": [{"split": "train", "latent": []}]}',
        '{"root": null, "files": [{"name": "a.wav", "split": "test", "latent": []}]}',
    ],
)
def test_refuses_an_invalid_library(tmp_path: Path, text: str) -> None:
    (tmp_path / checkpoint.LIBRARY_FILE).write_text(text)
    with pytest.raises(ModelFolderError, match=checkpoint.LIBRARY_FILE):
        checkpoint.load_library(tmp_path)
