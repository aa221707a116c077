"""Named clinical scenarios used by the sensitivity notebooks and the reports.

Each scenario is defined once, here: a short clinical description and the evidence it enters
(``{node: state}``, every name from the evidence vocabulary). The notebooks and
:func:`fasciculation_dx.reporting.report.build_reports` import them, so a change here reaches both.

>>> from fasciculation_dx.reporting.scenarios import SCENARIOS, get_scenario
>>> [s.name for s in SCENARIOS]
['worried_young_adult', 'subtle_weakness', 'tongue_fasciculations_at_60']
>>> get_scenario("subtle_weakness").evidence["weakness"]
'yes'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from types import MappingProxyType

from ..errors import EvidenceError

__all__ = ["Scenario", "SCENARIOS", "DEMO_PATIENTS", "get_scenario", "scenario_names"]


@dataclass(frozen=True)
class Scenario:
    """A named clinical scenario.

    Attributes
    ----------
    name
        Identifier (lowercase snake_case), used in file names of the reports.
    title
        A short human title.
    description
        The clinical picture in a few sentences.
    evidence
        ``{node: state}`` entered into the model (read-only).
    question
        The clinical question the sensitivity analysis asks.
    """

    name: str
    title: str
    description: str
    evidence: Mapping[str, str] = field(default_factory=dict)
    question: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "evidence", MappingProxyType(dict(self.evidence)))


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="worried_young_adult",
        title="The worried young adult with caffeine and stress",
        description=(
            "A 28-year-old with two months of calf and eyelid twitching, several cups of coffee a "
            "day and exam stress. Strength, muscle bulk and reflexes are normal and there are no "
            "upper-motor-neuron signs. Most such patients have benign or physiological "
            "fasciculations; the question is how firm that reassurance is."
        ),
        evidence={
            "age_group": "under_40",
            "caffeine": "yes",
            "stress_anxiety": "yes",
            "weakness": "no",
            "atrophy": "no",
            "umn_signs": "no",
        },
        question="How probable is a pathological cause, and which numbers could change that?",
    ),
    Scenario(
        name="subtle_weakness",
        title="Fasciculations with subtle weakness",
        description=(
            "A 52-year-old with multifocal fasciculations and mild weakness on examination (no "
            "wasting, no upper-motor-neuron signs, no sensory symptoms). Subtle weakness is the "
            "finding that turns reassurance into a work-up; the question is how much the answer "
            "depends on how specific mild weakness is."
        ),
        evidence={
            "age_group": "40_to_64",
            "fasciculation_distribution": "multifocal",
            "weakness": "yes",
            "atrophy": "no",
            "umn_signs": "no",
            "sensory_symptoms": "no",
        },
        question="Does the probability of a pathological cause clear the 5% referral threshold robustly?",
    ),
    Scenario(
        name="tongue_fasciculations_at_60",
        title="Tongue fasciculations in a 60-year-old",
        description=(
            "A 60-year-old in whom fasciculations of the tongue are seen at rest, nothing else yet "
            "examined or tested. Tongue fasciculations point to bulbar lower-motor-neuron "
            "involvement (ALS, SBMA, ...), but they are also reported in healthy people; the "
            "question is how much the answer rests on that likelihood ratio and on the base rates."
        ),
        evidence={
            "age_group": "40_to_64",
            "tongue_fasciculations": "yes",
        },
        question="How sensitive is the probability of motor neuron disease to the tongue finding's numbers?",
    ),
)
"""The named scenarios, in the order the notebooks and reports present them."""

DEMO_PATIENTS: tuple[Scenario, ...] = (
    *SCENARIOS,
    Scenario(
        name="older_man_with_denervation",
        title="A 67-year-old man with weakness, wasting, brisk reflexes and denervation on EMG",
        description="Weakness and wasting with upper-motor-neuron signs, fibrillations and chronic "
        "neurogenic change: the picture the source article calls pathological.",
        evidence={
            "age_group": "65_plus",
            "sex": "male",
            "weakness": "yes",
            "atrophy": "yes",
            "umn_signs": "yes",
            "emg_fibrillations": "present",
            "emg_chronic_neurogenic": "present",
        },
    ),
    Scenario(
        name="man_with_tongue_fasciculations_and_gynecomastia",
        title="A man with tongue fasciculations, gynecomastia, dysarthria and abnormal sensory conduction",
        description="Bulbar lower-motor-neuron signs with gynecomastia and a sensory neuronopathy.",
        evidence={
            "sex": "male",
            "tongue_fasciculations": "yes",
            "gynecomastia": "yes",
            "bulbar_symptoms": "yes",
            "ncs_sensory_abnormal": "yes",
        },
    ),
    Scenario(
        name="tetany_with_low_calcium",
        title="Cramps, perioral tingling and carpopedal spasm with a low calcium",
        description="Neuromuscular irritability with a calcium in the symptomatic range.",
        evidence={"cramps": "yes", "tetany_or_paresthesia": "yes", "calcium": "low"},
    ),
)
"""The example patients of ``fasciculation-dx demo``: the named scenarios and a few more."""

_BY_NAME = {s.name: s for s in SCENARIOS}


def scenario_names() -> tuple[str, ...]:
    """Return the names of the scenarios, in order."""
    return tuple(_BY_NAME)


def get_scenario(name: str) -> Scenario:
    """Return a scenario by name.

    Parameters
    ----------
    name
        One of :func:`scenario_names`.

    Returns
    -------
    Scenario

    Raises
    ------
    EvidenceError
        If there is no scenario of that name (the closest names are suggested).
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        close = get_close_matches(name, list(_BY_NAME), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise EvidenceError(f"unknown scenario '{name}'. Valid scenarios: {', '.join(_BY_NAME)}.{hint}") from None
