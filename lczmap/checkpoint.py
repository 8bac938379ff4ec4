"""Self-describing, safe lczmap checkpoints.

A checkpoint is one ``.safetensors`` file: the weights of the whole :class:`~lczmap.models.YNet`
(EO encoder, SAR encoder, classifier, projection head, input statistics as buffers) plus JSON
metadata in the safetensors header (read with ``safetensors.safe_open(...).metadata()``). Loading
parses JSON and raw tensors only, never code.

Header metadata (all strings): ``format`` = ``"lczmap-checkpoint"``, ``format_version`` (an
integer; this lczmap reads versions up to :data:`FORMAT_VERSION`) and ``meta``, a JSON object:
``lczmap_version``, ``method``, ``norm``, ``eo_bands`` / ``sar_bands`` (``BandSet.to_dict()``:
channels with polarisation, quantity and unit), ``eo_mean`` / ``eo_std`` / ``sar_mean`` /
``sar_std``, ``classes`` (setting), ``codes`` (output index -> LCZ code), ``patch_size``,
``architecture``, ``seed``, ``config`` and ``metrics``; ``calibration`` (the temperature of the SAR
network's probabilities, :class:`~lczmap.calibration.Calibration`; absent or null: uncalibrated, T = 1).

Tensors named under :data:`EXTRA_PREFIX` are not weights: they travel with the model (the EO
reference of :mod:`lczmap.train.reference`), load into :attr:`Checkpoint.extra` without the prefix,
and never into the network; checkpoints without them load as before.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from ._io import atomic_path
from .bands import BandSet
from .calibration import Calibration, calibration_of
from .errors import CheckpointError, DataError, LczmapError
from .models import Architecture
from .models.networks import SarNetwork, YNet

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "EXTRA_PREFIX",
    "Checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "is_checkpoint",
    "describe",
    "last_checkpoint",
    "record_last_checkpoint",
    "user_data_dir",
]

log = logging.getLogger(__name__)

#: Marker in the safetensors header of every lczmap checkpoint.
FORMAT = "lczmap-checkpoint"
#: Checkpoint format version written by this lczmap; it reads this version and older ones.
FORMAT_VERSION = 1
#: Name prefix of the tensors a checkpoint carries beside the weights (:attr:`Checkpoint.extra`).
EXTRA_PREFIX = "extra."

_REQUIRED = ("method", "norm", "eo_bands", "sar_bands", "codes", "patch_size", "architecture", "classes")


def _bandset_from_dict(data: dict) -> BandSet:
    return BandSet(str(data["name"]), data["key"], tuple(int(i) for i in data["indices"]), str(data.get("description", "")))


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``meta`` (dict), ``state`` (tensors) and the network builders;
    ``extra``: the tensors stored beside the weights, by name without :data:`EXTRA_PREFIX`."""

    path: Path
    meta: dict
    state: dict = field(repr=False)
    format_version: int = FORMAT_VERSION
    extra: dict = field(default_factory=dict, repr=False)

    @property
    def codes(self) -> tuple[int, ...]:
        """LCZ code of each output index."""
        return tuple(int(c) for c in self.meta["codes"])

    @property
    def sar_bands(self) -> BandSet:
        return _bandset_from_dict(self.meta["sar_bands"])

    @property
    def eo_bands(self) -> BandSet:
        return _bandset_from_dict(self.meta["eo_bands"])

    @property
    def patch_size(self) -> int:
        return int(self.meta["patch_size"])

    @property
    def method(self) -> str:
        return str(self.meta["method"])

    @property
    def norm(self) -> str:
        return str(self.meta["norm"])

    @property
    def architecture(self) -> Architecture:
        return Architecture.from_dict(self.meta["architecture"])

    @property
    def calibration(self) -> Calibration | None:
        """Temperature scaling of the SAR network's probabilities; None: uncalibrated (T = 1)."""
        try:
            return calibration_of(self.meta)
        except DataError as exc:
            raise CheckpointError(f"{self.path}: {exc}") from None

    @property
    def temperature(self) -> float:
        """The calibration's temperature, 1.0 when uncalibrated."""
        cal = self.calibration
        return 1.0 if cal is None else cal.temperature

    def model(self) -> YNet:
        """The whole Y-network (eval mode, CPU) with the saved weights."""
        net = YNet(self.eo_bands.n_channels, self.sar_bands.n_channels, len(self.codes), self.norm, self.architecture)
        try:
            net.load_state_dict(self.state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise CheckpointError(
                f"{self.path}: weights do not match the architecture in its metadata ({first}): "
                "the file is damaged; retrain or restore it"
            ) from None
        return net.eval()

    def sar_network(self) -> SarNetwork:
        """SAR encoder + classifier: (B, C, 32, 32) float32 in physical units -> logits (B, K)."""
        return self.model().sar_network().eval()

    def eo_network(self) -> SarNetwork:
        """EO encoder + classifier (eval mode, CPU)."""
        return self.model().eo_network().eval()


def save_checkpoint(path: str | os.PathLike, model: YNet, meta: dict, overwrite: bool = False, extra: dict | None = None) -> Path:
    """Write ``model``'s weights and ``meta`` (JSON-able) atomically to ``path``; ``extra``
    (name -> tensor) is stored beside them under :data:`EXTRA_PREFIX`."""
    from safetensors.torch import save

    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise CheckpointError(f"checkpoint metadata lacks {', '.join(missing)}: this is a bug in the caller")
    meta = {"lczmap_version": __version__, **meta}
    header = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "meta": json.dumps(meta)}
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    state.update({EXTRA_PREFIX + k: v.detach().to("cpu").contiguous().clone() for k, v in (extra or {}).items()})
    data = canonical_safetensors(save(state, metadata=header))  # in memory: a full disk is then an OSError of the write below
    with atomic_path(path, overwrite=overwrite, verify=_verify_written) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def canonical_safetensors(data: bytes) -> bytes:
    """``data`` (a safetensors file) with its JSON header's keys sorted: safetensors writes them in
    hash-map order, which changes from process to process, and the same weights and metadata
    should make the same file."""
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + data[8 + n :]


