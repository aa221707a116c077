"""Other names clinicians use for the causes (MND, Kennedy disease, neuromyotonia), and a lookup by any of them.

The model names each cause by one snake_case identifier (``spinal_bulbar_muscular_atrophy``);
people say "Kennedy disease" or "SBMA". :data:`SYNONYMS` maps those names to the causes they
denote, so that ``fasciculation-dx causes`` can list them and ``causes TERM`` and
``query --cause TERM`` can accept them. They are used only to *find* a cause: results, JSON keys
and the priors keep the canonical names, so that output stays stable and machine-readable, and
evidence (findings, not causes) never goes through this table.

A term may denote several causes: "motor neuron disease" is the umbrella for ALS and progressive
muscular atrophy, and "neuromyotonia" is the hallmark of both Isaacs and Morvan syndromes, so a
lookup returns every cause it names. Terms that are ambiguous outside neurology (CFS, FAP, HD)
are left out. Each entry restates a name already given in the cause's description in
``priors/etiologies.csv`` or the standard eponym or abbreviation for it; this vocabulary could
move to a ``priors/synonyms.csv`` (term, etiology) if researchers are to edit it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

from ..errors import ArgumentError

__all__ = ["SYNONYMS", "lookup_cause", "normalise_term", "synonyms_of"]

SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "motor neuron disease": ("als", "progressive_muscular_atrophy"),
    "motor neurone disease": ("als", "progressive_muscular_atrophy"),
    "MND": ("als", "progressive_muscular_atrophy"),
    "amyotrophic lateral sclerosis": ("als",),
    "Lou Gehrig's disease": ("als",),
    "PMA": ("progressive_muscular_atrophy",),
    "progressive spinal muscular atrophy": ("progressive_muscular_atrophy",),
    "SMA": ("spinal_muscular_atrophy",),
    "5q SMA": ("spinal_muscular_atrophy",),
    "Kennedy disease": ("spinal_bulbar_muscular_atrophy",),
    "Kennedy's disease": ("spinal_bulbar_muscular_atrophy",),
    "SBMA": ("spinal_bulbar_muscular_atrophy",),
    "neuromyotonia": ("isaacs_syndrome", "morvan_syndrome"),
    "acquired neuromyotonia": ("isaacs_syndrome",),
    "Isaacs": ("isaacs_syndrome",),
    "Morvan": ("morvan_syndrome",),
    "BFS": ("benign_fasciculation_syndrome",),
    "LEMS": ("lambert_eaton",),
    "Lambert-Eaton myasthenic syndrome": ("lambert_eaton",),
    "MMN": ("multifocal_motor_neuropathy",),
    "polyneuropathy": ("peripheral_neuropathy",),
    "nerve root compression": ("radiculopathy",),
    "myelopathy": ("spinal_cord_disorder",),
    "cord compression": ("spinal_cord_disorder",),
    "CMT": ("hereditary_neuropathy",),
    "Charcot-Marie-Tooth": ("hereditary_neuropathy",),
    "Tay-Sachs": ("gm2_gangliosidosis",),
    "Sandhoff": ("gm2_gangliosidosis",),
    "Allgrove syndrome": ("triple_a_syndrome",),
    "hATTR": ("familial_amyloidosis",),
    "ATTRv": ("familial_amyloidosis",),
    "transthyretin amyloidosis": ("familial_amyloidosis",),
    "familial amyloid polyneuropathy": ("familial_amyloidosis",),
    "SCA3": ("spinocerebellar_ataxia",),
    "Machado-Joseph disease": ("spinocerebellar_ataxia",),
    "Huntington's disease": ("huntington_disease",),
    "GSS": ("gerstmann_straussler_scheinker",),
    "mitochondrial disease": ("mitochondrial_disorder",),
    "thyrotoxicosis": ("hyperthyroidism",),
    "hypomagnesaemia": ("hypomagnesemia",),
    "hypocalcaemia": ("hypocalcemia",),
    "hypokalaemia": ("hypokalemia",),
    "hyponatraemia": ("hyponatremia",),
    "volume depletion": ("dehydration",),
}
"""Other names of the causes: ``{term: (etiology, ...)}``, the term as people write it."""


def normalise_term(text: str) -> str:
    """Return ``text`` lower-cased, apostrophes dropped, and every run of other punctuation or spaces as one space."""
    text = text.lower().replace("'", "").replace("\u2019", "")
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def synonyms_of(etiology: str) -> list[str]:
    """Return the terms of :data:`SYNONYMS` that name ``etiology``, in the table's order."""
    return [term for term, causes in SYNONYMS.items() if etiology in causes]


def _closest(wanted: str, names: list[str], n: int = 5, cutoff: float = 0.6) -> list[str]:
    """Return up to ``n`` names most like ``wanted``, comparing it with each name and with each word of a name."""

    def score(name: str) -> float:
        return max(difflib.SequenceMatcher(None, wanted, part).ratio() for part in (name, *name.split()))

    scored = sorted(((score(name), name) for name in names), key=lambda sn: (-sn[0], sn[1]))
    return [name for s, name in scored[:n] if s >= cutoff]


def lookup_cause(term: str, etiologies: Iterable[str]) -> list[str]:
    """Return the causes a name, synonym or abbreviation denotes.

    Parameters
    ----------
    term
        What the user wrote: a cause's identifier (``spinal_bulbar_muscular_atrophy``), a term of
        :data:`SYNONYMS` (``Kennedy disease``, ``MND``) or part of either (``kennedy``); case,
        apostrophes, hyphens, underscores and surrounding spaces do not matter.
    etiologies
        The model's causes, in order; only these are returned.

    Returns
    -------
    list of str
        The causes denoted: an exact match of a name or term first; otherwise every cause whose
        name or a term contains the words given. In the order of ``etiologies``.

    Raises
    ------
    ArgumentError
        If nothing matches, naming the closest names and terms and where the full list is.
    """
    known = list(etiologies)
    wanted = normalise_term(term)
    if not wanted:
        raise ArgumentError("a cause must be named, e.g. als or 'Kennedy disease'. Got an empty name instead")
    names: dict[str, set[str]] = {}
    for etiology in known:
        names.setdefault(normalise_term(etiology), set()).add(etiology)
    for synonym, causes in SYNONYMS.items():
        names.setdefault(normalise_term(synonym), set()).update(c for c in causes if c in known)
    found = set(names.get(wanted, ()))
    if not found:
        pattern = re.compile(rf"\b{re.escape(wanted)}")
        for name, causes in names.items():
            if pattern.search(name):
                found |= causes
    if not found:
        close = _closest(wanted, list(names))
        hint = f"Did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        raise ArgumentError(
            f"unknown cause '{term.strip()}'. {hint}'fasciculation-dx causes' lists every cause with its other names"
        )
    return [e for e in known if e in found]
