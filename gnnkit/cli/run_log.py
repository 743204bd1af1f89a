"""``--log-dir DIR``: per-epoch metrics as ``metrics.csv``, ``curves.png`` and TensorBoard event files.

The CSV is written row by row (flushed every epoch, so a killed run keeps what it measured);
the PNG is drawn when the run ends (skipped with one warning when matplotlib is missing);
TensorBoard event files are written when ``torch.utils.tensorboard`` imports (it needs the
``tensorboard`` package), and silently not otherwise.
"""
from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import IO, Any

__all__ = ["RunLog"]


class RunLog:
    """Collects one row of metrics per epoch and writes them under ``log_dir``.

    Args:
        log_dir: the folder (created if missing).

    Raises:
        OSError: ``log_dir`` cannot be created or written.
    """

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.rows: list[dict[str, float]] = []
        self._file: IO[str] | None = None
        self._writer: csv.DictWriter | None = None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard not installed: CSV and PNG only
            self._tb = None
        else:
            self._tb = SummaryWriter(log_dir=str(self.log_dir))

    def log(self, epoch: int, metrics: dict[str, float]) -> None:
        """Record ``metrics`` of 1-based ``epoch`` (the same keys every epoch)."""
        row = {"epoch": epoch, **metrics}
        if self._writer is None:
            self._file = open(self.log_dir / "metrics.csv", "w", newline="")
            self._writer = csv.DictWriter(self._file, fieldnames=list(row))
            self._writer.writeheader()
        self._writer.writerow(row)
        self._file.flush()
        self.rows.append(row)
        if self._tb is not None:
            for key, value in metrics.items():
                self._tb.add_scalar(key, value, epoch)

    def close(self) -> None:
        """Close the CSV and TensorBoard files and draw ``curves.png``."""
        if self._file is not None:
            self._file.close()
        if self._tb is not None:
            self._tb.close()
        if self.rows:
            self._plot()

    def _plot(self) -> None:
        try:
            import matplotlib
        except ImportError:
            warnings.warn("--log-dir: matplotlib is not installed, so no curves.png (metrics.csv is written)",
                          RuntimeWarning, stacklevel=3)
            return
        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt

        keys = [k for k in self.rows[0] if k != "epoch"]
        losses = [k for k in keys if "loss" in k]
        scores = [k for k in keys if k not in losses]
        epochs = [r["epoch"] for r in self.rows]
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for ax, group, title in ((axes[0], losses, "loss"), (axes[1], scores, "validation score")):
            for key in group:
                ax.plot(epochs, [r[key] for r in self.rows], label=key)
            ax.set_xlabel("epoch")
            ax.set_title(title)
            if group:
                ax.legend()
        fig.tight_layout()
        fig.savefig(self.log_dir / "curves.png", dpi=100)
        plt.close(fig)

    def __enter__(self) -> "RunLog":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