def _verify_written(tmp: Path) -> None:
    if _read_metadata(tmp) is None:
        raise CheckpointError(f"{tmp} did not read back as a safetensors file: the disk may be failing; write it elsewhere")


def _read_metadata(path: Path) -> dict | None:
    """The metadata of the safetensors header of ``path`` (``{}`` when it has none), or None when
    ``path`` is not a readable safetensors file (safetensors checks the header and that the tensors
    it lists fit the file; a truncated file is refused here). Reads no tensor."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return fh.metadata() or {}
    except (SafetensorError, OSError):
        return None


def is_checkpoint(path: str | os.PathLike) -> bool:
    """True if ``path`` is a file whose safetensors header carries the lczmap marker."""
    path = Path(path)
    if not path.is_file():
        return False
    extra = _read_metadata(path)
    return extra is not None and extra.get("format") == FORMAT


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Load a checkpoint without running any code from it.

    Raises :class:`CheckpointError` for a missing file, a file of another type, a corrupt file
    and a checkpoint of a newer, incompatible format version.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist: give the path of a file written by lczmap train")
    if not path.is_file():
        raise CheckpointError(f"{path} is not a file: give the path of a .safetensors file written by lczmap train")
    extra = _read_metadata(path)
    if extra is None:
        raise CheckpointError(
            f"{path} is not an lczmap checkpoint (not a readable safetensors file) or is corrupt: "
            "give a .safetensors file written by lczmap train"
        )
    if extra.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not an lczmap checkpoint: give a file written by lczmap train")
    try:
        version = int(extra.get("format_version", ""))
    except ValueError:
        raise CheckpointError(f"{path} has no valid format version: the file is corrupt; retrain or restore it") from None
    if version > FORMAT_VERSION or version < 1:
        raise CheckpointError(
            f"{path} has checkpoint format version {version}, this lczmap {__version__} reads versions 1-{FORMAT_VERSION}: "
            "upgrade lczmap (pip install -U lczmap) or retrain the model with this version"
        )
    try:
        meta = json.loads(extra["meta"])
    except (KeyError, json.JSONDecodeError):
        raise CheckpointError(f"{path} has unreadable metadata: the file is corrupt; retrain or restore it") from None
    missing = [k for k in _REQUIRED if k not in meta] if isinstance(meta, dict) else list(_REQUIRED)
    if missing:
        raise CheckpointError(f"{path} metadata lacks {', '.join(missing)}: the file is corrupt; retrain or restore it")
    try:
        from safetensors.torch import load_file

        state = load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types for damaged files
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path} is corrupt ({first}): retrain or restore it from a backup") from None
    extra = {k[len(EXTRA_PREFIX) :]: state.pop(k) for k in [k for k in state if k.startswith(EXTRA_PREFIX)]}
    for key, encoder in (("sar_bands", "sar_encoder"), ("eo_bands", "eo_encoder")):
        _check_band_set(path, meta[key], key, state, encoder)
    return Checkpoint(path=path, meta=meta, state=state, format_version=version, extra=extra)


def _check_band_set(path: Path, data: object, key: str, state: dict, encoder: str) -> None:
    """Refuse metadata whose band set ``data`` is not one of lczmap's named sets as it defines them
    (name, So2Sat channels, their polarisations and quantities), or does not fit the network: its
    input statistics and first layer take as many channels as the set has. A band set edited in the
    header would otherwise make predict read other bands than the weights were trained on."""
    from .bands import band_set

    damaged = "the metadata was edited or the file is damaged; retrain or restore it"
    try:
        if not isinstance(data, dict):
            raise TypeError
        named = band_set(str(data["name"]))
        said = [(c["band"], c["quantity"]) for c in data.get("channels", [])] or None
        indices = [int(i) for i in data["indices"]]
    except (LczmapError, KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path}: its metadata's {key} is not a band set lczmap knows: {damaged}") from None
    if (
        data.get("key") != named.key
        or indices != list(named.indices)
        or (said is not None and said != [(c.band, c.quantity) for c in named.channels])
    ):
        raise CheckpointError(
            f"{path}: its metadata's {key} says {named.name} but lists other channels "
            f"(So2Sat {indices}, not {list(named.indices)}): {damaged}"
        )
    first = state.get(f"{encoder}.features.0.weight")
    mean = state.get(f"{encoder}.standardize.mean")
    taken = ([int(first.shape[1])] if first is not None and first.ndim == 4 else []) + (
        [int(mean.numel())] if mean is not None else []
    )
    wrong = [n for n in taken if n != named.n_channels]
    if wrong:
        raise CheckpointError(
            f"{path}: its metadata's {key} is {named.name} ({named.n_channels} channels) but the "
            f"network's first layer takes {wrong[0]}: {damaged}"
        )


def describe(path: str | os.PathLike) -> dict:
    """Metadata of a checkpoint for ``lczmap info``: the stored ``meta`` plus file facts and
    parameter counts per part."""
    ckpt = load_checkpoint(path)
    counts: dict[str, int] = {}
    for name, tensor in ckpt.state.items():
        part = name.split(".", 1)[0]
        if ".standardize." in name or name.endswith(("running_mean", "running_var", "num_batches_tracked")):
            continue
        counts[part] = counts.get(part, 0) + int(tensor.numel())
    return {
        "path": str(Path(path).resolve()),
        "file_type": FORMAT,
        "format_version": ckpt.format_version,
        "file_size": Path(path).stat().st_size,
        "parameters": counts,
        **ckpt.meta,
    }


def user_data_dir() -> Path:
    """lczmap's user data folder: ``$LCZMAP_HOME`` when set (the override), else the platform's
    user data folder from ``platformdirs.user_data_dir("lczmap")``: ``$XDG_DATA_HOME/lczmap`` or
    ``~/.local/share/lczmap`` on Linux, ``~/Library/Application Support/lczmap`` on macOS,
    ``%LOCALAPPDATA%\\lczmap`` on Windows."""
    if os.environ.get("LCZMAP_HOME"):
        return Path(os.environ["LCZMAP_HOME"])
    from platformdirs import user_data_dir as platform_data_dir

    return Path(platform_data_dir("lczmap", appauthor=False))


_LAST = "last_checkpoint.json"


def record_last_checkpoint(path: str | os.PathLike) -> None:
    """Remember ``path`` as the last checkpoint ``lczmap train`` wrote."""
    folder = user_data_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / _LAST, overwrite=True) as tmp:
            tmp.write_text(json.dumps({"path": str(Path(path).resolve())}))
    except (OSError, LczmapError) as exc:  # never fail a finished training run over a convenience record
        log.warning("could not record the last checkpoint in %s: %s", folder, exc)


def last_checkpoint() -> Path | None:
    """The last checkpoint ``lczmap train`` wrote, if it still exists."""
    try:
        data = json.loads((user_data_dir() / _LAST).read_text())
        path = Path(data["path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return path if path.is_file() else None
