"""What an adaptation returns (:class:`AdaptResult`) and what an adapted checkpoint records of
its scene (:func:`scene_record`): shared by adaptation with training areas (:mod:`.api`) and
without them (:mod:`.unlabelled`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .scores import ModelScores

if TYPE_CHECKING:
    from ..scene import Scene
    from .patches import ScenePatches

__all__ = ["AdaptResult", "scene_record"]


@dataclass
class AdaptResult:
    """What :func:`adapt_model` did: the ``checkpoint`` written; ``classes``, a table (DataFrame)
    per class of the training areas: polygons, polygons on the scene, polygons that gave patches,
    labelled patches (and held-out polygons and patches); the labelled and unlabelled patches the
    SAR stage used; its ``history`` (mean loss terms per epoch); with a holdout, the ``scores``
    of the ``base`` and the ``adapted`` model on the held-out polygons; the held-out polygons'
    layer when one was asked for; and the seconds it took."""

    checkpoint: Path
    classes: Any
    n_labelled: int
    n_unlabelled: int
    history: list[dict] = field(default_factory=list)
    scores: dict[str, ModelScores] | None = None
    holdout_layer: Path | None = None
    seconds: float = 0.0
    holdout_note: str | None = None
    stopping: Any = None  # the StopReport of swd-eo (lczmap.adapt.unsupervised), else None

    def table(self) -> str:
        """The per-class table as text."""
        return self.classes.to_string(index=False)

    def summary(self) -> str:
        """A few lines for a terminal: patches, then the held-out scores of both models."""
        lines = [f"{self.checkpoint}: adapted on {self.n_labelled} labelled and {self.n_unlabelled} unlabelled patches"]
        if self.stopping is not None:
            lines.append(f"stopping rule (no labels): kept {self.stopping.kept}; {self.stopping.reason}")
        if self.holdout_note:
            lines.append(self.holdout_note)
        if self.scores:
            any_ = next(iter(self.scores.values()))
            n = int(any_.confusion.sum())
            lines.append(f"held-out polygons ({n} pixels):")
            for name, s in self.scores.items():
                lines.append(f"  {name:<8} {s.line()}")
        return "\n".join(lines)


def scene_record(scene: Scene, patches: ScenePatches) -> dict[str, Any]:
    """What an adapted checkpoint records of the scene its patches came from."""
    grid = patches.grid
    return {
        "name": scene.name,
        "sources": list(scene.sources),
        "crs": _crs_name(grid.crs),
        "shape": [scene.height, scene.width],
        "units": scene.units,
        "conversions": list(getattr(scene, "conversions", ())),
        "speckle_filter": patches.speckle_filter,
        "output_grid": {"shape": [grid.shape.y, grid.shape.x], "transform": list(grid.affine)[:6]},
    }


def _crs_name(crs: Any) -> str:
    """``EPSG:n`` where the CRS has a code, else its WKT."""
    from pyproj import CRS

    c = CRS.from_user_input(str(crs))
    code = c.to_epsg()
    return f"EPSG:{code}" if code else c.to_wkt()
