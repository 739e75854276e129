"""The local web page: a FastAPI app over :class:`~soundmorph.web.state.AppState`, and ``serve``.

Endpoints (sounds are named by library index ``"3"`` or upload id ``"u1"``, never by a path)::

    GET  /                                  the page (static HTML/CSS/JS shipped in the package)
    GET  /api/library                       model info, limits, every sound with its map position
    GET  /api/limits                        the bounds of every count the page asks for
    GET  /api/sounds/{id}/original.wav      a library sound as read from the library, or an upload
    GET  /api/morph?a=&b=&alpha=            (1 - alpha) z_a + alpha z_b
    GET  /api/blend?ids=&weights=           weighted blend of 1..8 sounds
    GET  /api/blend?ids=&x=&y=              the 4-corner pad: bilinear weights of 4 sounds
    GET  /api/sweep?a=&b=&steps=            steps renders from a to b (+ quality figures when known)
    GET  /api/sweep.zip?a=&b=&steps=        the sweep's WAVs, grid.png and quality.json in one zip
    GET  /api/glide?a=&b=&repeats=&curve=   the clip repeated while it moves from a to b
    GET  /api/generate?count=&seed=         new sounds, sampled around the library (the default
                                            model) or from the prior
    GET  /api/surprise?seed=                one new sound as generate draws it (random seed when none)
    POST /api/upload                        multipart ``file``: encoded and added to the shared list of sounds
    GET  /api/render/{key}.wav|.png         a cached render's audio, or its spectrogram (drawn lazily)

Renders answer JSON (key, name, wav and png URLs, download file name, map x/y, server time); the
audio and picture are fetched by URL. Errors answer ``{"detail": "one line"}`` with a 4xx status.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from soundmorph import api
from soundmorph.api import AudioError, SoundModel, SoundmorphError, UnknownSourceError
from soundmorph.limits import MAX_UPLOAD_BYTES, MAX_UPLOAD_SECONDS
from soundmorph.web.state import AppState, RequestError, TorchThread, limits

log = logging.getLogger("soundmorph.web")

STATIC = Path(__file__).parent / "static"
PAGE_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
DECODE_LOCK = threading.Lock()  # held while an upload is decoded
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_SITE = frozenset({"same-origin", "none"})  # Sec-Fetch-Site values of the page itself / typed URL
MULTIPART_SLACK = 64 * 1024  # bytes of form boundaries and headers around the file
MAX_PORT = 65_535  # TCP
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# The page loads nothing from anywhere else: no fonts, no CDN.
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "script-src 'self'; style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'"
)
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class UploadLimit:
    """ASGI middleware that refuses an upload body over ``max_bytes`` with a 413, before it is stored."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/api/upload":
            await self.app(scope, receive, send)
            return
        limit = f"uploads are limited to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            status = 413 if length.isdigit() else 400
            detail = f"file too large: {limit}" if status == 413 else "invalid Content-Length"
            await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)
            return
        received = 0

        async def limited() -> Any:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:  # a body sent without (or beyond) its Content-Length
                raise HTTPException(413, f"file too large: {limit}")
            return message

        await self.app(scope, limited, send)


