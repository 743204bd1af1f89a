r"""The *C. elegans* connectomes shipped inside the ``cect`` package (C. elegans Connectome Toolbox).

:func:`load_celegans` turns one of ``cect``'s datasets into a :class:`~gnnkit.brain.connectome.Connectome`
with two views: ``"chemical"`` (chemical synapses, directed) and ``"electrical"`` (gap
junctions, stored in both directions), weighted by synapse counts as ``cect`` reports them
(Witvliet: the number of agreed presynaptic active zones; Cook 2019/2020: the number of EM
serial sections showing the connection; Varshney/White: synaptic contacts). Node
data: ``"type"`` (``"sensory"``, ``"interneuron"``, ``"motor"`` or ``"other"``, ``cect``'s
``get_SIM_class``), ``"group"`` (the WormAtlas cell group, e.g. ``"body wall muscle"``) and
``"kind"`` (``"neuron"``, ``"muscle"`` or ``"other"``). None of these datasets carries cell
positions, so ``positions`` is only what you pass.

:func:`celegans_datasets` lists what is available: the developmental series of Witvliet et al.
2021 (8 hermaphrodites from birth to adulthood, ages as in the paper's Fig. 1), the adult
hermaphrodite and male of Cook et al. 2019, White et al. 1986 as re-read by Varshney et al.
2011, and the pharynx of Cook et al. 2020. Everything is read from files inside the
installed package (``cect``'s JSON cache by default, a few hundredths of a second each;
``from_cache=False`` re-reads the original spreadsheets, up to ~40 s for Cook 2019);
nothing is downloaded, and a dataset whose file the installed ``cect`` lacks is refused.

Install with ``pip install gnnkit[brain]``.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .connectome import Connectome, _positions_for

__all__ = ["CelegansDataset", "celegans_datasets", "load_celegans", "CELL_SETS"]

CELL_SETS = ("all", "neurons")
_TYPE = {"Sensory": "sensory", "Interneuron": "interneuron", "Motorneuron": "motor", "Other": "other"}
_CHEMICAL, _ELECTRICAL = "Generic_CS", "Generic_GJ"  # cect's synapse classes


@dataclass(frozen=True)
class CelegansDataset:
    """One connectome ``cect`` ships.

    Attributes:
        name: gnnkit's name for it (``load_celegans(name)``).
        reader: the ``cect.readers`` module that reads it.
        source: the data file inside ``cect/data`` the reader parses.
        description: what it is.
        sex: ``"hermaphrodite"`` or ``"male"``.
        stage: ``"L1"``, ``"L2"``, ``"L3"`` or ``"adult"``.
        age_hours: hours after hatching (Witvliet et al. 2021) or None where not stated.
    """

    name: str
    reader: str
    source: str
    description: str
    sex: str
    stage: str
    age_hours: float | None = None


_WITVLIET = [  # (dataset number, stage, hours after birth): Witvliet et al. 2021, Fig. 1
    (1, "L1", 0.0), (2, "L1", 5.0), (3, "L1", 8.0), (4, "L1", 16.0),
    (5, "L2", 23.0), (6, "L3", 27.0), (7, "adult", 50.0), (8, "adult", 50.0),
]
_DATASETS: tuple[CelegansDataset, ...] = tuple(
    CelegansDataset(f"witvliet_{i}", f"WitvlietDataReader{i}", f"witvliet_2020_{i} {'adult' if st == 'adult' else st}.xlsx",
                    f"Witvliet et al. 2021, dataset {i}: brain (nerve ring) of a {st} hermaphrodite, {age:g} h after birth",
                    "hermaphrodite", st, age)
    for i, st, age in _WITVLIET
) + (
    CelegansDataset("cook_2019_herm", "Cook2019HermReader", "SI 5 Connectome adjacency matrices, corrected July 2020.xlsx",
                    "Cook et al. 2019: whole adult hermaphrodite, neurons, muscles and other cells", "hermaphrodite", "adult"),
    CelegansDataset("cook_2019_male", "Cook2019MaleReader", "SI 5 Connectome adjacency matrices, corrected July 2020.xlsx",
                    "Cook et al. 2019: whole adult male, neurons, muscles and other cells", "male", "adult"),
    CelegansDataset("varshney_2011", "VarshneyDataReader", "NeuronConnect.xls",
                    "Varshney et al. 2011: White et al. 1986 corrected and extended, somatic neurons and body-wall "
                    "muscle", "hermaphrodite", "adult"),
    CelegansDataset("white_1986", "White_whole", "aconnectome_white_1986_whole.csv",
                    "White et al. 1986 as re-read by Varshney et al. 2011, including the pharynx", "hermaphrodite", "adult"),
    CelegansDataset("cook_2020_pharynx", "Cook2020DataReader", "cne24932-sup-0004-supinfo4.csv",
                    "Cook et al. 2020: the pharyngeal nervous system", "hermaphrodite", "adult"),
)


def celegans_datasets(series: str | None = None) -> tuple[CelegansDataset, ...]:
    """The datasets :func:`load_celegans` reads, in a fixed order (the Witvliet series by age first).

    Args:
        series: ``"witvliet"`` for the 8 developmental stages only; None for all.

    Raises:
        ValueError: an unknown ``series``.
    """
    if series is None:
        return _DATASETS
    if series != "witvliet":
        raise ValueError(f"series must be None or 'witvliet', got {series!r}")
    return _DATASETS[:len(_WITVLIET)]


def _find(dataset: str, stage: str | None, age_hours: float | None) -> CelegansDataset:
    names = [d.name for d in _DATASETS]
    if dataset != "witvliet":
        if stage is not None or age_hours is not None:
            raise ValueError(f"stage and age_hours select within dataset='witvliet', got dataset={dataset!r}")
        if dataset not in names:
            raise ValueError(f"dataset must be one of {names} or 'witvliet' (with stage= or age_hours=), got {dataset!r}")
        return _DATASETS[names.index(dataset)]
    series = celegans_datasets("witvliet")
    if stage is None and age_hours is None:
        raise ValueError("dataset='witvliet' needs stage= (L1, L2, L3, adult) or age_hours= (0, 5, 8, 16, 23, 27, 50) "
                         "to pick one of its 8 datasets, or use a name such as 'witvliet_8'")
    hits = [d for d in series if (stage is None or d.stage == stage) and (age_hours is None or d.age_hours == age_hours)]
    if len(hits) != 1:
        listing = ", ".join(f"{d.name} ({d.stage}, {d.age_hours:g} h)" for d in series)
        what = "no" if not hits else f"{len(hits)} ({', '.join(d.name for d in hits)})"
        raise ValueError(f"stage={stage!r}, age_hours={age_hours!r} match {what} Witvliet datasets; the series is: "
                         f"{listing}")
    return hits[0]


def _import_cect():
    try:
        from cect import Cells
    except ImportError as exc:
        raise ImportError("load_celegans needs the 'cect' package (C. elegans Connectome Toolbox): "
                          "pip install 'gnnkit[brain]'") from exc
    return Cells


def load_celegans(
    dataset: str | CelegansDataset = "cook_2019_herm",
    *,
    stage: str | None = None,
    age_hours: float | None = None,
    cells: str = "all",
    positions: Any = None,
    from_cache: bool = True,
) -> Connectome:
    """A *C. elegans* connectome from the data inside ``cect``: chemical synapses and gap junctions as two views.

    Args:
        dataset: a name from :func:`celegans_datasets` (e.g. ``"witvliet_1"``,
            ``"cook_2019_herm"``), a :class:`CelegansDataset`, or ``"witvliet"`` together
            with ``stage`` or ``age_hours``.
        stage: with ``dataset="witvliet"``: ``"L1"``, ``"L2"``, ``"L3"`` or ``"adult"`` (must
            pick one dataset; add ``age_hours`` for the four L1 and two adult ones).
        age_hours: with ``dataset="witvliet"``: 0, 5, 8, 16, 23, 27 or 50 hours after birth.
        cells: ``"all"``: every cell ``cect`` lists (neurons, muscles, glia, ...), in its
            own node set; ``"neurons"``: only the cells ``cect`` calls neurons
            (``Cells.is_any_neuron``), with the synapses among them.
        positions: optional ``{name: coords}`` (an entry for every loaded cell) or ``[N, D]``
            aligned with the sorted names of the loaded cells (``cect`` ships no positions for
            these datasets).
        from_cache: read ``cect``'s JSON cache (fast, the default) or re-parse its original
            spreadsheet (both are files inside the installed package).

    Returns:
        A :class:`Connectome` with views ``("chemical", "electrical")``, neurons sorted by
        name, weights = synapse counts (float32), ``"electrical"`` undirected, and
        ``node_data`` ``"type"``, ``"group"`` and ``"kind"`` (see the module docstring).

    Raises:
        ImportError: ``cect`` is not installed (names the ``brain`` extra).
        ValueError: an unknown dataset or cell set, a stage/age that does not pick one
            Witvliet dataset, a dataset whose file the installed ``cect`` does not ship (it
            would have to be downloaded, which gnnkit never does).
    """
    info = dataset if isinstance(dataset, CelegansDataset) else _find(str(dataset), stage, age_hours)
    if cells not in CELL_SETS:
        raise ValueError(f"cells must be one of {CELL_SETS}, got {cells!r}")
    Cells = _import_cect()
    import cect

    root = os.path.dirname(os.path.abspath(cect.__file__))
    needed = os.path.join(root, "cache", f"{info.reader}.json") if from_cache else os.path.join(root, "data", info.source)
    if not os.path.isfile(needed):
        raise ValueError(f"the installed cect {getattr(cect, '__version__', '?')} does not ship {needed!r}, which "
                         f"dataset {info.name!r} needs; gnnkit never downloads data: install a cect release that "
                         f"includes it{'' if not from_cache else ', or try from_cache=False'}")
    module = importlib.import_module(f"cect.readers.{info.reader}")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # cect reports progress with print()
            reader = module.get_instance(from_cache=from_cache)
    except ImportError as exc:  # e.g. xlrd for the .xls behind varshney_2011
        raise ImportError(f"cect's reader {info.reader} needs a package that is not installed ({exc}); "
                          f"use from_cache=True (the default) or install it") from exc
    nodes = [str(x) for x in reader.nodes]
    known = set(reader.connections)
    if not {_CHEMICAL, _ELECTRICAL} <= known:
        raise ValueError(f"cect's {info.reader} holds synapse classes {sorted(known)}, expected {_CHEMICAL!r} and "
                         f"{_ELECTRICAL!r}")
    pre, post, weight, kind = [], [], [], []
    for code, cls in enumerate((_CHEMICAL, _ELECTRICAL)):  # cect hands over small dense [N, N] count arrays
        a = np.asarray(reader.connections[cls], dtype=np.float64)
        r, c = np.nonzero(a)
        pre.append(r)
        post.append(c)
        weight.append(a[r, c])
        kind.append(np.full(r.size, code, dtype=np.int64))
    order = np.argsort(np.asarray(nodes, dtype=object).astype(str), kind="stable")
    rank = np.empty(len(nodes), dtype=np.int64)
    rank[order] = np.arange(len(nodes))  # cect's node index -> position in the sorted names
    names = [nodes[i] for i in order]
    with contextlib.redirect_stdout(io.StringIO()):  # it prints every cell group it builds
        primary = Cells.get_primary_classification()
    node_data = {
        "type": [_TYPE.get(Cells.get_SIM_class(x), "other") for x in names],
        "group": [primary.get(x, "unknown") for x in names],
        "kind": ["neuron" if Cells.is_any_neuron(x) else "muscle" if Cells.is_known_muscle(x) else "other" for x in names],
    }
    conn = Connectome.from_edges(
        rank[np.concatenate(pre)], rank[np.concatenate(post)], weight=np.concatenate(weight),
        synapse_type=np.concatenate(kind), names=names, types=["chemical", "electrical"], undirected=["electrical"],
        node_data=node_data,
    )
    if cells == "neurons":
        conn = conn.subgraph(np.asarray(node_data["kind"]) == "neuron")
    if positions is not None:  # after the cell selection, so a mapping needs entries for the kept cells only
        conn = Connectome(conn.views, conn.names, _positions_for(positions, conn.names), conn.node_data)
    return conn
