"""Settings: TOML presets and command-line overrides on top of the defaults, composed into one ``Settings``.

Precedence, lowest first: the defaults, then a TOML file (``--config``), then command-line options. Each
section is defined and checked beside its stage: ``[restore]`` in ``restore.settings``, ``[faces]`` in
``faces.settings``, ``[upscale]`` in ``upscale.settings``, ``[input]`` and ``[encode]`` in
``media.settings`` (with ``[output]``, the files written beside the output), ``[live]`` in ``live.settings``,
``[redact]`` in ``faces.redact_settings``. An unknown section or key is an error that names it.
"""
from __future__ import annotations

import dataclasses
import importlib.resources
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from .errors import InputError, InputMissing
from .faces.redact_settings import RedactSettings
from .faces.redact_settings import validation_checks as redact_checks
from .faces.settings import FaceSettings, face_checks
from .live.settings import LiveSettings, live_checks
from .media.settings import EncodeSettings, InputSettings, OutputSettings, encode_checks, input_checks
from .restore.settings import RestoreSettings, restore_checks
from .upscale.settings import UpscaleSettings, validation_checks

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib


@dataclass
class Settings:
    restore: RestoreSettings = field(default_factory=RestoreSettings)
    faces: FaceSettings = field(default_factory=FaceSettings)
    upscale: UpscaleSettings = field(default_factory=UpscaleSettings)
    input: InputSettings = field(default_factory=InputSettings)
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    live: LiveSettings = field(default_factory=LiveSettings)
    redact: RedactSettings = field(default_factory=RedactSettings)
    output: OutputSettings = field(default_factory=OutputSettings)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)

    def files_read(self) -> tuple[str, ...]:
        """The local files a run with these settings reads besides its source: weights given by path.
        No output may be one of them (``media.output.check_destination``)."""
        return tuple(path for path in (self.restore.weights, self.upscale.bg_weights) if path)


SECTIONS: dict[str, type] = {f.name: get_type_hints(Settings)[f.name] for f in dataclasses.fields(Settings)}
# Keys of earlier versions, and what a preset should say instead.
REPLACED_KEYS = {"faces.det_threshold": "faces.start_threshold and faces.keep_threshold",
                 "encode.deinterlace": "input.deinterlace"}
MAX_CONFIG_BYTES = 1 << 20  # presets are a few hundred bytes; anything near this is not one
CHECKOUT_PRESETS = Path(__file__).resolve().parent.parent / "configs"  # running from a source checkout


def preset_names() -> list[str]:
    """Names of the bundled presets (``default``, ``film``, ...), sorted."""
    return sorted(Path(p.name).stem for p in _presets().iterdir() if p.name.endswith(".toml"))


def _presets() -> importlib.resources.abc.Traversable:
    """The bundled presets: ``configs/`` ships in the wheel as the ``gpen_video.configs`` package data."""
    try:
        return importlib.resources.files("gpen_video.configs")
    except ModuleNotFoundError:
        return CHECKOUT_PRESETS


def _coerce(section: str, key: str, value: Any, annotation: Any) -> Any:
    """Check a TOML or CLI value against the field's type; ints are accepted for floats."""
    name = f"{section}.{key}"
    allowed = getattr(annotation, "__args__", (annotation,))
    if value is None and type(None) in allowed:
        return None
    for kind in allowed:
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise InputError(f"config key '{name}' must be a finite number, got {value!r}")
            return float(value)
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind in (str, bool) and isinstance(value, kind):
            return value
    expected = " or ".join(k.__name__ for k in allowed if k is not type(None))
    raise InputError(f"config key '{name}' must be {expected}, got {value!r}")


def apply_overrides(settings: Settings, overrides: dict[str, dict[str, Any]], origin: str) -> Settings:
    """Return a copy of ``settings`` with ``{section: {key: value}}`` applied, validating every key."""
    result = dataclasses.replace(settings)
    for section, values in overrides.items():
        if section not in SECTIONS:
            raise InputError(f"{origin}: unknown config section '{section}' (known: {', '.join(SECTIONS)})")
        if not isinstance(values, dict):
            raise InputError(f"{origin}: '{section}' must be a table")
        current = getattr(result, section)
        hints = get_type_hints(type(current))
        changes = {}
        for key, value in values.items():
            if key not in hints:
                replaced = REPLACED_KEYS.get(f"{section}.{key}")
                hint = f" (replaced by {replaced})" if replaced else ""
                raise InputError(f"{origin}: unknown config key '{section}.{key}'{hint}")
            changes[key] = _coerce(section, key, value, hints[key])
        setattr(result, section, dataclasses.replace(current, **changes))
    return result


def load_config(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a TOML preset: a path, or a bare name such as ``webcam`` for the bundled ``webcam.toml``."""
    candidate: Path | importlib.resources.abc.Traversable = Path(path)
    if not Path(path).exists() and Path(path).suffix == "" and str(path) in preset_names():
        candidate = _presets() / f"{path}.toml"
    elif Path(path).exists() and not Path(path).is_file():
        # A FIFO would block and /dev/zero would never end: only regular files are read.
        raise InputError(f"config file {path} is not a regular file")
    try:
        with candidate.open("rb") as handle:
            text = handle.read(MAX_CONFIG_BYTES + 1)
        if len(text) > MAX_CONFIG_BYTES:
            raise InputError(f"config file {path} is larger than {MAX_CONFIG_BYTES // 1024} KiB: not a preset")
        return tomllib.loads(text.decode("utf-8"))
    except FileNotFoundError:
        raise InputMissing(f"config file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise InputError(f"cannot read config file {path}: {exc.strerror or exc}") from None


def build_settings(config: str | Path | None = None, cli: dict[str, dict[str, Any]] | None = None) -> Settings:
    """Defaults, then the TOML file, then the command line."""
    settings = Settings()
    if config is not None:
        settings = apply_overrides(settings, load_config(config), origin=str(config))
    if cli:
        settings = apply_overrides(settings, cli, origin="command line")
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    """Every section's checks (each defined beside its stage); the first that fails is the error."""
    checks = [
        *restore_checks(settings.restore),
        *face_checks(settings.faces),
        *validation_checks(settings.upscale),
        *redact_checks(settings.redact),
        *input_checks(settings.input),
        *encode_checks(settings.encode),
        *live_checks(settings.live),
    ]
    for ok, message in checks:
        if not ok:
            raise InputError(message)