class SameOrigin:
    """ASGI middleware that refuses cross-origin requests with a 403 before they do any work.

    A write (any method but GET, HEAD, OPTIONS) is refused when its ``Origin`` is not this server's
    own (scheme and ``Host``), and any ``/api/`` request when the browser's ``Sec-Fetch-Site`` says
    another site or origin sent it: a page the user visits elsewhere cannot drive the local server.
    Clients that send neither header (curl, scripts) are not browsers acting for another page.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and (reason := self.refusal(scope)) is not None:
            await JSONResponse({"detail": reason}, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def refusal(scope: dict) -> str | None:
        headers = {key.lower(): value for key, value in scope["headers"]}
        write = scope["method"] not in SAFE_METHODS
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
        if site and site not in SAME_SITE and (write or scope["path"].startswith("/api/")):
            return f"cross-origin request refused (Sec-Fetch-Site: {site})"
        origin = headers.get(b"origin")
        if write and origin is not None:
            host = headers.get(b"host", b"").decode("latin-1")
            own = f"{scope.get('scheme', 'http')}://{host}"
            if origin.decode("latin-1").rstrip("/").lower() != own.lower():
                return "cross-origin request refused (Origin is not this page)"
        return None


def create_app(
    model: SoundModel | str | Path,
    *,
    device: str | None = None,
    allowed_hosts: list[str] | None = None,
) -> FastAPI:
    """The web app for ``model`` (a loaded model or a model folder).

    ``allowed_hosts`` limits the Host header (against DNS rebinding); None accepts any.
    Raises :class:`SoundmorphError` when the model folder cannot be loaded.
    """
    worker = TorchThread()  # the model is loaded on the thread that will run it (see TorchThread)
    state = AppState(
        model if isinstance(model, SoundModel) else worker.run(api.load, model, device=device), worker
    )
    app = FastAPI(title="soundmorph", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.shared = state
    app.add_middleware(UploadLimit, max_bytes=MAX_UPLOAD_BYTES + MULTIPART_SLACK)
    app.add_middleware(SameOrigin)  # added last: runs first, before a body is read
    if allowed_hosts is not None:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    _add_error_handlers(app)
    _add_routes(app, state)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    def request_error(request: Request, error: RequestError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=error.status)

    @app.exception_handler(UnknownSourceError)
    def unknown_source(request: Request, error: UnknownSourceError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    @app.exception_handler(SoundmorphError)
    def soundmorph_error(request: Request, error: SoundmorphError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}" for e in error.errors()
        ]
        return JSONResponse({"detail": "; ".join(problems)}, status_code=422)

    @app.exception_handler(Exception)
    def crash(request: Request, error: Exception) -> JSONResponse:  # a bug: the server keeps running
        log.exception("error in %s %s", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error: {type(error).__name__}"}, status_code=500)


def _ids(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _floats(text: str) -> list[float]:
    try:
        return [float(part) for part in _ids(text)]
    except ValueError:
        raise RequestError(f"weights must be numbers separated by commas, got {text[:60]!r}") from None


def _attachment(name: str) -> str:
    ascii_name = "".join(
        c if c.isalnum() or c in "._-" else "_" for c in name.encode("ascii", "replace").decode()
    )
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def _limits() -> dict[str, Any]:
    return {
        "upload_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
        "upload_seconds": MAX_UPLOAD_SECONDS,
        "upload_suffixes": sorted(api.AUDIO_EXTENSIONS),
        **limits(),
    }


def _add_routes(app: FastAPI, shared: AppState) -> None:
    model = shared.model

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        return HTMLResponse(html, headers={"Content-Security-Policy": CSP, **NO_STORE})

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in PAGE_FILES:
            raise RequestError(f"no page file {name[:40]!r}", 404)
        return Response((STATIC / name).read_bytes(), media_type=PAGE_FILES[name], headers=NO_STORE)

    @app.get("/api/library")
    def library() -> dict[str, Any]:
        a = model.preset.audio
        return {
            "model": {
                "name": model.folder.name,
                "preset": model.preset.name,
                "sample_rate": model.sample_rate,
                "clip_seconds": round(model.clip_samples / model.sample_rate, 3),
                "frames": model.info.n_frames,
                "n_fft": a.n_fft,
                "hop_length": a.hop_length,
                "latent_dim": model.latent_size,
                "device": str(model.device),
                "grid": {
                    "mode": model.preset.tempo.mode,
                    "bpm": model.preset.tempo.bpm,
                    "bars": model.preset.tempo.bars,
                },
                "phase": model.render_options.method,
            },
            # phase methods the page offers (those that need a source's phase work on morphs,
            # sweeps and blends, not on "surprise")
            "phase_methods": {
                name: {"summary": entry.summary, "needs_source": entry.needs_source}
                for name, entry in api.PHASE_METHODS.items()
            },
            "limits": _limits(),
            "sounds": shared.library(),
        }

    @app.get("/api/limits")
    def limits_route() -> dict[str, Any]:
        return _limits()

    @app.get("/api/sounds/{sound_id}/original.wav")
    def original(sound_id: str) -> Response:
        data, name = shared.original_wav(sound_id)
        headers = {**NO_STORE, "Content-Disposition": _attachment(name).replace("attachment", "inline", 1)}
        return Response(data, media_type="audio/wav", headers=headers)

    @app.get("/api/morph")
    def morph(
        a: str, b: str, alpha: float = 0.5, phase: str | None = None, bpm: float | None = None
    ) -> dict[str, Any]:
        return shared.morph(a, b, alpha, phase=phase, bpm=bpm)

    @app.get("/api/blend")
    def blend(
        ids: str,
        weights: str | None = None,
        x: float | None = None,
        y: float | None = None,
        phase: str | None = None,
        bpm: float | None = None,
    ) -> dict[str, Any]:
        if weights is not None:
            return shared.blend(_ids(ids), _floats(weights), phase=phase, bpm=bpm)
        if x is None or y is None:
            raise RequestError("give weights=w1,w2,... or a pad point x=..&y=.. (4 sounds)")
        return shared.pad(_ids(ids), x, y, phase=phase, bpm=bpm)

    @app.get("/api/sweep")
    def sweep(
        a: str, b: str, steps: int = 9, phase: str | None = None, bpm: float | None = None
    ) -> dict[str, Any]:
        items = shared.sweep(a, b, steps, phase=phase, bpm=bpm)
        return {"steps": items, "quality": sweep_quality(shared, a, b, [item["key"] for item in items])}

    @app.get("/api/sweep.zip")
    def sweep_zip(
        a: str, b: str, steps: int = 9, phase: str | None = None, bpm: float | None = None
    ) -> Response:
        data, name = shared.sweep_zip(a, b, steps, phase=phase, bpm=bpm)
        headers = {**NO_STORE, "Content-Disposition": _attachment(name)}
        return Response(data, media_type="application/zip", headers=headers)

    @app.get("/api/glide")
    def glide(
        a: str,
        b: str,
        repeats: int = 4,
        curve: str = "linear",
        phase: str | None = None,
        bpm: float | None = None,
    ) -> dict[str, Any]:
        return shared.glide(a, b, repeats=repeats, curve=curve, phase=phase, bpm=bpm)

    @app.get("/api/generate")
    def generate(
        count: int = 4,
        seed: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
        phase: str | None = None,
        bpm: float | None = None,
    ) -> dict[str, Any]:
        seed = secrets.randbelow(2**31) if seed is None else seed
        return {"seed": seed, "sounds": shared.generate(count, seed, phase=phase, bpm=bpm)}

    @app.get("/api/surprise")
    def surprise(
        seed: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None, phase: str | None = None
    ) -> dict[str, Any]:
        return shared.surprise(secrets.randbelow(2**31) if seed is None else seed, phase=phase)

    @app.post("/api/upload")
    def upload(file: Annotated[UploadFile, File()]) -> dict[str, Any]:
        return shared.add_upload(*_decode_upload(file, model.sample_rate))

    @app.get("/api/render/{key}.wav")
    def render_wav(key: str, download: bool = False) -> Response:
        entry = shared.entry(key)
        kind = "attachment" if download else "inline"
        disposition = _attachment(f"{entry.sound.name}.wav").replace("attachment", kind, 1)
        headers = {**NO_STORE, "Content-Disposition": disposition}
        return Response(entry.wav, media_type="audio/wav", headers=headers)

    @app.get("/api/render/{key}.png")
    def render_png(key: str) -> Response:
        return Response(shared.png(key), media_type="image/png", headers=NO_STORE)


def _decode_upload(file: UploadFile, sample_rate: int) -> tuple[str, Any]:
    """(safe file name, mono audio at ``sample_rate``) of an upload, or a 4xx :class:`RequestError`."""
    name = Path((file.filename or "upload").replace("\\", "/")).name[:100] or "upload"
    suffix = Path(name).suffix.lower()
    if suffix not in api.AUDIO_EXTENSIONS:
        allowed = ", ".join(sorted(api.AUDIO_EXTENSIONS))
        raise RequestError(f"{name}: not an audio file type this page accepts ({allowed})", 415)
    with tempfile.TemporaryDirectory(prefix="soundmorph-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        size = 0
        with path.open("wb") as out:
            while chunk := file.file.read(1 << 20):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise RequestError(f"{name}: file too large (over {MAX_UPLOAD_BYTES // 2**20} MB)", 413)
                out.write(chunk)
        try:
            header = api.audio_info(path)  # reads the header only
            if header.duration > MAX_UPLOAD_SECONDS:
                raise RequestError(
                    f"{name}: too long ({header.duration:.1f} s > {MAX_UPLOAD_SECONDS:g} s)", 413
                )
            decoded = header.frames * header.channels
            if decoded > api.MAX_UPLOAD_SAMPLES:  # e.g. 30 s of 8 channels at 655 kHz: 157 M samples
                raise RequestError(
                    f"{name}: too large when decoded ({decoded / 1e6:.0f} M samples = frames x channels; "
                    f"the limit is {api.MAX_UPLOAD_SAMPLES / 1e6:.1f} M)",
                    413,
                )
            with DECODE_LOCK:  # one upload decodes at a time, so parallel uploads cannot add up
                clip = api.read_audio(path, sample_rate=sample_rate, max_seconds=MAX_UPLOAD_SECONDS)
        except AudioError as error:
            reason = str(error).removeprefix(f"{path}: ")
            raise RequestError(f"{name}: {reason}", 415 if reason.startswith("unreadable") else 400) from None
    return name, clip


def sweep_quality(shared: AppState, a: str, b: str, keys: list[str]) -> dict[str, Any]:
    """Morph-quality figures (:class:`soundmorph.api.SweepQuality`) of the sweep ``keys`` from ``a``
    to ``b``, as JSON. A failure is logged and reported as ``{"error": ...}``, never raised: the
    sweep is still good without its figures."""
    try:
        figures = shared.sweep_quality(a, b, keys)
    except Exception as error:
        log.warning("sweep quality failed: %s", error)
        return {"error": " ".join(str(error).split()) or type(error).__name__}
    return api.json_safe(figures.to_dict())


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port), or a one-line error."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= MAX_PORT:
        # the socket layer would take 70000 as 70000 % 65536
        raise SoundmorphError(f"port must be in [0, {MAX_PORT}] (0: any free port), got {port}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as error:
        raise SoundmorphError(f"cannot serve on {host}:{port} ({error})") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise SoundmorphError(f"cannot serve on {host}:{port} ({error.strerror or error})") from None
    return sock


def serve(
    model_folder: str | Path, *, host: str = "127.0.0.1", port: int = 8000, device: str | None = None
) -> None:
    """Load the model in ``model_folder``, print the page's URL and serve it until Ctrl-C.

    Binds ``host`` (this machine only by default). Raises :class:`SoundmorphError` when the model
    cannot be loaded or the address cannot be bound.
    """
    import uvicorn

    loopback = host in LOOPBACK
    # Against DNS rebinding: a page elsewhere cannot reach the server under another host name.
    allowed = ["127.0.0.1", "localhost"] if host in ("127.0.0.1", "localhost") else None
    app = create_app(model_folder, device=device, allowed_hosts=allowed)
    sock = _bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}/"
    if not loopback:
        print(f"soundmorph: warning: {host} may be reachable from other machines", flush=True)
    print(f"soundmorph: serving {model_folder} at {url} (Ctrl-C to stop)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    # uvicorn shuts down cleanly on Ctrl-C, then raises it again: that is a normal end here
    with contextlib.closing(sock), contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    print("soundmorph: stopped", flush=True)
